import { pauseDurationSeconds, type AnalysisRunKind, type AnalysisRunStatusView, type RolloutDetail, type RolloutSummary } from '@quarterdeck/plugin-argo-common';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Step from '@mui/material/Step';
import StepLabel from '@mui/material/StepLabel';
import Stepper from '@mui/material/Stepper';
import Typography from '@mui/material/Typography';

/** How a pause reads, in words. */
export function pauseReasonText(reason: string, r: RolloutSummary, now = Date.now()): string | undefined {
  switch (reason) {
    case 'BlueGreenPause': {
      const auto = autoPromotionIn(r, now);
      const base = r.blueGreen?.previewService
        ? 'Waiting for promotion: the new version is up behind the preview Service'
        : 'Waiting for promotion: the new version is up, not yet behind the active Service';
      return auto === undefined ? base : `${base}; auto-promotion in ${auto} s`;
    }
    case 'CanaryPauseStep': {
      // A timed pause ends by itself (the controller's resume after pause.duration): it must not read as waiting for a person.
      const left = canaryPauseEndsIn(r, now);
      return left === undefined
        ? 'Waiting at a pause step: promote to go on to the next step'
        : `Pausing at step ${r.currentStepIndex! + 1}: goes on by itself in ${left} s, or promote to go on now`;
    }
    case 'InconclusiveAnalysisRun':
      return 'An analysis was inconclusive: promote to go on, or abort';
    default:
      return undefined;
  }
}

/** Seconds until a canary's timed pause step ends by itself; undefined for a pause that waits for a promotion. */
export function canaryPauseEndsIn(r: RolloutSummary, now = Date.now()): number | undefined {
  const step = r.currentStepIndex === undefined ? undefined : r.steps[r.currentStepIndex];
  const seconds = step?.pause ? pauseDurationSeconds(step.pause.duration) : undefined;
  const pause = r.pauseConditions.find(p => p.reason === 'CanaryPauseStep');
  if (seconds === undefined || seconds < 0 || !pause) return undefined;
  return Math.max(0, Math.ceil((Date.parse(pause.startTime) + seconds * 1000 - now) / 1000));
}

/** Seconds until the controller promotes a blue-green pause by itself, if it will. */
export function autoPromotionIn(r: RolloutSummary, now = Date.now()): number | undefined {
  const bg = r.blueGreen;
  if (!bg || bg.autoPromotionEnabled === false || !bg.autoPromotionSeconds) return undefined;
  const pause = r.pauseConditions.find(p => p.reason === 'BlueGreenPause');
  if (!pause) return undefined;
  return Math.max(0, Math.ceil((Date.parse(pause.startTime) + bg.autoPromotionSeconds * 1000 - now) / 1000));
}

/** "Step 3", "Background", "Pre-promotion", "Post-promotion". */
export function analysisKindLabel(kind: AnalysisRunKind | undefined, stepIndex?: string): string | undefined {
  switch (kind) {
    case 'Step': {
      const n = Number.parseInt(stepIndex ?? '', 10);
      return Number.isNaN(n) ? 'Step' : `Step ${n + 1}`;
    }
    case 'Background': return 'Background';
    case 'PrePromotion': return 'Pre-promotion';
    case 'PostPromotion': return 'Post-promotion';
    default: return undefined;
  }
}

export const RUN_STATUS_COLORS: Record<string, 'success' | 'error' | 'warning' | 'info' | 'default'> = {
  Successful: 'success',
  Failed: 'error',
  Error: 'error',
  Inconclusive: 'warning',
  Running: 'info',
  Pending: 'default',
};

/** An AnalysisRun's status as a chip. */
export function RunStatusChip({ run }: { run: AnalysisRunStatusView }) {
  const status = run.status || 'Pending';
  return <Chip size="small" label={status} color={RUN_STATUS_COLORS[status] ?? 'default'} title={run.message ?? run.name} />;
}

type StageState = 'done' | 'current' | 'failed' | 'pending';
interface Stage {
  label: string;
  state: StageState;
  caption?: string;
}

function analysisStage(label: string, run: AnalysisRunStatusView | undefined, reached: boolean, passed: boolean): Stage {
  if (run?.status === 'Successful') return { label, state: 'done', caption: 'Successful' };
  if (run && ['Failed', 'Error', 'Inconclusive'].includes(run.status)) return { label, state: 'failed', caption: run.status };
  if (run) return { label, state: 'current', caption: run.status || 'Pending' };
  if (passed) return { label, state: 'done' };
  return { label, state: reached ? 'current' : 'pending', caption: reached ? 'Starting' : undefined };
}

/** The blue-green flow's stages, from the Rollout's status. */
export function blueGreenStages(r: RolloutSummary, now = Date.now()): Stage[] {
  const bg = r.blueGreen!;
  const current = r.currentPodHash;
  const switched = Boolean(current) && bg.activeSelector === current;
  const stable = Boolean(current) && r.stableRS === current && switched;
  const waiting = r.pauseConditions.some(p => p.reason === 'BlueGreenPause');
  const preDone = bg.prePromotionAnalysis?.status === 'Successful';
  const previewUp = switched || waiting || preDone || Boolean(bg.prePromotionAnalysis) || Boolean(bg.scaleUpPreviewCheckPoint);

  const stages: Stage[] = [];
  stages.push(previewUp
    ? { label: 'Preview up', state: 'done' }
    : { label: 'Preview up', state: 'current', caption: `${r.updatedReplicas} updated` });
  if (bg.prePromotionAnalysisConfigured) {
    stages.push(analysisStage('Pre-promotion analysis', switched ? undefined : bg.prePromotionAnalysis, previewUp, switched));
  }
  let switchStage: Stage;
  if (switched) switchStage = { label: 'Switch active', state: 'done' };
  else if (waiting) {
    const auto = autoPromotionIn(r, now);
    switchStage = { label: 'Switch active', state: 'current', caption: auto === undefined ? 'Waiting for promotion' : `Auto-promotion in ${auto} s` };
  } else switchStage = { label: 'Switch active', state: 'pending' };
  stages.push(switchStage);
  if (bg.postPromotionAnalysisConfigured) {
    stages.push(analysisStage('Post-promotion analysis', stable ? undefined : bg.postPromotionAnalysis, switched, stable));
  }
  stages.push({ label: 'Stable', state: stable ? 'done' : 'pending' });
  if (r.aborted) {
    const at = stages.find(s => s.state !== 'done');
    if (at) {
      at.state = 'failed';
      at.caption = 'Aborted';
    }
  }
  return stages;
}

function ServiceArrow(props: { which: 'active' | 'preview'; service: string; hash?: string; revision?: number }) {
  const target = props.hash ? `${props.revision ? `rev ${props.revision} · ` : ''}${props.hash}` : 'no selector yet';
  return (
    <Stack direction="row" spacing={1} alignItems="center" aria-label={`${props.which} service ${props.service} selects ${target}`}>
      <Chip size="small" variant="outlined" color={props.which === 'active' ? 'success' : 'info'} label={`${props.which}: ${props.service}`} />
      <Typography component="span" aria-hidden>→</Typography>
      <Chip size="small" label={target} />
    </Stack>
  );
}

/** A blue-green Rollout's Services and stages, in place of the canary stepper. */
export function BlueGreenFlow({ rollout: r }: { rollout: RolloutSummary | RolloutDetail }) {
  const bg = r.blueGreen;
  if (!bg) return null;
  const replicaSets = 'replicaSets' in r ? r.replicaSets : [];
  const revisionOf = (hash?: string) => replicaSets.find(rs => rs.hash === hash)?.revision;
  const stages = blueGreenStages(r);
  const active = stages.findIndex(s => s.state !== 'done');
  return (
    <Box sx={{ mb: 2 }}>
      <Stack direction={{ xs: 'column', md: 'row' }} spacing={2} sx={{ mb: 2 }} aria-label="services">
        <ServiceArrow which="active" service={bg.activeService} hash={bg.activeSelector} revision={revisionOf(bg.activeSelector)} />
        {bg.previewService && (
          <ServiceArrow which="preview" service={bg.previewService} hash={bg.previewSelector} revision={revisionOf(bg.previewSelector)} />
        )}
      </Stack>
      <Stepper activeStep={active === -1 ? stages.length : active} alternativeLabel aria-label="blue-green stages">
        {stages.map(stage => (
          <Step key={stage.label} completed={stage.state === 'done'}>
            <StepLabel
              error={stage.state === 'failed'}
              optional={stage.caption ? <Typography variant="caption" display="block" align="center">{stage.caption}</Typography> : undefined}
            >
              {stage.label}
            </StepLabel>
          </Step>
        ))}
      </Stepper>
    </Box>
  );
}
