import { WorkQueue } from './workQueue';

describe('WorkQueue.addAfter', () => {
  it('keeps the earliest of several delayed adds for a key, so a short pause is not held up by a long deadline', async () => {
    const seen: number[] = [];
    const start = Date.now();
    const queue = new WorkQueue(async () => {
      seen.push(Date.now() - start);
    });
    queue.addAfter('default/web', 5_000);
    queue.addAfter('default/web', 50);
    queue.addAfter('default/web', 2_000);
    await new Promise(resolve => setTimeout(resolve, 300));
    queue.stop();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeLessThan(300);
  });
});
