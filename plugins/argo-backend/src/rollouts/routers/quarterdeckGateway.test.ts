import type { Rollout } from '@quarterdeck/plugin-argo-common';
import type { QuarterdeckGateway } from '../../gateway/client';
import { resolveWorkloadRef } from '../workloadRef';
import { rolloutSpecProblem } from '../validation';
import { GATEWAY_MODEL_ANNOTATION, QuarterdeckGatewayRouter } from './quarterdeckGateway';

const chat = (template: Rollout['spec']['template'] | undefined, workloadRef?: Rollout['spec']['workloadRef']): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'chat', namespace: 'ml' },
  spec: {
    selector: { matchLabels: { app: 'chat' } },
    ...(template ? { template } : {}),
    ...(workloadRef ? { workloadRef } : {}),
    strategy: {
      canary: {
        stableService: 'chat-stable',
        canaryService: 'chat-canary',
        trafficRouting: { plugins: { 'quarterdeck.io/gateway': { product: 'llm-chat', route: 'chat-small' } } },
        steps: [{ setWeight: 20 }, { pause: {} }],
      },
    },
  },
});

const modelTemplate = (model?: string) => ({
  metadata: { labels: { app: 'chat' }, ...(model ? { annotations: { [GATEWAY_MODEL_ANNOTATION]: model } } : {}) },
  spec: { containers: [{ name: 'model', image: 'chat:1' }] },
});

/** A gateway whose one route starts with `route` and records what it is told. */
function fakeGateway(route: Record<string, number>) {
  const state = { route: { ...route }, writes: 0, rollout: '' };
  const gateway: QuarterdeckGateway = {
    routeWeights: async () => ({ ...state.route }),
    setRouteWeights: async (_product, _route, weights, _reason, rollout) => {
      state.writes++;
      state.rollout = rollout;
      state.route = Object.fromEntries(Object.keys(state.route).map(m => [m, weights[m] ?? 0]));
    },
    modelMetrics: async () => { throw new Error('not used'); },
  };
  return { gateway, state };
}

describe('the Quarterdeck gateway as a traffic router', () => {
  it.each<[string, { stable?: string; canary?: string }, Record<string, number>, number, Record<string, number>]>([
    ['splits between the stable and canary models', { stable: 'small-v1', canary: 'small-v2' }, { 'small-v1': 100, 'small-v2': 0 }, 20, { 'small-v1': 80, 'small-v2': 20 }],
    ['an abort puts everything back on the stable model', { stable: 'small-v1', canary: 'small-v2' }, { 'small-v1': 80, 'small-v2': 20 }, 0, { 'small-v1': 100, 'small-v2': 0 }],
    ['an abort needs no canary model', { stable: 'small-v1' }, { 'small-v1': 80, 'small-v2': 20 }, 0, { 'small-v1': 100, 'small-v2': 0 }],
    ['a canary without a model gets nothing', { stable: 'small-v1' }, { 'small-v1': 100, 'small-v2': 0 }, 20, { 'small-v1': 100, 'small-v2': 0 }],
    ['a stable version from before the annotation: the route stays as it is', { canary: 'small-v2' }, { 'small-v1': 70, 'small-v0': 30, 'small-v2': 0 }, 20,
      { 'small-v1': 70, 'small-v0': 30, 'small-v2': 0 }],
    ['… and the canary\'s share goes back to the other targets', { canary: 'small-v2' }, { 'small-v1': 60, 'small-v0': 20, 'small-v2': 20 }, 0,
      { 'small-v1': 75, 'small-v0': 25, 'small-v2': 0 }],
  ])('%s', async (_name, models, route, weight, expected) => {
    const { gateway, state } = fakeGateway(route);
    const annotations: Record<string, Record<string, string> | undefined> = {
      stable: models.stable ? { [GATEWAY_MODEL_ANNOTATION]: models.stable } : {},
      canary: models.canary ? { [GATEWAY_MODEL_ANNOTATION]: models.canary } : {},
    };
    await new QuarterdeckGatewayRouter(gateway, 'prod').setWeight(chat(modelTemplate(models.canary)), weight, {
      stableHash: 'stable',
      canaryHash: 'canary',
      annotationsOf: hash => annotations[hash],
    });
    expect(state.route).toEqual(expected);
    // Done for this Rollout, by name: the gateway takes it only from the one the route names.
    expect(state.rollout).toBe(state.writes > 0 ? 'prod/ml/chat' : '');
  });

  it('is InvalidSpec when the template a workloadRef resolves to names no model', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'chat', namespace: 'ml' }, spec: { template: modelTemplate() } };
    const rollout = resolveWorkloadRef(chat(undefined, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat' }), deployment);
    expect(rolloutSpecProblem(rollout)).toBe(
      `The Rollout "chat" is invalid: spec.workloadRef: Invalid value: "chat": its pod template has no ${GATEWAY_MODEL_ANNOTATION} annotation (the gateway model this version serves)`,
    );
    deployment.spec.template = modelTemplate('small-v2');
    expect(rolloutSpecProblem(resolveWorkloadRef(chat(undefined, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat' }), deployment))).toBeUndefined();
  });
});
