import type { LoggerService } from '@backstage/backend-plugin-api';
import { ObjectConflictError, WorkQueue } from '@quarterdeck/plugin-argo-node';

/**
 * The reconcilers' work queue: a write that raced a newer version (409) is
 * not an error, the key simply comes back shortly and is decided again from
 * fresh state; anything else is retried with the queue's backoff.
 */
export function reconcileQueue(reconcile: (key: string) => Promise<void>, logger?: LoggerService): WorkQueue {
  const queue: WorkQueue = new WorkQueue(async key => {
    try {
      await reconcile(key);
    } catch (error) {
      if (!(error instanceof ObjectConflictError)) throw error;
      queue.addAfter(key, 100);
    }
  }, { concurrency: 4, logger });
  return queue;
}
