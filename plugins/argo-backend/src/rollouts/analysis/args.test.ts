import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { checkRolloutFields, fieldOfRollout, goFloat, mergeArgs, unresolvedArg, withRolloutValues } from './args';

const rollout: Rollout = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'payments-api', namespace: 'shop', uid: 'u-1', labels: { team: 'payments', tier: 'web' }, annotations: { 'example.com/owner': 'ana' } },
  spec: {
    replicas: 1000000,
    selector: { matchLabels: { app: 'payments' } },
    template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image: 'payments:2' }] } },
    strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
  },
};

describe('analysis arguments, as Argo builds them', () => {
  it("merges the Rollout's values and valueFroms over the templates' (the first template to declare a name wins)", () => {
    const merged = mergeArgs(
      [{ name: 'path', value: '/health' }, { name: 'hash' }, { name: 'token', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }, { name: 'path', value: '/other' }],
      [{ name: 'hash', valueFrom: { podTemplateHashValue: 'Latest' } }, { name: 'path', value: '/ready' }],
    );
    expect(merged).toEqual([
      { name: 'path', value: '/ready' },
      { name: 'hash', valueFrom: { podTemplateHashValue: 'Latest' } },
      { name: 'token', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
    expect(unresolvedArg(merged)).toBeUndefined();
    expect(unresolvedArg(mergeArgs([{ name: 'hash' }], []))).toEqual({ name: 'hash' });
    expect(withRolloutValues(merged, rollout, { latest: 'abc', stable: 'def' })).toEqual([
      { name: 'path', value: '/ready' },
      { name: 'hash', value: 'abc' },
      { name: 'token', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
    expect(withRolloutValues([{ name: 'h', valueFrom: { podTemplateHashValue: 'Stable' } }], rollout, { latest: 'abc', stable: 'def' })).toEqual([{ name: 'h', value: 'def' }]);
  });

  it("reads a Rollout's fields as the downward API and Argo's extractValueFromRollout do", () => {
    expect(fieldOfRollout(rollout, 'metadata.name')).toBe('payments-api');
    expect(fieldOfRollout(rollout, 'metadata.uid')).toBe('u-1');
    expect(fieldOfRollout(rollout, "metadata.labels['team']")).toBe('payments');
    expect(fieldOfRollout(rollout, "metadata.annotations['example.com/owner']")).toBe('ana');
    expect(fieldOfRollout(rollout, "metadata.labels['none']")).toBe('');
    expect(fieldOfRollout(rollout, 'metadata.labels')).toBe('team="payments"\ntier="web"');
    expect(() => fieldOfRollout(rollout, 'metadata.generation')).toThrow('unsupported fieldPath: metadata.generation');
    expect(fieldOfRollout(rollout, 'spec.replicas')).toBe('1e+06');
    expect(fieldOfRollout(rollout, 'spec.strategy.canary.steps[0].setWeight')).toBe('20');
    expect(fieldOfRollout(rollout, 'spec.template.spec.containers.0.image')).toBe('payments:2');
    expect(() => fieldOfRollout(rollout, 'spec.strategy.canary.steps[5]')).toThrow('index 5 out of range');
    expect(() => fieldOfRollout(rollout, 'spec.strategy.canary.steps[1].pause')).toThrow('path spec.strategy.canary.steps[1].pause in rollout must terminate in a primitive value');
    expect(() => fieldOfRollout(rollout, 'spec.nothing')).toThrow('invalid path spec.nothing in rollout');
  });

  it("checks only a metadata fieldRef with the spec: a status one is read when the run is made, once the status has it", () => {
    const args = [{ name: 'stable', valueFrom: { fieldRef: { fieldPath: 'status.stableRS' } } }, { name: 'team', valueFrom: { fieldRef: { fieldPath: "metadata.labels['team']" } } }];
    expect(() => checkRolloutFields(args, rollout)).not.toThrow();
    expect(() => checkRolloutFields([{ name: 'g', valueFrom: { fieldRef: { fieldPath: 'metadata.generation' } } }], rollout)).toThrow('unsupported fieldPath: metadata.generation');
    expect(() => withRolloutValues(args, rollout, { latest: 'a', stable: 'b' })).toThrow('invalid path status.stableRS in rollout');
    expect(withRolloutValues(args, { ...rollout, status: { stableRS: '6d4f' } }, { latest: 'a', stable: 'b' })).toEqual([{ name: 'stable', value: '6d4f' }, { name: 'team', value: 'payments' }]);
  });

  it('prints numbers as Go prints a float64 with %v', () => {
    expect([10, 0.5, 0.0001, 0.00001, 123456, 1000000, 123456789, -2.5e-7].map(goFloat)).toEqual(['10', '0.5', '0.0001', '1e-05', '123456', '1e+06', '1.23456789e+08', '-2.5e-07']);
  });
});
