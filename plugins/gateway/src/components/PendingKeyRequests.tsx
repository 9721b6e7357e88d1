import { useEffect, useRef, useState, type ReactNode } from 'react';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { modelsInPlan, type GatewayKeyRequest, type IssuedKey } from '@quarterdeck/plugin-gateway-common';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import FormControl from '@mui/material/FormControl';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import FormHelperText from '@mui/material/FormHelperText';
import FormLabel from '@mui/material/FormLabel';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { gatewayApiRef } from '../api/GatewayClient';
import { errorMessage } from '@quarterdeck/plugin-quarterdeck-react';
import { ExplainedButton, isConflict, KEY_REQUEST_LIMIT } from './common';
import { formatDateTime, shortUser } from './format';
import { SecretDialog } from './SecretDialog';

/** Whole days from 1 to 3650, or empty for a key without expiry. */
function expiryError(text: string): string | undefined {
  if (!text.trim()) return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 3650 ? undefined : 'A whole number of days from 1 to 3650, or empty for no expiry';
}

type Review = { request: GatewayKeyRequest; decision: 'approve' | 'deny' };

/**
 * The models an approval may narrow a key to: its plan's, read when the
 * dialog opens; undefined while read; `unread` when the read failed (the key
 * then has the whole plan, and the dialog says so); `missing` when the
 * product no longer has the plan (or is gone), which the backend refuses to
 * approve: the request can only be denied.
 */
type PlanModels = { names: string[]; chosen: Set<string>; unread?: string; missing?: boolean } | undefined;

/** Whether a request's review time is over: the backend refuses to decide it, and the next sweep ends it as expired. */
const isExpired = (request: GatewayKeyRequest, now: number) => Date.parse(request.expiresAt) <= now;

/**
 * The time now, moved on when the first of `instants` still ahead passes, so
 * what depends on it (a request's expiry) changes then and not at the next
 * read.
 */
function useNowPast(instants: string[]): number {
  const [now, setNow] = useState(() => Date.now());
  const next = Math.min(...instants.map(i => Date.parse(i)).filter(t => t > now));
  useEffect(() => {
    if (!Number.isFinite(next)) return undefined;
    // setTimeout takes at most 2^31-1 ms (~24.8 days); a later instant is timed again from there.
    const timer = setTimeout(() => setNow(Date.now()), Math.min(Math.max(0, next - Date.now()) + 50, 2 ** 31 - 1));
    return () => clearTimeout(timer);
    // `now` too: after a capped wait the same instant is still ahead, and is timed again from the new now.
  }, [next, now]);
  return now;
}

/**
 * Pending key requests with Approve and Deny: the dialog that asks for a
 * reason (and an expiry, on approval) and the one that shows the issued key
 * once. An API's Gateway tab lists its own; the admin page every API's
 * (`showApi`).
 */
export function PendingKeyRequests({ requests, reviewWhy, showApi, empty, onDecided }: {
  requests: GatewayKeyRequest[];
  /** Why the reviewer may not decide (disables the buttons), if so. */
  reviewWhy?: (request: GatewayKeyRequest) => string | undefined;
  showApi?: boolean;
  empty: ReactNode;
  onDecided: () => void;
}) {
  const gateway = useApi(gatewayApiRef);
  const alerts = useApi(alertApiRef);
  const [reviewing, setReviewing] = useState<Review | undefined>();
  const [reason, setReason] = useState('');
  const [expiryDays, setExpiryDays] = useState('');
  const [busy, setBusy] = useState(false);
  const [dialogError, setDialogError] = useState<string | undefined>();
  const [issued, setIssued] = useState<IssuedKey | undefined>();
  const [planModels, setPlanModels] = useState<PlanModels>();
  // The decision was refused because the request changed meanwhile (a 409): the dialog says why, and cannot send it again.
  const [stale, setStale] = useState(false);
  const now = useNowPast(requests.map(r => r.expiresAt));
  // Counts the dialog's openings and closings: an answer read for an earlier one is dropped.
  const opening = useRef(0);

  const readPlanModels = (request: GatewayKeyRequest) => {
    const mine = ++opening.current;
    setPlanModels(undefined);
    // The plan as it is now, not as it was requested.
    (async () => {
      const product = await gateway.getProduct(request.productId);
      const plan = product.plans.find(p => p.name === request.plan);
      return plan ? modelsInPlan(product, plan) : undefined;
    })().then(
      names => {
        if (opening.current !== mine) return;
        setPlanModels(names ? { names, chosen: new Set(names) } : { names: [], chosen: new Set(), missing: true });
      },
      e => {
        if (opening.current !== mine) return;
        // The product itself gone: its plans with it.
        if ((e as { statusCode?: number })?.statusCode === 404) setPlanModels({ names: [], chosen: new Set(), missing: true });
        else setPlanModels({ names: [], chosen: new Set(), unread: errorMessage(e) });
      },
    );
  };
  const open = (request: GatewayKeyRequest, decision: Review['decision']) => {
    setReviewing({ request, decision });
    setReason('');
    setExpiryDays('');
    setDialogError(undefined);
    setStale(false);
    if (decision === 'approve') readPlanModels(request);
    else opening.current++;
  };
  const close = () => {
    opening.current++;
    setReviewing(undefined);
  };
  const choose = (model: string, on: boolean) => setPlanModels(current => {
    if (!current) return current;
    const chosen = new Set(current.chosen);
    if (on) chosen.add(model);
    else chosen.delete(model);
    return { ...current, chosen };
  });
  // Narrowed only when some model is left out: a key with every model follows its plan, models added later too.
  const narrowedTo = planModels && planModels.chosen.size < planModels.names.length ? planModels.names.filter(m => planModels.chosen.has(m)) : undefined;
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
          ...(narrowedTo ? { models: narrowedTo } : {}),
        });
        setIssued(result.issued);
      } else {
        await gateway.denyKeyRequest(reviewing.request.id, { reason: reason.trim() });
        alerts.post({ message: `Denied the request of ${reviewing.request.componentRef}`, severity: 'info', display: 'transient' });
      }
      close();
      onDecided();
    } catch (e) {
      setDialogError(errorMessage(e));
      // Decided or expired meanwhile (by another reviewer), or its plan removed: the list is read again behind the dialog, which cannot send the decision again.
      if (isConflict(e)) {
        setStale(true);
        onDecided();
      }
    } finally {
      setBusy(false);
    }
  };
  const canConfirm = !stale && (reviewing?.decision === 'approve'
    ? !expiryError(expiryDays) && planModels !== undefined && !planModels.missing && (planModels.names.length === 0 || planModels.chosen.size > 0)
    : reason.trim().length > 0);

  return (
    <>
      {requests.length === 0 ? (
        <Typography variant="body2" color="text.secondary">{empty}</Typography>
      ) : (
        <Table size="small" aria-label="pending key requests">
          <TableHead>
            <TableRow>
              {showApi && <TableCell>API</TableCell>}
              <TableCell>Component</TableCell><TableCell>Plan</TableCell><TableCell>Justification</TableCell>
              <TableCell>Requested</TableCell><TableCell>Expires</TableCell><TableCell align="right">Review</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {requests.map(r => {
              const why = isExpired(r, now)
                ? `This request expired ${formatDateTime(r.expiresAt)} without a review; it can no longer be decided, and leaves the list shortly. The component's owners can ask again.`
                : reviewWhy?.(r);
              return (
                // Names, plans and buttons whole; the justification takes what width is left.
                <TableRow key={r.id} sx={{ '& td:not(.justification)': { whiteSpace: 'nowrap' } }}>
                  {showApi && <TableCell><EntityRefLink entityRef={r.apiRef} defaultKind="api" /></TableCell>}
                  <TableCell><EntityRefLink entityRef={r.componentRef} defaultKind="component" /></TableCell>
                  <TableCell>{r.plan}</TableCell>
                  <TableCell className="justification" sx={{ maxWidth: 360 }}>{r.justification}</TableCell>
                  <TableCell>{formatDateTime(r.requestedAt)}<br />by {shortUser(r.requestedBy)}</TableCell>
                  <TableCell>{formatDateTime(r.expiresAt)}</TableCell>
                  <TableCell align="right">
                    <Stack direction="row" spacing={1} justifyContent="flex-end">
                      <ExplainedButton variant="contained" why={why} onClick={() => open(r, 'approve')}>Approve</ExplainedButton>
                      <ExplainedButton variant="outlined" color="error" why={why} onClick={() => open(r, 'deny')}>Deny</ExplainedButton>
                    </Stack>
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
      {requests.length >= KEY_REQUEST_LIMIT && (
        <Typography variant="body2" color="text.secondary" sx={{ mt: 2 }}>
          The {KEY_REQUEST_LIMIT} oldest are shown; more may wait, and each comes up here as those before it are decided or expire.
        </Typography>
      )}

      <Dialog open={reviewing !== undefined} onClose={() => !busy && close()} fullWidth maxWidth="sm">
        <DialogTitle>
          {reviewing?.decision === 'approve' ? 'Approve' : 'Deny'} the key request of {reviewing?.request.componentRef}?
        </DialogTitle>
        <DialogContent>
          {reviewing && (
            <Typography variant="body2" paragraph>
              {showApi && <>API <b>{reviewing.request.apiRef}</b>, </>}
              Plan <b>{reviewing.request.plan}</b>, requested by {shortUser(reviewing.request.requestedBy)}: “{reviewing.request.justification}”
            </Typography>
          )}
          {reviewing?.decision === 'approve' && !planModels?.missing && (
            <Typography variant="body2" paragraph>
              A key is issued at once and shown to you once, to hand over to the component&apos;s team.
            </Typography>
          )}
          {reviewing?.decision === 'approve' && planModels?.missing && (
            <Alert
              severity="error"
              action={<Button color="inherit" size="small" onClick={() => setReviewing({ request: reviewing.request, decision: 'deny' })}>Deny instead</Button>}
            >
              {`Plan ${reviewing.request.plan} of ${reviewing.request.productId} no longer exists: the product's owners removed it after this request was made, so it cannot be approved. Deny it, and the component's owners can ask for another plan.`}
            </Alert>
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
            {reviewing?.decision === 'approve' && !planModels && <LinearProgress aria-label="reading the plan's models" />}
            {reviewing?.decision === 'approve' && planModels?.unread && (
              <Alert severity="warning" action={<Button color="inherit" size="small" onClick={() => readPlanModels(reviewing.request)}>Retry</Button>}>
                {`Could not read the models of plan ${reviewing.request.plan} (${planModels.unread}); approved now, the key has all of them.`}
              </Alert>
            )}
            {reviewing?.decision === 'approve' && planModels && planModels.names.length > 1 && (
              <FormControl component="fieldset" error={planModels.chosen.size === 0}>
                <FormLabel component="legend">Models this key may call</FormLabel>
                <FormGroup row>
                  {planModels.names.map(m => (
                    <FormControlLabel
                      key={m} label={m}
                      control={<Checkbox size="small" checked={planModels.chosen.has(m)} onChange={e => choose(m, e.target.checked)} />}
                    />
                  ))}
                </FormGroup>
                <FormHelperText>
                  {planModels.chosen.size === 0 && 'Choose at least one model.'}
                  {planModels.chosen.size > 0 && (narrowedTo
                    ? `Only ${narrowedTo.join(', ')}; a model added to plan ${reviewing.request.plan} later is not included.`
                    : `Every model of plan ${reviewing.request.plan}, and any it gains later.`)}
                </FormHelperText>
              </FormControl>
            )}
            {reviewing?.decision === 'approve' && !planModels?.missing && (
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
          <Button onClick={close} disabled={busy}>Cancel</Button>
          <Button variant="contained" color={reviewing?.decision === 'deny' ? 'error' : 'primary'} disabled={!canConfirm || busy} onClick={decide}>
            {reviewing?.decision === 'approve' ? 'Approve and issue key' : 'Deny request'}
          </Button>
        </DialogActions>
      </Dialog>
      <SecretDialog issued={issued} title="Key issued" onClose={() => setIssued(undefined)} />
    </>
  );
}
