import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { needsRestart, planRestart, type PodState } from './restart';

const rollout = (restartAt?: string, restartedAt?: string): Rollout => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'payments-api', namespace: 'payments' },
  spec: { replicas: 4, restartAt, strategy: { canary: { maxUnavailable: 1, maxSurge: 1 } } },
  status: { restartedAt },
});
const pod = (name: string, createdAt: string, available = true): PodState => ({ name, createdAt, available, deleting: false });

describe('restartAt', () => {
  it('is due once restartAt has passed and until status.restartedAt records it', () => {
    const now = new Date('2026-11-22T10:00:00Z');
    expect(needsRestart(rollout(), now)).toBe(false);
    expect(needsRestart(rollout('2026-11-22T10:05:00Z'), now)).toBe(false);
    expect(needsRestart(rollout('2026-11-22T09:59:00Z'), now)).toBe(true);
    expect(needsRestart(rollout('2026-11-22T09:59:00Z', '2026-11-22T09:59:00Z'), now)).toBe(false);
  });

  it('evicts the oldest pods first, within maxUnavailable, and comes back for the rest', () => {
    const pods = [pod('d', '2026-11-22T09:58:03Z'), pod('a', '2026-11-22T09:58:00Z'), pod('b', '2026-11-22T09:58:01Z'), pod('c', '2026-11-22T09:58:02Z')];
    expect(planRestart(rollout('2026-11-22T09:59:00Z'), pods, 4)).toEqual({ evict: ['a'], done: false, requeueAfterMs: 30_000 });
  });

  it('evicts nothing while a pod is already unavailable', () => {
    const pods = [pod('a', '2026-11-22T09:58:00Z'), pod('b', '2026-11-22T09:58:01Z', false), pod('c', '2026-11-22T09:59:30Z'), pod('d', '2026-11-22T09:59:31Z')];
    expect(planRestart(rollout('2026-11-22T09:59:00Z'), pods, 4)).toEqual({ evict: [], done: false, requeueAfterMs: 30_000 });
  });

  it('is done when every pod is newer than restartAt (or the last stale one was just evicted, as in Argo)', () => {
    const fresh = ['a', 'b', 'c'].map((n, i) => pod(n, `2026-11-22T09:59:0${i}Z`));
    expect(planRestart(rollout('2026-11-22T09:59:00Z'), [...fresh, pod('d', '2026-11-22T09:59:05Z')], 4)).toEqual({ evict: [], done: true });
    expect(planRestart(rollout('2026-11-22T09:59:00Z'), [...fresh, pod('old', '2026-11-22T09:00:00Z')], 4)).toEqual({ evict: ['old'], done: true });
  });

  it("restarts a blue-green Rollout without maxUnavailable 25% at a time, Argo's default, not one pod at a time", () => {
    const blueGreen: Rollout = { ...rollout('2026-11-22T09:59:00Z'), spec: { replicas: 8, restartAt: '2026-11-22T09:59:00Z', strategy: { blueGreen: { activeService: 'payments-api' } } } } as Rollout;
    const pods = Array.from({ length: 8 }, (_, i) => pod(`p${i}`, `2026-11-22T09:58:0${i}Z`));
    expect(planRestart(blueGreen, pods, 8).evict).toEqual(['p0', 'p1']);
  });
});
