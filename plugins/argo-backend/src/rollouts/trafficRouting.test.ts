import type { CanaryStep, Rollout } from '@quarterdeck/plugin-argo-common';
import { RolloutSim } from '../__testUtils__/rolloutSim';
import { rolloutSpecProblem } from './validation';

type Canary = NonNullable<NonNullable<Rollout['spec']['strategy']>['canary']>;

function routedRollout(canary: Partial<Canary> = {}, steps: CanaryStep[] = [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }]): Rollout {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'checkout', namespace: 'shop', generation: 1 },
    spec: {
      replicas: 5,
      selector: { matchLabels: { app: 'checkout' } },
      template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [{ name: 'app', image: 'checkout:1' }] } },
      strategy: {
        canary: {
          stableService: 'checkout-stable',
          canaryService: 'checkout-canary',
          trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'checkout' } } },
          steps,
          ...canary,
        },
      },
    },
  };
}

/** Deploys version 1 and starts the update to version 2. */
function updating(canary: Partial<Canary> = {}, steps?: CanaryStep[]) {
  const sim = new RolloutSim(routedRollout(canary, steps));
  sim.settle();
  const stable = sim.hash;
  sim.advance(1);
  sim.image('2');
  sim.settle();
  return { sim, stable };
}

describe('canary with a traffic router', () => {
  it('splits traffic by weight, not by pods: one canary pod for 20 %, the stable keeps all five', () => {
    const { sim, stable } = updating();
    expect(sim.counts()).toEqual({ canary: 1, stable: 5 });
    expect(sim.routerWeight).toBe(20);
    expect(sim.services).toEqual({ 'checkout-stable': stable, 'checkout-canary': sim.hash });
    expect(sim.rollout.status).toMatchObject({
      phase: 'Paused',
      currentStepIndex: 1,
      canary: { weights: { canary: { weight: 20, podTemplateHash: sim.hash, serviceName: 'checkout-canary' }, stable: { weight: 80, podTemplateHash: stable, serviceName: 'checkout-stable' } } },
    });
  });

  it('sends the traffic back to stable at once when a canary paused by hand is aborted, as Argo routes on every pass', () => {
    const { sim } = updating();
    expect(sim.routerWeight).toBe(20);
    sim.act('pause');
    sim.settle();
    sim.act('abort');
    sim.settle();
    expect(sim.rollout.spec.paused).toBe(true);
    expect(sim.routerWeight).toBe(0);
    expect(sim.rollout.status).toMatchObject({ abort: true, canary: { weights: { canary: { weight: 0 }, stable: { weight: 100 } } } });
  });

  it('raises the weight only once the canary has its pods', () => {
    const { sim } = updating();
    sim.podsStart = false;
    sim.act('promote');
    sim.settle();
    // setWeight 60 wants 3 canary pods; until they are up the router stays at the previous 20 %.
    expect(sim.counts()).toEqual({ canary: 3, stable: 5 });
    expect(sim.routerWeight).toBe(20);
    expect(sim.rollout.status!.currentStepIndex).toBe(2);
    sim.rs(sim.hash)!.availableReplicas = 3;
    sim.settle();
    expect(sim.routerWeight).toBe(60);
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3 });
  });

  it('promotes fully: 100 % to the canary, then it becomes stable and the old pods go after the scale-down delay', () => {
    const { sim, stable } = updating({ scaleDownDelaySeconds: 10 });
    sim.act('promote-full');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
    expect(sim.services).toEqual({ 'checkout-stable': sim.hash, 'checkout-canary': sim.hash });
    expect(sim.routerWeight).toBe(0); // both Services now select the new pods
    expect(sim.rs(stable)).toMatchObject({ specReplicas: 5, scaleDownDeadline: '2026-11-22T10:00:11Z' });
    sim.advance(11);
    sim.settle();
    expect(sim.rs(stable)!.specReplicas).toBe(0);
  });

  it("keeps only scaleDownDelayRevisionLimit old ReplicaSets up for their delay; older ones go down at once", () => {
    const { sim, stable: v1 } = updating({ scaleDownDelaySeconds: 3600, scaleDownDelayRevisionLimit: 1 } as Partial<Canary>);
    sim.act('promote-full');
    sim.settle();
    const v2 = sim.hash;
    expect(sim.rs(v1)!.specReplicas).toBe(5);
    sim.image('3');
    sim.settle();
    sim.act('promote-full');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
    expect(sim.rs(v2)).toMatchObject({ specReplicas: 5, scaleDownDeadline: expect.any(String) });
    expect(sim.rs(v1)!.specReplicas).toBe(0);
  });

  it("looks again at an old ReplicaSet's scale-down deadline during a longer timed pause, not at the pause's end", () => {
    const { sim, stable } = updating({ scaleDownDelaySeconds: 600 }, [{ setWeight: 20 }, { pause: { duration: '1h' } }]);
    sim.act('promote-full');
    sim.settle();
    expect(sim.rs(stable)!.scaleDownDeadline).toBeDefined();
    sim.image('3');
    sim.settle();
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    // The old stable's 10 minutes end first.
    expect(sim.requeueAfterMs).toBeLessThanOrEqual(600_001);
  });

  it('is not Degraded by the progress deadline while the old pods wait out a longer scaleDownDelaySeconds', () => {
    const { sim, stable } = updating({ scaleDownDelaySeconds: 300 });
    sim.rollout.spec.progressDeadlineSeconds = 60;
    sim.act('promote-full');
    sim.settle();
    expect(sim.rs(stable)).toMatchObject({ specReplicas: 5, scaleDownDeadline: '2026-11-22T10:05:01Z' });
    sim.advance(120);
    sim.settle();
    expect(sim.rollout.status!.phase).not.toBe('Degraded');
    expect(sim.rollout.status!.conditions!.find(c => c.type === 'Progressing')?.reason).not.toBe('ProgressDeadlineExceeded');
    sim.advance(200);
    sim.settle();
    expect(sim.rs(stable)!.specReplicas).toBe(0);
    expect(sim.rollout.status).toMatchObject({ phase: 'Healthy', stableRS: sim.hash });
  });

  it('aborts: traffic back to stable at once, the canary Service too, the canary pods after abortScaleDownDelaySeconds', () => {
    const { sim, stable } = updating({ abortScaleDownDelaySeconds: 5 });
    sim.act('abort');
    sim.settle();
    expect(sim.routerWeight).toBe(0);
    expect(sim.services['checkout-canary']).toBe(stable);
    expect(sim.rs(sim.hash)).toMatchObject({ specReplicas: 1, scaleDownDeadline: '2026-11-22T10:00:06Z' });
    expect(sim.rollout.status).toMatchObject({ phase: 'Degraded', abort: true });
    sim.advance(6);
    sim.settle();
    expect(sim.rs(sim.hash)!.specReplicas).toBe(0);
  });

  it('setCanaryScale sets the canary pods apart from the weight', () => {
    const { sim } = updating({}, [{ setCanaryScale: { replicas: 3 } }, { setWeight: 10 }, { pause: {} }, { setCanaryScale: { matchTrafficWeight: true } }, { setWeight: 40 }, { pause: {} }]);
    expect(sim.counts()).toEqual({ canary: 3, stable: 5 });
    expect(sim.routerWeight).toBe(10);
    expect(sim.rollout.status).toMatchObject({ phase: 'Paused', currentStepIndex: 2 });
    sim.act('promote');
    sim.settle();
    // matchTrafficWeight: back to ceil(40 % of 5) = 2 pods.
    expect(sim.counts()).toEqual({ canary: 2, stable: 5 });
    expect(sim.routerWeight).toBe(40);
  });

  it('dynamicStableScale trims the stable to its share once the traffic has moved', () => {
    const { sim } = updating({ dynamicStableScale: true });
    sim.act('promote');
    sim.settle();
    expect(sim.routerWeight).toBe(60);
    expect(sim.counts()).toEqual({ canary: 3, stable: 2 });
  });

  it("keeps the canary Service on the previous canary while a dynamicStableScale rollback brings the stable back to full size", () => {
    const { sim, stable } = updating({ dynamicStableScale: true });
    sim.act('promote');
    sim.settle();
    const v2 = sim.hash;
    expect(sim.counts()).toEqual({ canary: 3, stable: 2 });
    // Back to the stable template, whose ReplicaSet was trimmed to two pods: the new ones take their time.
    sim.podsStart = false;
    sim.image('1');
    sim.settle();
    expect(sim.hash).toBe(stable);
    expect(sim.routerWeight).toBeGreaterThan(0);
    // Both Services on the two stable pods would put all traffic there; the canary's share stays on the canary's pods.
    expect(sim.services).toEqual({ 'checkout-stable': stable, 'checkout-canary': v2 });
    sim.rs(stable)!.availableReplicas = 5;
    sim.settle();
    expect(sim.routerWeight).toBe(0);
    expect(sim.services).toEqual({ 'checkout-stable': stable, 'checkout-canary': stable });
  });

  it('is InvalidSpec without both Services, with a router Quarterdeck does not implement, or with pod-ratio-only fields', () => {
    const noCanaryService = routedRollout({ canaryService: undefined });
    expect(rolloutSpecProblem(noCanaryService)).toBe('The Rollout "checkout" is invalid: spec.strategy.canary.canaryService: Invalid value: "": Canary service and Stable service must to be set to use Traffic Routing');
    // The plugin's other route kinds, or no route at all: refused, not a canary whose traffic never moves.
    const grpc = routedRollout({ trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { grpcRoute: 'checkout' } } } });
    expect(rolloutSpecProblem(grpc)).toBe('The Rollout "checkout" is invalid: spec.strategy.canary.trafficRouting.plugins.argoproj-labs/gatewayAPI.grpcRoute: Unsupported value: "grpcRoute": Quarterdeck\'s router drives HTTPRoutes named by httpRoute or httpRoutes');
    const none = routedRollout({ trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { namespace: 'shop' } } } });
    expect(rolloutSpecProblem(none)).toBe('The Rollout "checkout" is invalid: spec.strategy.canary.trafficRouting.plugins.argoproj-labs/gatewayAPI: Required value: httpRoute or httpRoutes must name the HTTPRoute whose weights the canary moves');
    const both = routedRollout({ trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'a', httpRoutes: [{ name: 'b' }] } } } });
    expect(rolloutSpecProblem(both)).toBeUndefined();
    const nginx = routedRollout({ trafficRouting: { nginx: { stableIngress: 'checkout' } } });
    expect(rolloutSpecProblem(nginx)).toBe('The Rollout "checkout" is invalid: spec.strategy.canary.trafficRouting.nginx: Unsupported value: "nginx": supported values: "plugins.argoproj-labs/gatewayAPI", "plugins.quarterdeck.io/gateway"');
    const basic = routedRollout({ trafficRouting: undefined, dynamicStableScale: true });
    expect(rolloutSpecProblem(basic)).toBe('The Rollout "checkout" is invalid: spec.strategy.canary.dynamicStableScale: Invalid value: true: Canary dynamicStableScale can only be used with traffic routing');
  });
});
