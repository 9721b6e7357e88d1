import { TestDatabases } from '@backstage/backend-test-utils';
import { applyDatabaseMigrations } from './migrations';

jest.setTimeout(60_000);

describe('gateway migrations', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
    disableDocker: true,
  });

  it.each(databases.eachSupportedId())(
    'apply on an empty database, are idempotent and roll back, %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      // A restart runs them again: nothing to do, nothing broken.
      await applyDatabaseMigrations({ getClient: async () => knex });
      expect(await knex.schema.hasTable('audit_events')).toBe(true);
      expect(await knex.schema.hasColumn('audit_events', 'entity_ref')).toBe(true);
      for (const table of ['gateway_products', 'gateway_plans', 'gateway_key_requests', 'gateway_keys', 'gateway_usage', 'gateway_usage_batches']) {
        expect(await knex.schema.hasTable(table)).toBe(true);
      }

      await knex.migrate.rollback(
        { directory: require('node:path').resolve(__dirname, '../../migrations') },
        true,
      );
      expect(await knex.schema.hasTable('audit_events')).toBe(false);
      expect(await knex.schema.hasTable('gateway_keys')).toBe(false);
    },
  );

  it.each(databases.eachSupportedId())(
    'keeps the newest of duplicate pending key requests and then allows one pending per component and product, %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const directory = require('node:path').resolve(__dirname, '../../migrations');
      // The schema as it was before the one-pending rule, with two pending requests from a double click.
      for (let i = 0; i < 3; i++) await knex.migrate.up({ directory });
      const at = new Date('2026-12-01T10:00:00Z');
      await knex('gateway_products').insert({ id: 'p', entity_ref: 'api:default/p', kind: 'openai', spec: '{}', created_at: at, updated_at: at, updated_by: 'user:default/u' });
      const request = (id: string, requestedAt: Date, componentRef = 'component:default/c') => ({
        id, product_id: 'p', plan_id: 'p/standard', api_ref: 'api:default/p', component_ref: componentRef, justification: 'j',
        status: 'pending', requested_by: 'user:default/u', requested_at: requestedAt, expires_at: new Date(at.getTime() + 86_400_000),
      });
      await knex('gateway_key_requests').insert([
        request('older', at),
        request('newer', new Date(at.getTime() + 1000)),
        request('other', at, 'component:default/d'),
      ]);

      await applyDatabaseMigrations({ getClient: async () => knex });
      const statuses = Object.fromEntries((await knex('gateway_key_requests').select('id', 'status')).map(r => [r.id, r.status]));
      expect(statuses).toEqual({ older: 'expired', newer: 'pending', other: 'pending' });
      // Matched by message: better-sqlite3's errors may come from another test file's realm (not instanceof Error here).
      await expect(knex('gateway_key_requests').insert(request('third', at))).rejects.toMatchObject({ message: expect.stringMatching(/unique/i) });
      // Decided requests do not count.
      await knex('gateway_key_requests').where('id', 'newer').update({ status: 'denied' });
      await knex('gateway_key_requests').insert(request('third', at));
    },
  );

  it.each(databases.eachSupportedId())(
    "fills each key's spend by day from this month's calls, %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      const directory = require('node:path').resolve(__dirname, '../../migrations');
      // The schema as it was before the spend by day, with calls of this month and of the month before.
      const [, pending] = await knex.migrate.list({ directory });
      const before = (pending as Array<{ file: string }>).map(m => m.file).filter(f => f < '20261207040000_key_spend_daily.js');
      for (let i = 0; i < before.length; i++) await knex.migrate.up({ directory });
      const now = new Date();
      const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
      const call = (at: Date, keyId: string | null, tokens: number) => ({
        at, key_id: keyId, consumer_ref: 'component:default/c', product_id: 'p', model: 'm', upstream: 'a', status: 200, latency_ms: 1,
        prompt_tokens: tokens, completion_tokens: 0, estimated: false, cost: tokens / 4,
      });
      await knex('gateway_usage').insert([
        call(new Date(monthStart.getTime() - 1000), '1', 1000),
        call(monthStart, '1', 10),
        call(now, '1', 5),
        call(now, '2', 7),
        call(now, null, 3),
      ]);

      await applyDatabaseMigrations({ getClient: async () => knex });
      const rows = await knex('gateway_key_spend_daily').select('key_id').sum({ tokens: 'tokens' }).sum({ cost: 'cost' }).groupBy('key_id').orderBy('key_id');
      expect((rows as Array<{ key_id: string; tokens: string | number; cost: string | number }>).map(r => [r.key_id, Number(r.tokens), Number(r.cost)])).toEqual([['1', 15, 3.75], ['2', 7, 1.75]]);
    },
  );

  it('skips migrations when the operator turned them off', async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({
      getClient: async () => knex,
      migrations: { skip: true },
    });
    expect(await knex.schema.hasTable('audit_events')).toBe(false);
  });

  it.each(databases.eachSupportedId())(
    'fills the daily rollup from the hourly one kept so far, a UTC day per row and series, %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const fs = require('node:fs') as typeof import('node:fs');
      const directory = require('node:path').resolve(__dirname, '../../migrations');
      // Every migration before the daily rollup's.
      const before = fs.readdirSync(directory).filter(f => f.endsWith('.js') && f < '20261207000000').length;
      for (let i = 0; i < before; i++) await knex.migrate.up({ directory });
      expect(await knex.schema.hasTable('gateway_usage_daily')).toBe(false);
      const hour = (iso: string, consumer: string, requests: number) => ({
        hour: new Date(iso), product_id: 'p', consumer_ref: consumer, model: 'm', upstream: 'u@v1', requests, errors: 1, prompt_tokens: 10 * requests, completion_tokens: 0, cost: 0.5, le_50: requests,
      });
      await knex('gateway_usage_hourly').insert([
        hour('2026-11-20T00:00:00Z', 'component:default/a', 2),
        hour('2026-11-20T23:00:00Z', 'component:default/a', 3),
        hour('2026-11-20T23:00:00Z', 'component:default/b', 1),
        hour('2026-11-23T05:00:00Z', 'component:default/a', 7),
      ]);

      await applyDatabaseMigrations({ getClient: async () => knex });
      const daily = await knex('gateway_usage_daily').orderBy(['day', 'consumer_ref']);
      expect(daily.map(d => [new Date(d.day).toISOString(), d.consumer_ref, ...[d.requests, d.errors, d.prompt_tokens, d.cost, d.le_50, d.le_inf].map(Number)])).toEqual([
        ['2026-11-20T00:00:00.000Z', 'component:default/a', 5, 2, 50, 1, 5, 0],
        ['2026-11-20T00:00:00.000Z', 'component:default/b', 1, 1, 10, 0.5, 1, 0],
        ['2026-11-23T00:00:00.000Z', 'component:default/a', 7, 1, 70, 0.5, 7, 0],
      ]);
    },
  );
});
