import { TestDatabases } from '@backstage/backend-test-utils';
import { applyDatabaseMigrations } from './migrations';
import { RolloutNoticeStore } from './RolloutNoticeStore';

jest.setTimeout(60_000);

describe('RolloutNoticeStore', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });
  const payments = { cluster: 'local', uid: 'u-1', namespace: 'payments', name: 'payments-api' };

  async function store(databaseId: Parameters<typeof databases.init>[0]) {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    return new RolloutNoticeStore(knex);
  }

  it.each(databases.eachSupportedId())('tells each state of a Rollout once, %p', async databaseId => {
    const notices = await store(databaseId);
    expect(await notices.claim(payments, 'awaiting-promotion:abc:1:CanaryPauseStep')).toBe('first');
    expect(await notices.claim(payments, 'awaiting-promotion:abc:1:CanaryPauseStep')).toBe('unchanged');
    expect(await notices.claim(payments, 'completed:abc')).toBe('changed');
    // One created again under the same name is another Rollout, whose row the old one's forget leaves alone.
    expect(await notices.claim({ ...payments, uid: 'u-2' }, 'completed:abc')).toBe('first');
    await notices.forget(payments);
    expect(await notices.claim({ ...payments, uid: 'u-2' }, 'completed:abc')).toBe('unchanged');
    expect(await notices.claim(payments, 'completed:abc')).toBe('first');
  });

  it.each(databases.eachSupportedId())('lets exactly one of several replicas tell of a state, %p', async databaseId => {
    const notices = await store(databaseId);
    const first = await Promise.all([1, 2, 3].map(() => notices.claim(payments, 'awaiting-promotion:abc:1:CanaryPauseStep')));
    expect(first.sort()).toEqual(['first', 'unchanged', 'unchanged']);
    const next = await Promise.all([1, 2, 3].map(() => notices.claim(payments, 'completed:abc')));
    expect(next.sort()).toEqual(['changed', 'unchanged', 'unchanged']);
  });
});
