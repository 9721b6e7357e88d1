import { mockServices } from '@backstage/backend-test-utils';
import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import fs from 'node:fs';
import net from 'node:net';
import type { StoredKey } from '../database/GatewayStore';
import { generateKey } from '../keys/keyMaterial';
import { freePort } from '../__testUtils__/ports';
import { PolicyFeed } from './policyFeed';
import { writeChildBundle } from './childBundle';
import { DataPlaneProcess } from './supervisor';
import { UsageWriter } from './usageWriter';

jest.setTimeout(30_000);

const SECRET = 'a-test-server-secret-of-at-least-32-chars';

const product: GatewayProduct = {
  id: 'llm-chat',
  entityRef: 'api:default/llm-chat',
  kind: 'openai',
  upstreams: [{ name: 'ms', url: 'http://127.0.0.1:9' }],
  models: [{ name: 'chat-small', upstream: 'ms', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 }],
  plans: [{ name: 'standard', requestsPerMinute: 100 }],
  updatedAt: '2026-11-22T00:00:00.000Z',
  updatedBy: 'user:default/carol',
};

function keyFor(updatedAt: string) {
  const material = generateKey(SECRET);
  const key: StoredKey = {
    id: material.publicId,
    publicId: material.publicId,
    secretHash: material.hash,
    componentRef: 'component:default/chat-assistant',
    productId: 'llm-chat',
    plan: 'standard',
    status: 'active',
    createdAt: updatedAt,
    createdBy: 'user:default/carol',
    updatedAt,
  };
  return { key, secret: material.full };
}

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('DataPlaneProcess', () => {
  let dataPlane: DataPlaneProcess | undefined;
  afterEach(async () => {
    await dataPlane?.stop();
  });

  async function start(storedKeys: StoredKey[], options: { singleThreadedGc?: boolean; spend?: () => Promise<[]>; deadKeyRetentionMs?: number; redisUrl?: string; startDeadlineMs?: number; now?: () => number; usageQueueMax?: number; usage?: UsageWriter } = {}) {
    const store = { keysChangedSince: async () => storedKeys, getKeys: async () => [], listProducts: async () => [product], insertUsage: async () => undefined };
    const feed = new PolicyFeed(store, { deadKeyRetentionMs: options.deadKeyRetentionMs, now: options.now });
    await feed.load();
    dataPlane = new DataPlaneProcess({
      host: '127.0.0.1',
      port: await freePort(),
      keySecret: SECRET,
      allowedUpstreamHosts: ['127.0.0.1'],
      logger: mockServices.logger.mock(),
      feed,
      spend: async () => [],
      usage: new UsageWriter(store),
      ...options,
    });
    return { feed, dataPlane };
  }

  const models = (url: string, secret: string) => fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });

  it('serves the snapshot it started from, and a change once the change has resolved', async () => {
    const first = keyFor('2026-11-22T01:00:00.000Z');
    const { feed, dataPlane: process } = await start([first.key]);
    const url = await process.start();
    expect((await models(url, first.secret)).status).toBe(200);

    await feed.applyKeys([{ ...first.key, status: 'revoked', updatedAt: '2026-11-22T02:00:00.000Z' }]);
    const refused = await models(url, first.secret);
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.message).toMatch(/revoked/);
  });

  it('counts the usage rows the process dropped, its queue full, among the portal\'s dropped ones, across its restarts', async () => {
    const first = keyFor('2026-11-22T01:00:00.000Z');
    const received: unknown[] = [];
    const usage = new UsageWriter({ insertUsage: async rows => void received.push(...rows) });
    // A queue of one row: calls that end between two of its batches (200 ms apart) are dropped but the last.
    const { dataPlane: process } = await start([first.key], { usageQueueMax: 1, usage });
    const call = (url: string) => fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${first.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const url = await process.start();
    // The upstream refuses the connection: each call is answered 502 and recorded.
    expect((await Promise.all(Array.from({ length: 20 }, () => call(url)))).map(r => r.status)).toEqual(Array(20).fill(502));
    const settled = async (expected: number) => {
      for (let i = 0; i < 100 && received.length + usage.waiting + process.usageRowsDropped < expected; i++) await new Promise(r => setTimeout(r, 50));
      await usage.flush();
    };
    await settled(20);
    expect(process.usageRowsDropped).toBeGreaterThan(0);
    expect(received.length + process.usageRowsDropped).toBe(20);

    // A process that ends keeps its count; the next one's adds to it.
    const before = process.usageRowsDropped;
    globalThis.process.kill(process.pid!, 'SIGKILL');
    while (!process.status().running || process.status().restarts === 0) await new Promise(r => setTimeout(r, 50));
    await Promise.all(Array.from({ length: 20 }, () => call(url)));
    await settled(40);
    expect(process.usageRowsDropped).toBeGreaterThan(before);
    expect(received.length + process.usageRowsDropped).toBe(40);
  });

  it('sends what changed while the process was starting, which no snapshot it got held', async () => {
    const { feed, dataPlane: process } = await start([]);
    const starting = process.start();
    const late = keyFor('2026-11-22T03:00:00.000Z');
    await feed.applyKeys([late.key]);
    const url = await starting;
    expect((await models(url, late.secret)).status).toBe(200);
  });

  it('drops a key revoked while it was starting, though the feed, keeping no dead key (a retention of 0), holds it no longer', async () => {
    const first = keyFor('2026-11-22T01:00:00.000Z');
    const { feed, dataPlane: process } = await start([first.key], { deadKeyRetentionMs: 0 });
    const starting = process.start();
    // Once the process is forked, its snapshot (which holds the key) is taken.
    while (!process.pid) await new Promise(r => setTimeout(r, 5));
    await feed.applyKeys([{ ...first.key, status: 'revoked', updatedAt: '2026-11-22T02:00:00.000Z' }]);
    const url = await starting;
    expect((await models(url, first.secret)).status).toBe(401);
  });

  it('drops a key revoked while it read the spend so far, however long that read took', async () => {
    const first = keyFor('2026-11-22T01:00:00.000Z');
    let clock = Date.now();
    const late: { feed?: PolicyFeed } = {};
    const started = await start([first.key], {
      deadKeyRetentionMs: 0,
      now: () => clock,
      // A slow read of the usage table, during which the key is revoked and the feed's sweep forgets it.
      spend: async () => {
        await late.feed!.applyKeys([{ ...first.key, status: 'revoked', updatedAt: '2026-11-22T02:00:00.000Z' }]);
        clock += 31_000;
        late.feed!.forgetDead();
        return [];
      },
    });
    late.feed = started.feed;
    const url = await started.dataPlane.start();
    expect((await models(url, first.secret)).status).toBe(401);
  });

  it('starts again after a death even when its first attempt to start again fails, and runs no process meanwhile', async () => {
    const first = keyFor('2026-11-22T01:00:00.000Z');
    let spendReads = 0;
    // The usage table cannot be read once, just after the death (a database failing over).
    const { dataPlane: process } = await start([first.key], { spend: async () => (++spendReads === 2 ? Promise.reject(new Error('connection terminated')) : []) });
    const url = await process.start();
    const dead = process.pid!;
    global.process.kill(dead, 'SIGKILL');
    for (const deadline = Date.now() + 20_000; !(process.status().running && process.pid !== dead) && Date.now() < deadline;) await new Promise(r => setTimeout(r, 50));
    expect(spendReads).toBe(3);
    expect(process.status()).toMatchObject({ running: true, restarts: 1 });
    expect((await models(url, first.secret)).status).toBe(200);
  });

  it('kills a process that neither listens nor fails within the deadline, rather than waiting on it for ever', async () => {
    // A Redis that takes the connection and never answers (a stopped process behind a proxy).
    const silent = net.createServer(() => undefined);
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { dataPlane: process } = await start([], { redisUrl: `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, startDeadlineMs: 1500 });
      const starting = process.start();
      while (!process.pid) await new Promise(r => setTimeout(r, 5));
      const pid = process.pid;
      await expect(starting).rejects.toThrow(/did not start listening within 1500 ms/);
      for (const deadline = Date.now() + 5000; alive(pid) && Date.now() < deadline;) await new Promise(r => setTimeout(r, 20));
      expect(alive(pid)).toBe(false);
    } finally {
      silent.close();
    }
  });

  it('runs from a bundle of its code, and leaves no copy of it behind', async () => {
    const { dataPlane: process } = await start([]);
    await process.start();
    // Run from sources, as here: the process runs a bundled file, not the TypeScript transform.
    const argv = fs.readFileSync(`/proc/${process.pid}/cmdline`, 'utf8').split('\0');
    const file = argv.find(arg => arg.endsWith('/dataplane/child.cjs'));
    expect(file).toBeDefined();
    expect(argv.join(' ')).not.toMatch(/nodeTransform/);
    // Loaded and then removed, directory and all.
    expect(fs.existsSync(file!)).toBe(false);
    expect(fs.existsSync(file!.replace(/\/dataplane\/child\.cjs$/, ''))).toBe(false);
  });

  it('bounds its heap growth, and collects garbage on its JavaScript thread only unless told otherwise', async () => {
    const argvOf = (pid: number | undefined) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const { dataPlane: byDefault } = await start([]);
    await byDefault.start();
    expect(argvOf(byDefault.pid)).toEqual(expect.arrayContaining(['--heap-growing-percent=100', '--single-threaded-gc']));
    await byDefault.stop();

    const { dataPlane: helped } = await start([], { singleThreadedGc: false });
    await helped.start();
    expect(argvOf(helped.pid)).toContain('--heap-growing-percent=100');
    expect(argvOf(helped.pid)).not.toContain('--single-threaded-gc');
  });

  it('writes the bundle where no other user of the machine can read or replace it', () => {
    const { file, remove } = writeChildBundle(Buffer.from('module.exports = 1;'));
    try {
      const dir = file.replace(/\/dataplane\/child\.cjs$/, '');
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(file).mode & 0o077).toBe(0);
      expect(fs.readFileSync(file, 'utf8')).toBe('module.exports = 1;');
    } finally {
      remove();
    }
    expect(fs.existsSync(file)).toBe(false);
  });
});
