import { TestDatabases } from '@backstage/backend-test-utils';
import { applyDatabaseMigrations } from './migrations';
import { parseAuditCursor } from '@quarterdeck/plugin-quarterdeck-node';
import { KnexAuditStore } from './AuditStore';

jest.setTimeout(60_000);

describe('KnexAuditStore', () => {
  // PostgreSQL joins when BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING
  // names a server (`npm run test:pg`, CI); no Docker here.
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
    disableDocker: true,
  });

  it.each(databases.eachSupportedId())(
    'settles an entry recorded before its outcome was known, in place, %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      const store = new KnexAuditStore(knex);
      const object = { cluster: 'local', kind: 'Rollout', namespace: 'payments', name: 'payments-api' };
      const pending = await store.record({ ...object, actor: 'user:default/alice', action: 'promote', reason: 'ok', details: { stepBefore: 1, outcome: 'unknown' } });
      const settled = await store.settle(pending.id, { stepBefore: 1, outcome: 'applied' });
      expect(settled).toEqual({ ...pending, details: { stepBefore: 1, outcome: 'applied' } });
      expect(await store.list({ object })).toEqual([settled]);
      expect(await store.settle(String(Number(pending.id) + 1), { outcome: 'applied' })).toBeUndefined();
    },
  );

  it.each(databases.eachSupportedId())(
    'records events and lists them newest first per entity and object, %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      const store = new KnexAuditStore(knex);
      const object = { cluster: 'local', kind: 'Rollout', namespace: 'payments', name: 'payments-api' };

      await store.record({
        ...object,
        actor: 'user:default/alice',
        action: 'promote',
        entityRef: 'component:default/payments-api',
        reason: 'metrics look good',
        details: { stepBefore: 1, stepAfter: 2 },
        createdAt: new Date('2026-11-22T10:00:00Z'),
      });
      await store.record({
        ...object,
        actor: 'user:default/bob',
        action: 'abort',
        entityRef: 'component:default/payments-api',
        createdAt: new Date('2026-11-22T10:05:00Z'),
      });
      await store.record({
        ...object,
        name: 'other',
        actor: 'user:default/carol',
        action: 'pause',
        entityRef: 'component:default/other',
      });

      const forEntity = await store.list({ entityRef: 'component:default/payments-api' });
      expect(forEntity.map(e => e.action)).toEqual(['abort', 'promote']);
      expect(forEntity[1]).toMatchObject({
        actor: 'user:default/alice',
        reason: 'metrics look good',
        details: { stepBefore: 1, stepAfter: 2 },
        createdAt: '2026-11-22T10:00:00.000Z',
      });

      const forObject = await store.list({ object: { ...object, name: 'other' } });
      expect(forObject.map(e => e.actor)).toEqual(['user:default/carol']);

      expect(await store.list({ entityRef: 'component:default/payments-api', limit: 1 }))
        .toHaveLength(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'pages an object\'s trail newest first from a cursor, also through entries of the same instant, %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      const store = new KnexAuditStore(knex);
      const object = { cluster: 'local', kind: 'Rollout', namespace: 'payments', name: 'payments-api' };
      const at = new Date('2026-12-06T17:00:00Z');
      // Seven entries, the middle three at one instant.
      const seconds = [0, 1, 2, 2, 2, 3, 4];
      for (let i = 0; i < 7; i++) {
        await store.record({ ...object, actor: 'user:default/alice', action: 'pause', reason: `#${i}`, createdAt: new Date(at.getTime() + seconds[i] * 1000) });
      }
      const seen: string[] = [];
      let before: string | undefined;
      do {
        const page = await store.page({ object, limit: 2, before: before === undefined ? undefined : parseAuditCursor(before) });
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map(e => e.reason!));
        before = page.next;
      } while (before);
      expect(seen).toEqual(['#6', '#5', '#4', '#3', '#2', '#1', '#0']);
      expect(parseAuditCursor('12-x')).toBeUndefined();
    },
  );
});
