import { useState } from 'react';
import { EmptyState, InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { EntityRefLink, useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  GATEWAY_PRODUCT_ANNOTATION,
  gatewayKeyRequestReviewPermission,
  type GatewayKeyRequest,
  type IssuedKey,
} from '@quarterdeck/plugin-gateway-common';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { AuditCard } from './AuditCard';
import { errorMessage, ExplainedButton, RequestStatusChip } from './common';
import { formatDateTime, shortUser } from './format';
import { KeysTable } from './KeysTable';
import { ProductCard } from './ProductCard';
import { SecretDialog } from './SecretDialog';
import { UsagePanel } from './UsagePanel';

/** Whole days from 1 to 3650, or empty for a key without expiry. */
function expiryError(text: string): string | undefined {
  if (!text.trim()) return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 3650 ? undefined : 'A whole number of days from 1 to 3650, or empty for no expiry';
}

type Review = { request: GatewayKeyRequest; decision: 'approve' | 'deny' };

/** The Gateway tab of an API entity: its product, key requests to review, keys, usage and audit trail. */
export function ApiGatewayContent() {
  const { entity } = useEntity();
  const apiRef = stringifyEntityRef(entity);
  const gateway = useApi(gatewayApiRef);
  const alerts = useApi(alertApiRef);
  const review = usePermission({ permission: gatewayKeyRequestReviewPermission, resourceRef: apiRef });
  const { value, error, loading, retry } = usePolling(async () => {
    const [products, requests, keys] = await Promise.all([
      gateway.listProducts({ entityRef: apiRef }),
      gateway.listKeyRequests({ entityRef: apiRef }),
      gateway.listKeys({ entityRef: apiRef }),
    ]);
    return { product: products[0], requests, keys };
  }, 10_000, apiRef);
  const [reviewing, setReviewing] = useState<Review | undefined>();
  const [reason, setReason] = useState('');
  const [expiryDays, setExpiryDays] = useState('');
  const [busy, setBusy] = useState(false);
  const [dialogError, setDialogError] = useState<string | undefined>();
  const [issued, setIssued] = useState<IssuedKey | undefined>();
  const [changes, setChanges] = useState(0);

  if (loading && !value) return <Progress />;
  if (error && !value) return <ResponseErrorPanel error={error} />;
  if (!value?.product) {
    const annotated = entity.metadata.annotations?.[GATEWAY_PRODUCT_ANNOTATION];
    return (
      <EmptyState
        missing="content"
        title="This API is not offered through the gateway"
        description={
          annotated
            ? `The API names the gateway product "${annotated}" (${GATEWAY_PRODUCT_ANNOTATION}), but no such product is defined for ${apiRef}. Its owners define it with PUT /api/gateway/products/${annotated}, or list its YAML under gateway.products in app-config.yaml.`
            : `To let components request keys for ${apiRef}, its owners define a gateway product for it (PUT /api/gateway/products/<id> with entityRef ${apiRef}, or a YAML file under gateway.products in app-config.yaml) and annotate the API with ${GATEWAY_PRODUCT_ANNOTATION}: <id>.`
        }
      />
    );
  }
  const { product, requests, keys } = value;
  const pending = requests.filter(r => r.status === 'pending');
  const decided = requests.filter(r => r.status !== 'pending').slice(0, 20);
  let reviewWhy: string | undefined;
  if (review.loading) reviewWhy = 'Checking your permissions…';
  else if (!review.allowed) reviewWhy = `Only those who may review key requests for ${apiRef} (the API's owners and platform admins: ${gatewayKeyRequestReviewPermission.name}) can approve or deny.`;

  const open = (request: GatewayKeyRequest, decision: Review['decision']) => {
    setReviewing({ request, decision });
    setReason('');
    setExpiryDays('');
    setDialogError(undefined);
  };
  const decide = async () => {
    if (!reviewing) return;
    setBusy(true);
    setDialogError(undefined);
    try {
      if (reviewing.decision === 'approve') {
        const days = expiryDays.trim() ? Number(expiryDays) : undefined;
        const result = await gateway.approveKeyRequest(reviewing.request.id, {
          ...(reason.trim() ? { reason: reason.trim() } : {}),
          ...(days ? { expiresInDays: days } : {}),
        });
        setIssued(result.issued);
      } else {
        await gateway.denyKeyRequest(reviewing.request.id, { reason: reason.trim() });
        alerts.post({ message: `Denied the request of ${reviewing.request.componentRef}`, severity: 'info', display: 'transient' });
      }
      setReviewing(undefined);
      setChanges(n => n + 1);
      retry();
    } catch (e) {
      setDialogError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  const canConfirm = reviewing?.decision === 'approve' ? !expiryError(expiryDays) : reason.trim().length > 0;

  return (
    <Stack spacing={3}>
      {error && <ResponseErrorPanel error={error} title="Could not refresh" />}
      <ProductCard product={product} />
      <InfoCard title={`Pending key requests (${pending.length})`}>
        {pending.length === 0 ? (
          <Typography variant="body2" color="text.secondary">
            No request waits for review. Components that list this API in consumesApis request keys from their own Gateway tab.
          </Typography>
        ) : (
          <Table size="small" aria-label="pending key requests">
            <TableHead>
              <TableRow>
                <TableCell>Component</TableCell><TableCell>Plan</TableCell><TableCell>Justification</TableCell>
                <TableCell>Requested</TableCell><TableCell>Expires</TableCell><TableCell align="right">Review</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {pending.map(r => (
                <TableRow key={r.id}>
                  <TableCell><EntityRefLink entityRef={r.componentRef} defaultKind="component" /></TableCell>
                  <TableCell>{r.plan}</TableCell>
                  <TableCell sx={{ maxWidth: 360 }}>{r.justification}</TableCell>
                  <TableCell>{formatDateTime(r.requestedAt)}<br />by {shortUser(r.requestedBy)}</TableCell>
                  <TableCell>{formatDateTime(r.expiresAt)}</TableCell>
                  <TableCell align="right">
                    <Stack direction="row" spacing={1} justifyContent="flex-end">
                      <ExplainedButton variant="contained" why={reviewWhy} onClick={() => open(r, 'approve')}>Approve</ExplainedButton>
                      <ExplainedButton variant="outlined" color="error" why={reviewWhy} onClick={() => open(r, 'deny')}>Deny</ExplainedButton>
                    </Stack>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
        {decided.length > 0 && (
          <>
            <Typography variant="subtitle2" sx={{ mt: 3 }}>Decided requests</Typography>
            <Table size="small" aria-label="decided key requests">
              <TableHead>
                <TableRow><TableCell>Component</TableCell><TableCell>Plan</TableCell><TableCell>Status</TableCell><TableCell>Reviewed</TableCell><TableCell>Reason</TableCell></TableRow>
              </TableHead>
              <TableBody>
                {decided.map(r => (
                  <TableRow key={r.id}>
                    <TableCell><EntityRefLink entityRef={r.componentRef} defaultKind="component" /></TableCell>
                    <TableCell>{r.plan}</TableCell>
                    <TableCell><RequestStatusChip request={r} /></TableCell>
                    <TableCell>{r.reviewedAt ? `${formatDateTime(r.reviewedAt)} by ${shortUser(r.reviewedBy)}` : `expired ${formatDateTime(r.expiresAt)}`}</TableCell>
                    <TableCell>{r.reviewReason ?? ''}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </>
        )}
      </InfoCard>
      <InfoCard title={`Issued keys (${keys.length})`}>
        {keys.length === 0 ? (
          <Typography variant="body2" color="text.secondary">No key has been issued for this API yet: approving a request issues one.</Typography>
        ) : (
          <KeysTable keys={keys} showConsumer label="issued keys" />
        )}
      </InfoCard>
      <UsagePanel entityRef={apiRef} />
      <AuditCard entityRef={apiRef} refreshKey={changes} />

      <Dialog open={reviewing !== undefined} onClose={() => !busy && setReviewing(undefined)} fullWidth maxWidth="sm">
        <DialogTitle>
          {reviewing?.decision === 'approve' ? 'Approve' : 'Deny'} the key request of {reviewing?.request.componentRef}?
        </DialogTitle>
        <DialogContent>
          {reviewing && (
            <Typography variant="body2" paragraph>
              Plan <b>{reviewing.request.plan}</b>, requested by {shortUser(reviewing.request.requestedBy)}: “{reviewing.request.justification}”
            </Typography>
          )}
          {reviewing?.decision === 'approve' && (
            <Typography variant="body2" paragraph>
              A key is issued at once and shown to you once, to hand over to the component&apos;s team.
            </Typography>
          )}
          <Stack spacing={2} sx={{ mt: 1 }}>
            <TextField
              label={reviewing?.decision === 'approve' ? 'Reason (optional)' : 'Reason'}
              required={reviewing?.decision === 'deny'}
              value={reason}
              onChange={e => setReason(e.target.value)}
              fullWidth
              multiline
            />
            {reviewing?.decision === 'approve' && (
              <TextField
                label="Expires in days (optional)"
                value={expiryDays}
                onChange={e => setExpiryDays(e.target.value)}
                error={Boolean(expiryError(expiryDays))}
                helperText={expiryError(expiryDays) ?? 'Empty: the key does not expire'}
                inputProps={{ inputMode: 'numeric' }}
              />
            )}
            {dialogError && <Alert severity="error">{dialogError}</Alert>}
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setReviewing(undefined)} disabled={busy}>Cancel</Button>
          <Button variant="contained" color={reviewing?.decision === 'deny' ? 'error' : 'primary'} disabled={!canConfirm || busy} onClick={decide}>
            {reviewing?.decision === 'approve' ? 'Approve and issue key' : 'Deny request'}
          </Button>
        </DialogActions>
      </Dialog>
      <SecretDialog issued={issued} title="Key issued" onClose={() => setIssued(undefined)} />
    </Stack>
  );
}
