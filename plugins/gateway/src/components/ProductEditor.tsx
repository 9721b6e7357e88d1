import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import type { GatewayProduct, GatewayProductSpec } from '@quarterdeck/plugin-gateway-common';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import Typography from '@mui/material/Typography';
import { gatewayApiRef } from '../api/GatewayClient';
import { errorMessage } from '@quarterdeck/plugin-quarterdeck-react';
import { formatDateTime, shortUser } from './format';
import { readSpec, specYaml, spotOfField, starterYaml, type TextSpot } from './productYaml';

const PRODUCT_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What the editor edits: an API's product, or (without `product`) the first one of an API that has none. */
export type ProductEditorTarget = { apiRef: string; title: string; product?: GatewayProduct; suggestedId?: string };

/**
 * Why a save or a removal went wrong: `spot`, the field the message names;
 * `conflict`, the product is not the version opened (open the current one);
 * `removed`, the product opened is gone (save the text as a new one).
 */
type Failure = { message: string; spot?: TextSpot; conflict?: boolean; removed?: boolean };

/** A refusal's HTTP status (a ResponseError's). */
function statusOf(error: unknown): number | undefined {
  const e = error as { statusCode?: number; response?: { status?: number } } | undefined;
  return e?.statusCode ?? e?.response?.status;
}

/**
 * The product of an API as YAML, saved whole with `PUT /products/:id`. A save
 * is made only over the version the editor opened (`expectedUpdatedAt`), so
 * an owner never overwrites a change they did not see: a conflict says who
 * changed it, and the current version can be opened instead. The backend
 * validates the whole product; the field its message names is selected in
 * the text. An existing product can also be removed from here, after a
 * confirmation, once nothing uses it (the backend says what does).
 */
export function ProductEditor(props: {
  target?: ProductEditorTarget;
  onClose: () => void;
  onSaved: (product: GatewayProduct) => void;
  onRemoved: (id: string) => void;
}) {
  const { target, onClose, onSaved, onRemoved } = props;
  const gateway = useApi(gatewayApiRef);
  const alerts = useApi(alertApiRef);
  const [id, setId] = useState('');
  const [kind, setKind] = useState<GatewayProductSpec['kind']>('openai');
  const [text, setText] = useState('');
  const [base, setBase] = useState<GatewayProduct | undefined>();
  // The owner's own text, kept for reference when a conflict made them open the current version.
  const [unsaved, setUnsaved] = useState<string | undefined>();
  // What the dialog is about, kept while it fades out after `target` is gone.
  const [title, setTitle] = useState('');
  const [failure, setFailure] = useState<Failure | undefined>();
  const [busy, setBusy] = useState(false);
  // Asking to remove the product: the reason for the trail, while the owner confirms.
  const [removal, setRemoval] = useState<{ reason: string } | undefined>();
  const editor = useRef<HTMLTextAreaElement>(null);
  // Creating until there is a version to edit: a conflict on create opens the product someone else made.
  const creating = !base;

  // Each opening starts from the product as it was read (or a starter), with no error nor a removal being confirmed: before it is drawn.
  useLayoutEffect(() => {
    if (!target) return;
    setBase(target.product);
    setText(target.product ? specYaml(target.product) : starterYaml('openai', target.title));
    setKind(target.product?.kind ?? 'openai');
    setId(target.product?.id ?? target.suggestedId ?? '');
    setTitle(target.title);
    setUnsaved(undefined);
    setFailure(undefined);
    setRemoval(undefined);
  }, [target]);

  // The field a problem names is selected, so the owner sees where it is.
  useEffect(() => {
    const spot = failure?.spot;
    const area = editor.current;
    if (!spot || !area) return;
    area.focus();
    area.setSelectionRange(spot.start, spot.end);
    const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
    area.scrollTop = Math.max(0, (spot.line - 3) * lineHeight);
  }, [failure]);

  // The starter follows the kind chosen until the owner writes something of their own; from then on the text says the kind.
  const starter = text === starterYaml(kind, title);
  // Text the owner wrote is not thrown away by Escape or a click beside the dialog: only Cancel does that.
  const edited = !starter && text !== (base ? specYaml(base) : undefined);
  const chooseKind = (next: GatewayProductSpec['kind'] | null) => {
    if (!next || next === kind || !starter) return;
    setText(starterYaml(next, title));
    setKind(next);
  };

  const idProblem = creating && !PRODUCT_ID.test(id) ? 'Lowercase letters, digits or "-", at most 63' : undefined;

  // The product opened, gone: said in plain words, with the owner's text kept to save as a new product.
  const removedFailure = (removed: GatewayProduct): Failure => ({
    message: `Gateway product ${removed.id} was removed from the gateway after you opened it, so nothing was saved. Your text is kept: save it as a new product to offer ${title} through the gateway again.`,
    removed: true,
  });

  /**
   * A save refused with a 409 (or a 404: the product went while it was being
   * written) found the product not as the editor holds it, whatever the
   * message's words: the product as it is now says which way on. Gone: save
   * the text as a new one; another version: open it; the very version opened:
   * the refusal is about the text (a plan that keys hold), at the field it names.
   */
  const whyRefused = async (opened: GatewayProduct | undefined, message: string, spot: TextSpot | undefined): Promise<Failure> => {
    let current: GatewayProduct | undefined;
    try {
      [current] = await gateway.listProducts({ entityRef: target!.apiRef });
    } catch {
      // Not read: a conflict all the same; opening the current version reads it again.
      return { message, spot, conflict: !spot };
    }
    // Creating, with no product there: the id is what is refused (another API's, say), as the message says.
    if (!current) return opened ? removedFailure(opened) : { message, spot };
    const sameVersion = opened !== undefined && current.id === opened.id && Date.parse(current.updatedAt) === Date.parse(opened.updatedAt);
    return sameVersion && spot ? { message, spot } : { message, spot, conflict: true };
  };

  // `asNew`: over no version at all, after the product opened was removed meanwhile.
  const save = async (asNew = false) => {
    if (!target) return;
    const read = readSpec(text);
    if (!read.ok) {
      setFailure({ message: read.message, spot: read.spot });
      return;
    }
    const opened = asNew ? undefined : base;
    setBusy(true);
    setFailure(undefined);
    try {
      const saved = await gateway.putProduct(id, {
        entityRef: target.apiRef,
        spec: read.spec as GatewayProductSpec,
        expectedUpdatedAt: opened ? opened.updatedAt : null,
      });
      alerts.post({ message: `Saved gateway product ${saved.id}`, severity: 'success', display: 'transient' });
      onSaved(saved);
    } catch (e) {
      const message = errorMessage(e);
      const status = statusOf(e);
      const spot = spotOfField(text, message);
      setFailure(status === 409 || (status === 404 && opened) ? await whyRefused(opened, message, spot) : { message, spot });
    } finally {
      setBusy(false);
    }
  };

  // After the product opened was removed: the editor creates it afresh, from the owner's text, under the same id.
  const saveAsNew = () => {
    setBase(undefined);
    save(true);
  };

  // After a conflict: the API's product as it is now replaces the text; the owner's own stays beside it, to redo their edit.
  const openCurrent = async () => {
    if (!target) return;
    setBusy(true);
    try {
      const [current] = await gateway.listProducts({ entityRef: target.apiRef });
      if (!current) {
        setFailure(base ? removedFailure(base) : { message: `${target.apiRef} has no gateway product now` });
        return;
      }
      // The owner's own text, only if they changed what they had opened.
      setUnsaved(text === (base ? specYaml(base) : starterYaml(kind, title)) ? undefined : text);
      setBase(current);
      setId(current.id);
      setText(specYaml(current));
      setFailure(undefined);
    } catch (e) {
      setFailure({ message: errorMessage(e) });
    } finally {
      setBusy(false);
    }
  };

  // Over the version opened, as a save is: a product changed meanwhile is read again before it goes.
  const remove = async () => {
    if (!base || !removal) return;
    setBusy(true);
    setFailure(undefined);
    try {
      await gateway.deleteProduct(base.id, { expectedUpdatedAt: base.updatedAt, reason: removal.reason.trim() || undefined });
      alerts.post({ message: `Removed gateway product ${base.id}`, severity: 'success', display: 'transient' });
      onRemoved(base.id);
    } catch (e) {
      const message = errorMessage(e);
      const status = statusOf(e);
      setFailure({ message, conflict: status === 409 && /changed by/.test(message) });
      // After a conflict the current version is opened first; otherwise the owner, told what still uses it, keeps the reason they wrote.
      if (status === 409 && /changed by/.test(message)) setRemoval(undefined);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={target !== undefined} onClose={() => !busy && !edited && onClose()} fullWidth maxWidth="md" aria-labelledby="product-editor-title">
      <DialogTitle id="product-editor-title">{creating ? `Offer ${title} through the gateway` : `Edit gateway product ${base?.id ?? ''}`}</DialogTitle>
      {busy && <LinearProgress />}
      <DialogContent>
        <Stack spacing={2}>
          {creating ? (
            <Stack direction="row" spacing={2} alignItems="flex-start">
              <TextField
                label="Product id" value={id} onChange={e => setId(e.target.value.trim())} size="small" required
                error={Boolean(id) && Boolean(idProblem)} helperText={idProblem ?? 'Callers use it in /p/<id>/ for a REST product'}
              />
              <ToggleButtonGroup exclusive size="small" value={starter ? kind : null} disabled={!starter} onChange={(_e, next) => chooseKind(next)} aria-label="product kind">
                <ToggleButton value="openai">OpenAI-compatible</ToggleButton>
                <ToggleButton value="rest">REST</ToggleButton>
              </ToggleButtonGroup>
            </Stack>
          ) : (
            <Typography variant="body2" color="text.secondary">
              {`Version of ${base ? formatDateTime(base.updatedAt) : ''} by ${shortUser(base?.updatedBy)}. Saved whole: the data plane serves the new version within seconds, and keys keep their plan. A plan that keys still hold cannot be removed.`}
            </Typography>
          )}
          <TextField
            inputRef={editor}
            label="Product (YAML)"
            value={text}
            onChange={e => setText(e.target.value)}
            multiline
            minRows={18}
            maxRows={28}
            fullWidth
            spellCheck={false}
            disabled={busy}
            inputProps={{ 'aria-label': 'product YAML', style: { fontFamily: 'monospace', fontSize: 13, lineHeight: 1.5 } }}
          />
          {removal && base && (
            <Alert severity="warning" role="alertdialog" aria-label="confirm removal">
              <Stack spacing={1.5}>
                <Typography variant="body2">
                  {`Remove gateway product ${base.id}? The data plane stops serving it within seconds and components can no longer request keys for ${title}. It is removed only while no key works and no request waits; its audit trail and usage stay.`}
                </Typography>
                <TextField
                  label="Reason (for the audit trail)" size="small" fullWidth value={removal.reason} disabled={busy}
                  onChange={e => setRemoval({ reason: e.target.value })} inputProps={{ maxLength: 2000 }}
                />
              </Stack>
            </Alert>
          )}
          {failure && (
            <Alert
              severity="error"
              action={(failure.conflict && <Button color="inherit" size="small" onClick={openCurrent} disabled={busy}>Open the current version</Button>)
                || (failure.removed && <Button color="inherit" size="small" onClick={saveAsNew} disabled={busy}>Save as a new product</Button>)
                || undefined}
            >
              {failure.spot ? `${failure.message} (line ${failure.spot.line})` : failure.message}
            </Alert>
          )}
          {unsaved !== undefined && (
            <TextField
              label="Your edit, not saved (for reference)" value={unsaved} multiline maxRows={12} fullWidth
              InputProps={{ readOnly: true }} inputProps={{ 'aria-label': 'your unsaved edit', style: { fontFamily: 'monospace', fontSize: 13 } }}
            />
          )}
        </Stack>
      </DialogContent>
      {removal ? (
        <DialogActions>
          <Button onClick={() => setRemoval(undefined)} disabled={busy}>Keep it</Button>
          <Button variant="contained" color="error" onClick={remove} disabled={busy}>Remove product</Button>
        </DialogActions>
      ) : (
        <DialogActions>
          {!creating && (
            <Button color="error" onClick={() => setRemoval({ reason: '' })} disabled={busy} sx={{ mr: 'auto' }}>
              Remove from the gateway
            </Button>
          )}
          <Button onClick={onClose} disabled={busy}>Cancel</Button>
          <Button variant="contained" onClick={() => save()} disabled={busy || Boolean(idProblem) || !text.trim()}>{creating ? 'Create product' : 'Save'}</Button>
        </DialogActions>
      )}
    </Dialog>
  );
}
