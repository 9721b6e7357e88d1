import { useState } from 'react';
import type { IssuedKey } from '@quarterdeck/plugin-gateway-common';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import IconButton from '@mui/material/IconButton';
import InputAdornment from '@mui/material/InputAdornment';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import ContentCopyIcon from '@mui/icons-material/ContentCopy';
import { formatDateTime } from './format';

/**
 * The full key, the one time it exists outside its holder: the backend keeps
 * only its HMAC. Closing the dialog drops it; only the explicit button closes
 * it, so a stray click or Escape does not lose the key.
 */
export function SecretDialog(props: { issued?: IssuedKey; title: string; onClose: () => void }) {
  const { issued, title, onClose } = props;
  const [copied, setCopied] = useState<'yes' | 'failed' | undefined>();
  const copy = async () => {
    try {
      await window.navigator.clipboard.writeText(issued!.secret);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };
  const close = () => {
    setCopied(undefined);
    onClose();
  };
  let copyHint = 'Copy the key';
  if (copied === 'yes') copyHint = 'Copied';
  else if (copied === 'failed') copyHint = 'The browser did not allow copying: select the key and copy it';
  return (
    <Dialog open={issued !== undefined} maxWidth="md" fullWidth disableEscapeKeyDown aria-labelledby="gateway-secret-title">
      <DialogTitle id="gateway-secret-title">{title}</DialogTitle>
      {issued && (
        <DialogContent>
          <Alert severity="warning" sx={{ mb: 2 }}>
            Copy this key now: it will not be shown again. Quarterdeck stores only a hash of it; if it is lost, rotate the key.
          </Alert>
          <TextField
            label="API key"
            value={issued.secret}
            fullWidth
            InputProps={{
              readOnly: true,
              sx: { fontFamily: 'monospace' },
              endAdornment: (
                <InputAdornment position="end">
                  <Tooltip title={copyHint}>
                    <IconButton aria-label="Copy key" onClick={copy} edge="end">
                      <ContentCopyIcon />
                    </IconButton>
                  </Tooltip>
                </InputAdornment>
              ),
            }}
            onFocus={e => e.target.select()}
          />
          {copied === 'yes' && (
            <Typography variant="caption" color="success.main" role="status">Copied to the clipboard.</Typography>
          )}
          <Typography variant="body2" sx={{ mt: 2 }}>
            For {issued.key.componentRef} on plan <b>{issued.key.plan}</b> of {issued.key.productId}
            {issued.key.expiresAt ? `, valid until ${formatDateTime(issued.key.expiresAt)}` : ', without expiry'}.
            Clients send it to the gateway&apos;s data plane as <code>Authorization: Bearer &lt;key&gt;</code>.
          </Typography>
        </DialogContent>
      )}
      <DialogActions>
        <Button variant="contained" onClick={close}>I have copied the key</Button>
      </DialogActions>
    </Dialog>
  );
}
