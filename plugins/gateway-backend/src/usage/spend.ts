import type { GatewayStore } from '../database/GatewayStore';
import type { SpendSoFar } from '../dataplane/ipc';
import { periods } from '../dataplane/limits';

/**
 * What each key has spent this UTC day and month, as a data plane that keeps
 * its budgets in memory starts from it; each sum says which day and month it
 * is for, so a process that starts after midnight does not count yesterday's
 * spend as today's (MemoryLimits.seed).
 */
export async function spendSoFar(store: Pick<GatewayStore, 'spendByKey'>, now = Date.now()): Promise<SpendSoFar[]> {
  const { day, month } = periods(now);
  const spent = await store.spendByKey(new Date(`${month}-01T00:00:00Z`), new Date(`${day}T00:00:00Z`));
  return spent.map(sums => ({ ...sums, day, month }));
}
