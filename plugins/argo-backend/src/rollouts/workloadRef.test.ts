import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { resolveWorkloadRef, workloadRefProblem, workloadReplicas } from './workloadRef';

const rollout = (workloadRef: NonNullable<Rollout['spec']['workloadRef']>, extra: Partial<Rollout['spec']> = {}, status: Rollout['status'] = {}): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { replicas: 4, workloadRef, strategy: { canary: {} }, ...extra },
  status,
});
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { replicas: 4, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:7' }] } } },
};

describe('workloadRef', () => {
  it('takes the template, and the selector when the Rollout has none, from the Deployment', () => {
    const resolved = resolveWorkloadRef(rollout({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }), deployment);
    expect(resolved.spec.template).toEqual(deployment.spec.template);
    expect(resolved.spec.selector).toEqual({ matchLabels: { app: 'web' } });
  });

  it('refuses a template beside the reference, and kinds Argo does not support', () => {
    const both = rollout({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, { template: deployment.spec.template });
    expect(workloadRefProblem(both)).toBe('spec.template: Internal error: template must be empty for workload reference rollout');
    const sts = rollout({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' });
    expect(workloadRefProblem(sts)).toBe('spec.workloadRef: Invalid value: {"apiVersion":"apps/v1","kind":"StatefulSet","name":"web"}: workload of type apps/StatefulSet is not supported');
  });

  it('scales the Deployment down never, on success, or progressively, on the first revision only', () => {
    const ref = (scaleDown?: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', scaleDown });
    expect(workloadReplicas(rollout(ref(), {}, { phase: 'Healthy' }), 1, 4)).toBeUndefined();
    expect(workloadReplicas(rollout(ref('onsuccess'), {}, { phase: 'Progressing', readyReplicas: 2 }), 1, 4)).toBeUndefined();
    expect(workloadReplicas(rollout(ref('onsuccess'), {}, { phase: 'Healthy' }), 1, 4)).toBe(0);
    expect(workloadReplicas(rollout(ref('progressively'), {}, { phase: 'Progressing', readyReplicas: 3 }), 1, 4)).toBe(1);
    expect(workloadReplicas(rollout(ref('progressively'), {}, { phase: 'Healthy', readyReplicas: 4 }), 1, 1)).toBe(0);
    expect(workloadReplicas(rollout(ref('onsuccess'), {}, { phase: 'Healthy' }), 2, 4)).toBeUndefined();
  });
});
