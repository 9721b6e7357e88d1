import { TestDatabases } from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { KnexGatewayStore, insertUsageRows, type StoredKey, type UsageRecord } from './GatewayStore';
import { GatewayAuditStore, insertAuditEvents } from './AuditStore';
import { applyDatabaseMigrations } from './migrations';
import { migratedStore, minimalSpec as spec } from '../__testUtils__/store';
import { BUCKET_COLUMNS, DAY_MS, rollUp } from '../usage/rollup';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

const key = (id: string, at: string): StoredKey => ({
  id, publicId: `pub${id.padStart(9, '0')}`, secretHash: 'ab'.repeat(32), componentRef: 'component:default/c', productId: 'p', plan: 'standard',
  status: 'active', createdAt: at, createdBy: 'user:default/u', updatedAt: at,
});

describe('KnexGatewayStore', () => {
  it.each(databases.eachSupportedId())('stamps a key change when it is written, so a revocation that waited for a connection is not behind the feed, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const now = new Date();
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor: 'user:default/u', now, expect: { exists: false }, audit: () => [] });
    await store.createKeyRequest({
      id: 'r1', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
    }, []);
    expect(await store.reviewKeyRequest({ id: 'r1', status: 'approved', reviewer: 'user:default/a', at: now, key: key('1', now.toISOString()) }, [])).toBe(true);
    // The route took its instant a minute ago, then waited that long for a pooled connection; the other replicas'
    // feeds meanwhile read up to 30 s ago. The revocation is among the changes since then all the same.
    const feedCursor = new Date(Date.now() - 30_000).toISOString();
    const tookItsTime = new Date(Date.now() - 60_000);
    expect(await store.revokeKey({ id: '1', actor: 'user:default/u', at: tookItsTime }, [])).toBe(true);
    expect(await store.keysChangedSince(feedCursor)).toEqual([expect.objectContaining({ id: '1', status: 'revoked', revokedAt: tookItsTime.toISOString() })]);
  });

  it.each(databases.eachSupportedId())('decides a key request once, issues its key in the same transaction, and lists key changes, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const t0 = new Date('2026-11-22T10:00:00Z');
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor: 'user:default/u', now: t0, expect: { exists: false }, audit: () => [] });
    expect((await store.getProductByEntity('api:default/p'))?.plans).toEqual(spec.plans);

    await store.createKeyRequest({
      id: 'r1', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
    }, []);
    const at = new Date(t0.getTime() + 1000);
    const k1 = key('1', at.toISOString());
    // Two reviewers at once: exactly one wins, and only its key exists.
    const results = await Promise.all([
      store.reviewKeyRequest({ id: 'r1', status: 'approved', reviewer: 'user:default/a', at, key: k1 }, []),
      store.reviewKeyRequest({ id: 'r1', status: 'denied', reviewer: 'user:default/b', at }, []),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const decided = await store.getKeyRequest('r1');
    expect(decided?.status === 'approved' ? await store.listKeys({ componentRef: 'component:default/c' }) : []).toHaveLength(decided?.status === 'approved' ? 1 : 0);

    // Changes since a time include that instant (>=), so none is missed.
    await knex('gateway_keys').delete();
    await knex('gateway_key_requests').delete();
    await store.createKeyRequest({
      id: 'r2', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
    }, []);
    await store.reviewKeyRequest({ id: 'r2', status: 'approved', reviewer: 'user:default/a', at, key: k1 }, []);
    const all = await store.keysChangedSince(undefined);
    expect(all.map(k => k.id)).toEqual(['1']);
    const revokedAt = new Date(t0.getTime() + 5000);
    expect(await store.revokeKey({ id: '1', actor: 'user:default/u', at: revokedAt }, [])).toBe(true);
    expect(await store.revokeKey({ id: '1', actor: 'user:default/u', at: revokedAt }, [])).toBe(false);
    const changed = await store.keysChangedSince(all[0].updatedAt);
    expect(changed).toEqual([expect.objectContaining({ id: '1', status: 'revoked', revokedBy: 'user:default/u' })]);
    // A cache loading from scratch leaves out keys long dead: revoked, or expired, before the cutoff.
    await store.createKeyRequest({
      id: 'r4', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
    }, []);
    const k4 = key('4', at.toISOString());
    await store.reviewKeyRequest({ id: 'r4', status: 'approved', reviewer: 'user:default/a', at, key: k4 }, []);
    // Rotated out: key 4 expires at t0 + 3 s, key 2 replaces it.
    expect(await store.rotateKey({ previous: k4, next: key('2', at.toISOString()), graceUntil: new Date(t0.getTime() + 3000), at }, [])).toBe(true);
    const alive = async (cutoff: number) => (await store.keysChangedSince(undefined, { deadBefore: new Date(cutoff) })).map(k => k.id).sort();
    expect(await alive(t0.getTime())).toEqual(['1', '2', '4']);
    expect(await alive(t0.getTime() + 4000)).toEqual(['1', '2']);
    expect(await alive(revokedAt.getTime() - 1)).toEqual(['1', '2']);
    // Revoked at the cutoff itself counts as dead before it: a retention of 0 forgets at once.
    expect(await alive(revokedAt.getTime())).toEqual(['2']);
    // The full read's second part: the keys of these ids that exist, the dead included, past one chunk of ids.
    const asked = ['4', 'gone', ...Array.from({ length: 600 }, (_, i) => `none-${i}`), '1'];
    expect((await store.getKeys(asked)).map(k => `${k.id} ${k.status}`).sort()).toEqual(['1 revoked', '4 active']);
    expect(await store.getKeys([])).toEqual([]);
    await knex('gateway_keys').whereIn('id', ['2', '4']).delete();

    // An expired pending request cannot be approved, and expiring marks it.
    await store.createKeyRequest({
      id: 'r3', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'late',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 10_000).toISOString(),
    }, []);
    const late = new Date(t0.getTime() + 20_000);
    expect(await store.reviewKeyRequest({ id: 'r3', status: 'approved', reviewer: 'user:default/a', at: late, key: key('3', late.toISOString()) }, [])).toBe(false);
    expect((await store.expireKeyRequests(late)).map(r => ({ id: r.id, status: r.status }))).toEqual([{ id: 'r3', status: 'expired' }]);
    expect((await store.getKeyRequest('r3'))?.status).toBe('expired');
    // Each expiry goes to one caller only, however many sweep at once.
    expect(await store.expireKeyRequests(late)).toEqual([]);
    await store.createKeyRequest({
      id: 'r5', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/d', justification: 'raced',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 10_000).toISOString(),
    }, []);
    const swept = await Promise.all([store.expireKeyRequests(late), store.expireKeyRequests(late), store.expireKeyRequests(late)]);
    expect(swept.flat().map(r => r.id)).toEqual(['r5']);
    // Audited once, on the API and the component, in the expiry's own transaction.
    expect((await knex('audit_events').where({ action: 'key-request.expired', target: 'r5' }).orderBy('entity_ref')).map(e => `${e.actor} ${e.entity_ref}`))
      .toEqual(['quarterdeck:gateway api:default/p', 'quarterdeck:gateway component:default/d']);

    await store.insertUsage(Array.from({ length: 450 }, (_, i) => ({
      at: late, keyId: '1', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: i, promptTokens: 3, completionTokens: 4, estimated: false, cost: 0.001,
    })));
    expect(Number((await knex('gateway_usage').count('* as n'))[0].n)).toBe(450);
    // The hourly rollup adds up across batches (an upsert per hour and series).
    await store.insertUsage([{ at: late, keyId: '1', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 503, latencyMs: 7, promptTokens: 1, completionTokens: 1, estimated: false, cost: 0 }]);
    const hourly = await store.usageRollupSince({ productIds: ['p'], since: t0 });
    expect(hourly).toHaveLength(1);
    expect(hourly[0]).toMatchObject({ consumer_ref: 'component:default/c', model: 'm', upstream: 'a' });
    expect([hourly[0].requests, hourly[0].errors, hourly[0].prompt_tokens, hourly[0].le_10].map(Number)).toEqual([451, 1, 1351, 6]);
    expect(Number(hourly[0].cost)).toBeCloseTo(0.45, 10);
    // And by UTC day, in the same transactions: the same sums, the row's hour the day's start.
    const day = new Date(Math.floor(late.getTime() / DAY_MS) * DAY_MS);
    const daily = await store.usageRollupSince({ productIds: ['p'], since: day, bucketMs: DAY_MS });
    expect(daily.map(row => [new Date(row.hour as string).toISOString(), row.consumer_ref, ...[row.requests, row.errors, row.prompt_tokens, row.le_10].map(Number)]))
      .toEqual([[day.toISOString(), 'component:default/c', 451, 1, 1351, 6]]);
    expect(Number(daily[0].cost)).toBeCloseTo(0.45, 10);
    // In statements of 100 rows here: 451 calls at one instant go in five, and none after the cutoff.
    await store.insertUsage([{ at: new Date(late.getTime() + 1), keyId: '1', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: 1, promptTokens: 1, completionTokens: 1, estimated: false, cost: 0 }]);
    const statements: string[] = [];
    const counted = (query: { sql: string }) => void (/^delete from .gateway_usage. /i.test(query.sql) && statements.push(query.sql));
    knex.on('query', counted);
    const removed = await store.deleteUsageBefore(new Date(late.getTime() + 1), t0, { chunk: 100 });
    knex.off('query', counted);
    expect(removed).toEqual({ raw: 451, hourly: 0, daily: 0 });
    expect(statements).toHaveLength(5);
    expect((await knex('gateway_usage').select('latency_ms')).map(r => r.latency_ms)).toEqual([1]);
    await knex('gateway_usage').delete();
    // A rollup's retention takes an hour once it is past, a day once the whole day is.
    expect(await store.deleteUsageBefore(t0, new Date(day.getTime() + DAY_MS - 1))).toEqual({ raw: 0, hourly: 1, daily: 0 });
    expect(await store.deleteUsageBefore(t0, new Date(day.getTime() + DAY_MS))).toEqual({ raw: 0, hourly: 0, daily: 1 });
  });

  it.each(databases.eachSupportedId())("reads each key's spend this month and today from its spend by day, written with its calls, %p", async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const call = (at: string, keyId: string | undefined, tokens: number, cost: number): UsageRecord => ({
      at: new Date(at), keyId, consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: 1, promptTokens: tokens - 1, completionTokens: 1, estimated: false, cost,
    });
    await store.insertUsage([
      call('2026-11-30T23:59:59Z', '1', 100, 1),
      call('2026-12-03T10:00:00Z', '1', 30, 0.25),
      call('2026-12-07T08:00:00Z', '1', 15, 0.125),
      call('2026-12-07T09:00:00Z', '2', 7, 0.5),
      call('2026-12-07T09:00:00Z', undefined, 50, 5),
    ]);
    await store.insertUsage([call('2026-12-07T23:59:59Z', '1', 15, 0.125)]);
    expect(await knex('gateway_key_spend_daily').count('* as n').first().then(r => Number(r!.n))).toBe(4);
    const spent = await store.spendByKey(new Date('2026-12-01T00:00:00Z'), new Date('2026-12-07T00:00:00Z'));
    expect(spent.sort((a, b) => a.keyId.localeCompare(b.keyId))).toEqual([
      { keyId: '1', monthTokens: 60, monthCost: 0.5, dayTokens: 30, dayCost: 0.25 },
      { keyId: '2', monthTokens: 7, monthCost: 0.5, dayTokens: 7, dayCost: 0.5 },
    ]);
    // Only the current month is read: November's day goes at the retention.
    expect(await store.deleteKeySpendBefore(new Date('2026-12-01T00:00:00Z'))).toBe(1);
  });

  it.each(databases.eachSupportedId())('counts a usage batch sent again under its id once (a retry after a lost COMMIT reply), %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const at = new Date('2026-12-07T09:00:00Z');
    const rows: UsageRecord[] = [1, 2, 3].map(i => ({
      at, keyId: '1', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: i, promptTokens: 10, completionTokens: 5, estimated: false, cost: 0.01,
    }));
    expect(await store.insertUsage(rows, 'batch-1')).toEqual({ written: 3, refused: 0 });
    expect(await store.insertUsage(rows, 'batch-1')).toEqual({ written: 0, refused: 0 });
    expect(await store.insertUsage(rows.slice(0, 1), 'batch-2')).toEqual({ written: 1, refused: 0 });
    expect(Number((await knex('gateway_usage').count('* as n'))[0].n)).toBe(4);
    const [hour] = await store.usageRollupSince({ productIds: ['p'], since: at });
    const [day] = await store.usageRollupSince({ productIds: ['p'], since: new Date('2026-12-07T00:00:00Z'), bucketMs: DAY_MS });
    expect([hour, day].map(row => [row.requests, row.prompt_tokens].map(Number))).toEqual([[4, 40], [4, 40]]);
    expect((await store.spendByKey(new Date('2026-12-01T00:00:00Z'), new Date('2026-12-07T00:00:00Z'))).map(s => [s.dayTokens, s.monthTokens])).toEqual([[60, 60]]);
    // Ids are forgotten on their own schedule (a day), the calls kept.
    expect(await store.deleteUsageBatchIdsBefore(new Date(Date.now() - 60_000))).toBe(0);
    expect(await store.deleteUsageBatchIdsBefore(new Date(Date.now() + 1000))).toBe(2);
    expect(Number((await knex('gateway_usage').count('* as n'))[0].n)).toBe(4);
  });

  it.each(databases.eachSupportedId())('writes a batch holding a row the database refuses in parts, drops only that row, and counts nothing twice when sent again, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const at = new Date('2026-12-07T09:00:00Z');
    const rows: UsageRecord[] = [1, 2, 3, 4, 5].map(i => ({
      at, keyId: '1', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: i, promptTokens: 10, completionTokens: 5, estimated: false, cost: 0.01,
    }));
    // A row no database takes (a call without its product): before, its batch failed every retry and held back all later usage.
    rows[3] = { ...rows[3], productId: null as unknown as string };
    expect(await store.insertUsage(rows, 'poisoned')).toEqual({ written: 4, refused: 1 });
    expect(await store.insertUsage(rows, 'poisoned')).toEqual({ written: 0, refused: 1 });
    expect((await knex('gateway_usage').orderBy('latency_ms')).map(r => r.latency_ms)).toEqual([1, 2, 3, 5]);
    const [hour] = await store.usageRollupSince({ productIds: ['p'], since: at });
    expect(Number(hour.requests)).toBe(4);
  });

  it.each(databases.eachSupportedId())('writes a batch of 20,000 rows with one refused under ids that fit their column, however deep it is split, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const at = new Date('2026-12-07T09:00:00Z');
    const rows: UsageRecord[] = Array.from({ length: 20_000 }, (_, i) => ({
      at, keyId: '1', consumerRef: 'component:default/c', productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: i, promptTokens: 10, completionTokens: 5, estimated: false, cost: 0.01,
    }));
    rows[12_345] = { ...rows[12_345], productId: null as unknown as string };
    // A writer's id (a UUID): split 15 levels deep, ids that grew by two characters a level passed the column's 64,
    // PostgreSQL refused them (22001, not the rows' fault) and the writer sent the batch again for ever.
    const batchId = randomUUID();
    expect(await store.insertUsage(rows, batchId)).toEqual({ written: 19_999, refused: 1 });
    // Sent again, split the same way: every part is found under the id it had.
    expect(await store.insertUsage(rows, batchId)).toEqual({ written: 0, refused: 1 });
    expect(Number((await knex('gateway_usage').count('* as n'))[0].n)).toBe(19_999);
    const ids = (await knex('gateway_usage_batches').select('id')).map(r => r.id as string);
    expect(Math.max(...ids.map(id => id.length))).toBeLessThanOrEqual(64);
    const [hour] = await store.usageRollupSince({ productIds: ['p'], since: at });
    expect(Number(hour.requests)).toBe(19_999);
  });

  it.each(databases.eachSupportedId())('lists every pending request newest first, or oldest first for the review queue, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const t0 = new Date('2026-11-22T10:00:00Z');
    const actor = 'user:default/u';
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor, now: t0, expect: { exists: false }, audit: () => [] });
    for (const [i, component] of ['c', 'd', 'e'].entries()) {
      const at = new Date(t0.getTime() + i * 60_000);
      await store.createKeyRequest({
        id: `r-${component}`, productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: `component:default/${component}`, justification: 'because',
        status: 'pending', requestedBy: actor, requestedAt: at.toISOString(), expiresAt: new Date(at.getTime() + 3600_000).toISOString(),
      }, []);
    }
    expect((await store.listKeyRequests({ status: 'pending' })).map(r => r.id)).toEqual(['r-e', 'r-d', 'r-c']);
    expect((await store.listKeyRequests({ status: 'pending', oldestFirst: true, limit: 2 })).map(r => r.id)).toEqual(['r-c', 'r-d']);
  });

  it.each(databases.eachSupportedId())('lists the newest keys up to a limit and counts them all, those still accepted apart, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const t0 = new Date('2026-11-22T10:00:00Z');
    const minute = (n: number) => new Date(t0.getTime() + n * 60_000);
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor: 'user:default/u', now: t0, expect: { exists: false }, audit: () => [] });
    const issue = async (n: number, expiresAt?: Date, createdAt = minute(n)) => {
      await store.createKeyRequest({
        id: `r${n}`, productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
        status: 'pending', requestedBy: 'user:default/u', requestedAt: minute(n).toISOString(), expiresAt: minute(n + 60).toISOString(),
      }, []);
      const k = { ...key(String(n), createdAt.toISOString()), ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}) };
      expect(await store.reviewKeyRequest({ id: `r${n}`, status: 'approved', reviewer: 'user:default/a', at: minute(n), key: k }, [])).toBe(true);
      return k;
    };
    // Key 1 is rotated to key 2 with an hour's grace, key 3 expires after ten minutes, key 4 is revoked.
    const k1 = await issue(1);
    expect(await store.rotateKey({ previous: k1, next: key('2', minute(2).toISOString()), graceUntil: minute(62), at: minute(2) }, [])).toBe(true);
    await issue(3, minute(13));
    await issue(4);
    expect(await store.revokeKey({ id: '4', actor: 'user:default/a', at: minute(5) }, [])).toBe(true);

    expect((await store.listKeys({ productId: 'p', limit: 2 })).map(k => k.id)).toEqual(['4', '3']);
    expect(await store.listKeys({ componentRef: 'component:default/c', limit: 0 })).toEqual([]);
    expect((await store.listKeys({ componentRef: 'component:default/c' })).map(k => k.id)).toEqual(['4', '3', '2', '1']);
    expect(await store.countKeys({ productId: 'p' }, minute(30))).toEqual({ total: 4, active: 2 });
    expect(await store.countKeys({ componentRef: 'component:default/c' }, minute(10))).toEqual({ total: 4, active: 3 });
    // The grace period over, only the rotated-to key is still accepted.
    expect(await store.countKeys({ productId: 'p' }, minute(90))).toEqual({ total: 4, active: 1 });
    expect(await store.countKeys({ componentRef: 'component:default/nobody' }, minute(90))).toEqual({ total: 0, active: 0 });
    // Per product, for a component's page: one product here, and none for a component without keys.
    expect(await store.countKeysByProduct({ componentRef: 'component:default/c' }, minute(90))).toEqual({ p: { total: 4, active: 1 } });
    expect(await store.countKeysByProduct({ componentRef: 'component:default/nobody' }, minute(90))).toEqual({});
    // Every product's, for the admin page: another product's key beside p's.
    await store.putProduct({ id: 'q', entityRef: 'api:default/q', spec, actor: 'user:default/u', now: t0, expect: { exists: false }, audit: () => [] });
    await store.createKeyRequest({
      id: 'r9', productId: 'q', plan: 'standard', apiRef: 'api:default/q', componentRef: 'component:default/d', justification: 'because',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: minute(9).toISOString(), expiresAt: minute(69).toISOString(),
    }, []);
    expect(await store.reviewKeyRequest({ id: 'r9', status: 'approved', reviewer: 'user:default/a', at: minute(9), key: { ...key('9', minute(9).toISOString()), productId: 'q', componentRef: 'component:default/d' } }, [])).toBe(true);
    expect(await store.countKeysByProduct({}, minute(90))).toEqual({ p: { total: 4, active: 1 }, q: { total: 1, active: 1 } });
    // Only the keys accepted at a time, or only the others: as the counts split them.
    const split = async (at: Date, query: { componentRef?: string; productId?: string } = { productId: 'p' }) => [
      (await store.listKeys({ ...query, accepted: { at, now: true } })).map(k => k.id),
      (await store.listKeys({ ...query, accepted: { at, now: false } })).map(k => k.id),
    ];
    expect(await split(minute(10))).toEqual([['3', '2', '1'], ['4']]);
    expect(await split(minute(30), { componentRef: 'component:default/c', productId: 'p' })).toEqual([['2', '1'], ['4', '3']]);
    expect(await split(minute(90), { componentRef: 'component:default/c' })).toEqual([['2'], ['4', '3', '1']]);
    expect(await split(minute(90), { componentRef: 'component:default/c', productId: 'q' })).toEqual([[], []]);
    expect((await store.listKeys({ productId: 'p', accepted: { at: minute(90), now: false }, limit: 2, offset: 1 })).map(k => k.id)).toEqual(['3', '1']);

    // Paged, every key comes once and in the same order, those issued in the same millisecond too.
    for (const n of [6, 7, 8]) await issue(n, undefined, minute(6));
    const all = (await store.listKeys({ productId: 'p' })).map(k => k.id);
    expect(all).toEqual(['8', '7', '6', '4', '3', '2', '1']);
    const paged: string[] = [];
    for (let offset = 0; offset < 8; offset += 2) paged.push(...(await store.listKeys({ productId: 'p', limit: 2, offset })).map(k => k.id));
    expect(paged).toEqual(all);
    expect(await store.listKeys({ componentRef: 'component:default/c', offset: 7 })).toEqual([]);
  });

  it.each(databases.eachSupportedId())("reads a page of keys as a range of an index, not a sort of all of them, and a product's key requests through an index, %p", async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const ran: { sql: string; bindings: Knex.RawBinding[] }[] = [];
    knex.on('query', (q: { sql: string; bindings: Knex.RawBinding[] }) => ran.push(q));
    // The plan of the statement the store ran, and whether it sorts (SQLite's temporary B-tree, PostgreSQL's Sort node).
    const planOf = async ({ sql, bindings }: { sql: string; bindings: Knex.RawBinding[] }) => {
      if (databaseId === 'SQLITE_3') {
        const plan = (await knex.raw(`explain query plan ${sql}`, bindings)).map((r: { detail: string }) => r.detail).join('\n');
        return { plan, sorts: /TEMP B-TREE/.test(plan) };
      }
      // An empty table is cheapest to scan; forbid that, so the plan shows how an index serves the order.
      const plan: string = await knex.transaction(async tx => {
        await tx.raw('set local enable_seqscan = off');
        // knex reports PostgreSQL's statement with its $n placeholders; raw takes ?.
        return (await tx.raw(`explain ${sql.replace(/\$\d+/g, '?')}`, bindings)).rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      });
      return { plan, sorts: /Sort/.test(plan) };
    };
    for (const [whose, index] of [[{ productId: 'p' }, 'gateway_keys_product_idx'], [{ componentRef: 'component:default/c' }, 'gateway_keys_component_idx']] as const) {
      ran.length = 0;
      await store.listKeys({ ...whose, limit: 25, offset: 50 });
      const { plan, sorts } = await planOf(ran[0]);
      expect(plan).toContain(index);
      expect(sorts).toBe(false);
    }
    // The audit trail's pages too: the whole trail, one entity's and one action's, from a cursor.
    const audit = new GatewayAuditStore(knex);
    const before = { createdAt: new Date('2026-11-22T10:00:00Z'), id: '500' };
    for (const [query, index] of [
      [{}, 'audit_events_created_idx'],
      [{ action: 'key.revoked' }, 'audit_events_action_idx'],
      [{ entityRef: 'api:default/p' }, 'audit_events_entity_idx'],
    ] as const) {
      ran.length = 0;
      await audit.page({ ...query, before, limit: 25 });
      const { plan } = await planOf(ran[0]);
      expect(plan).toContain(index);
    }
    // Every API's requests, newest first (the admin page without a status): a range of an index, not a sort.
    ran.length = 0;
    await store.listKeyRequests({});
    expect(await planOf(ran[0])).toMatchObject({ sorts: false, plan: expect.stringContaining('gateway_key_requests_requested_idx') });
    // A product's removal reads and deletes its key requests by product, under the product's lock.
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor: 'user:default/u', now: new Date('2026-11-22T10:00:00Z'), expect: { exists: false }, audit: () => [] });
    ran.length = 0;
    await store.deleteProduct({ id: 'p', now: new Date('2026-11-22T11:00:00Z'), audit: () => [] });
    const byProduct = ran.filter(q => /from .gateway_key_requests. where .product_id./i.test(q.sql));
    expect(byProduct.map(q => q.sql.split(' ')[0].toLowerCase()).sort()).toEqual(['delete', 'select']);
    // Each a search of an index (the pending count may take PostgreSQL's index of pending requests), not a scan of every request ever made.
    for (const statement of byProduct) expect((await planOf(statement)).plan).not.toMatch(/Seq Scan|SCAN gateway_key_requests(?! USING)/);
  });

  it.each(databases.eachSupportedId())("writes a change's audit events at one instant, so the trail reads them as one action, %p", async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const actor = 'user:default/u';
    // A clock that moves on by a millisecond at every reading, as a slow insert's would.
    const RealDate = Date;
    let tick = 0;
    const TickingDate = class extends RealDate {
      constructor(...args: unknown[]) {
        if (args.length > 0) super(...(args as [string]));
        else super(RealDate.now() + tick++);
      }

      // Every date is still a Date to the database client.
      static [Symbol.hasInstance](value: unknown) {
        return value instanceof RealDate;
      }
    } as unknown as DateConstructor;
    global.Date = TickingDate;
    try {
      await store.putProduct({
        id: 'p', entityRef: 'api:default/p', spec, actor, now: new RealDate('2026-11-22T10:00:00Z'), expect: { exists: false },
        audit: () => ['api:default/p', 'component:default/c'].map(entityRef => ({ actor, action: 'product.created', entityRef, target: 'p' })),
      });
    } finally {
      global.Date = RealDate;
    }
    const rows = await new GatewayAuditStore(knex).list({ target: 'p' });
    expect(rows.map(r => r.entityRef).sort()).toEqual(['api:default/p', 'component:default/c']);
    expect(rows[0].createdAt).toBe(rows[1].createdAt);
  });

  it.each(databases.eachSupportedId())('pages through the audit trail newest first from a cursor, never splitting a change, by entity or action, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const audit = new GatewayAuditStore(knex);
    const t0 = Date.parse('2026-11-22T10:00:00Z');
    // Seven changes a minute apart; each odd one is recorded on the API and the component (two rows), as a key request is.
    for (let i = 0; i < 7; i++) {
      const entityRefs = i % 2 ? ['api:default/p', 'component:default/c'] : ['api:default/p'];
      await insertAuditEvents(knex, entityRefs.map(entityRef => ({
        actor: 'user:default/u', action: i % 2 ? 'key-request.created' : 'product.updated', entityRef, target: `t${i}`, createdAt: new Date(t0 + i * 60_000),
      })));
    }
    const targets = (page: { items: Array<{ target: string }> }) => page.items.map(e => e.target);
    // Two rows asked for, and the newest change is one row: the page ends after t5's two rows rather than between them.
    const first = await audit.page({ limit: 2 });
    expect(targets(first)).toEqual(['t6', 't5', 't5']);
    // New entries at the top do not shift the older pages.
    await insertAuditEvents(knex, [{ actor: 'user:default/u', action: 'key.revoked', entityRef: 'component:default/c', target: 't7', createdAt: new Date(t0 + 7 * 60_000) }]);
    const second = await audit.page({ limit: 2, before: first.next });
    expect(targets(second)).toEqual(['t4', 't3', 't3']);
    const third = await audit.page({ limit: 2, before: second.next });
    expect(targets(third)).toEqual(['t2', 't1', 't1']);
    const last = await audit.page({ limit: 2, before: third.next });
    expect(targets(last)).toEqual(['t0']);
    expect(last.next).toBeUndefined();
    // One entity's, one action's, and both.
    expect(targets(await audit.page({ entityRef: 'component:default/c' }))).toEqual(['t7', 't5', 't3', 't1']);
    expect(targets(await audit.page({ action: 'product.updated', limit: 3 }))).toEqual(['t6', 't4', 't2']);
    expect(targets(await audit.page({ entityRef: 'component:default/c', action: 'key-request.created' }))).toEqual(['t5', 't3', 't1']);
    // Entries of one instant are ordered by id, and a cursor inside that instant goes on from there.
    const sameInstant = await audit.page({ action: 'key-request.created', limit: 1 });
    expect(sameInstant.items.map(e => `${e.target} ${e.entityRef}`)).toEqual(['t5 component:default/c', 't5 api:default/p']);
    const rest = await audit.page({ action: 'key-request.created', limit: 1, before: { createdAt: new Date(t0 + 5 * 60_000), id: sameInstant.items[0].id } });
    expect(rest.items.map(e => `${e.target} ${e.entityRef}`)).toEqual(['t5 api:default/p']);
  });

  it.each(databases.eachSupportedId())('commits each change with its audit events or neither, keeps one pending request per component and product, and checks product writes against what was read, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const t0 = new Date('2026-11-22T10:00:00Z');
    const actor = 'user:default/u';
    const audited = async () => (await knex('audit_events').orderBy('id')).map(r => `${r.action} ${r.target}`);
    const created = await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor, now: t0, expect: { exists: false }, audit: () => [{ actor, action: 'product.created', target: 'p' }] });
    expect(await audited()).toEqual(['product.created p']);

    // A second create of the product, or of another product for the same API, is a conflict, not a 500.
    await expect(store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor, now: t0, expect: { exists: false }, audit: () => [] })).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(store.putProduct({ id: 'q', entityRef: 'api:default/p', spec, actor, now: t0, expect: { exists: false }, audit: () => [] })).rejects.toMatchObject({ name: 'ConflictError' });
    // A read-modify-write over a version someone changed since fails and changes nothing.
    const t1 = new Date(t0.getTime() + 1234); // milliseconds: the version compared must survive the database's timestamp type
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: { ...spec, title: 'newer' }, actor, now: t1, expect: { exists: true }, audit: () => [] });
    await expect(store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: { ...spec, title: 'stale' }, actor, now: t1, expect: { exists: true, updatedAt: created.updatedAt }, audit: () => [{ actor, action: 'route.weights', target: 'p' }] }))
      .rejects.toMatchObject({ name: 'ConflictError' });
    expect((await store.getProduct('p'))?.title).toBe('newer');
    // Over the version just read, the write goes through.
    const current = (await store.getProduct('p'))!;
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: { ...spec, title: 'weighted' }, actor, now: new Date(t1.getTime() + 1), expect: { exists: true, updatedAt: current.updatedAt }, audit: () => [] });
    expect((await store.getProduct('p'))?.title).toBe('weighted');
    expect(await audited()).toEqual(['product.created p']);

    // One pending request per component and product, even for two sent at once.
    const request = (id: string) => ({
      id, productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
      status: 'pending' as const, requestedBy: actor, requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
    });
    const both = await Promise.allSettled([
      store.createKeyRequest(request('r1'), [{ actor, action: 'key-request.created', target: 'r1' }]),
      store.createKeyRequest(request('r2'), [{ actor, action: 'key-request.created', target: 'r2' }]),
    ]);
    expect(both.map(r => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(both.find(r => r.status === 'rejected')).toMatchObject({ reason: { name: 'ConflictError', message: 'component:default/c already has a pending request for p' } });
    const [pending] = await store.listKeyRequests({ componentRef: 'component:default/c', status: 'pending' });
    expect(await audited()).toEqual(['product.created p', `key-request.created ${pending.id}`]);
    // Once it is decided, the component may ask again.
    const at = new Date(t0.getTime() + 2000);
    expect(await store.reviewKeyRequest({ id: pending.id, status: 'approved', reviewer: actor, at, key: key('1', at.toISOString()) }, [{ actor, action: 'key-request.approved', target: pending.id }])).toBe(true);
    await store.createKeyRequest(request('r3'), []);

    // A change whose audit cannot be written is not made: the key stays active, and a retry can succeed.
    await knex.schema.renameTable('audit_events', 'audit_events_away');
    // (A database error is matched by its message: better-sqlite3's errors may come from another test file's realm, so they are not instanceof Error here.)
    const noAuditTable = { message: expect.stringMatching(/no such table|does not exist/) };
    await expect(store.revokeKey({ id: '1', actor, at }, [{ actor, action: 'key.revoked', target: '1' }])).rejects.toMatchObject(noAuditTable);
    expect((await store.getKey('1'))?.status).toBe('active');
    await expect(store.rotateKey({ previous: (await store.getKey('1'))!, next: key('2', at.toISOString()), graceUntil: at, at }, [{ actor, action: 'key.rotated', target: '1' }])).rejects.toMatchObject(noAuditTable);
    expect(await store.getKey('2')).toBeUndefined();
    await expect(store.reviewKeyRequest({ id: 'r3', status: 'denied', reviewer: actor, at }, [{ actor, action: 'key-request.denied', target: 'r3' }])).rejects.toMatchObject(noAuditTable);
    expect((await store.getKeyRequest('r3'))?.status).toBe('pending');
    await knex.schema.renameTable('audit_events_away', 'audit_events');
    expect(await store.revokeKey({ id: '1', actor, at }, [{ actor, action: 'key.revoked', target: '1' }])).toBe(true);
    expect((await audited()).slice(-2)).toEqual([`key-request.approved ${pending.id}`, 'key.revoked 1']);
  });

  it.each(databases.eachSupportedId())('never both issues a key for a plan and removes that plan, even when the two are asked at once, %p', async databaseId => {
    const { store } = await migratedStore(databases, databaseId);
    const actor = 'user:default/u';
    const t0 = new Date('2026-11-22T10:00:00Z');
    const withTiny = { ...spec, plans: [...spec.plans, { name: 'tiny', requestsPerMinute: 1 }] };
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: withTiny, actor, now: t0, expect: { exists: false }, audit: () => [] });
    for (let i = 0; i < 6; i++) {
      const at = new Date(t0.getTime() + (i + 1) * 1000);
      if (!(await store.getProduct('p'))!.plans.some(p => p.name === 'tiny')) {
        await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: withTiny, actor, now: at, expect: { exists: true }, audit: () => [] });
      }
      await store.createKeyRequest({
        id: `r${i}`, productId: 'p', plan: 'tiny', apiRef: 'api:default/p', componentRef: `component:default/c${i}`, justification: 'because',
        status: 'pending', requestedBy: actor, requestedAt: at.toISOString(), expiresAt: new Date(at.getTime() + 3600_000).toISOString(),
      }, []);
      const [approval, removal] = await Promise.allSettled([
        store.reviewKeyRequest({ id: `r${i}`, status: 'approved', reviewer: actor, at, key: { ...key(`k${i}`, at.toISOString()), plan: 'tiny' } }, []),
        store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor, now: at, expect: { exists: true }, audit: () => [] }),
      ]);
      // One of them, whichever came first, and the other refused saying why.
      const story = [
        approval.status === 'fulfilled' ? 'key issued' : `approval refused: ${(approval.reason as Error).message}`,
        removal.status === 'fulfilled' ? 'plan removed' : `removal refused: ${(removal.reason as Error).message.split(';')[0]}`,
        `plans ${(await store.getProduct('p'))!.plans.map(p => p.name).join(',')}`,
        `request ${(await store.getKeyRequest(`r${i}`))!.status}`,
      ].join(' | ');
      expect([
        'key issued | removal refused: spec.plans: the plan "tiny" (1 key) is held by keys that work now | plans standard,tiny | request approved',
        'approval refused: plan: gateway product p no longer has the plan "tiny" this request asks for; deny it, and the component can ask for another plan | plan removed | plans standard | request pending',
      ]).toContain(story);
      if (approval.status === 'fulfilled') await store.revokeKey({ id: `k${i}`, actor, at }, []);
    }
  });

  it.each(databases.eachSupportedId())('issues a key only for models its plan has when it commits, %p', async databaseId => {
    const { store } = await migratedStore(databases, databaseId);
    const actor = 'user:default/u';
    const t0 = new Date('2026-11-22T10:00:00Z');
    const twoModels = { ...spec, models: [...spec.models!, { ...spec.models![0], name: 'm2' }], plans: [{ name: 'standard', requestsPerMinute: 5, models: ['m', 'm2'] }] };
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: twoModels, actor, now: t0, expect: { exists: false }, audit: () => [] });
    await store.createKeyRequest({
      id: 'r1', productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
      status: 'pending', requestedBy: actor, requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
    }, []);
    // The reviewer narrowed the key to m2 on the plan as they read it; an owner took m2 out of the plan before the approval committed.
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: { ...twoModels, plans: [{ name: 'standard', requestsPerMinute: 5, models: ['m'] }] }, actor, now: t0, expect: { exists: true }, audit: () => [] });
    await expect(store.reviewKeyRequest({ id: 'r1', status: 'approved', reviewer: actor, at: t0, key: { ...key('1', t0.toISOString()), models: ['m2'] } }, []))
      .rejects.toMatchObject({ name: 'ConflictError', message: 'models: plan standard of gateway product p no longer has "m2" (it changed meanwhile); approve again' });
    expect((await store.getKeyRequest('r1'))!.status).toBe('pending');
    expect(await store.reviewKeyRequest({ id: 'r1', status: 'approved', reviewer: actor, at: t0, key: { ...key('1', t0.toISOString()), models: ['m'] } }, [])).toBe(true);
  });

  it.each(databases.eachSupportedId())('never leaves a request behind for a product removed while it was being made, %p', async databaseId => {
    const { knex, store } = await migratedStore(databases, databaseId);
    const actor = 'user:default/u';
    const t0 = new Date('2026-11-22T10:00:00Z');
    const ask = (id: string) => store.createKeyRequest({
      id, productId: 'p', plan: 'standard', apiRef: 'api:default/p', componentRef: `component:default/${id}`, justification: 'because',
      status: 'pending', requestedBy: actor, requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
    }, []);
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor, now: t0, expect: { exists: false }, audit: () => [] });
    // A removal holds the product row's lock (here, by hand) while a request is being made: the request waits for it,
    // then finds the product gone. PostgreSQL makes it wait by the lock; SQLite by its one writer.
    const removal = await knex.transaction();
    await removal('gateway_products').where('id', 'p').forUpdate().first();
    const asked = ask('r1').then(() => 'made', (error: Error) => `${error.name}: ${error.message}`);
    await new Promise(resolve => setTimeout(resolve, 300));
    await removal('gateway_plans').where('product_id', 'p').delete();
    await removal('gateway_products').where('id', 'p').delete();
    await removal.commit();
    expect(await asked).toBe('NotFoundError: productId: no gateway product p');
    expect(await knex('gateway_key_requests').select()).toEqual([]);

    // The other way round: a request made first keeps the product (the store's removal refuses), and says so.
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec, actor, now: t0, expect: { exists: false }, audit: () => [] });
    await ask('r2');
    await expect(store.deleteProduct({ id: 'p', now: t0, audit: () => [] })).rejects.toMatchObject({
      name: 'ConflictError', message: "Gateway product p is in use: 1 key request waits for review; approve or deny that request (the API's Gateway tab) before removing it",
    });
    expect(await store.getProduct('p')).toBeDefined();
  });

  it.each(databases.eachSupportedId())("finds an API's usage under its products removed before, and no other API's, %p", async databaseId => {
    const { store } = await migratedStore(databases, databaseId);
    const actor = 'user:default/u';
    const t0 = new Date('2026-11-22T10:00:00Z');
    const offer = (id: string, entityRef: string) => store.putProduct({ id, entityRef, spec, actor, now: t0, expect: { exists: false }, audit: () => [] });
    const remove = (id: string) => store.deleteProduct({
      id, now: t0, audit: removed => [{ actor, action: 'product.deleted', entityRef: removed.entityRef, target: removed.id }],
    });
    await offer('p', 'api:default/p');
    await offer('x', 'api:default/x');
    expect(await store.productIdsOfApi('api:default/p')).toEqual(['p']);
    await remove('p');
    await remove('x');
    expect(await store.productIdsOfApi('api:default/p')).toEqual(['p']);
    // Offered again under another id, then under the first one again: each id once.
    await offer('p2', 'api:default/p');
    expect(await store.productIdsOfApi('api:default/p')).toEqual(['p', 'p2']);
    await remove('p2');
    await offer('p', 'api:default/p');
    expect(await store.productIdsOfApi('api:default/p')).toEqual(['p', 'p2']);
    expect(await store.productIdsOfApi('api:default/x')).toEqual(['x']);
    expect(await store.productIdsOfApi('api:default/never')).toEqual([]);
    // The rollup read under those ids counts the API's calls and no other's.
    await store.insertUsage(['p', 'p2', 'x'].map(productId => ({
      at: t0, keyId: '1', consumerRef: 'component:default/c', productId, model: 'm', upstream: 'a', status: 200, latencyMs: 5, promptTokens: 1, completionTokens: 1, estimated: false, cost: 0,
    })));
    const hourly = await store.usageRollupSince({ productIds: await store.productIdsOfApi('api:default/p'), since: t0 });
    expect(hourly.map(row => row.product_id).sort()).toEqual(['p', 'p2']);
  });

  it.each(databases.eachSupportedId())('sets a day to the sum of its hours where an older replica wrote the hours only, losing no batch written meanwhile, %p', async databaseId => {
    const { knex, store } = await migratedStore(databases, databaseId);
    const call = (at: string, consumer: string, promptTokens = 1): UsageRecord => ({
      at: new Date(at), keyId: '1', consumerRef: `component:default/${consumer}`, productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: 30, promptTokens, completionTokens: 2, estimated: false, cost: 0.25,
    });
    // A replica of the version before the daily rollup: its calls and their hours, and nothing by day.
    const olderReplicaWrites = (records: UsageRecord[]) => knex.transaction(async tx => {
      await insertUsageRows(tx, records);
      for (const row of rollUp(records)) {
        await tx('gateway_usage_hourly').insert(row).onConflict(['hour', 'product_id', 'consumer_ref', 'model', 'upstream'])
          .merge(Object.fromEntries(['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cost', ...BUCKET_COLUMNS].map(c => [c, knex.raw('?? + excluded.??', [`gateway_usage_hourly.${c}`, c])])));
      }
    });
    const days = async () => (await store.usageRollupSince({ productIds: ['p'], since: new Date('2026-12-01T00:00:00Z'), bucketMs: DAY_MS }))
      .map(row => `${new Date(row.hour as string).toISOString().slice(0, 10)} ${String(row.consumer_ref).split('/')[1]} ${row.requests} calls ${row.prompt_tokens} prompt ${row.le_50} ≤50ms $${Number(row.cost)}`)
      .sort();

    await store.insertUsage([call('2026-12-05T10:00:00Z', 'c'), call('2026-12-06T10:00:00Z', 'c'), call('2026-12-07T01:00:00Z', 'c')]);
    await olderReplicaWrites([
      call('2026-12-05T11:00:00Z', 'c'), call('2026-12-06T10:30:00Z', 'c', 5), call('2026-12-06T23:59:59Z', 'c'),
      call('2026-12-06T12:00:00Z', 'old-only'), call('2026-12-07T02:00:00Z', 'c'),
    ]);
    // Yesterday and today, as the hourly task asks: three series short, set; the 5th stays as it was.
    expect(await store.repairDailyUsage(new Date('2026-12-06T03:00:00Z'), new Date('2026-12-07T03:00:00Z'))).toBe(3);
    expect(await days()).toEqual([
      '2026-12-05 c 1 calls 1 prompt 1 ≤50ms $0.25',
      '2026-12-06 c 3 calls 7 prompt 3 ≤50ms $0.75',
      '2026-12-06 old-only 1 calls 1 prompt 1 ≤50ms $0.25',
      '2026-12-07 c 2 calls 2 prompt 2 ≤50ms $0.5',
    ]);
    expect(await store.repairDailyUsage(new Date('2026-12-06T03:00:00Z'), new Date('2026-12-07T03:00:00Z'))).toBe(0);

    // A newer replica's batch in flight while the repair runs (today's day is short again): it is counted once.
    await olderReplicaWrites([call('2026-12-07T02:10:00Z', 'c')]);
    const writer = await knex.transaction();
    let repair: Promise<number> | undefined;
    try {
      await new KnexGatewayStore(writer).insertUsage([call('2026-12-07T02:20:00Z', 'c', 10)]);
      repair = store.repairDailyUsage(new Date('2026-12-07T03:00:00Z'), new Date('2026-12-07T03:00:00Z'));
      // On PostgreSQL, commit once the repair waits on the writer (SQLite's one connection runs them in turn anyway).
      for (let waited = 0; databaseId === 'POSTGRES_15' && waited < 10_000; waited += 20) {
        if (Number((await knex.raw('select count(*) as n from pg_locks where not granted and pid in (select pid from pg_stat_activity where datname = current_database())')).rows[0].n) > 0) break;
        await new Promise(resolve => setTimeout(resolve, 20));
      }
      await writer.commit();
    } finally {
      if (!writer.isCompleted()) await writer.rollback();
    }
    expect(await repair).toBe(1);
    expect((await days()).pop()).toBe('2026-12-07 c 4 calls 13 prompt 4 ≤50ms $1');
  });

  it.each(databases.eachSupportedId())("sums the whole gateway's usage by hour or day, product, consumer and version in the database, %p", async databaseId => {
    const { store } = await migratedStore(databases, databaseId);
    const call = (at: string, productId: string, consumer: string, upstream: string, status = 200): UsageRecord => ({
      at: new Date(at), keyId: '1', consumerRef: `component:default/${consumer}`, productId, model: productId === 'rest' ? undefined : 'm', upstream, status,
      latencyMs: 30, promptTokens: 3, completionTokens: 4, estimated: false, cost: 0.5,
    });
    await store.insertUsage([
      call('2026-12-06T10:05:00Z', 'p', 'a', 'v1'), call('2026-12-06T10:10:00Z', 'p', 'b', 'v2', 502), call('2026-12-06T11:00:00Z', 'p', 'a', 'v1'),
      call('2026-12-06T11:30:00Z', 'rest', 'b', 'rest'), call('2026-12-07T01:00:00Z', 'rest', 'a', 'rest'),
    ]);
    const sums = async (since: string, bucketMs?: number) => {
      const parts = await Promise.all((['time', 'product', 'consumer', 'model'] as const).map(by => store.usageTotalsSince({ since: new Date(since), bucketMs, by })));
      return parts.map(rows => rows.map(row => [row.hour ? new Date(row.hour as string).toISOString() : '', row.product_id ?? '', row.consumer_ref ?? '', row.model ?? '', row.upstream ?? '',
        Number(row.requests), Number(row.errors), Number(row.prompt_tokens), Number(row.cost), Number(row.le_50)].filter(v => v !== '').join(' ')).sort());
    };
    // A row a group, the other dimensions summed away.
    expect(await sums('2026-12-06T11:00:00Z')).toEqual([
      ['2026-12-06T11:00:00.000Z 2 0 6 1 2', '2026-12-07T01:00:00.000Z 1 0 3 0.5 1'],
      ['p 1 0 3 0.5 1', 'rest 2 0 6 1 2'],
      ['component:default/a 2 0 6 1 2', 'component:default/b 1 0 3 0.5 1'],
      // A REST product's calls have no model.
      ['m v1 1 0 3 0.5 1', 'rest 2 0 6 1 2'],
    ]);
    expect((await sums('2026-12-06T00:00:00Z', DAY_MS))[0]).toEqual(['2026-12-06T00:00:00.000Z 4 1 12 2 4', '2026-12-07T00:00:00.000Z 1 0 3 0.5 1']);
    expect((await sums('2026-12-06T00:00:00Z', DAY_MS))[1]).toEqual(['p 3 1 9 1.5 3', 'rest 2 0 6 1 2']);
  });

  it.each(databases.eachSupportedId())('removes a plan whose keys are revoked, and is not held back by keys left on a plan removed before, %p', async databaseId => {
    const { knex, store } = await migratedStore(databases, databaseId);
    const actor = 'user:default/u';
    const t0 = new Date('2026-11-22T10:00:00Z');
    const plans = (...names: string[]) => ({ ...spec, plans: names.map(name => ({ name, requestsPerMinute: 1 })) });
    const write = (at: number, ...names: string[]) =>
      store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: plans(...names), actor, now: new Date(t0.getTime() + at), expect: { exists: true }, audit: () => [] });
    await store.putProduct({ id: 'p', entityRef: 'api:default/p', spec: plans('standard', 'old', 'gold'), actor, now: t0, expect: { exists: false }, audit: () => [] });
    const issue = async (id: string, plan: string, expiresAt?: string) => {
      await store.createKeyRequest({
        id: `r${id}`, productId: 'p', plan, apiRef: 'api:default/p', componentRef: 'component:default/c', justification: 'because',
        status: 'pending', requestedBy: actor, requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 3600_000).toISOString(),
      }, []);
      await store.reviewKeyRequest({ id: `r${id}`, status: 'approved', reviewer: actor, at: t0, key: { ...key(id, t0.toISOString()), plan, ...(expiresAt ? { expiresAt } : {}) } }, []);
    };
    // A key left on "old" after the plan went (as a database from before this rule may hold), and two on "gold".
    await issue('1', 'old');
    await issue('2', 'gold');
    await issue('3', 'gold', new Date(t0.getTime() + 1000).toISOString());
    await knex('gateway_plans').where('id', 'p/old').delete();
    await expect(write(10, 'standard')).rejects.toMatchObject({ name: 'ConflictError', message: expect.stringMatching(/^spec\.plans: the plan "gold" \(2 keys\) is held by keys that work now/) });
    // Other edits go through whatever the key on "old" holds.
    expect((await write(20, 'standard', 'gold', 'silver')).plans.map(p => p.name)).toEqual(['standard', 'gold', 'silver']);
    // Once one key of gold is revoked and the other has expired, gold goes.
    await store.revokeKey({ id: '2', actor, at: new Date(t0.getTime() + 30) }, []);
    expect((await write(2000, 'standard')).plans.map(p => p.name)).toEqual(['standard']);
  });

  // Each database's own statement, and the query builder's (any other database) on the same one.
  const usageWriters = databases.eachSupportedId().flatMap(([id]) => [[id, 'its JSON statement'], [id, 'the query builder']] as const);
  it.each(usageWriters)('stores usage rows as they were recorded: nulls, flags, text, fractions and instants, %p, %s', async (databaseId, path) => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const at = new Date('2026-11-22T10:15:30.123Z');
    const odd = "component:team-ü/it's \\ \"quoted\" 💬";
    const records: UsageRecord[] = [
      { at, keyId: 'k', consumerRef: odd, productId: 'p', model: 'm', upstream: 'a', status: 200, latencyMs: 12.6, promptTokens: 5, completionTokens: 7, estimated: true, cost: 0.000123456789 },
      { at: new Date(at.getTime() + 1), productId: 'p', status: 401, latencyMs: 0.2, promptTokens: 0, completionTokens: 0, estimated: false, cost: 0 },
    ];
    if (path === 'its JSON statement') await store.insertUsage(records);
    else await insertUsageRows(knex, records, 'mysql');
    const rows = await knex('gateway_usage').orderBy('id');
    expect(rows.map(r => ({ ...r, id: undefined, at: new Date(r.at).toISOString(), estimated: Boolean(r.estimated), cost: Number(r.cost) }))).toEqual([
      { id: undefined, at: '2026-11-22T10:15:30.123Z', key_id: 'k', consumer_ref: odd, product_id: 'p', model: 'm', upstream: 'a', status: 200, latency_ms: 13, prompt_tokens: 5, completion_tokens: 7, estimated: true, cost: 0.000123456789 },
      { id: undefined, at: '2026-11-22T10:15:30.124Z', key_id: null, consumer_ref: null, product_id: 'p', model: null, upstream: null, status: 401, latency_ms: 0, prompt_tokens: 0, completion_tokens: 0, estimated: false, cost: 0 },
    ]);
  });

  it.each(databases.eachSupportedId())("figures a model's calls of a window in the database: counts, 5xx and 429 as errors, nearest-rank quantiles, null when none, %p", async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const store = new KnexGatewayStore(knex);
    const at = new Date('2026-12-07T09:00:00Z');
    const call = (model: string, status: number, latencyMs: number, ago = 0): UsageRecord => ({
      at: new Date(at.getTime() - ago), productId: 'p', model, upstream: 'a', status, latencyMs, promptTokens: 1, completionTokens: 1, estimated: false, cost: 0,
    });
    await store.insertUsage([
      // 100 calls to v2 in the window: latencies 1..100 ms; four 503s, one 429, two caller errors and a client that left.
      ...[503, 503, 503, 503, 429, 400, 400, 499, ...Array(92).fill(200)].map((status, i) => call('v2', status, 100 - i)),
      call('v2', 500, 9999, 600_000), // before the window
      call('v1', 500, 9999), // another model
    ], 'b');
    const since = new Date(at.getTime() - 300_000);
    expect(await store.modelFiguresSince({ productId: 'p', model: 'v2', since })).toEqual({ requests: 100, errors: 5, p50Ms: 50, p99Ms: 99 });
    expect(await store.modelFiguresSince({ productId: 'p', model: 'v3', since })).toEqual({ requests: 0, errors: 0, p50Ms: null, p99Ms: null });
    expect(await store.modelFiguresSince({ productId: 'p', model: 'v1', since })).toEqual({ requests: 1, errors: 1, p50Ms: 9999, p99Ms: 9999 });
  });
});
