import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { pauseDurationSeconds } from '@quarterdeck/plugin-argo-common';
import { trafficRoutingProblem } from './routers';

/** Canary step kinds Argo runs and Quarterdeck does not (see docs/rollouts.md). */
const UNSUPPORTED_STEPS = ['experiment', 'setHeaderRoute', 'setMirrorRoute', 'plugin'];

/**
 * The first problem with a Rollout's spec, in the words Argo's InvalidSpec
 * condition uses (`The Rollout "<name>" is invalid: <field error>`), or
 * undefined. Covers what the engine relies on; Argo checks more.
 */
export function rolloutSpecProblem(rollout: Rollout): string | undefined {
  const name = rollout.metadata.name;
  const invalid = (error: string) => `The Rollout "${name}" is invalid: ${error}`;
  const { spec } = rollout;
  if ((spec.replicas ?? 1) < 0) return invalid(`spec.replicas: Invalid value: ${spec.replicas}: must be greater than or equal to 0`);
  if (!spec.selector) return invalid("spec.selector: Required value: Rollout has missing field '.spec.selector'");
  const matchLabels = spec.selector.matchLabels ?? {};
  if (Object.keys(matchLabels).length === 0 && (spec.selector.matchExpressions ?? []).length === 0) {
    return invalid('spec.selector: Invalid value: {}: empty selector is invalid for deployment');
  }
  if (!spec.workloadRef) {
    const labels = spec.template?.metadata?.labels ?? {};
    if (Object.entries(matchLabels).some(([k, v]) => labels[k] !== v)) {
      return invalid(`spec.template.metadata.labels: Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``);
    }
  }
  const { canary, blueGreen } = spec.strategy ?? {};
  if (canary && blueGreen) {
    return invalid('spec.strategy.strategy: Invalid value: "blueGreen: true canary: true": Multiple Strategies can not be listed');
  }
  if (!canary && !blueGreen) {
    return invalid("spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'");
  }
  if (blueGreen) {
    if (!blueGreen.activeService) return invalid("spec.strategy.blueGreen.activeService: Required value: Rollout has missing field '.spec.strategy.blueGreen.activeService'");
    if (blueGreen.activeService === blueGreen.previewService) {
      return invalid(`spec.strategy.blueGreen.activeService: Invalid value: "${blueGreen.activeService}": This rollout uses the same service for the active and preview services, but two different services are required.`);
    }
    const limit = (blueGreen as { scaleDownDelayRevisionLimit?: number }).scaleDownDelayRevisionLimit;
    if (limit !== undefined && (spec.revisionHistoryLimit ?? 10) < limit) {
      return invalid(`spec.strategy.blueGreen.scaleDownDelayRevisionLimit: Invalid value: ${limit}: This rollout's revision history limit can not be smaller than the rollout's scale down limit`);
    }
  }
  if (canary && canary.stableService && canary.stableService === canary.canaryService) {
    return invalid(`spec.strategy.canary.stableService: Invalid value: "${canary.stableService}": This rollout uses the same service for the stable and canary services, but two different services are required.`);
  }
  if (canary?.trafficRouting) {
    if (!canary.stableService) return invalid('spec.strategy.canary.stableService: Invalid value: "": Canary service and Stable service must to be set to use Traffic Routing');
    if (!canary.canaryService) return invalid('spec.strategy.canary.canaryService: Invalid value: "": Canary service and Stable service must to be set to use Traffic Routing');
    const routing = trafficRoutingProblem(rollout);
    if (routing) return invalid(routing);
  }
  if (canary && !canary.trafficRouting) {
    if (canary.scaleDownDelaySeconds !== undefined) {
      return invalid(`spec.strategy.canary.scaleDownDelaySeconds: Invalid value: ${canary.scaleDownDelaySeconds}: Canary scaleDownDelaySeconds can only be used with traffic routing`);
    }
    if (canary.dynamicStableScale) return invalid('spec.strategy.canary.dynamicStableScale: Invalid value: true: Canary dynamicStableScale can only be used with traffic routing');
  } else if (canary?.scaleDownDelaySeconds !== undefined && canary.dynamicStableScale) {
    return invalid('spec.strategy.canary.dynamicStableScale: Invalid value: true: Canary dynamicStableScale cannot be used with scaleDownDelaySeconds');
  }
  for (const [i, step] of (canary?.steps ?? []).entries()) {
    const kinds = ['setWeight', 'pause', 'experiment', 'analysis', 'setCanaryScale', 'setHeaderRoute', 'setMirrorRoute', 'plugin'].filter(k => step[k] !== undefined);
    if (kinds.length !== 1) {
      return invalid(`spec.strategy.canary.steps[${i}]: Invalid value: "${kinds.map(k => `step.${k}: true`).join(' ')}": Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause`);
    }
    // Valid for Argo, but the engine has no way to run them: said at once rather than stalling at the step.
    if (UNSUPPORTED_STEPS.includes(kinds[0])) return invalid(`spec.strategy.canary.steps[${i}].${kinds[0]}: not supported by Quarterdeck's controller`);
    if (step.setWeight !== undefined && (step.setWeight < 0 || step.setWeight > 100)) {
      return invalid(`spec.strategy.canary.steps[${i}].setWeight: Invalid value: ${step.setWeight}: SetWeight needs to be between 0 and 100`);
    }
    if (step.setCanaryScale && !canary?.trafficRouting) {
      return invalid(`spec.strategy.canary.steps[${i}].setCanaryScale: Invalid value: ${JSON.stringify(step.setCanaryScale)}: SetCanaryScale requires TrafficRouting to be set`);
    }
    if (step.pause && (pauseDurationSeconds(step.pause.duration) ?? 0) < 0) {
      return invalid(`spec.strategy.canary.steps[${i}].pause.duration: Invalid value: -1: Duration needs to be greater than 0`);
    }
  }
  return undefined;
}
