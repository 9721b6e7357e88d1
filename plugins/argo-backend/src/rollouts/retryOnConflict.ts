import type { LoggerService } from '@backstage/backend-plugin-api';
import { ObjectConflictError, WorkQueue } from '@quarterdeck/plugin-argo-node';

/** The first retry of a key whose write raced a newer version, doubled on each conflict in a row up to the last. */
const FIRST_CONFLICT_RETRY_MS = 100;
const LAST_CONFLICT_RETRY_MS = 10_000;
/** Conflicts in a row after which the reconciler says so (once, until the key reconciles cleanly). */
const CONFLICTS_TO_WARN = 8;

/**
 * The reconcilers' work queue: a write that raced a newer version (409) is
 * not an error, the key simply comes back shortly and is decided again from
 * fresh state; anything else is retried with the queue's backoff. Conflicts in
 * a row come back later each time: one the informer's cache cannot end (a
 * watch behind, the version it needs not yet seen) would otherwise repeat the
 * reconcile's other writes ten times a second for as long as it lasts.
 */
export function reconcileQueue(reconcile: (key: string) => Promise<void>, logger?: LoggerService): WorkQueue {
  const conflicts = new Map<string, number>();
  const queue: WorkQueue = new WorkQueue(async key => {
    try {
      await reconcile(key);
      conflicts.delete(key);
    } catch (error) {
      if (!(error instanceof ObjectConflictError)) {
        conflicts.delete(key);
        throw error;
      }
      const inARow = (conflicts.get(key) ?? 0) + 1;
      conflicts.set(key, inARow);
      const delay = Math.min(FIRST_CONFLICT_RETRY_MS * 2 ** (inARow - 1), LAST_CONFLICT_RETRY_MS);
      if (inARow === CONFLICTS_TO_WARN) {
        logger?.warn(`Reconciling ${key} met a newer version ${inARow} times in a row (${error.message}); retrying every ${LAST_CONFLICT_RETRY_MS / 1000} s at most until it does not`);
      }
      queue.addAfter(key, delay);
    }
  }, { concurrency: 4, logger });
  return queue;
}
