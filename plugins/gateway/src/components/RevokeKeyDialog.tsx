import { useEffect, useRef, useState } from 'react';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import type { GatewayKeyView } from '@quarterdeck/plugin-gateway-common';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { gatewayApiRef } from '../api/GatewayClient';
import { errorMessage } from '@quarterdeck/plugin-quarterdeck-react';
import { isConflict } from './common';

/** A key that is revoked can still be accepted: active, or rotated and in its grace period. */
export const revocable = (key: GatewayKeyView) => key.status === 'active';

/**
 * Asks why, then revokes `gatewayKey` (open while it is set): the component's
 * page and the API's page both revoke through it. The reason goes to the
 * audit trail of both entities. `onStale` is told when the key changed
 * meanwhile (revoked or rotated by someone else: a 409), so the list behind
 * the dialog is read again while the dialog says why.
 */
export function RevokeKeyDialog(props: { gatewayKey?: GatewayKeyView; onClose: () => void; onRevoked: () => void; onStale: () => void }) {
  const { gatewayKey, onClose, onRevoked, onStale } = props;
  const gateway = useApi(gatewayApiRef);
  const alerts = useApi(alertApiRef);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  // Refused because the key changed meanwhile: another click would only be refused again.
  const [stale, setStale] = useState(false);
  // The key asked about stays named while the dialog fades out.
  const shown = useRef(gatewayKey);
  if (gatewayKey) shown.current = gatewayKey;
  const key = shown.current;
  // Each key asked about starts with an empty reason and no error.
  useEffect(() => {
    if (!gatewayKey) return;
    setReason('');
    setFailure(undefined);
    setStale(false);
  }, [gatewayKey]);

  const revoke = async () => {
    setBusy(true);
    setFailure(undefined);
    try {
      await gateway.revokeKey(key!.id, { reason: reason.trim() });
      alerts.post({ message: `Revoked ${key!.masked}`, severity: 'info', display: 'transient' });
      onRevoked();
    } catch (e) {
      setFailure(errorMessage(e));
      if (isConflict(e)) {
        setStale(true);
        onStale();
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={gatewayKey !== undefined} onClose={() => !busy && onClose()} fullWidth maxWidth="sm">
      <DialogTitle>Revoke {key?.masked}?</DialogTitle>
      <DialogContent>
        <Typography variant="body2" paragraph>
          The key stops working at once, for every client that uses it. This cannot be undone.
        </Typography>
        <TextField label="Reason" required value={reason} onChange={e => setReason(e.target.value)} fullWidth />
        {failure && <Alert severity="error" sx={{ mt: 2 }}>{failure}</Alert>}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} disabled={busy}>{stale ? 'Close' : 'Cancel'}</Button>
        {!stale && <Button variant="contained" color="error" onClick={revoke} disabled={busy || !reason.trim()}>Revoke key</Button>}
      </DialogActions>
    </Dialog>
  );
}
