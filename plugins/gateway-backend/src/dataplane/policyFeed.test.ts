import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import type { StoredKey } from '../database/GatewayStore';
import { mockServices } from '@backstage/backend-test-utils';
import { KEY_POLL_OVERLAP_MS, PolicyFeed } from './policyFeed';

const DAY = 86_400_000;

const key = (id: string, extra: Partial<StoredKey> = {}): StoredKey => ({
  id, publicId: `pub${id}`, secretHash: 'ab'.repeat(32), componentRef: 'component:default/app', productId: 'llm', plan: 'p',
  status: 'active', createdAt: '2026-11-01T00:00:00.000Z', createdBy: 'user:default/u', updatedAt: '2026-11-01T00:00:00.000Z', ...extra,
});

describe('PolicyFeed', () => {
  it('hands a (re)starting data plane the live keys and the recently dead, never those dead past the retention', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    const iso = (t: number) => new Date(t).toISOString();
    const asked: Array<Date | undefined> = [];
    const rows = [
      key('live'),
      key('revoked-long-ago', { status: 'revoked', revokedAt: iso(now - 10 * DAY), updatedAt: iso(now - 10 * DAY) }),
      key('expired-yesterday', { expiresAt: iso(now - DAY) }),
    ];
    const store = {
      keysChangedSince: async (_since: string | undefined, options?: { deadBefore?: Date }) => {
        asked.push(options?.deadBefore);
        return rows;
      },
      listProducts: async () => [],
      getKeys: async () => [],
    };
    const feed = new PolicyFeed(store, { deadKeyRetentionMs: 7 * DAY, now: () => now });
    await feed.load();
    // The database is asked to leave them out, and the feed drops any it returns anyway.
    expect(asked).toEqual([new Date(now - 7 * DAY)]);
    expect(feed.snapshot().keys.map(k => k.id).sort()).toEqual(['expired-yesterday', 'live']);

    const applied: string[][] = [];
    feed.connect({ keys: async keys => void applied.push(keys.map(k => k.id)), products: async () => undefined });
    await feed.applyKeys([key('live', { status: 'revoked', revokedAt: iso(now), updatedAt: iso(now) })]);
    // The data plane hears of the revocation at once, and a restart still knows the key was revoked.
    expect(applied).toEqual([['live']]);
    expect(feed.snapshot().keys.find(k => k.id === 'live')?.status).toBe('revoked');

    now += 6 * DAY + 1;
    feed.forgetDead();
    expect(feed.snapshot().keys.map(k => k.id)).toEqual(['live']);
    now += DAY;
    feed.forgetDead();
    expect(feed.snapshot().keys).toEqual([]);
  });

  it('reads again a while before the newest change it has seen, and sends on only what it did not hold', async () => {
    const newest = key('newest', { updatedAt: '2026-12-01T00:00:10.000Z' });
    const late = key('late', { status: 'revoked', revokedAt: '2026-12-01T00:00:07.000Z', updatedAt: '2026-12-01T00:00:07.000Z' });
    let rows = [key('late', { updatedAt: '2026-12-01T00:00:05.000Z' }), newest];
    const asked: Array<string | undefined> = [];
    const feed = new PolicyFeed({
      keysChangedSince: async (since: string | undefined) => {
        asked.push(since);
        return rows.filter(k => !since || k.updatedAt >= since);
      },
      listProducts: async () => [],
      getKeys: async () => [],
    });
    await feed.load();
    const sent: string[][] = [];
    feed.connect({ keys: async keys => void sent.push(keys.map(k => `${k.id} ${k.status}`)), products: async () => undefined });
    await feed.refreshKeys();
    expect(asked.at(-1)).toBe(new Date(Date.parse(newest.updatedAt) - KEY_POLL_OVERLAP_MS).toISOString());
    expect(sent).toEqual([]);
    // Another replica's revocation, stamped before the newest change seen here, arrives all the same, once.
    rows = [late, newest];
    await feed.refreshKeys();
    await feed.refreshKeys();
    expect(sent).toEqual([['late revoked']]);
  });

  it('never sends a key back to an earlier state: a rotation heard after the revocation that followed it is left out', async () => {
    const feed = new PolicyFeed({ keysChangedSince: async () => [key('k')], listProducts: async () => [], getKeys: async () => [] });
    await feed.load();
    const sent: string[] = [];
    feed.connect({ keys: async keys => void sent.push(...keys.map(k => `${k.id} ${k.status}${k.replacedBy ? ` replaced by ${k.replacedBy}` : ''}`)), products: async () => undefined });
    const rotated = key('k', { replacedBy: 'k2', updatedAt: '2026-12-01T00:00:01.000Z' });
    const revoked = key('k', { replacedBy: 'k2', status: 'revoked', revokedAt: '2026-12-01T00:00:02.000Z', updatedAt: '2026-12-01T00:00:02.000Z' });
    await feed.applyKeys([revoked]);
    await feed.applyKeys([rotated, key('k2')]);
    // A revocation stamped by a replica whose clock is behind still wins: the order is the key's, not the clocks'.
    await feed.applyKeys([key('k', { updatedAt: '2026-12-01T00:00:03.000Z' })]);
    expect(sent).toEqual(['k revoked replaced by k2', 'k2 active']);
    expect(feed.snapshot().keys.find(k => k.id === 'k')?.status).toBe('revoked');
  });

  it('keeps the rule when a revoked key is dropped as it arrives (a retention of 0 days)', async () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const feed = new PolicyFeed({ keysChangedSince: async () => [key('k')], listProducts: async () => [], getKeys: async () => [] }, { deadKeyRetentionMs: 0, now: () => now });
    await feed.load();
    const sent: string[] = [];
    feed.connect({ keys: async keys => void sent.push(...keys.map(k => `${k.id} ${k.status}${k.replacedBy ? ' rotated' : ''}`)), products: async () => undefined });
    const at = new Date(now).toISOString();
    await feed.applyKeys([key('k', { replacedBy: 'k2', status: 'revoked', revokedAt: at, updatedAt: at })]);
    expect(feed.snapshot().keys).toEqual([]);
    await feed.applyKeys([key('k', { replacedBy: 'k2', updatedAt: at })]);
    expect(sent).toEqual(['k revoked rotated']);
  });

  it("keeps a product this replica wrote while a refresh was reading: the read's older weights never come back", async () => {
    const product = (weight: number) => ({ id: 'llm', routes: [{ name: 'chat', targets: [{ model: 'v1', weight: 100 - weight }, { model: 'v2', weight }] }] }) as unknown as GatewayProduct;
    let stored = [product(30), { ...product(0), id: 'other' }];
    let release!: () => void;
    const reading = new Promise<void>(resolve => { release = resolve; });
    const feed = new PolicyFeed({
      keysChangedSince: async () => [],
      getKeys: async () => [],
      // The poll's read began before the rollout's write committed: it answers the weights before it.
      listProducts: async () => {
        const read = stored;
        await reading;
        return read;
      },
    });
    const heard: number[] = [];
    feed.connect({ keys: async () => undefined, products: async products => void heard.push(products.find(p => p.id === 'llm')!.routes![0].targets[1].weight) });
    const refresh = feed.refreshProducts();
    stored = [product(0), stored[1]];
    await feed.applyProduct(product(0));
    release();
    await refresh;
    // The write, then the refresh with the other product: never the 30 the read began with.
    expect(heard).toEqual([0, 0]);
    expect(feed.snapshot().products.map(p => [p.id, p.routes![0].targets[1].weight])).toEqual([['llm', 0], ['other', 0]]);
    // The next read sees the write, and anything else as it is.
    await feed.refreshProducts();
    expect(heard).toEqual([0, 0]);
  });
  /** A gateway_keys table in memory, read as GatewayStore reads it (stamps compared as instants, >=). */
  function table(rows: StoredKey[]) {
    const asked: Array<string | undefined> = [];
    return {
      rows,
      asked,
      keysChangedSince: async (since: string | undefined, options?: { deadBefore?: Date }) => {
        asked.push(since);
        const dead = options?.deadBefore?.toISOString();
        return rows
          .filter(k => !since || k.updatedAt >= since)
          .filter(k => !dead || ((k.status !== 'revoked' || k.revokedAt! > dead) && (!k.expiresAt || k.expiresAt > dead)));
      },
      getKeys: async (ids: string[]) => rows.filter(k => ids.includes(k.id)),
      listProducts: async () => [],
    };
  }

  it('repairs, at its full read, a revocation the polls missed (committed long after its stamp), and says so', async () => {
    const now = Date.parse('2026-12-01T00:05:00Z');
    const store = table([key('k', { updatedAt: '2026-12-01T00:00:00.000Z' })]);
    const logger = mockServices.logger.mock();
    const feed = new PolicyFeed(store, { logger, now: () => now });
    await feed.load();
    const sent: string[] = [];
    feed.connect({ keys: async keys => void sent.push(...keys.map(k => `${k.id} ${k.status}`)), products: async () => undefined });
    // Another replica approves a key now; the polls move on past it.
    store.rows.push(key('new', { updatedAt: '2026-12-01T00:04:50.000Z' }));
    await feed.refreshKeys();
    // A revocation stamped 00:00:05 whose transaction waited for a connection commits only now.
    store.rows[0] = key('k', { status: 'revoked', revokedAt: '2026-12-01T00:00:05.000Z', updatedAt: '2026-12-01T00:00:05.000Z' });
    await feed.refreshKeys();
    expect(sent).toEqual(['new active']);
    expect(await feed.resyncKeys()).toBe(1);
    expect(sent).toEqual(['new active', 'k revoked']);
    expect(logger.warn).toHaveBeenCalledWith(expect.stringMatching(/full read found 1 key change\(s\) the polls had missed \(pubk\)/));
    // Nothing more to repair (telling the owners of an expiry is no change to the data plane): nothing sent, nothing said.
    store.rows[1] = { ...store.rows[1], expiryWarnedAt: '2026-12-01T00:04:55.000Z' };
    expect(await feed.resyncKeys()).toBe(0);
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });

  it('repairs a missed revocation of a key the full read leaves out (a retention of 0), by reading that key', async () => {
    const now = Date.parse('2026-12-01T00:05:00Z');
    const store = table([key('k', { updatedAt: '2026-12-01T00:00:00.000Z' })]);
    const feed = new PolicyFeed(store, { deadKeyRetentionMs: 0, now: () => now });
    await feed.load();
    const sent: string[] = [];
    feed.connect({ keys: async keys => void sent.push(...keys.map(k => `${k.id} ${k.status}`)), products: async () => undefined });
    store.rows[0] = key('k', { status: 'revoked', revokedAt: '2026-12-01T00:00:05.000Z', updatedAt: '2026-12-01T00:00:05.000Z' });
    expect(await feed.resyncKeys()).toBe(1);
    expect(sent).toEqual(['k revoked']);
    expect(feed.snapshot().keys).toEqual([]);
  });

  it("never moves its polls past its own clock: a replica whose clock runs ahead does not hide the others' changes", async () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const store = table([key('ahead', { updatedAt: '2026-12-01T00:10:00.000Z' })]);
    const feed = new PolicyFeed(store, { now: () => now });
    await feed.load();
    await feed.refreshKeys();
    expect(store.asked.at(-1)).toBe(new Date(now - KEY_POLL_OVERLAP_MS).toISOString());
  });

  it('reads only recent changes when it holds no live key, not the whole table at every poll', async () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const store = table([key('old', { status: 'revoked', revokedAt: '2026-11-01T00:00:00.000Z', updatedAt: '2026-11-01T00:00:00.000Z' })]);
    const feed = new PolicyFeed(store, { deadKeyRetentionMs: DAY, now: () => now });
    await feed.load();
    await feed.refreshKeys();
    await feed.refreshKeys();
    expect(store.asked.at(-1)).toBe(new Date(Date.parse('2026-11-01T00:00:00.000Z') - KEY_POLL_OVERLAP_MS).toISOString());
  });

  it('goes on polling when a poll never answers (a query stuck on a dead connection)', async () => {
    let calls = 0;
    const logger = mockServices.logger.mock();
    const feed = new PolicyFeed({
      keysChangedSince: async () => (++calls === 2 ? new Promise<StoredKey[]>(() => undefined) : []),
      getKeys: async () => [],
      listProducts: async () => [],
    }, { logger, keyRefreshMs: 10, productRefreshMs: 60_000, pollTimeoutMs: 100 });
    await feed.load();
    feed.start();
    try {
      for (const deadline = Date.now() + 3000; calls < 4 && Date.now() < deadline;) await new Promise(r => setTimeout(r, 10));
      expect(calls).toBeGreaterThanOrEqual(4);
      expect(logger.warn).toHaveBeenCalledWith(expect.stringMatching(/key refresh failed: Error: no answer within 100 ms/));
    } finally {
      feed.stop();
    }
  });
  it('drops what a given-up product poll reads when it answers at last: an older list never replaces a newer one', async () => {
    const product = (weight: number) => ({ id: 'llm', routes: [{ name: 'chat', targets: [{ model: 'v1', weight: 100 - weight }, { model: 'v2', weight }] }] }) as unknown as GatewayProduct;
    let stored = [product(30)];
    let release!: (list: GatewayProduct[]) => void;
    let reads = 0;
    const logger = mockServices.logger.mock();
    const feed = new PolicyFeed({
      keysChangedSince: async () => [],
      getKeys: async () => [],
      // The first poll's read hangs (a dead connection), holding the list as it was then.
      listProducts: async () => (++reads === 2 ? new Promise<GatewayProduct[]>(resolve => { release = resolve; }) : stored),
    }, { logger, keyRefreshMs: 60_000, productRefreshMs: 10, pollTimeoutMs: 50 });
    await feed.load();
    const heard: number[] = [];
    feed.connect({ keys: async () => undefined, products: async products => void heard.push(products[0].routes![0].targets[1].weight) });
    feed.start();
    try {
      const held = () => feed.snapshot().products[0].routes![0].targets[1].weight;
      // The hung poll is given up and the next ones run.
      while (reads < 4) await new Promise(r => setTimeout(r, 5));
      // A rollout's write lands here meanwhile, and the next polls read it.
      stored = [product(0)];
      await feed.applyProduct(product(0));
      const after = reads;
      while (reads < after + 2) await new Promise(r => setTimeout(r, 5));
      release([product(30)]);
      await new Promise(r => setTimeout(r, 50));
      // The data plane was never sent the old weights back, not even until the next poll.
      expect(heard).toEqual([0]);
      expect(held()).toBe(0);
      expect(logger.warn).toHaveBeenCalledWith(expect.stringMatching(/product refresh failed: Error: no answer within 50 ms/));
    } finally {
      feed.stop();
    }
  });

  it('counts as missed only what it took: a key revoked here while the full read ran is no missed change', async () => {
    const now = Date.parse('2026-12-01T00:05:00Z');
    const store = table([key('k', { updatedAt: '2026-12-01T00:00:00.000Z' })]);
    const logger = mockServices.logger.mock();
    const feed = new PolicyFeed(store, { logger, now: () => now });
    await feed.load();
    let reading!: () => void;
    const full = store.keysChangedSince;
    store.keysChangedSince = async (since, options) => {
      const rows = await full(since, options);
      await new Promise<void>(resolve => { reading = resolve; });
      return rows;
    };
    const resync = feed.resyncKeys();
    while (!reading) await new Promise(r => setTimeout(r, 1));
    await feed.applyKeys([key('k', { status: 'revoked', revokedAt: '2026-12-01T00:04:59.000Z', updatedAt: '2026-12-01T00:04:59.000Z' })]);
    reading();
    expect(await resync).toBe(0);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(feed.snapshot().keys[0].status).toBe('revoked');
  });

  it('forgets, at its full read, a held key whose row is gone (its product removed)', async () => {
    const store = table([key('k', { status: 'revoked', revokedAt: '2026-11-30T00:00:00.000Z', updatedAt: '2026-11-30T00:00:00.000Z' })]);
    const feed = new PolicyFeed(store, { now: () => Date.parse('2026-12-01T00:00:00Z') });
    await feed.load();
    expect(feed.snapshot().keys.map(k => k.id)).toEqual(['k']);
    store.rows.length = 0;
    expect(await feed.resyncKeys()).toBe(0);
    expect(feed.snapshot().keys).toEqual([]);
  });
});
