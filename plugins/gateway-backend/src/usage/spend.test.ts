import { TestDatabases } from '@backstage/backend-test-utils';
import type { GatewayPlan } from '@quarterdeck/plugin-gateway-common';
import { KnexGatewayStore, type UsageRecord } from '../database/GatewayStore';
import { applyDatabaseMigrations } from '../database/migrations';
import { MemoryLimits } from '../dataplane/limits';
import { spendSoFar } from './spend';

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

describe('spendSoFar', () => {
  it("gives a data plane that starts after midnight UTC a fresh day's budget, and the month's spend", async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const call = (at: string, tokens: number): UsageRecord => ({
      at: new Date(at), keyId: 'k', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: 1,
      promptTokens: tokens, completionTokens: 0, estimated: false, cost: 0,
    });
    await store.insertUsage([call('2026-12-01T10:00:00Z', 3000), call('2026-12-14T23:00:00Z', 900)]);
    const plan: GatewayPlan = { name: 'standard', dailyTokens: 1000, monthlyTokens: 5000 };

    // Read half a second before midnight, the process started just after it.
    const limits = new MemoryLimits();
    for (const spent of await spendSoFar(store, Date.parse('2026-12-14T23:59:59.500Z'))) limits.seed(spent.keyId, spent, Date.parse('2026-12-15T00:00:00.400Z'));
    const after = Date.parse('2026-12-15T00:00:01Z');
    // Today's 1,000 are all there; the month's 3,900 are kept, so 1,101 more go past its 5,000.
    expect(await limits.admit('k', plan, { tokens: 1101, cost: 0 }, after)).toMatchObject({ ok: false, limit: 'monthly-tokens' });
    expect((await limits.admit('k', plan, { tokens: 1000, cost: 0 }, after)).ok).toBe(true);
  });
});
