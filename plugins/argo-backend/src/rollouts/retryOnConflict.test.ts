import { mockServices } from '@backstage/backend-test-utils';
import { ObjectConflictError } from '@quarterdeck/plugin-argo-node';
import { reconcileQueue } from './retryOnConflict';

describe('reconcileQueue', () => {
  it('comes back to a key whose writes keep meeting a newer version later each time, and at once after one that went through', async () => {
    const calls: Record<string, number[]> = { stale: [], fresh: [] };
    let freshConflicts = 1;
    const logger = mockServices.logger.mock();
    const queue = reconcileQueue(async key => {
      calls[key].push(Date.now());
      if (key === 'stale') throw new ObjectConflictError('the object has been modified');
      if (freshConflicts-- > 0) throw new ObjectConflictError('the object has been modified');
    }, logger);
    queue.add('stale');
    queue.add('fresh');
    await new Promise(resolve => setTimeout(resolve, 1_700));
    queue.stop();
    const gaps = calls.stale.slice(1).map((at, i) => at - calls.stale[i]);
    // 100, 200, 400, 800 ms: five reconciles in 1.7 s, where a fixed 100 ms made seventeen.
    expect(calls.stale).toHaveLength(5);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(100 * 2 ** i - 5));
    // One conflict, then a clean pass: done.
    expect(calls.fresh).toHaveLength(2);
    expect(logger.warn).not.toHaveBeenCalled();
  });
});
