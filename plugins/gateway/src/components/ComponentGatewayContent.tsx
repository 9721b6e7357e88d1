import { useRef, useState } from 'react';
import { EmptyState, InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import { EntityRefLink, useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  gatewayKeyManagePermission,
  gatewayKeyRequestCreatePermission,
  type GatewayKeyList,
  type GatewayKeyRequest,
  type GatewayKeyView,
  type GatewayProduct,
  type IssuedKey,
} from '@quarterdeck/plugin-gateway-common';
import ExpandLessIcon from '@mui/icons-material/ExpandLess';
import ExpandMoreIcon from '@mui/icons-material/ExpandMore';
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
import { errorMessage, usePolling } from '@quarterdeck/plugin-quarterdeck-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { AuditCard } from './AuditCard';
import { ExplainedButton, isConflict, keyRequestsOf, permissionWhy, RequestStatusChip, reviewedText, type PermissionCheck } from './common';
import { formatDateTime, formatNumber, shortUser } from './format';
import { KeysTable } from './KeysTable';
import { PagedKeysTable, usePagedKeys } from './PagedKeys';
import { PlansTable } from './ProductCard';
import { revocable, RevokeKeyDialog } from './RevokeKeyDialog';
import { SecretDialog } from './SecretDialog';
import { UsagePanel } from './UsagePanel';

export const MIN_JUSTIFICATION = 10;

/** How long a rotated key keeps working, so clients can switch without an outage. */
export const GRACE_PERIODS = [
  { seconds: 0, label: 'None: the old key stops at once' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '24 hours' },
  { seconds: 7 * 86_400, label: '7 days' },
];

/** The APIs a component consumes, from its `consumesApi` relations. */
export function consumedApiRefs(entity: Entity): string[] {
  return [...new Set((entity.relations ?? []).filter(r => r.type === 'consumesApi').map(r => r.targetRef))];
}

/** An API the component consumes: its product, as last read when this read failed (`error`). */
type Offer = { apiRef: string; product?: GatewayProduct; error?: Error };

function RequestAccessDialog(props: {
  open: boolean;
  componentRef: string;
  product: GatewayProduct;
  apiRef: string;
  onClose: () => void;
  onRequested: (request: GatewayKeyRequest) => void;
}) {
  const { open, componentRef, product, apiRef, onClose, onRequested } = props;
  const gateway = useApi(gatewayApiRef);
  const [plan, setPlan] = useState(product.plans[0]?.name ?? '');
  const [justification, setJustification] = useState('');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  // The plan chosen, when a refresh found it removed from the product meanwhile.
  const [gone, setGone] = useState<string | undefined>();
  const tooShort = justification.trim().length < MIN_JUSTIFICATION;
  const selected = product.plans.find(p => p.name === plan);

  // Each opening starts from the first plan, with no error of an earlier one (the justification written stays), as it is drawn.
  const [wasOpen, setWasOpen] = useState(open);
  if (open !== wasOpen) {
    setWasOpen(open);
    if (open) {
      setPlan(product.plans[0]?.name ?? '');
      setFailure(undefined);
      setTouched(false);
      setGone(undefined);
    }
  } else if (plan && !selected) {
    // A plan the owners removed meanwhile is not sent: the first plan is chosen instead, and the dialog says so.
    setGone(plan);
    setPlan(product.plans[0]?.name ?? '');
  }

  const submit = async () => {
    setTouched(true);
    if (tooShort || !plan) return;
    setBusy(true);
    setFailure(undefined);
    try {
      const request = await gateway.createKeyRequest({ componentRef, productId: product.id, plan, justification: justification.trim() });
      setJustification('');
      setTouched(false);
      onRequested(request);
    } catch (e) {
      setFailure(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} onClose={() => !busy && onClose()} fullWidth maxWidth="md">
      <DialogTitle>Request access to {product.title ?? product.id}</DialogTitle>
      <DialogContent>
        <Typography variant="body2" paragraph>
          The owners of {apiRef} are notified and review the request. Once they approve it, they receive the key once and hand it to your team; your team is notified of their decision.
        </Typography>
        <Stack spacing={2}>
          {gone && (
            <Alert severity="warning">{`Plan ${gone} is no longer offered: the owners of ${apiRef} removed it meanwhile. Choose the plan to request.`}</Alert>
          )}
          <TextField select label="Plan" value={plan} onChange={e => { setPlan(e.target.value); setGone(undefined); }} SelectProps={{ native: true }} fullWidth>
            {product.plans.map(p => (
              <option key={p.name} value={p.name}>{p.name}</option>
            ))}
          </TextField>
          {selected && <PlansTable plans={[selected]} kind={product.kind} />}
          <TextField
            label="Justification"
            required
            multiline
            minRows={2}
            value={justification}
            onChange={e => setJustification(e.target.value)}
            onBlur={() => setTouched(true)}
            error={touched && tooShort}
            helperText={touched && tooShort
              ? `Say why the component needs the key, in at least ${MIN_JUSTIFICATION} characters`
              : 'What the component will use the API for, and roughly how much'}
            fullWidth
          />
          {failure && <Alert severity="error">{failure}</Alert>}
        </Stack>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} disabled={busy}>Cancel</Button>
        <Button variant="contained" onClick={submit} disabled={busy || (touched && tooShort)}>Send request</Button>
      </DialogActions>
    </Dialog>
  );
}

/** How many of a component's keys for a product are revoked or expired, from its list's counts. */
function pastKeys(list: GatewayKeyList, productId: string): number {
  const counts = list.byProduct?.[productId];
  return counts ? counts.totalItems - counts.activeItems : 0;
}

/** A component's keys for one product that no longer work, a page at a time: read only when asked for. */
function PastKeys({ componentRef, productId, refreshKey }: { componentRef: string; productId: string; refreshKey: unknown }) {
  const paged = usePagedKeys({ entityRef: componentRef, productId, accepted: false }, refreshKey);
  return (
    <PagedKeysTable
      paged={paged}
      count={list => list.totalItems - list.activeItems}
      empty="None of its keys for this API has been revoked or has expired."
      label={`revoked and expired keys for ${productId}`}
    />
  );
}

/** What a key's Rotate or Revoke opens: its dialog, held by the tab (KeyDialogs). */
type KeyAction = { action: 'rotate' | 'revoke'; key: GatewayKeyView };

/**
 * A component's keys accepted now, with Rotate and Revoke for those who may
 * manage them (`manageWhy` says why someone may not), which open the tab's
 * dialog for the key (`onAction`).
 */
function ManagedKeys(props: { keys: GatewayKeyView[]; label: string; manageWhy?: string; onAction: (action: KeyAction) => void }) {
  const { keys, label, manageWhy, onAction } = props;
  // A rotated key in its grace period can still be revoked (to end the grace early), not rotated again.
  const rotatable = (k: GatewayKeyView) => k.status === 'active' && !k.replacedBy;
  return (
    <KeysTable
      keys={keys}
      label={label}
      actions={k => (revocable(k) ? (
        <Stack direction="row" spacing={1} justifyContent="flex-end">
          {rotatable(k) && <ExplainedButton variant="outlined" why={manageWhy} onClick={() => onAction({ action: 'rotate', key: k })}>Rotate</ExplainedButton>}
          <ExplainedButton variant="outlined" color="error" why={manageWhy} onClick={() => onAction({ action: 'revoke', key: k })}>Revoke</ExplainedButton>
        </Stack>
      ) : null)}
    />
  );
}

/**
 * The dialogs of a key's Rotate and Revoke. The tab holds them, not the card
 * the key is listed on: a rotation or revocation refused because the key
 * changed meanwhile (a 409) reads the keys again while the dialog says why,
 * and that read may take the card's last key, or the card, away. A rotated
 * key's successor goes to `onRotated`, which the tab shows once.
 */
function KeyDialogs(props: { open?: KeyAction; onClose: () => void; onChanged: () => void; onRotated: (issued: IssuedKey) => void }) {
  const { open, onClose, onChanged, onRotated } = props;
  const gateway = useApi(gatewayApiRef);
  const rotating = open?.action === 'rotate' ? open.key : undefined;
  const [grace, setGrace] = useState(86_400);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  // Refused because the key changed meanwhile: another click would only be refused again.
  const [stale, setStale] = useState(false);
  // Each key asked about starts with a day's grace and no error, as it is drawn.
  const [asked, setAsked] = useState(rotating);
  if (rotating !== asked) {
    setAsked(rotating);
    if (rotating) {
      setGrace(86_400);
      setFailure(undefined);
      setStale(false);
    }
  }

  const rotate = async () => {
    setBusy(true);
    setFailure(undefined);
    try {
      const next = await gateway.rotateKey(rotating!.id, { graceSeconds: grace });
      onClose();
      onRotated(next);
      onChanged();
    } catch (e) {
      setFailure(errorMessage(e));
      if (isConflict(e)) {
        setStale(true);
        onChanged();
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <Dialog open={rotating !== undefined} onClose={() => !busy && onClose()} fullWidth maxWidth="sm">
        <DialogTitle>Rotate {rotating?.masked}?</DialogTitle>
        <DialogContent>
          <Typography variant="body2" paragraph>
            A new key is issued now and shown once, with the same plan and expiry. The old key keeps working for the grace period, so clients can switch over (never past its own expiry).
          </Typography>
          <TextField select label="Grace period" value={grace} onChange={e => setGrace(Number(e.target.value))} SelectProps={{ native: true }} fullWidth>
            {GRACE_PERIODS.map(g => (
              <option key={g.seconds} value={g.seconds}>{g.label}</option>
            ))}
          </TextField>
          {failure && <Alert severity="error" sx={{ mt: 2 }}>{failure}</Alert>}
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={busy}>{stale ? 'Close' : 'Cancel'}</Button>
          {!stale && <Button variant="contained" onClick={rotate} disabled={busy}>Rotate key</Button>}
        </DialogActions>
      </Dialog>
      <RevokeKeyDialog gatewayKey={open?.action === 'revoke' ? open.key : undefined} onClose={onClose} onRevoked={() => { onClose(); onChanged(); }} onStale={onChanged} />
    </>
  );
}

/** Who may rotate and revoke a component's keys, or why not. */
function manageWhyOf(canManage: PermissionCheck, componentRef: string): string | undefined {
  return permissionWhy(canManage, `Only those who may manage the keys of ${componentRef} (its owners and platform admins: ${gatewayKeyManagePermission.name}) can rotate or revoke them.`);
}

function ApiAccessCard(props: {
  componentRef: string;
  apiRef: string;
  product: GatewayProduct;
  requests: GatewayKeyRequest[];
  keys: GatewayKeyView[];
  canRequest: PermissionCheck;
  canManage: PermissionCheck;
  onChanged: () => void;
  onKeyAction: (action: KeyAction) => void;
  /** Changes after each action here, so the past keys are read again at once. */
  refreshKey: unknown;
  /** How many of the component's keys for this API are revoked or expired. */
  pastCount: number;
}) {
  const { componentRef, apiRef, product, requests, keys, canRequest, canManage, onChanged, onKeyAction, refreshKey, pastCount } = props;
  const alerts = useApi(alertApiRef);
  const [requesting, setRequesting] = useState(false);
  const [showPast, setShowPast] = useState(false);

  const pending = requests.find(r => r.status === 'pending');
  const requestWhy = permissionWhy(canRequest, `Only those who may request keys for ${componentRef} (its owners and platform admins: ${gatewayKeyRequestCreatePermission.name}) can request access.`)
    ?? (pending ? `A request for plan ${pending.plan} is waiting for review` : undefined);
  const manageWhy = manageWhyOf(canManage, componentRef);

  return (
    <section aria-label={`gateway access to ${product.id}`}>
      <InfoCard
        title={
          <Stack direction="row" spacing={1} alignItems="center">
            <span>{product.title ?? product.id}</span>
            <Typography variant="body2" color="text.secondary" component="span">
              (<EntityRefLink entityRef={apiRef} defaultKind="api" />)
            </Typography>
          </Stack>
        }
        subheader={`${product.kind === 'openai' ? 'OpenAI-compatible' : 'REST'} · plans ${product.plans.map(p => p.name).join(', ')}`}
        action={
          <Stack sx={{ mt: 1, mr: 1 }}>
            <ExplainedButton variant="contained" why={requestWhy} onClick={() => setRequesting(true)}>Request access</ExplainedButton>
          </Stack>
        }
      >
        <Typography variant="subtitle2">Requests</Typography>
        {requests.length === 0 ? (
          <Typography variant="body2" color="text.secondary" paragraph>
            No request yet. Request access, pick a plan and say why; the API&apos;s owners review it.
          </Typography>
        ) : (
          <Table size="small" aria-label={`key requests for ${product.id}`} sx={{ mb: 2 }}>
            <TableHead>
              <TableRow><TableCell>Plan</TableCell><TableCell>Status</TableCell><TableCell>Requested</TableCell><TableCell>Expires</TableCell><TableCell>Justification</TableCell><TableCell>Reviewed</TableCell><TableCell>Reason</TableCell></TableRow>
            </TableHead>
            <TableBody>
              {requests.map(r => (
                <TableRow key={r.id}>
                  <TableCell>{r.plan}</TableCell>
                  <TableCell><RequestStatusChip request={r} /></TableCell>
                  <TableCell>{formatDateTime(r.requestedAt)}<br />by {shortUser(r.requestedBy)}</TableCell>
                  <TableCell>{r.status === 'pending' ? formatDateTime(r.expiresAt) : ''}</TableCell>
                  <TableCell sx={{ maxWidth: 320 }}>{r.justification}</TableCell>
                  <TableCell>{reviewedText(r)}</TableCell>
                  <TableCell>{r.reviewReason ?? ''}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
        <Typography variant="subtitle2">Keys accepted now</Typography>
        {keys.length === 0 ? (
          <Typography variant="body2" color="text.secondary">None: a key is issued when a request is approved.</Typography>
        ) : (
          <ManagedKeys keys={keys} label={`keys for ${product.id}`} manageWhy={manageWhy} onAction={onKeyAction} />
        )}
        {pastCount > 0 && (
          <Button
            size="small"
            sx={{ mt: 1 }}
            aria-expanded={showPast}
            endIcon={showPast ? <ExpandLessIcon /> : <ExpandMoreIcon />}
            onClick={() => setShowPast(shown => !shown)}
          >
            Revoked and expired keys ({formatNumber(pastCount)})
          </Button>
        )}
        {pastCount > 0 && showPast && <PastKeys componentRef={componentRef} productId={product.id} refreshKey={refreshKey} />}

        <RequestAccessDialog
          open={requesting}
          componentRef={componentRef}
          product={product}
          apiRef={apiRef}
          onClose={() => setRequesting(false)}
          onRequested={() => {
            setRequesting(false);
            alerts.post({ message: `Requested access to ${product.id}; the owners of ${apiRef} are notified to review it`, severity: 'success', display: 'transient' });
            onChanged();
          }}
        />
      </InfoCard>
    </section>
  );
}

/** The Gateway tab of a component: access to the gateway APIs it consumes, its keys and its usage. */
export function ComponentGatewayContent() {
  const { entity } = useEntity();
  const componentRef = stringifyEntityRef(entity);
  const apiRefs = consumedApiRefs(entity);
  const gateway = useApi(gatewayApiRef);
  const canRequest = usePermission({ permission: gatewayKeyRequestCreatePermission, resourceRef: componentRef });
  const canManage = usePermission({ permission: gatewayKeyManagePermission, resourceRef: componentRef });
  const [changes, setChanges] = useState(0);
  // A rotated key's secret, held here and not by the card it was rotated on, which the next read may take away.
  const [issued, setIssued] = useState<IssuedKey | undefined>();
  // The key being rotated or revoked, held here too: its dialog outlives the card it was opened from (KeyDialogs).
  const [keyAction, setKeyAction] = useState<KeyAction | undefined>();
  // Each API's product as last read: a read that fails keeps its card (and what is open in it) rather than dropping it.
  const lastRead = useRef(new Map<string, GatewayProduct | undefined>());
  const { value, error, loading, retry } = usePolling(async () => {
    const [offers, requests, keys] = await Promise.all([
      Promise.all(apiRefs.map(async (apiRef): Promise<Offer> => {
        try {
          const product = (await gateway.listProducts({ entityRef: apiRef }))[0];
          lastRead.current.set(apiRef, product);
          return { apiRef, product };
        } catch (e) {
          return { apiRef, product: lastRead.current.get(apiRef), error: e as Error };
        }
      })),
      keyRequestsOf(gateway, componentRef),
      // Only the keys that work: those revoked or expired are read per API when asked for (PastKeys).
      gateway.listKeys({ entityRef: componentRef, accepted: true }),
    ]);
    return { offers, requests: [...requests.pending, ...requests.decided], keys };
  }, 10_000, `${componentRef}|${apiRefs.join(',')}`, { resetOnKeyChange: true });

  if (loading && !value) return <Progress />;
  if (error && !value) return <ResponseErrorPanel error={error} />;
  const { offers, requests, keys } = value!;
  const offered = offers.filter(o => o.product);
  const failed = offers.filter(o => o.error);
  // Failed, and never read before: their keys show under "Other keys".
  const unread = failed.filter(o => !o.product);
  const elsewhere = offers.filter(o => !o.product && !o.error);
  // Keys stay valid when their API leaves spec.consumesApis (the data plane does not read the catalog): they stay here too.
  const offeredIds = new Set(offered.map(o => o.product!.id));
  const others = keys.items.filter(k => !offeredIds.has(k.productId));
  const changed = () => {
    setChanges(n => n + 1);
    retry();
  };
  // The dialogs come after the tab's content whatever it shows, so a read that changes the tab leaves them open.
  const dialogs = (
    <>
      <SecretDialog issued={issued} title="New key" onClose={() => setIssued(undefined)} />
      <KeyDialogs open={keyAction} onClose={() => setKeyAction(undefined)} onChanged={changed} onRotated={setIssued} />
    </>
  );
  // A component that ever had a key keeps its usage and its trail here, after its APIs left the gateway or its spec.
  const hasHistory = keys.totalItems > 0 || offered.length > 0;
  if (apiRefs.length === 0 && others.length === 0 && !hasHistory) {
    return (
      <>
        <EmptyState missing="info" title="This component consumes no API"
          description="To request access to an API offered through the gateway, add the API under spec.consumesApis in this component's catalog-info.yaml. Once the catalog has read it, the API's gateway product shows here, with Request access." />
        {dialogs}
      </>
    );
  }

  return (
    <>
      <Stack spacing={3}>
        {error && <ResponseErrorPanel error={error} title="Could not refresh" />}
        {failed.map(o => (
          <ResponseErrorPanel key={o.apiRef} error={o.error!} title={o.product
            ? `Could not refresh the gateway product of ${o.apiRef}; its card shows it as last read`
            : `Could not read the gateway product of ${o.apiRef}`} />
        ))}
        {apiRefs.length > 0 && offered.length === 0 && failed.length === 0 && (
          <EmptyState missing="content" title="None of the APIs this component consumes is offered through the gateway"
            description={`It consumes ${apiRefs.join(', ')}. When their owners publish one through the Quarterdeck gateway, you can request a key here.`} />
        )}
        {offered.map(o => (
          <ApiAccessCard
            key={o.apiRef}
            componentRef={componentRef}
            apiRef={o.apiRef}
            product={o.product!}
            requests={requests.filter(r => r.productId === o.product!.id)}
            keys={keys.items.filter(k => k.productId === o.product!.id)}
            canRequest={canRequest}
            canManage={canManage}
            onChanged={changed}
            onKeyAction={setKeyAction}
            refreshKey={changes}
            pastCount={pastKeys(keys, o.product!.id)}
          />
        ))}
        {others.length > 0 && (
          <section aria-label="other keys of this component">
            <InfoCard
              title="Other keys"
              subheader={unread.length > 0
                ? 'Keys for products of APIs this component no longer lists under spec.consumesApis, or whose product could not be read. They work until revoked or expired.'
                : 'Keys for products of APIs this component no longer lists under spec.consumesApis. They work until revoked or expired: revoke those it no longer needs.'}
            >
              <ManagedKeys keys={others} label="other keys" manageWhy={manageWhyOf(canManage, componentRef)} onAction={setKeyAction} />
            </InfoCard>
          </section>
        )}
        {keys.items.length < keys.activeItems && (
          <Typography variant="body2" color="text.secondary">
            This component has {formatNumber(keys.activeItems)} keys accepted now; the newest {keys.items.length} are listed above.
          </Typography>
        )}
        {offered.length > 0 && elsewhere.length > 0 && (
          <Typography variant="body2" color="text.secondary">
            Also consumed, not through the gateway: {elsewhere.map(o => o.apiRef).join(', ')}.
          </Typography>
        )}
        {apiRefs.length === 0 && others.length === 0 && (
          <EmptyState missing="info" title="This component consumes no API now"
            description="Its keys were revoked or have expired; its past calls and its trail are below. To request access again, add the API under spec.consumesApis in its catalog-info.yaml." />
        )}
        {hasHistory && <UsagePanel entityRef={componentRef} showConsumers={false} title="Usage by this component" />}
        {hasHistory && <AuditCard entityRef={componentRef} refreshKey={changes} />}
      </Stack>
      {dialogs}
    </>
  );
}
