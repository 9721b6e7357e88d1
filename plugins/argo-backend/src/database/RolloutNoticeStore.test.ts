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

  it.each(databases.eachSupportedId())('forgets the Rollouts a full list no longer finds, but not one told of after the list began, %p', async databaseId => {
    const notices = await store(databaseId);
    const t0 = new Date('2026-12-06T10:00:00Z');
    const at = (s: number) => new Date(t0.getTime() + s * 1000);
    await notices.claim(payments, 'completed:abc', at(0));
    await notices.claim({ ...payments, uid: 'gone-1', name: 'old' }, 'completed:def', at(0));
    await notices.claim({ ...payments, uid: 'gone-2', name: 'older' }, 'aborted:x', at(0));
    await notices.claim({ ...payments, cluster: 'other', uid: 'gone-3' }, 'completed:abc', at(0));
    // Created after the list began, told by another replica: not in the list, but not gone.
    await notices.claim({ ...payments, uid: 'new-1', name: 'new' }, 'awaiting-promotion:n:1:CanaryPauseStep', at(120));
    expect(await notices.forgetAbsent('local', ['u-1'], at(60))).toBe(2);
    // What stayed answers "unchanged"; what went is "first" again.
    expect(await notices.claim(payments, 'completed:abc')).toBe('unchanged');
    expect(await notices.claim({ ...payments, uid: 'new-1', name: 'new' }, 'awaiting-promotion:n:1:CanaryPauseStep')).toBe('unchanged');
    expect(await notices.claim({ ...payments, cluster: 'other', uid: 'gone-3' }, 'completed:abc')).toBe('unchanged');
    expect(await notices.claim({ ...payments, uid: 'gone-1', name: 'old' }, 'completed:def')).toBe('first');
  });

  it.each(databases.eachSupportedId())('lets exactly one of several replicas tell of a state, %p', async databaseId => {
    const notices = await store(databaseId);
    const first = await Promise.all([1, 2, 3].map(() => notices.claim(payments, 'awaiting-promotion:abc:1:CanaryPauseStep')));
    expect(first.sort()).toEqual(['first', 'unchanged', 'unchanged']);
    const next = await Promise.all([1, 2, 3].map(() => notices.claim(payments, 'completed:abc')));
    expect(next.sort()).toEqual(['changed', 'unchanged', 'unchanged']);
  });
});
