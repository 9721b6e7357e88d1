import { useRef, useState, type FormEvent } from 'react';
import { InfoCard, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  rolloutAbortPermission,
  rolloutPausePermission,
  rolloutPromoteFullPermission,
  rolloutPromotePermission,
  rolloutRestartPermission,
  rolloutResumePermission,
  rolloutRetryPermission,
  rolloutUndoPermission,
  type CanaryStep,
  type RolloutDetail,
  type RolloutSummary,
} from '@quarterdeck/plugin-argo-common';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Grid from '@mui/material/Grid';
import Stack from '@mui/material/Stack';
import Step from '@mui/material/Step';
import StepLabel from '@mui/material/StepLabel';
import Stepper from '@mui/material/Stepper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useTheme } from '@mui/material/styles';
import { errorMessage, formatDateTime, permissionWhy, usePolling, type PermissionCheck } from '@quarterdeck/plugin-quarterdeck-react';
import { argoApiRef, type RolloutActionName } from '../../api/ArgoClient';
import { RolloutAuditTrail } from './RolloutAuditTrail';
import { analysisKindLabel, BlueGreenFlow, pauseReasonText, RUN_STATUS_COLORS, RunStatusChip } from './BlueGreenFlow';

const ROLE_COLORS: Record<string, 'success' | 'warning' | 'info' | 'default'> = {
  stable: 'success',
  canary: 'warning',
  active: 'success',
  preview: 'info',
  old: 'default',
};
const CONFIRM_TITLES: Partial<Record<RolloutActionName, string>> = { abort: 'Abort', undo: 'Undo', 'promote-full': 'Promote fully' };

const PHASE_COLORS: Record<RolloutSummary['phase'], 'success' | 'info' | 'warning' | 'error'> = {
  Healthy: 'success',
  Progressing: 'info',
  Paused: 'warning',
  Degraded: 'error',
};

/** How kubectl argo rollouts names a step. */
export function stepLabel(step: CanaryStep): string {
  if (step.setWeight !== undefined) return `setWeight: ${step.setWeight}`;
  // A bare number is seconds to Argo: said with its unit.
  if (step.pause) return step.pause.duration !== undefined ? `pause: ${step.pause.duration}${/^\d+$/.test(String(step.pause.duration)) ? 's' : ''}` : 'pause';
  if (step.analysis) return `analysis: ${(step.analysis.templates ?? []).map(t => t.templateName).join(', ')}`;
  if (step.setCanaryScale) return 'setCanaryScale';
  return Object.keys(step)[0] ?? 'step';
}

/** AnalysisRuns newest first (the cluster lists them by name, a hash), so the current one is on top. */
const newestRunFirst = (a: { startedAt?: string }, b: { startedAt?: string }) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '');

/** The share of traffic (or pods) at the canary and at stable. */
export function WeightBar({ canary }: { canary: number }) {
  return (
    <Box role="img" aria-label={`canary weight ${canary}%`} sx={{ display: 'flex', height: 22, borderRadius: 1, overflow: 'hidden', border: 1, borderColor: 'divider' }}>
      <Box sx={{ width: `${100 - canary}%`, bgcolor: 'success.light', color: 'success.contrastText', fontSize: 12, px: 1, display: 'flex', alignItems: 'center' }}>
        {100 - canary > 12 ? `stable ${100 - canary}%` : ''}
      </Box>
      <Box sx={{ width: `${canary}%`, bgcolor: 'warning.light', color: 'warning.contrastText', fontSize: 12, px: canary ? 1 : 0, display: 'flex', alignItems: 'center' }}>
        {canary > 12 ? `canary ${canary}%` : ''}
      </Box>
    </Box>
  );
}

/** A metric's measurements over time: numbers as a line, verdicts as dots. */
export function MeasurementChart({ measurements }: { measurements: Array<{ phase: string; value?: string; message?: string }> }) {
  const values = measurements.map(m => {
    // A query that found nothing ("[]", "") has no value: not a 0, which would read as healthy.
    const first = m.value?.replace(/^\[|\]$/g, '').split(',')[0].trim();
    const n = first ? Number(first) : Number.NaN;
    return Number.isFinite(n) ? n : undefined;
  });
  const numbers = values.filter((v): v is number => v !== undefined);
  // Scaled to the values' own range, so that error rates of 0.001–0.05 or latencies of 250–260 ms are not a flat line.
  const max = numbers.length ? Math.max(...numbers) : 1;
  const min = numbers.length ? Math.min(...numbers) : 0;
  const failed = measurements.filter(m => m.phase === 'Failed').length;
  const last = measurements[measurements.length - 1];
  const described = last
    ? `${measurements.length} measurement${measurements.length === 1 ? '' : 's'}, the latest ${last.value ? `${last.value} ` : ''}(${last.phase})${failed ? `, ${failed} failed` : ''}`
    : 'no measurements';
  const width = 220;
  const height = 48;
  const x = (i: number) => (measurements.length <= 1 ? width / 2 : (i / (measurements.length - 1)) * (width - 12) + 6);
  const y = (v: number) => height - 6 - ((v - min) / (max - min || 1)) * (height - 12);
  const points = values.map((v, i) => (v === undefined ? undefined : `${x(i)},${y(v)}`)).filter(Boolean).join(' ');
  const theme = useTheme();
  const color = (phase: string) => ({
    Successful: theme.palette.success.main, Failed: theme.palette.error.main, Error: theme.palette.warning.main, Inconclusive: theme.palette.text.disabled,
  }[phase] ?? theme.palette.primary.main);
  return (
    <svg width={width} height={height} role="img" aria-label={`measurements over time: ${described}`}>
      {points && <polyline points={points} fill="none" stroke={theme.palette.primary.main} strokeWidth={1.5} />}
      {measurements.map((m, i) => (
        <circle key={i} cx={x(i)} cy={values[i] !== undefined ? y(values[i]!) : height / 2} r={3.5} fill={color(m.phase)}>
          <title>{`${m.phase}${m.value ? `: ${m.value}` : ''}${m.message ? ` (${m.message})` : ''}`}</title>
        </circle>
      ))}
    </svg>
  );
}

const ACTIONS: Array<{ action: RolloutActionName; label: string; permission: typeof rolloutPromotePermission; confirm?: boolean }> = [
  { action: 'promote', label: 'Promote', permission: rolloutPromotePermission },
  { action: 'promote-full', label: 'Promote full', permission: rolloutPromoteFullPermission, confirm: true },
  { action: 'abort', label: 'Abort', permission: rolloutAbortPermission, confirm: true },
  { action: 'retry', label: 'Retry', permission: rolloutRetryPermission },
  { action: 'pause', label: 'Pause', permission: rolloutPausePermission },
  { action: 'resume', label: 'Resume', permission: rolloutResumePermission },
  { action: 'restart', label: 'Restart', permission: rolloutRestartPermission },
  { action: 'undo', label: 'Undo', permission: rolloutUndoPermission, confirm: true },
];

/** Whether an action applies now; the backend has the last word (409 with the reason). */
function applies(action: RolloutActionName, r: RolloutSummary | RolloutDetail): boolean {
  const promoted = Boolean(r.stableRS) && r.stableRS === r.currentPodHash;
  switch (action) {
    // Undo needs a revision to go back to (the backend answers 404 otherwise); known once the detail has come.
    case 'undo': return 'replicaSets' in r && new Set(r.replicaSets.map(rs => rs.revision).filter(n => n > 0)).size >= 2;
    // Paused; or a canary at a step that is not done (a running analysis, a setWeight still scaling), which kubectl's promote skips.
    case 'promote': return r.paused || r.pauseConditions.length > 0
      || (r.strategy === 'canary' && !r.aborted && r.steps.length > 0 && (r.currentStepIndex ?? 0) < r.steps.length);
    case 'promote-full': return !promoted || r.paused;
    case 'abort': return !r.aborted && !promoted;
    case 'retry': return r.aborted;
    case 'pause': return !r.paused;
    case 'resume': return r.paused;
    default: return true;
  }
}

/** The step a promote skips: a canary's current step when no pause condition is there to clear (kubectl's promote). */
function stepPromoteSkips(r: RolloutSummary | RolloutDetail): number | undefined {
  const index = r.currentStepIndex ?? 0;
  if (r.strategy !== 'canary' || r.aborted || r.pauseConditions.length > 0 || index >= r.steps.length) return undefined;
  return index;
}

function ActionButton(props: {
  /** The entity whose permission gates the action; undefined when no single entity owns the Rollout. */
  entityRef: string | undefined;
  /** When no entity owns the Rollout: the actions the backend says the user may take on it (the policy without a resource). */
  unownedActionsAllowed: string[] | undefined;
  spec: (typeof ACTIONS)[number];
  rollout: RolloutSummary | RolloutDetail;
  busy: boolean;
  onRun: (action: RolloutActionName, confirm: boolean) => void;
}) {
  const owned = usePermission({ permission: props.spec.permission, resourceRef: props.entityRef });
  const check: PermissionCheck = props.entityRef
    ? owned
    : { allowed: props.unownedActionsAllowed?.includes(props.spec.action) ?? false, loading: props.unownedActionsAllowed === undefined };
  const { allowed, loading } = check;
  const relevant = applies(props.spec.action, props.rollout);
  const skips = props.spec.action === 'promote' ? stepPromoteSkips(props.rollout) : undefined;
  const skipped = skips === undefined ? undefined : props.rollout.steps[skips];
  let why = '';
  if (!allowed && !loading) {
    // A check that failed (the permission backend down) is said as such, not as a permission the user lacks.
    why = permissionWhy(check, props.entityRef
      ? `You need ${props.spec.permission.name} on ${props.entityRef}`
      : 'No single catalog entity owns this Rollout, and without one the permission policy does not let you act on it (in Quarterdeck\'s, only platform admins may)') ?? '';
  } else if (!relevant) why = 'Does not apply to the rollout as it is now';
  else if (skipped) {
    why = `No pause to end: promote skips step ${skips! + 1} (${stepLabel(skipped)}), as kubectl argo rollouts promote does${skipped.analysis ? ', and terminates its analysis run' : ''}`;
  }
  return (
    <Tooltip title={why}>
      {/* Focusable while it has a reason, so a keyboard reaches the reason a disabled button cannot show (its tooltip opens on focus). */}
      {/* eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <span tabIndex={why ? 0 : undefined}>
        <Button
          size="small"
          variant={props.spec.action === 'promote' ? 'contained' : 'outlined'}
          color={props.spec.action === 'abort' ? 'error' : 'primary'}
          disabled={!allowed || loading || !relevant || props.busy}
          onClick={() => props.onRun(props.spec.action, Boolean(props.spec.confirm))}
        >
          {skipped ? `Skip step ${skips! + 1}` : props.spec.label}
        </Button>
      </span>
    </Tooltip>
  );
}

/**
 * What the user saw when choosing an action that depends on it, so the
 * backend refuses it (409) if the Rollout has moved on: a promote meant for
 * this step (another user's promote, and this one would skip the next step),
 * a promote-full or undo meant for this pod template. Abort, pause and the
 * others act on whatever is there.
 */
function whatWasSeen(action: RolloutActionName, r: RolloutSummary): { expectedStep?: number; expectedPodHash?: string } {
  const hash = r.currentPodHash ? { expectedPodHash: r.currentPodHash } : {};
  if (action === 'promote') return { ...(r.strategy === 'canary' && r.steps.length > 0 ? { expectedStep: r.currentStepIndex ?? 0 } : {}), ...hash };
  return action === 'promote-full' || action === 'undo' ? hash : {};
}

export function RolloutCard({ entityRef: pageEntityRef, summary }: { entityRef: string; summary: RolloutSummary }) {
  const argo = useApi(argoApiRef);
  const alerts = useApi(alertApiRef);
  const ref = { cluster: summary.cluster, namespace: summary.namespace!, name: summary.name! };
  const { value: detail, error, retry } = usePolling<RolloutDetail>(() => argo.getRollout(ref.cluster, ref.namespace, ref.name), 1500);
  // An action is sent, then the Rollout read again: the buttons come back once they show what it did.
  const [acting, setActing] = useState<'sending' | 'refreshing' | undefined>();
  const busy = acting !== undefined;
  const [confirming, setConfirming] = useState<RolloutActionName | undefined>();
  const [reason, setReason] = useState('');
  const [refusal, setRefusal] = useState<string | undefined>();
  // Which opening of the reason dialog is the current one: an action's result goes to the dialog it was confirmed in, not a later one.
  const dialog = useRef(0);
  // The backend checks the entity that owns the Rollout (its backstage.io/kubernetes-id), which a
  // label selector can make another than the page's; the page's until the detail names it. A
  // Rollout that no single entity owns (no such label, or several entities claim it) only platform admins may act on.
  const entityRef = detail ? detail.entityRef : pageEntityRef;

  // What the Rollout was when its dialog opened: the detail is read again while the reason is typed, and an undo
  // meant for the template shown then must not go out for a template someone changed meanwhile.
  const seenWhenAsked = useRef<ReturnType<typeof whatWasSeen>>({});
  // The Rollout as the card now shows it: after a refusal the dialog's next Confirm is for what was read since.
  const shown = useRef(detail ?? summary);
  shown.current = detail ?? summary;
  const refusedInDialog = useRef(false);
  const confirm = (action: RolloutActionName) => {
    seenWhenAsked.current = whatWasSeen(action, detail ?? summary);
    refusedInDialog.current = false;
    dialog.current++;
    setReason('');
    setRefusal(undefined);
    setConfirming(action);
  };
  // Not while its action is being sent: its answer (a refusal, say) is shown there.
  const closeDialog = () => {
    if (acting === 'sending') return;
    dialog.current++;
    setConfirming(undefined);
  };
  const run = async (action: RolloutActionName, reasonText?: string) => {
    const confirmedIn = reasonText !== undefined ? dialog.current : undefined;
    const dialogOpen = () => confirmedIn !== undefined && confirmedIn === dialog.current;
    setActing('sending');
    if (dialogOpen()) setRefusal(undefined);
    try {
      // A dialog confirmed again after a refusal ("it moved on; look at it again") acts on the Rollout read since, which the refusal described.
      if (confirmedIn !== undefined && refusedInDialog.current) seenWhenAsked.current = whatWasSeen(action, shown.current);
      const seen = confirmedIn !== undefined ? seenWhenAsked.current : whatWasSeen(action, detail ?? summary);
      const result = await argo.rolloutAction(ref, action, { ...(reasonText ? { reason: reasonText } : {}), ...seen });
      alerts.post({ message: result.summary, severity: 'success', display: 'transient' });
      if (result.auditError) alerts.post({ message: result.auditError, severity: 'warning' });
      if (dialogOpen()) {
        dialog.current++;
        setConfirming(undefined);
        setReason('');
      }
    } catch (e) {
      // The backend's sentence (a 409 says why the action does not apply now); a dialog stays open with the reason typed.
      if (dialogOpen()) {
        refusedInDialog.current = true;
        setRefusal(errorMessage(e));
      } else {
        alerts.post({ message: errorMessage(e), severity: 'error' });
      }
    } finally {
      // Applied, failed or partly applied: what the Rollout is now, before the buttons are offered again.
      setActing('refreshing');
      await retry();
      setActing(undefined);
    }
  };

  const r = detail ?? summary;
  // Fully promoted, the new version is the stable one: all of it is stable, whatever a basic canary's status says;
  // unless the router still sends a share to another ReplicaSet (a dynamicStableScale rollback walks it back step by step).
  const routedElsewhere = r.weights?.canary.podTemplateHash !== undefined && r.weights.canary.podTemplateHash !== r.stableRS;
  const canaryWeight = r.stableRS && r.stableRS === r.currentPodHash && !routedElsewhere ? 0 : (r.weights?.canary.weight ?? 0);
  const stepCount = r.steps.length;
  const index = Math.min(r.currentStepIndex ?? 0, stepCount);
  return (
    <InfoCard
      title={
        <Stack direction="row" spacing={1} alignItems="center">
          <span>{r.name}</span>
          <Chip size="small" label={r.phase} color={PHASE_COLORS[r.phase]} />
          <Chip size="small" variant="outlined" label={r.strategy === 'canary' ? 'canary' : 'blue-green'} />
        </Stack>
      }
      subheader={`${r.cluster} · ${r.namespace}${r.message ? ` · ${r.message}` : ''}`}
    >
      {error && <ResponseErrorPanel error={error} />}
      {r.pauseConditions.length > 0 && (
        <Alert severity="warning" sx={{ mb: 2 }}>
          Paused: {r.pauseConditions.map(p => p.reason).join(', ')} since {formatDateTime(r.pauseConditions[0].startTime)}
          {r.pauseConditions.map(p => pauseReasonText(p.reason, r)).filter(Boolean).map(text => (
            <Typography key={text} variant="body2">{text}.</Typography>
          ))}
        </Alert>
      )}
      {r.strategy === 'blueGreen' && <BlueGreenFlow rollout={r} />}
      {r.strategy === 'canary' && stepCount > 0 && (
        <Box sx={{ mb: 2 }}>
          <Typography variant="subtitle2" gutterBottom>
            {index >= stepCount ? `All ${stepCount} steps done` : `Step ${index + 1} of ${stepCount}`}
          </Typography>
          <Stepper activeStep={index} alternativeLabel>
            {r.steps.map((step, i) => (
              <Step key={i} completed={i < index}>
                <StepLabel>{stepLabel(step)}</StepLabel>
              </Step>
            ))}
          </Stepper>
        </Box>
      )}
      {r.weights && (
        <Box sx={{ mb: 2 }}>
          <WeightBar canary={canaryWeight} />
        </Box>
      )}
      {r.backgroundAnalysis && (
        <Stack direction="row" spacing={1} alignItems="center" sx={{ mb: 2 }} aria-label="background analysis">
          <Typography variant="body2">Background analysis</Typography>
          <RunStatusChip run={r.backgroundAnalysis} />
          <Typography variant="caption" color="text.secondary">{r.backgroundAnalysis.name}</Typography>
        </Stack>
      )}
      <Stack direction="row" spacing={1} sx={{ mb: 2, flexWrap: 'wrap' }} role="group" aria-label="rollout actions">
        {ACTIONS.map(spec => (
          <ActionButton key={spec.action} entityRef={entityRef} unownedActionsAllowed={detail?.unownedActionsAllowed} spec={spec} rollout={r} busy={busy}
            onRun={(action, needsReason) => (needsReason ? confirm(action) : run(action))} />
        ))}
      </Stack>
      {!detail && !error && <Progress />}
      {detail && (
        <Grid container spacing={2}>
          <Grid item xs={12} md={6}>
            <Typography variant="subtitle2">ReplicaSets</Typography>
            <Table size="small" aria-label="replica sets">
              <TableHead><TableRow><TableCell>Role</TableCell><TableCell>Name</TableCell><TableCell>Revision</TableCell><TableCell>Ready</TableCell></TableRow></TableHead>
              <TableBody>
                {detail.replicaSets.filter(rs => rs.replicas > 0 || rs.role !== 'old').map(rs => (
                  <TableRow key={rs.name}>
                    <TableCell><Chip size="small" label={rs.role} color={ROLE_COLORS[rs.role]} /></TableCell>
                    <TableCell>
                      {rs.name}
                      {rs.scaleDownDeadline && rs.replicas > 0 && (
                        <Tooltip title={rs.scaleDownDeadline}>
                          <Typography variant="caption" color="text.secondary" display="block">
                            scales down at {formatDateTime(rs.scaleDownDeadline)}
                          </Typography>
                        </Tooltip>
                      )}
                    </TableCell>
                    <TableCell>{rs.revision}</TableCell>
                    <TableCell>{rs.readyReplicas}/{rs.replicas}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </Grid>
          <Grid item xs={12} md={6}>
            <Typography variant="subtitle2">AnalysisRuns</Typography>
            {detail.analysisRuns.length === 0 && <Typography variant="body2" color="text.secondary">No analysis has run for this rollout.</Typography>}
            {[...detail.analysisRuns].sort(newestRunFirst).map(analysis => (
              <Box key={analysis.name} sx={{ mb: 1 }}>
                <Stack direction="row" spacing={1} alignItems="center">
                  {analysisKindLabel(analysis.kind, analysis.stepIndex) && (
                    <Chip size="small" variant="outlined" label={analysisKindLabel(analysis.kind, analysis.stepIndex)} />
                  )}
                  <Typography variant="body2">{analysis.name}</Typography>
                  <Chip size="small" label={analysis.phase ?? 'Pending'} color={RUN_STATUS_COLORS[analysis.phase ?? 'Pending'] ?? 'default'} />
                </Stack>
                {analysis.message && <Typography variant="caption" color="text.secondary">{analysis.message}</Typography>}
                {analysis.metricResults.map(m => {
                  const latest = m.measurements?.[m.measurements.length - 1];
                  // Why it is where it is: its limits' verdict, else its latest measurement's error (a wrong address shows at once).
                  const why = m.message ?? (latest?.phase === 'Error' ? latest.message : undefined);
                  return (
                    <Box key={m.name}>
                      <Stack direction="row" spacing={1} alignItems="center">
                        <Typography variant="caption" sx={{ minWidth: 110 }}>{m.name}</Typography>
                        <Chip size="small" variant="outlined" label={m.phase} color={m.dryRun ? 'default' : RUN_STATUS_COLORS[m.phase] ?? 'default'} />
                        {m.dryRun && (
                          <Tooltip title="A dry-run metric: its verdict is recorded and does not decide the run">
                            <Chip size="small" variant="outlined" label="dry run" />
                          </Tooltip>
                        )}
                        <MeasurementChart measurements={m.measurements ?? []} />
                        {latest?.value !== undefined && <Typography variant="caption">{m.name} latest: {latest.value}</Typography>}
                      </Stack>
                      {why && <Typography variant="caption" color={m.dryRun ? 'text.secondary' : 'error'} display="block" sx={{ pl: 1 }}>{why}</Typography>}
                    </Box>
                  );
                })}
              </Box>
            ))}
          </Grid>
          <Grid item xs={12}>
            <Typography variant="subtitle2">Audit trail</Typography>
            <RolloutAuditTrail key={`${ref.cluster}/${ref.namespace}/${ref.name}`} rollout={ref} newest={detail.audit} next={detail.auditNext} />
          </Grid>
        </Grid>
      )}
      <Dialog
        open={confirming !== undefined}
        onClose={closeDialog}
        // Enter in the reason confirms, as the Confirm button does.
        PaperProps={{
          component: 'form',
          onSubmit: (e: FormEvent) => {
            e.preventDefault();
            if (confirming && reason.trim() && !busy) run(confirming, reason.trim());
          },
        }}
      >
        <DialogTitle>{confirming ? CONFIRM_TITLES[confirming] : ''} {r.name}?</DialogTitle>
        <DialogContent>
          <Typography variant="body2" paragraph>
            {confirming === 'abort' && 'Traffic and pods go back to the stable version.'}
            {confirming === 'promote-full' && (r.strategy === 'blueGreen'
              ? 'The active Service switches to the new version now; the pause and the analyses are skipped.'
              : 'All remaining steps, pauses and analyses are skipped.')}
            {confirming === 'undo' && 'The previous revision\'s pod template replaces the current one.'}
          </Typography>
          {/* A dialog moves the focus into itself (WAI-ARIA's dialog pattern): here, to the one field it asks for. */}
          {/* eslint-disable-next-line jsx-a11y/no-autofocus */}
          <TextField fullWidth required autoFocus label="Reason" value={reason} onChange={e => setReason(e.target.value)}
            inputProps={{ maxLength: 2000 }} helperText={reason.length > 1800 ? `${reason.length} of 2000 characters` : undefined} />
          {refusal && <Alert severity="error" sx={{ mt: 2 }}>{refusal}</Alert>}
        </DialogContent>
        <DialogActions>
          <Button onClick={closeDialog} disabled={acting === 'sending'}>Cancel</Button>
          <Button type="submit" variant="contained" color={confirming === 'abort' ? 'error' : 'primary'} disabled={!reason.trim() || busy}>
            Confirm
          </Button>
        </DialogActions>
      </Dialog>
    </InfoCard>
  );
}
