import type { GatewayPlan } from '@quarterdeck/plugin-gateway-common';
import { mockServices } from '@backstage/backend-test-utils';
import { createClient } from '@redis/client';
import crypto from 'node:crypto';
import net from 'node:net';
import { MemoryLimits, periods, type Limits } from './limits';
import { RedisLimits } from './redisLimits';

const REDIS_URL = process.env.QUARTERDECK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const plan = (p: Partial<GatewayPlan>): GatewayPlan => ({ name: 'p', ...p });
const T0 = Date.parse('2026-11-22T10:00:00Z');

type Factory = () => Promise<{ limits: Limits; other?: Limits; close(): Promise<void> }>;

const memory: Factory = async () => {
  const limits = new MemoryLimits();
  return { limits, close: async () => {} };
};
const redis: Factory = async () => {
  // Two clients: two gateway replicas sharing one Redis.
  const prefix = `quarterdeck:test:${crypto.randomUUID()}:`;
  const a = await RedisLimits.connect(REDIS_URL, mockServices.logger.mock(), prefix);
  const b = await RedisLimits.connect(REDIS_URL, mockServices.logger.mock(), prefix);
  return { limits: a, other: b, close: async () => { await a.close(); await b.close(); } };
};

describe.each([['in memory', memory], ['in Redis (the real server at 127.0.0.1:6379)', redis]] as Array<[string, Factory]>)('gateway limits %s', (_name, factory) => {
  let setup: Awaited<ReturnType<Factory>>;
  beforeEach(async () => {
    setup = await factory();
  });
  afterEach(() => setup.close());

  it('limits requests per minute with GCRA and says when to retry', async () => {
    const p = plan({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(await setup.limits.admit('k', p, { tokens: 0, cost: 0 }, T0)).toEqual({ ok: true });
    const refused = await setup.limits.admit('k', p, { tokens: 0, cost: 0 }, T0);
    expect(refused).toMatchObject({ ok: false, limit: 'requests', retryAfterMs: 20_000 });
    expect(await setup.limits.admit('k', p, { tokens: 0, cost: 0 }, T0 + 20_000)).toEqual({ ok: true });
  });

  it('reserves prompt plus max_tokens from the token bucket and gives back what was not used', async () => {
    const p = plan({ tokensPerMinute: 1000 });
    expect(await setup.limits.admit('k', p, { tokens: 600, cost: 0 }, T0)).toEqual({ ok: true });
    const refused = await setup.limits.admit('k', p, { tokens: 600, cost: 0 }, T0);
    expect(refused).toMatchObject({ ok: false, limit: 'tokens', retryAfterMs: 12_000 });
    // The call used 100 of its 600: 500 come back at once.
    await setup.limits.settle('k', p, { tokens: 600, cost: 0 }, { tokens: 100, cost: 0 }, T0 + 10);
    expect(await setup.limits.admit('k', p, { tokens: 600, cost: 0 }, T0 + 10)).toEqual({ ok: true });
    const tooBig = await setup.limits.admit('k2', p, { tokens: 1001, cost: 0 }, T0);
    expect(tooBig).toMatchObject({ ok: false, limit: 'tokens' });
    expect(tooBig.ok === false && tooBig.message).toBe('This request needs up to 1001 tokens, more than plan "p" allows per minute (1000); lower max_tokens.');
  });

  it('holds a cost budget under 100 concurrent calls: no overshoot beyond one call\'s excess', async () => {
    const p = plan({ dailyCost: 1 });
    const limits = [setup.limits, setup.other ?? setup.limits];
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => limits[i % 2].admit('k', p, { tokens: 10, cost: 0.05 }, T0)));
    const admitted = results.filter(r => r.ok).length;
    expect(admitted).toBe(20);
    const refused = results.find(r => !r.ok);
    expect(refused).toMatchObject({ limit: 'daily-cost', retryAfterMs: periods(T0).dayEnds - T0 });
    // Each admitted call turns out to cost 0.04: the budget has room for more, nothing overshoots.
    await Promise.all(Array.from({ length: admitted }, () => setup.limits.settle('k', p, { tokens: 10, cost: 0.05 }, { tokens: 8, cost: 0.04 }, T0)));
    const more = await Promise.all(Array.from({ length: 10 }, () => setup.limits.admit('k', p, { tokens: 10, cost: 0.05 }, T0)));
    expect(more.filter(r => r.ok)).toHaveLength(4);
  });

  it('keeps daily and monthly token budgets apart, and starts a new day afresh', async () => {
    const p = plan({ dailyTokens: 100, monthlyTokens: 150 });
    expect((await setup.limits.admit('k', p, { tokens: 100, cost: 0 }, T0)).ok).toBe(true);
    expect(await setup.limits.admit('k', p, { tokens: 1, cost: 0 }, T0)).toMatchObject({ ok: false, limit: 'daily-tokens' });
    const tomorrow = T0 + 86_400_000;
    expect((await setup.limits.admit('k', p, { tokens: 50, cost: 0 }, tomorrow)).ok).toBe(true);
    expect(await setup.limits.admit('k', p, { tokens: 1, cost: 0 }, tomorrow)).toMatchObject({ ok: false, limit: 'monthly-tokens' });
  });

  it('settles a call that ends after midnight UTC in the day it was reserved in, not the new one', async () => {
    const p = plan({ dailyTokens: 10_000 });
    const beforeMidnight = Date.parse('2026-11-22T23:59:50Z');
    const afterMidnight = Date.parse('2026-11-23T00:00:05Z');
    expect((await setup.limits.admit('k', p, { tokens: 9000, cost: 0 }, beforeMidnight)).ok).toBe(true);
    expect((await setup.limits.admit('k', p, { tokens: 1000, cost: 0 }, afterMidnight)).ok).toBe(true);
    // The first call ends at 00:00:06 having used 200 of its 9,000: the new day's 1,000 stay reserved.
    await setup.limits.settle('k', p, { tokens: 9000, cost: 0 }, { tokens: 200, cost: 0 }, beforeMidnight);
    const more = [];
    for (let i = 0; i < 12; i++) more.push(await setup.limits.admit('k', p, { tokens: 1000, cost: 0 }, afterMidnight + 1000));
    expect(more.filter(r => r.ok)).toHaveLength(9);
  });

  it('answers with the month\'s end when the month\'s budget refuses as well as the day\'s, and asks for less when one call is more than a budget', async () => {
    const p = plan({ dailyTokens: 100, monthlyTokens: 100 });
    expect((await setup.limits.admit('k', p, { tokens: 100, cost: 0 }, T0)).ok).toBe(true);
    expect(await setup.limits.admit('k', p, { tokens: 1, cost: 0 }, T0)).toMatchObject({ ok: false, limit: 'monthly-tokens', retryAfterMs: periods(T0).monthEnds - T0 });
    const tooBig = await setup.limits.admit('k2', plan({ dailyTokens: 5000 }), { tokens: 8192, cost: 0 }, T0);
    expect(tooBig.ok === false && tooBig.message).toBe('This request needs up to 8192 tokens, more than plan "p" allows in a day (5000); lower max_tokens.');
    // The same for a cost budget: a call that alone may cost more than a day's budget is not told the budget is spent.
    const tooDear = await setup.limits.admit('k3', plan({ dailyCost: 1 }), { tokens: 1000, cost: 1.28 }, T0);
    expect(tooDear.ok === false && tooDear.message).toBe('This request may cost up to $1.28, more than plan "p" allows in a day ($1); lower max_tokens.');
    const monthTooDear = await setup.limits.admit('k4', plan({ monthlyCost: 0.001 }), { tokens: 1000, cost: 0.0025 }, T0);
    expect(monthTooDear.ok === false && monthTooDear.message).toBe('This request may cost up to $0.0025, more than plan "p" allows in a month ($0.001); lower max_tokens.');
  });

  it.each([7, 9, 14, 17, 19, 90, 1000])('admits a whole burst of %i requests per minute in one instant, and refuses the next', async rpm => {
    const p = plan({ requestsPerMinute: rpm });
    for (let i = 0; i < rpm; i++) expect(await setup.limits.admit('k', p, { tokens: 0, cost: 0 }, T0 + 0.5)).toEqual({ ok: true });
    expect(await setup.limits.admit('k', p, { tokens: 0, cost: 0 }, T0 + 0.5)).toMatchObject({ ok: false, limit: 'requests' });
  });

  it('refills nothing, and drains nothing, when a clock is behind the last admission (another replica\'s, or one that stepped back)', async () => {
    const p = plan({ tokensPerMinute: 60_000 });
    expect((await setup.limits.admit('k', p, { tokens: 1, cost: 0 }, T0 + 5000)).ok).toBe(true);
    expect(await (setup.other ?? setup.limits).admit('k', p, { tokens: 59_000, cost: 0 }, T0)).toEqual({ ok: true });
    expect(await setup.limits.admit('k', p, { tokens: 1000, cost: 0 }, T0 + 5000)).toMatchObject({ ok: false, limit: 'tokens' });
  });
});

/** A TCP relay in front of Redis whose connections the test can cut, or hold (commands kept back until released). */
async function redisRelay() {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let held: Array<() => void> | undefined;
  const server = net.createServer(client => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', chunk => {
      if (held) held.push(() => upstream.write(chunk));
      else upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: () => sockets.forEach(socket => socket.destroy()),
    hold: () => {
      held = [];
    },
    release: () => {
      const writes = held ?? [];
      held = undefined;
      writes.forEach(write => write());
    },
    close: () => new Promise<void>(resolve => {
      sockets.forEach(socket => socket.destroy());
      server.close(() => resolve());
    }),
  };
}

describe('gateway limits in Redis, when Redis goes away', () => {
  it('fails a check while the connection is down, says so once, and counts again once it is back', async () => {
    const relay = await redisRelay();
    const logger = mockServices.logger.mock();
    const limits = await RedisLimits.connect(relay.url, logger, `quarterdeck:test:${crypto.randomUUID()}:`);
    try {
      const p = plan({ requestsPerMinute: 2 });
      expect(await limits.admit('k', p, { tokens: 0, cost: 0 }, Date.now())).toEqual({ ok: true });
      relay.cut();
      await expect(limits.admit('k', p, { tokens: 0, cost: 0 }, Date.now())).rejects.toThrow();
      // A settlement in the outage does not fail its call.
      await expect(limits.settle('k', plan({ tokensPerMinute: 10 }), { tokens: 5, cost: 0 }, { tokens: 1, cost: 0 }, Date.now())).resolves.toBeUndefined();
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(String(jest.mocked(logger.warn).mock.calls[0][0])).toMatch(/Redis is unreachable/);
      // The client reconnects by itself; the state kept in Redis is still there (one of two requests left).
      const deadline = Date.now() + 10_000;
      let admission;
      while (Date.now() < deadline) {
        admission = await limits.admit('k', p, { tokens: 0, cost: 0 }, Date.now()).catch(() => undefined);
        if (admission) break;
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      expect(admission).toEqual({ ok: true });
      expect(await limits.admit('k', p, { tokens: 0, cost: 0 }, Date.now())).toMatchObject({ ok: false, limit: 'requests' });
      expect(logger.info).toHaveBeenCalledWith(expect.stringMatching(/Redis is reachable again; 1 calls' reservations were not settled/));
    } finally {
      await limits.close().catch(() => undefined);
      await relay.close();
    }
  });

  it('fails a check Redis does not answer within a second, and gives back its reservation if Redis takes it later', async () => {
    const relay = await redisRelay();
    const prefix = `quarterdeck:test:${crypto.randomUUID()}:`;
    const limits = await RedisLimits.connect(relay.url, mockServices.logger.mock(), prefix);
    const direct = await RedisLimits.connect(REDIS_URL, mockServices.logger.mock(), prefix);
    try {
      const p = plan({ dailyTokens: 100 });
      relay.hold();
      const started = Date.now();
      await expect(limits.admit('k', p, { tokens: 100, cost: 0 }, started)).rejects.toThrow(/did not answer the limits check within 1000 ms/);
      expect(Date.now() - started).toBeLessThan(3000);
      // Redis runs the check late and reserves the day's 100 tokens; the call was refused, so they come back.
      relay.release();
      await new Promise(resolve => setTimeout(resolve, 500));
      expect(await direct.admit('k', p, { tokens: 100, cost: 0 }, started)).toEqual({ ok: true });
    } finally {
      await limits.close().catch(() => undefined);
      await direct.close();
      await relay.close();
    }
  });

  it('fails the start when Redis cannot be reached at all, instead of waiting for it', async () => {
    const relay = await redisRelay();
    const url = relay.url;
    await relay.close();
    await expect(RedisLimits.connect(url, mockServices.logger.mock())).rejects.toThrow(/ECONNREFUSED/);
  });

  it('fails the start when Redis takes the connection and never answers, instead of waiting for ever', async () => {
    const relay = await redisRelay();
    relay.hold();
    try {
      const started = Date.now();
      await expect(RedisLimits.connect(relay.url, mockServices.logger.mock())).rejects.toThrow(/did not answer the connection within 5000 ms/);
      expect(Date.now() - started).toBeLessThan(7000);
    } finally {
      await relay.close();
    }
  }, 15_000);
});

describe('gateway limits in Redis, when Redis refuses a check', () => {
  it('fails the check and says why, once a minute rather than once a call', async () => {
    const prefix = `quarterdeck:test:${crypto.randomUUID()}:`;
    const logger = mockServices.logger.mock();
    const limits = await RedisLimits.connect(REDIS_URL, logger, prefix);
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    try {
      // Another program's string where the key's state belongs: the script's HMGET fails with WRONGTYPE.
      await raw.set(`${prefix}{k}`, 'not a hash', { PX: 60_000 });
      const p = plan({ requestsPerMinute: 10 });
      for (let i = 0; i < 3; i++) await expect(limits.admit('k', p, { tokens: 0, cost: 0 }, Date.now())).rejects.toThrow(/WRONGTYPE/);
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(String(jest.mocked(logger.warn).mock.calls[0][0])).toMatch(/Redis refused a limits check \(.*WRONGTYPE/);
      // Other keys are checked as before.
      expect(await limits.admit('other', p, { tokens: 0, cost: 0 }, Date.now())).toEqual({ ok: true });
    } finally {
      await raw.quit();
      await limits.close();
    }
  });
});

describe('gateway limits in Redis, for a call that used more than it reserved', () => {
  it('keeps the token debt until it is paid back, past the three minutes an idle key\'s state lives', async () => {
    const prefix = `quarterdeck:test:${crypto.randomUUID()}:`;
    const limits = await RedisLimits.connect(REDIS_URL, mockServices.logger.mock(), prefix);
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    try {
      const p = plan({ tokensPerMinute: 10_000 });
      expect((await limits.admit('k', p, { tokens: 1000, cost: 0 }, Date.now())).ok).toBe(true);
      expect(await raw.pTTL(`${prefix}{k}`)).toBeLessThanOrEqual(180_000);
      // 61,000 used of 1,000 reserved: 51,000 owed, paid back at 10,000 a minute.
      await limits.settle('k', p, { tokens: 1000, cost: 0 }, { tokens: 61_000, cost: 0 }, Date.now());
      expect(await raw.pTTL(`${prefix}{k}`)).toBeGreaterThan(5 * 60_000);
      // And a call whose key's state expired while it ran is still charged what it used beyond its reservation.
      await raw.del(`${prefix}{k}`);
      await limits.settle('k', p, { tokens: 1000, cost: 0 }, { tokens: 21_000, cost: 0 }, Date.now());
      expect(await limits.admit('k', p, { tokens: 1000, cost: 0 }, Date.now())).toMatchObject({ ok: false, limit: 'tokens' });
    } finally {
      await raw.quit();
      await limits.close();
    }
  });
});

describe('gateway limits in memory, for keys the gateway forgot', () => {
  it('holds no state for a forgotten key, and the others keep theirs', async () => {
    const limits = new MemoryLimits();
    const p = plan({ requestsPerMinute: 1 });
    expect(await limits.admit('dead', p, { tokens: 0, cost: 0 }, T0)).toEqual({ ok: true });
    expect(await limits.admit('live', p, { tokens: 0, cost: 0 }, T0)).toEqual({ ok: true });
    limits.forget(['dead']);
    expect(limits.size).toBe(1);
    expect(await limits.admit('live', p, { tokens: 0, cost: 0 }, T0 + 1)).toMatchObject({ ok: false, limit: 'requests' });
  });
});

describe('gateway limits in memory, started from the spend recorded so far', () => {
  const p = plan({ dailyTokens: 1000, monthlyTokens: 5000 });
  const spent = { day: '2026-11-30', month: '2026-11', dayTokens: 900, dayCost: 0, monthTokens: 4000, monthCost: 0 };

  it('counts the day and the month it was read for', async () => {
    const limits = new MemoryLimits();
    const now = Date.parse('2026-11-30T18:00:00Z');
    limits.seed('k', spent, now);
    expect(await limits.admit('k', p, { tokens: 101, cost: 0 }, now)).toMatchObject({ ok: false, limit: 'daily-tokens' });
    expect((await limits.admit('k', p, { tokens: 100, cost: 0 }, now)).ok).toBe(true);
  });

  it("starts a day (and a month) that began after the read at 0, not at the day before's spend", async () => {
    const limits = new MemoryLimits();
    // Read at 23:59:59.5 on the month's last day; the process started half a second after midnight UTC.
    limits.seed('k', spent, Date.parse('2026-12-01T00:00:00.400Z'));
    expect((await limits.admit('k', p, { tokens: 1000, cost: 0 }, Date.parse('2026-12-01T00:00:01Z'))).ok).toBe(true);

    // A new day in the same month starts the day at 0 and keeps the month's 4,000.
    const sameMonth = new MemoryLimits();
    const roomyDay = plan({ dailyTokens: 2000, monthlyTokens: 5000 });
    const after = Date.parse('2026-11-30T00:00:01Z');
    sameMonth.seed('k', { ...spent, day: '2026-11-29' }, Date.parse('2026-11-30T00:00:00.400Z'));
    expect(await sameMonth.admit('k', roomyDay, { tokens: 1001, cost: 0 }, after)).toMatchObject({ ok: false, limit: 'monthly-tokens' });
    expect((await sameMonth.admit('k', roomyDay, { tokens: 1000, cost: 0 }, after)).ok).toBe(true);
  });
});
