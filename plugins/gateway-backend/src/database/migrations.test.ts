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
      for (const table of ['gateway_products', 'gateway_plans', 'gateway_key_requests', 'gateway_keys', 'gateway_usage']) {
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

  it('skips migrations when the operator turned them off', async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({
      getClient: async () => knex,
      migrations: { skip: true },
    });
    expect(await knex.schema.hasTable('audit_events')).toBe(false);
  });
});
