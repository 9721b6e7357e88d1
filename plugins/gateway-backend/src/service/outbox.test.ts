import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import type { EventParams } from '@backstage/plugin-events-node';
import type { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import type { StoredKey } from '../database/GatewayStore';
import { GatewayOutboxStore, insertOutboxMessages, type OutboxMessage } from '../database/OutboxStore';
import { migratedStore, minimalSpec as spec } from '../__testUtils__/store';
import { OutboxDelivery, retryDelayMs } from './outbox';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

const t0 = new Date('2026-12-01T10:00:00Z');
const event = (type: string, n = 0): OutboxMessage => ({ kind: 'event', topic: 'quarterdeck.gateway', payload: { type, n } });
const notification = (title: string): OutboxMessage => ({
  kind: 'notification',
  notification: { recipients: { type: 'entity', entityRef: 'component:default/c' }, payload: { title } },
});

/** Where a deliverer sends, recording what arrived; `failing` sends throw until it is emptied. */
function targets() {
  const published: EventParams[] = [];
  const sent: NotificationSendOptions[] = [];
  const failing = { events: 0, notifications: 0 };
  return {
    published,
    sent,
    failing,
    events: {
      publish: async (e: EventParams) => {
        if (failing.events > 0) {
          failing.events -= 1;
          throw new Error('the events backend is down');
        }
        published.push(e);
      },
      subscribe: async () => {},
    },
    notifications: {
      send: async (n: NotificationSendOptions) => {
        if (failing.notifications > 0) {
          failing.notifications -= 1;
          throw new Error('the notifications backend is down');
        }
        sent.push(n);
      },
    },
  };
}

async function setUp(databaseId: Parameters<typeof migratedStore>[1]) {
  const { knex, store } = await migratedStore(databases, databaseId);
  const to = targets();
  let now = t0;
  const clock = { set: (at: Date) => void (now = at) };
  const logger = mockServices.logger.mock();
  const deliverer = () => new OutboxDelivery(new GatewayOutboxStore(knex), to, logger, () => now);
  const waiting = async () => Number((await knex('gateway_outbox').count({ n: '*' }).first())?.n);
  return { knex, store, to, clock, logger, deliverer, waiting };
}

describe('the gateway outbox', () => {
  it.each(databases.eachSupportedId())('tells what a change queued even when the process died after its commit, and nothing of a change that did not commit, %p', async databaseId => {
    const { store, to, clock, deliverer, waiting } = await setUp(databaseId);
    await store.putProduct({ id: 'llm-chat', entityRef: 'api:default/llm-chat', spec, actor: 'user:default/u', now: t0, expect: { exists: false }, audit: () => [] });
    const request = {
      id: 'r1', productId: 'llm-chat', plan: 'standard', apiRef: 'api:default/llm-chat', componentRef: 'component:default/c', justification: 'because',
      status: 'pending' as const, requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 86_400_000).toISOString(),
    };
    await store.createKeyRequest(request, [], [event('key.requested'), notification('c asks for access')]);
    // A second pending request for the same component and product is refused: its messages go with it.
    await expect(store.createKeyRequest({ ...request, id: 'r2' }, [], [event('key.requested', 2)])).rejects.toThrow(/already has a pending request/);
    const key: StoredKey = {
      id: 'k1', publicId: 'pub000000001', secretHash: 'ab'.repeat(32), componentRef: 'component:default/c', productId: 'llm-chat',
      plan: 'standard', status: 'active', createdAt: t0.toISOString(), createdBy: 'user:default/u', updatedAt: t0.toISOString(),
    };
    expect(await store.reviewKeyRequest({ id: 'r1', status: 'approved', reviewer: 'user:default/a', at: t0, key }, [], [event('key.approved')])).toBe(true);
    // Decided already: nothing changed, nothing to tell.
    expect(await store.reviewKeyRequest({ id: 'r1', status: 'denied', reviewer: 'user:default/a', at: t0 }, [], [event('key.denied')])).toBe(false);
    expect(await store.revokeKey({ id: 'k1', actor: 'user:default/a', at: t0 }, [], [event('key.revoked')])).toBe(true);
    expect(await store.revokeKey({ id: 'k1', actor: 'user:default/a', at: t0 }, [], [event('key.revoked', 2)])).toBe(false);
    // The process that made these changes died before telling anyone: they wait in the database.
    expect(await waiting()).toBe(4);

    // The next one to look (another replica, or this one restarted) tells them, in order, once.
    clock.set(new Date());
    await deliverer().flush();
    expect(to.published.map(e => (e.eventPayload as { type: string }).type)).toEqual(['key.requested', 'key.approved', 'key.revoked']);
    expect(to.sent.map(n => n.payload.title)).toEqual(['c asks for access']);
    expect(await waiting()).toBe(0);
    await deliverer().flush();
    expect(to.published).toHaveLength(3);
  });

  it.each(databases.eachSupportedId())('tries a failed send again later, and gives up after the last attempt, saying so, %p', async databaseId => {
    const { knex, to, clock, logger, deliverer, waiting } = await setUp(databaseId);
    await insertOutboxMessages(knex, [event('key.revoked'), notification('c asks for access')], t0);
    to.failing.events = 1;
    const one = deliverer();
    await one.flush();
    // The notification behind the failed event still went.
    expect(to.published).toEqual([]);
    expect(to.sent).toHaveLength(1);
    expect(await waiting()).toBe(1);
    // Not before its retry is due.
    clock.set(new Date(t0.getTime() + retryDelayMs(1) - 1));
    await one.flush();
    expect(to.published).toEqual([]);
    clock.set(new Date(t0.getTime() + retryDelayMs(1)));
    await one.flush();
    expect(to.published).toHaveLength(1);
    expect(await waiting()).toBe(0);

    // One that never goes: retried with growing delays, then dropped and logged, the message's content left out.
    await insertOutboxMessages(knex, [event('key.rotated')], t0);
    const firstTry = await knex('gateway_outbox').first('id');
    to.failing.events = 1_000;
    let tries = 0;
    for (let when = t0; tries < 20 && (await waiting()) > 0; tries++) {
      clock.set(when);
      await one.flush();
      const row = await knex('gateway_outbox').first('next_attempt_at');
      if (row) when = new Date(row.next_attempt_at);
    }
    expect(tries).toBe(10);
    expect(retryDelayMs(9)).toBe(3_600_000);
    expect(to.published).toHaveLength(1);
    const lines = [...logger.warn.mock.calls, ...logger.error.mock.calls].map(call => String(call[0]));
    expect(lines.filter(line => line.startsWith('Could not send the event key.rotated'))).toHaveLength(9);
    expect(lines.filter(line => line.startsWith('Gave up on the event key.rotated') && line.includes(firstTry.id))).toHaveLength(1);
  });

  it.each(databases.eachSupportedId())('gives up at once on a notification the notifications backend refuses for good (none installed), %p', async databaseId => {
    const { knex, to, logger, deliverer, waiting } = await setUp(databaseId);
    await insertOutboxMessages(knex, [notification('c asks for access'), event('key.requested')], t0);
    const refusing = { ...to, notifications: { send: async () => { throw new Error('Failed to send notifications: Error: Request failed with status 404'); } } };
    await new OutboxDelivery(new GatewayOutboxStore(knex), refusing, logger, () => t0).flush();
    expect(to.published).toHaveLength(1);
    expect(await waiting()).toBe(0);
    expect(logger.error.mock.calls.map(call => String(call[0]))).toEqual([expect.stringMatching(/^Gave up on the notification "c asks for access" \(.*\) after 1 attempt: .*status 404$/)]);
    // A failure that may pass (the notifications backend restarting) is tried again.
    await insertOutboxMessages(knex, [notification('c asks again')], t0);
    to.failing.notifications = 1;
    await deliverer().flush();
    expect(await waiting()).toBe(1);
  });

  it.each(databases.eachSupportedId())('gives a send that hangs 10 s (here 50 ms) and goes on with the messages behind it, %p', async databaseId => {
    const { knex, to, logger, waiting } = await setUp(databaseId);
    await insertOutboxMessages(knex, [event('key.revoked'), notification('c asks for access')], t0);
    const hanging = { ...to, events: { ...to.events, publish: () => new Promise<void>(() => {}) } };
    await new OutboxDelivery(new GatewayOutboxStore(knex), hanging, logger, () => t0, 50).flush();
    expect(to.sent.map(n => n.payload.title)).toEqual(['c asks for access']);
    expect(await waiting()).toBe(1);
    expect(logger.warn.mock.calls.map(call => String(call[0]))).toEqual([expect.stringMatching(/^Could not send the event key\.revoked .* \(attempt 1\); trying again at .*: Error: no answer within 0\.05 s$/)]);
  });

  it.each(databases.eachSupportedId())('takes over a message whose deliverer died while sending it, once its lease is over, %p', async databaseId => {
    const { knex, to, clock, deliverer, waiting } = await setUp(databaseId);
    await insertOutboxMessages(knex, [event('key.approved')], t0);
    // A deliverer took it and died before it was sent.
    const { messages } = await new GatewayOutboxStore(knex).claimDue(t0, new Date(t0.getTime() + 60_000), 50);
    expect(messages).toHaveLength(1);
    await deliverer().flush();
    expect(to.published).toEqual([]);
    clock.set(new Date(t0.getTime() + 60_000));
    await deliverer().flush();
    expect(to.published.map(e => e.eventPayload)).toEqual([{ type: 'key.approved', n: 0, eventId: messages[0].id }]);
    expect(await waiting()).toBe(0);
  });

  it.each(databases.eachSupportedId())('delivers each message once when replicas look at the same time, %p', async databaseId => {
    const { knex, to, deliverer, waiting } = await setUp(databaseId);
    await insertOutboxMessages(knex, Array.from({ length: 120 }, (_, n) => event('key.requested', n)), t0);
    const slow = { ...to.events, publish: async (e: EventParams) => { await new Promise(resolve => setTimeout(resolve, 1)); await to.events.publish(e); } };
    const replicas = [1, 2, 3].map(() => new OutboxDelivery(new GatewayOutboxStore(knex), { events: slow }, mockServices.logger.mock(), () => t0));
    await Promise.all([...replicas.map(r => r.flush()), deliverer().flush()]);
    const told = to.published.map(e => (e.eventPayload as { n: number }).n);
    expect(told.sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, n) => n));
    expect(await waiting()).toBe(0);
  });

  it.each(databases.eachSupportedId())('queues expiry news with the expiry itself, %p', async databaseId => {
    const { store, to, clock, deliverer, waiting } = await setUp(databaseId);
    await store.putProduct({ id: 'llm-chat', entityRef: 'api:default/llm-chat', spec, actor: 'user:default/u', now: t0, expect: { exists: false }, audit: () => [] });
    await store.createKeyRequest({
      id: 'r1', productId: 'llm-chat', plan: 'standard', apiRef: 'api:default/llm-chat', componentRef: 'component:default/c', justification: 'because',
      status: 'pending', requestedBy: 'user:default/u', requestedAt: t0.toISOString(), expiresAt: new Date(t0.getTime() + 1000).toISOString(),
    }, []);
    const later = new Date(t0.getTime() + 2000);
    const expired = await store.expireKeyRequests(later, requests => requests.map(r => notification(`${r.id} expired`)));
    expect(expired.map(r => r.id)).toEqual(['r1']);
    // Expired once: a second sweep queues nothing.
    expect(await store.expireKeyRequests(later, requests => requests.map(r => notification(`${r.id} expired again`)))).toEqual([]);
    expect(await waiting()).toBe(1);
    clock.set(new Date());
    await deliverer().flush();
    expect(to.sent.map(n => n.payload.title)).toEqual(['r1 expired']);
  });
});
