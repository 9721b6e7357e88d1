import type { TestDatabaseId, TestDatabases } from '@backstage/backend-test-utils';
import type { GatewayProductSpec } from '@quarterdeck/plugin-gateway-common';
import { KnexGatewayStore } from '../database/GatewayStore';
import { applyDatabaseMigrations } from '../database/migrations';

/* The store as its tests use it: migrated on each database, with the smallest product. */

export const minimalSpec: GatewayProductSpec = {
  kind: 'openai',
  upstreams: [{ name: 'a', url: 'http://127.0.0.1:1' }],
  models: [{ name: 'm', upstream: 'a', contextWindow: 10, inputPricePerMillion: 1, outputPricePerMillion: 1 }],
  plans: [{ name: 'standard', requestsPerMinute: 5 }],
};

/** A fresh database of `databaseId`, migrated, and the store on it. */
export async function migratedStore(databases: TestDatabases, databaseId: TestDatabaseId) {
  const knex = await databases.init(databaseId);
  await applyDatabaseMigrations({ getClient: async () => knex });
  return { knex, store: new KnexGatewayStore(knex) };
}
