import { TestDatabases } from '@backstage/backend-test-utils';
import type { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import type { StoredKey } from '../database/GatewayStore';
import { migratedStore, minimalSpec as spec } from '../__testUtils__/store';
import { warnOfExpiringKeys } from './notifications';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

describe('warnOfExpiringKeys', () => {
  it.each(databases.eachSupportedId())("tells a component's owners once of each key that expires soon, and of no other, %p", async databaseId => {
    const { store } = await migratedStore(databases, databaseId);
    const t0 = new Date('2026-12-01T10:00:00Z');
    const day = (n: number) => new Date(t0.getTime() + n * 86_400_000);
    await store.putProduct({ id: 'llm-chat', entityRef: 'api:default/llm-chat', spec, actor: 'user:default/u', now: t0, expect: { exists: false }, audit: () => [] });
    const issue = async (n: number, expiresAt?: Date) => {
      await store.createKeyRequest({
        id: `r${n}`, productId: 'llm-chat', plan: 'standard', apiRef: 'api:default/llm-chat', componentRef: `component:default/c${n}`, justification: 'because',
        status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: day(1).toISOString(),
      }, []);
      const key: StoredKey = {
        id: `k${n}`, publicId: `pub${String(n).padStart(9, '0')}`, secretHash: 'ab'.repeat(32), componentRef: `component:default/c${n}`, productId: 'llm-chat',
        plan: 'standard', status: 'active', createdAt: t0.toISOString(), createdBy: 'user:default/u', updatedAt: t0.toISOString(),
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
      };
      await store.reviewKeyRequest({ id: `r${n}`, status: 'approved', reviewer: 'user:default/a', at: t0, key }, []);
      return key;
    };
    await issue(1, day(5)); // expires within the week: told
    await issue(2, day(30)); // far off
    await issue(3); // never expires
    const rotated = await issue(4, day(3)); // rotated: its successor, same expiry, is the one told of
    await store.rotateKey({ previous: rotated, next: { ...rotated, id: 'k4b', publicId: 'pub00000004b' }, graceUntil: day(1), at: t0 }, []);
    await issue(5, day(2)); // revoked
    await store.revokeKey({ id: 'k5', actor: 'user:default/u', at: t0 }, []);
    await issue(6, t0); // already expired

    const sent: NotificationSendOptions[] = [];
    const sweep = async (at: Date) => sent.push(...(await warnOfExpiringKeys(store, at, 7 * 86_400_000)));
    const changes = async () => (await store.keysChangedSince(t0.toISOString())).map(k => `${k.id}@${k.updatedAt}`).sort();
    const changesBefore = await changes();
    await sweep(t0);
    expect(sent.map(n => n.recipients)).toEqual(expect.arrayContaining([
      { type: 'entity', entityRef: 'component:default/c1' },
      { type: 'entity', entityRef: 'component:default/c4' },
    ]));
    expect(sent).toHaveLength(2);
    expect(sent.find(n => (n.recipients as { entityRef: string }).entityRef === 'component:default/c1')?.payload).toMatchObject({
      title: "c1's key for llm-chat expires on 2026-12-06",
      description: 'qdk_pub000000001_… stops working at 2026-12-06 10:00 UTC. A rotation keeps its expiry: to go on calling llm-chat, ask for access again on the Gateway tab.',
      link: '/catalog/default/component/c1/gateway',
      severity: 'high',
    });
    // Once: the next sweeps, by this replica or another at once, tell no one again.
    await Promise.all([sweep(day(1)), sweep(day(1))]);
    expect(sent).toHaveLength(2);
    // Telling changes nothing the data plane holds.
    expect(await changes()).toEqual(changesBefore);
    // The far one is told of when its week comes.
    await sweep(day(24));
    expect(sent.slice(2).map(n => n.recipients)).toEqual([{ type: 'entity', entityRef: 'component:default/c2' }]);
  });
});
