import { TestDatabases } from '@backstage/backend-test-utils';
import { DatabaseLease, LeaderElection } from './Lease';
import { applyDatabaseMigrations } from './migrations';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

describe('reconciler leases', () => {
  it.each(databases.eachSupportedId())('let one holder at a time do the work, and pass it on when it expires or is released, %p', async databaseId => {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const t0 = new Date('2026-11-22T10:00:00Z');
    const a = new DatabaseLease(knex, 'rollouts/local', 'replica-a', 15_000);
    const b = new DatabaseLease(knex, 'rollouts/local', 'replica-b', 15_000);
    const first = await Promise.all([a.tryAcquire(t0), b.tryAcquire(t0)]);
    expect(first.filter(Boolean)).toHaveLength(1);
    const [holder, other] = first[0] ? [a, b] : [b, a];
    expect(await holder.tryAcquire(new Date(t0.getTime() + 5_000))).toBe(true); // renewed
    expect(await other.tryAcquire(new Date(t0.getTime() + 10_000))).toBe(false);
    // The holder stops renewing: after the lease time the other takes over.
    expect(await other.tryAcquire(new Date(t0.getTime() + 21_000))).toBe(true);
    expect(await holder.tryAcquire(new Date(t0.getTime() + 22_000))).toBe(false);
    await other.release();
    expect(await holder.tryAcquire(new Date(t0.getTime() + 23_000))).toBe(true);
  });

  it('starts the work on the replica that leads, stops it when it stops, and the other takes over', async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    const running: string[] = [];
    const elect = (holder: string) => new LeaderElection(new DatabaseLease(knex, 'rollouts/local', holder, 300), async () => {
      running.push(holder);
      return { stop: async () => { running.splice(running.indexOf(holder), 1); } };
    }, { renewMs: 100 });
    const a = elect('a');
    const b = elect('b');
    await a.start();
    await b.start();
    expect(running).toEqual(['a']);
    await a.stop();
    expect(running).toEqual([]);
    for (let i = 0; i < 40 && running.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50));
    expect(running).toEqual(['b']);
    await b.stop();
  });
});
