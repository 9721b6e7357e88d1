import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import net, { type AddressInfo } from 'node:net';
import type { UsageRecord } from '../database/GatewayStore';
import { delay, until } from '../__testUtils__/waiting';
import { generateKey } from '../keys/keyMaterial';
import { KeyCache } from './keyCache';
import { MemoryLimits } from './limits';
import { buildNativeRelay, descriptorOf, loadNativeRelay, RelayBack, RelayUsage, type NativeRelay, type RelayHandback, type RelayOwner } from './nativeRelay';
import { startDataPlane, type RunningDataPlane } from './server';
import { UsageWriter } from './usageWriter';

const SECRET = 'a-test-server-secret-of-at-least-32-chars';
const frame = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
const event = (content: string) => `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }], usage: null })}\n\n`;
const usageEvent = `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } })}\n\n`;
const sseHead = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';

/** A streamed chat call as raw HTTP/1.1, for a client that controls its own socket. */
function rawStreamRequest(key: string) {
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
}

/** The chunked responses one after another in what a connection received: each head, and its body unframed. */
function chunkedResponses(raw: string): Array<{ head: string; text: string }> {
  const responses: Array<{ head: string; text: string }> = [];
  let rest = raw;
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const head = rest.slice(0, headEnd);
    rest = rest.slice(headEnd + 4);
    let text = '';
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, lineEnd), 16);
      rest = rest.slice(lineEnd + 2);
      // The last chunk, or a line that is no size line (a head inside a body, say), ends this response.
      if (!(size > 0)) {
        rest = rest.slice(2);
        break;
      }
      text += rest.slice(0, size);
      rest = rest.slice(size + 2);
    }
    responses.push({ head, text });
  }
  return responses;
}

/** Two ends of one TCP connection: `near`, paused (its descriptor is the relay's), and `far`, the test's. */
async function socketPair(allowHalfOpen = false) {
  const server = net.createServer({ allowHalfOpen });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>(resolve => server.once('connection', resolve));
  const near = net.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  near.pause();
  await new Promise(resolve => near.once('connect', resolve));
  const far = await accepted;
  server.close();
  let received = '';
  far.on('data', data => (received += data.toString('latin1')));
  for (const socket of [near, far]) socket.on('error', () => undefined);
  return { near, far, fd: descriptorOf(near)!, received: () => received, destroy: () => [near, far].forEach(socket => socket.destroy()) };
}

/** An owner that notes what the relay tells it. */
function notingOwner() {
  const backs: RelayHandback[] = [];
  const heads: Buffer[] = [];
  const owner: RelayOwner = { relayedBack: handback => backs.push(handback), relayedHead: head => heads.push(head) };
  return { owner, backs, heads };
}

/** Blocks this thread (the event loop) for `ms`: what a busy event loop does to the relay's messages. */
const blockFor = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A raw upstream whose every answer is a script of writes and pauses. */
async function upstream(script: (socket: net.Socket) => Promise<void>) {
  const closed: Array<Promise<void>> = [];
  let connections = 0;
  const server = net.createServer(socket => {
    connections++;
    socket.on('error', () => undefined);
    closed.push(new Promise(resolve => socket.once('close', () => resolve())));
    let request = '';
    socket.on('data', data => {
      request += data.toString('latin1');
      const end = request.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(request.slice(0, end))?.[1] ?? 0);
      if (request.length < end + 4 + length) return;
      request = '';
      void script(socket).catch(() => undefined);
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    closed: () => Promise.all(closed),
    close: () => new Promise<void>(resolve => server.close(() => resolve())),
  };
}

describe('the native relay, behind the data plane', () => {
  let relay: NativeRelay;
  /** The relay itself, for tests on its own. */
  let direct: NativeRelay;
  /** A relay built with SSE_RELAY_TEST_HOOKS, whose reads can be made to take a while (`pumpDelay`): its own thread and slots. */
  let hooked: NativeRelay;
  let pumpDelay: (ms: number) => void;
  let starts = 0;
  let backs: string[] = [];
  /** When set, the data plane reads the relay's End notices this much later (a busy event loop). */
  let endNoticeLateMs = 0;
  /** When set, the relay answering a head writes to this descriptor rather than the client's. */
  let clientFdInstead: number | undefined;

  beforeAll(async () => {
    const built = await buildNativeRelay();
    // This machine has a C compiler (CI runs here); a failure says why the relay could not be built.
    if (!built.file) throw new Error(`the native relay could not be built: ${built.reason}`);
    const loaded = loadNativeRelay(built.file);
    direct = loaded;
    const withHooks = await buildNativeRelay(['SSE_RELAY_TEST_HOOKS']);
    if (!withHooks.file) throw new Error(`the native relay could not be built with its test hooks: ${withHooks.reason}`);
    hooked = loadNativeRelay(withHooks.file);
    pumpDelay = (require(withHooks.file) as { testPumpDelay(ms: number): void }).testPumpDelay;
    relay = {
      start(upstreamFd, clientFd, timeoutMs, usage, owner, head) {
        starts++;
        return loaded.start(upstreamFd, head && clientFdInstead !== undefined ? clientFdInstead : clientFd, timeoutMs, usage, {
          relayedBack(handback) {
            backs.push(String(handback.reason));
            if (endNoticeLateMs > 0 && handback.reason === RelayBack.End) setTimeout(() => owner.relayedBack(handback), endNoticeLateMs);
            else owner.relayedBack(handback);
          },
          relayedHead(upstreamHead) {
            backs.push('head');
            owner.relayedHead?.(upstreamHead);
          },
        }, head);
      },
      cancel: id => loaded.cancel(id),
    };
  }, 60_000);

  /**
   * A data plane in front of the upstream: with the relay under test, or without one (`withRelay` false). With a
   * `fallbackUrl`, model `r` is a route to `m` with `m2`, on that upstream, as its fallback.
   */
  async function dataPlane(upstreamUrl: string, timeoutMs = 5_000, withRelay = true, contextWindow = 8192, fallbackUrl?: string) {
    const key = generateKey(SECRET);
    const keys = new KeyCache({ keySecret: SECRET });
    keys.apply({ id: 'k1', publicId: key.publicId, secretHash: key.hash, componentRef: 'component:default/app', productId: 'llm', plan: 'p', status: 'active', createdAt: '', createdBy: '', updatedAt: '' });
    const product = {
      id: 'llm', entityRef: 'api:default/llm', kind: 'openai', updatedAt: '', updatedBy: '',
      upstreams: [{ name: 'up', url: upstreamUrl, timeoutMs }, ...(fallbackUrl ? [{ name: 'fallback', url: fallbackUrl, timeoutMs }] : [])],
      models: [
        { name: 'm', upstream: 'up', contextWindow, inputPricePerMillion: 1, outputPricePerMillion: 2 },
        ...(fallbackUrl ? [{ name: 'm2', upstream: 'fallback', contextWindow, inputPricePerMillion: 1, outputPricePerMillion: 2 }] : []),
      ],
      ...(fallbackUrl ? { routes: [{ name: 'r', targets: [{ model: 'm', weight: 1 }], fallbacks: ['m2'] }] } : {}),
      plans: [{ name: 'p', requestsPerMinute: 1000 }],
    } as unknown as GatewayProduct;
    const rows: UsageRecord[] = [];
    const usage = new UsageWriter({ insertUsage: async batch => void rows.push(...batch) }, { intervalMs: 20 });
    usage.start();
    const running: RunningDataPlane = await startDataPlane({
      host: '127.0.0.1', port: 0, keys, products: { get: id => (id === 'llm' ? product : undefined) }, limits: new MemoryLimits(), usage, nativeRelay: withRelay ? relay : undefined,
    });
    const call = (body: object, signal?: AbortSignal) => fetch(`${running.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key.full}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, ...body }), signal,
    });
    let serving: Promise<void> | undefined;
    /** Stops the data plane, as the data-plane process does before stopping its usage writer. */
    const stopServing = () => (serving ??= running.close());
    return { call, rows, key: key.full, url: async () => running.url, close: async () => { await stopServing(); await usage.stop(); } };
  }

  beforeEach(() => {
    starts = 0;
    backs = [];
    endNoticeLateMs = 0;
    clientFdInstead = undefined;
  });

  /** The relay has ended a body itself (its End notice has been read). */
  const endedByRelay = () => backs.includes('5');
  /** The relay has ended a body or handed it back for its last chunk. */
  const endedOrHandedBack = () => backs.some(reason => reason === '5' || reason === '0');

  it('forwards the events as they come, reads the usage event as the filter does, ends the body, and the client gets exactly what it asked for', async () => {
    const words = ['Hello', ' there', ',', ' friend', '!'];
    const server = await upstream(async socket => {
      socket.write(sseHead);
      for (const word of words) {
        await delay(20);
        socket.write(frame(event(word)));
      }
      await delay(20);
      socket.write(`${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    try {
      for (const includeUsage of [false, true]) {
        const arrivals: number[] = [];
        const response = await plane.call(includeUsage ? { stream_options: { include_usage: true } } : {});
        expect(response.status).toBe(200);
        let text = '';
        const decoder = new TextDecoder();
        for await (const part of response.body!) {
          arrivals.push(Date.now());
          text += decoder.decode(part, { stream: true });
        }
        const expected = `${words.map(event).join('')}${includeUsage ? usageEvent : ''}data: [DONE]\n\n`;
        expect(text).toBe(expected);
        // Not buffered: the events reached the client over the stream's whole ~120 ms, not at its end.
        expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeGreaterThan(60);
      }
      expect(starts).toBeGreaterThanOrEqual(2);
      // Each body was ended by the relay (its usage event read there, dropped or forwarded), never handed back for it.
      await until(() => backs.filter(reason => reason === '5').length === 2);
      expect(backs.filter(reason => reason === '0')).toEqual([]);
      await until(() => plane.rows.length >= 2);
      expect(plane.rows.map(r => [r.status, r.promptTokens, r.completionTokens, r.estimated])).toEqual([[200, 7, 5, false], [200, 7, 5, false]]);
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it('answers a plain 200 head itself, with the first event, and leaves any other head to JavaScript', async () => {
    let answer = 0;
    const server = await upstream(async socket => {
      const kind = ['warm', 'ok', 'error', 'split'][answer++ % 4];
      if (kind === 'error') {
        const body = '{"error":{"message":"overloaded"}}';
        socket.write(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        return;
      }
      const head = 'HTTP/1.1 200 OK\r\nContent-Type:  text/event-stream; charset=utf-8 \r\nTransfer-Encoding: chunked\r\n\r\n';
      if (kind === 'split') {
        // The head in two reads: the relay waits for the rest.
        socket.write(head.slice(0, 30));
        await delay(20);
        socket.write(head.slice(30) + frame(event('first')));
      } else {
        // The head and the first event in one write, as servers that buffer their head send them.
        socket.write(head + frame(event('first')));
      }
      await delay(10);
      socket.write(`${frame(event(' second'))}${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    const expected = `${event('first')}${event(' second')}data: [DONE]\n\n`;
    try {
      // The first call opens the upstream connection (JavaScript reads a head that comes on a new one).
      expect(await (await plane.call({})).text()).toBe(expected);
      await until(endedByRelay);
      const seen: Record<string, { status: number; text: string; backs: string[]; headers: Record<string, string | null>; ageMs: number }> = {};
      for (const kind of ['ok', 'error', 'split']) {
        backs = [];
        const response = await plane.call({});
        const text = await response.text();
        // The relay's end notice can come after the client has the whole body: it belongs to this call.
        if (kind !== 'error') await until(endedByRelay);
        const headers = Object.fromEntries(['content-type', 'x-quarterdeck-model', 'x-quarterdeck-upstream', 'cache-control', 'transfer-encoding'].map(h => [h, response.headers.get(h)]));
        seen[kind] = { status: response.status, text, backs, headers, ageMs: Date.now() - Date.parse(response.headers.get('date') ?? '') };
      }
      const relayed = {
        status: 200,
        text: expected,
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'x-quarterdeck-model': 'm', 'x-quarterdeck-upstream': 'up', 'cache-control': 'no-cache', 'transfer-encoding': 'chunked' },
      };
      // A 200 answered by the relay (its notice came before any hand-back), head whole or in two reads.
      for (const kind of ['ok', 'split']) {
        expect(seen[kind]).toMatchObject(relayed);
        expect(seen[kind].backs[0]).toBe('head');
        expect(seen[kind].ageMs).toBeLessThan(5_000);
      }
      // Unanswered by the relay: the fallbacks are spent, the client gets the gateway's error, not a 200.
      expect(seen.error.status).toBe(502);
      expect(JSON.parse(seen.error.text).error.code).toBe('upstream_error');
      expect(seen.error.backs).not.toContain('head');
      await until(() => plane.rows.length >= 4);
      // The failed attempt is recorded with what its upstream answered (a 503), the client told 502.
      expect(plane.rows.map(r => [r.status, r.completionTokens, r.estimated])).toEqual([[200, 5, false], [200, 5, false], [503, 0, false], [200, 5, false]]);
    } finally {
      await plane.close();
      await server.close();
    }

    // An upstream that sends no head: the relay's deadline ends the wait, and the client gets a 504, not a 200.
    let calls = 0;
    const silent = await upstream(async socket => {
      if (calls++ === 0) socket.write(`${sseHead}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const silentPlane = await dataPlane(silent.url, 600);
    try {
      await (await silentPlane.call({})).text();
      backs = [];
      const response = await silentPlane.call({});
      expect(response.status).toBe(504);
      expect(JSON.parse(await response.text()).error.code).toBe('upstream_timeout');
      expect(backs).toEqual(['1']);
    } finally {
      await silentPlane.close();
      await silent.close();
    }
  });

  it('answers with the headers the call adds, a trimmed conversation\'s, in the head it writes', async () => {
    const server = await upstream(async socket => {
      socket.write(sseHead + frame(event('first')));
      await delay(10);
      socket.write(`${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url, 5_000, true, 60);
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    try {
      // The first call opens the upstream connection; the relay answers the heads that come on a warm one.
      await (await plane.call({})).text();
      await until(endedByRelay);
      backs = [];
      const response = await plane.call({
        max_tokens: 5,
        messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: long }, { role: 'assistant', content: long }, { role: 'user', content: 'And so?' }],
      });
      expect(response.headers.get('x-quarterdeck-context-trimmed')).toBe('2 older messages dropped to fit 60 tokens');
      expect(response.headers.get('x-quarterdeck-model')).toBe('m');
      expect(await response.text()).toBe(`${event('first')}data: [DONE]\n\n`);
      expect(backs[0]).toBe('head');
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it('lets go of Node\'s response once it has answered the head, and the connection carries the next request after the body', async () => {
    const server = await upstream(async socket => {
      socket.write(sseHead + frame(event('first')));
      await delay(100);
      socket.write(`${frame(event(' second'))}${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    const expected = `${event('first')}${event(' second')}data: [DONE]\n\n`;
    try {
      // Opens the upstream connection, so the next calls start on a warm one (the relay answers their heads).
      expect(await (await plane.call({})).text()).toBe(expected);
      // Back in the pool once the relay's end notice is read (the client can have the whole body a moment before).
      await until(endedByRelay);
      const { port } = new URL(await plane.url());
      const client = net.connect({ host: '127.0.0.1', port: Number(port) });
      const request = rawStreamRequest(plane.key);
      let raw = '';
      client.on('data', data => (raw += data.toString('latin1')));
      backs = [];
      client.write(request);
      await until(() => raw.includes('first'));
      // Pipelined while the first body streams: answered after it, never inside it.
      client.write(request);
      await until(() => raw.split('0\r\n\r\n').length === 3);
      client.destroy();
      const responses = chunkedResponses(raw);
      expect(responses.map(r => r.text)).toEqual([expected, expected]);
      for (const { head } of responses) expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Transfer-Encoding: chunked$/);
      // Both heads were the relay's, and the usage of each was read when its body ended.
      expect(backs.filter(reason => reason === 'head')).toHaveLength(2);
      await until(() => plane.rows.length >= 3);
      expect(plane.rows.map(r => [r.status, r.promptTokens, r.completionTokens])).toEqual([[200, 7, 5], [200, 7, 5], [200, 7, 5]]);
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it('reads the chunk with the usage event as SseUsageFilter does, and leaves to it what it cannot be sure of', async () => {
    const usage = { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 };
    const data = (json: string) => `data: ${json}\n\n`;
    // The last chunk's events; `ends` when the relay reads it itself, else it goes back to JavaScript unread.
    const cases: Array<{ name: string; events: string; ends: boolean }> = [
      { name: 'the usage-only event', events: usageEvent, ends: true },
      { name: 'usage beside choices', events: data(JSON.stringify({ choices: [{ index: 0, delta: { content: '!' } }], usage })), ends: true },
      { name: 'a name twice (the last wins)', events: data(`{"choices":[],"usage":${JSON.stringify(usage)},"choices":[{"index":0}]}`), ends: true },
      { name: 'escapes and numbers inside values', events: data(`{"choices":[{"index":0,"delta":{"content":"a \\"q\\"\\n\\u00e9"},"logprobs":[-1.5e-3,0,12]}],"usage":${JSON.stringify(usage)}}`), ends: true },
      { name: 'usage only nested', events: data(`{"choices":[ ],"x":{"usage":{"prompt_tokens":1}}}`), ends: true },
      { name: 'two usage events, CRLF', events: `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } })}\r\n\r\n${usageEvent}`, ends: true },
      { name: 'usage without completion tokens', events: data(JSON.stringify({ choices: [], usage: { prompt_tokens: 3 } })), ends: true },
      { name: 'an escaped member name', events: data(`{"\\u0063hoices":[],"usage":${JSON.stringify(usage)}}`), ends: false },
      { name: 'not JSON', events: data(`{"choices":[],"usage":{"prompt_tokens":1,}}`), ends: false },
      { name: 'bytes outside ASCII', events: data(JSON.stringify({ choices: [], usage, note: 'é' })), ends: false },
      { name: 'usage that is a number', events: data(`{"choices":[],"usage":{"a":1},"usage":2}`), ends: false },
    ];
    let current = 0;
    const server = await upstream(async socket => {
      socket.write(sseHead + frame(event('first')));
      await delay(20);
      socket.write(`${frame(event(' second'))}`);
      await delay(20);
      socket.write(`${frame(`${cases[current].events}data: [DONE]\n\n`)}0\r\n\r\n`);
    });
    const withRelay = await dataPlane(server.url);
    const withoutRelay = await dataPlane(server.url, 5_000, false);
    try {
      // Warms the upstream connections.
      await (await withRelay.call({})).text();
      await (await withoutRelay.call({})).text();
      await until(() => backs.includes('5') && withRelay.rows.length === 1 && withoutRelay.rows.length === 1);
      for (current = 0; current < cases.length; current++) {
        for (const includeUsage of [false, true]) {
          const body = includeUsage ? { stream_options: { include_usage: true } } : {};
          const rows = [withRelay.rows.length, withoutRelay.rows.length];
          backs = [];
          const relayed = await (await withRelay.call(body)).text();
          await until(endedOrHandedBack);
          const plain = await (await withoutRelay.call(body)).text();
          const { name, ends } = cases[current];
          expect({ name, includeUsage, text: relayed }).toEqual({ name, includeUsage, text: plain });
          expect({ name, ends: endedByRelay() }).toEqual({ name, ends });
          await until(() => withRelay.rows.length > rows[0] && withoutRelay.rows.length > rows[1]);
          const counted = (row: UsageRecord) => [row.promptTokens, row.completionTokens, row.estimated];
          expect({ name, includeUsage, usage: counted(withRelay.rows[rows[0]]) }).toEqual({ name, includeUsage, usage: counted(withoutRelay.rows[rows[1]]) });
        }
      }
    } finally {
      await withRelay.close();
      await withoutRelay.close();
      await server.close();
    }
  });

  it('estimates from the events it forwarded when the upstream reports no usage', async () => {
    const server = await upstream(async socket => {
      socket.write(sseHead);
      for (const word of ['one', ' two', ' three', ' four']) {
        await delay(15);
        socket.write(frame(event(word)));
      }
      await delay(15);
      socket.write(`${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    try {
      expect(await (await plane.call({})).text()).toMatch(/"one"[\s\S]*" two"[\s\S]*" three"[\s\S]*" four"[\s\S]*\[DONE\]/);
      expect(starts).toBeGreaterThanOrEqual(1);
      await until(() => plane.rows.length >= 1);
      expect(plane.rows).toHaveLength(1);
      expect(plane.rows[0]).toMatchObject({ status: 200, estimated: true });
      // "one two three four" is four tokens: counted from the text the relay kept, not from nothing.
      expect(plane.rows[0].completionTokens).toBe(4);
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it.each([
    ['a string, a fraction or below zero', '{"prompt_tokens":"7","completion_tokens":-2.5}'],
    // JSON.parse keeps the last of a name given twice: the count that stands is the bad one.
    ['a good count given again as a bad one', '{"prompt_tokens":"7","completion_tokens":3,"completion_tokens":1e400}'],
    // Whole numbers in digits, but more than a usage row holds (2147483647): the relay must keep the events for the estimate.
    ['beyond what a usage row holds', '{"prompt_tokens":7,"completion_tokens":4294967295}'],
    ['one beyond what a usage row holds', '{"prompt_tokens":2147483648,"completion_tokens":2147483648}'],
  ])('estimates the counts an upstream reports as %s', async (_, usage) => {
    const server = await upstream(async socket => {
      socket.write(sseHead);
      for (const word of ['one', ' two', ' three', ' four']) {
        await delay(15);
        socket.write(frame(event(word)));
      }
      await delay(15);
      socket.write(`${frame(`data: {"choices":[],"usage":${usage}}\n\ndata: [DONE]\n\n`)}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    try {
      await (await plane.call({})).text();
      await until(() => plane.rows.length >= 1);
      expect(plane.rows[0]).toMatchObject({ status: 200, estimated: true });
      expect(plane.rows[0].promptTokens).toBeGreaterThan(0);
      expect(Number.isSafeInteger(plane.rows[0].promptTokens)).toBe(true);
      // "one two three four": counted from the events the relay kept, not 0 from nothing.
      expect(plane.rows[0].completionTokens).toBe(4);
      expect(Number.isFinite(plane.rows[0].cost)).toBe(true);
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it('gives a full client back to JavaScript, which waits for it to drain, and loses or reorders nothing', async () => {
    const count = 1500;
    const big = (i: number) => event(`${i}:${'y'.repeat(8000)}`);
    const server = await upstream(async socket => {
      socket.write(sseHead);
      await delay(10);
      socket.write(frame(event('start')));
      await delay(20);
      for (let i = 0; i < count; i++) {
        if (!socket.write(frame(big(i)))) await new Promise(resolve => socket.once('drain', resolve));
      }
      socket.write(`${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    try {
      // A client that reads nothing for a while: 12 MB of events, more than its socket buffers hold.
      const { port } = new URL(await plane.url());
      const client = net.connect({ host: '127.0.0.1', port: Number(port) });
      client.pause();
      client.write(rawStreamRequest(plane.key));
      await delay(400);
      let raw = '';
      client.on('data', data => (raw += data.toString('latin1')));
      client.resume();
      await new Promise<void>(resolve => {
        const check = setInterval(() => {
          if (raw.endsWith('0\r\n\r\n')) {
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
      client.destroy();
      expect(chunkedResponses(raw).map(r => r.text)).toEqual([`${event('start')}${Array.from({ length: count }, (_, i) => big(i)).join('')}data: [DONE]\n\n`]);
      expect(backs).toContain('3');
    } finally {
      await plane.close();
      await server.close();
    }
  }, 20_000);

  it('closes the upstream when the client goes away mid-stream, and ends a stream that goes quiet', async () => {
    const endless = await upstream(async socket => {
      socket.write(sseHead);
      while (!socket.destroyed) {
        await delay(10);
        socket.write(frame(event('x')));
      }
    });
    const plane = await dataPlane(endless.url);
    try {
      const abort = new AbortController();
      const response = await plane.call({}, abort.signal);
      const reader = response.body!.getReader();
      await reader.read();
      await until(() => starts >= 1);
      expect(starts).toBe(1);
      abort.abort();
      // The upstream's socket closes: the relay let go of it, and the data plane closed it.
      let upstreamClosed = false;
      void endless.closed().then(() => {
        upstreamClosed = true;
      });
      await until(() => upstreamClosed);
      expect(upstreamClosed).toBe(true);
    } finally {
      await plane.close();
      await endless.close();
    }

    const quiet = await upstream(async socket => {
      socket.write(sseHead);
      await delay(10);
      socket.write(frame(event('then nothing')));
    });
    const quietPlane = await dataPlane(quiet.url, 600);
    try {
      const began = Date.now();
      const response = await quietPlane.call({});
      await expect(response.text()).rejects.toThrow();
      // Ended by the relay's deadline (checked every 250 ms), as the socket timer would have.
      expect(Date.now() - began).toBeGreaterThanOrEqual(550);
      expect(Date.now() - began).toBeLessThan(2500);
      expect(backs).toContain('1');
    } finally {
      await quietPlane.close();
      await quiet.close();
    }
  });

  describe('a cancel', () => {
    const usageData = (usage: object) => JSON.stringify({ object: 'chat.completion.chunk', choices: [], usage });

    it('gives back what the relay held: the events it forwarded, and the usage event it read (then no events: the counts need no estimate)', async () => {
      const up = await socketPair();
      const down = await socketPair();
      const countedUp = await socketPair();
      const countedDown = await socketPair();
      const { owner, backs: told } = notingOwner();
      try {
        const id = direct.start(up.fd, down.fd, 5_000, RelayUsage.Forward, owner)!;
        expect(id).toBeDefined();
        up.far.write(frame(event('one')) + frame(event(' two')));
        await until(() => down.received().includes(' two'));
        expect(direct.cancel(id)).toEqual({ headSent: false, later: false, kept: Buffer.from(event('one') + event(' two')), usage: Buffer.alloc(0) });

        const counted = direct.start(countedUp.fd, countedDown.fd, 5_000, RelayUsage.Forward, owner)!;
        countedUp.far.write(frame(event('one')) + frame(usageEvent) + frame('data: [DONE]\n\n'));
        await until(() => countedDown.received().includes('[DONE]'));
        // The body's last chunk has not come: the relay still has the stream, and the usage event it read.
        const taken = direct.cancel(counted);
        expect({ ...taken, usage: taken.usage.toString() }).toEqual({ headSent: false, later: false, kept: Buffer.alloc(0), usage: usageEvent.slice('data: '.length).trim() });
        await delay(50);
        expect(told).toEqual([]);
      } finally {
        [up, down, countedUp, countedDown].forEach(pair => pair.destroy());
      }
    });

    it('that comes after the relay has handed the stream back still lets its owner have the hand-back (an ended body, its usage)', async () => {
      const up = await socketPair();
      const down = await socketPair();
      const { owner, backs: told } = notingOwner();
      try {
        const id = direct.start(up.fd, down.fd, 5_000, RelayUsage.Forward, owner)!;
        up.far.write(`${frame(event('one'))}${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
        // The event loop is busy while the relay ends the body: its End notice waits, and the cancel comes first.
        blockFor(300);
        expect(direct.cancel(id)).toMatchObject({ headSent: false, later: true });
        await until(() => told.length > 0);
        expect(told.map(back => [back.reason, back.usage.toString()])).toEqual([[RelayBack.End, usageEvent.slice('data: '.length).trim()]]);
        expect(down.received()).toBe(`${frame(event('one'))}${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
      } finally {
        [up, down].forEach(pair => pair.destroy());
      }
    });

    it('while a read or write is under way gives back what the relay held once it is done', async () => {
      const up = await socketPair();
      const down = await socketPair();
      const { owner, backs: told } = notingOwner();
      try {
        const id = hooked.start(up.fd, down.fd, 5_000, RelayUsage.Forward, owner)!;
        up.far.write(frame(event('one')));
        await until(() => down.received().includes('one'));
        pumpDelay(300);
        // A usage without its completion count: the relay gives the events too, for the estimate.
        const uncounted = `data: ${usageData({ prompt_tokens: 7 })}\n\n`;
        up.far.write(frame(event(' two') + uncounted));
        await delay(100);
        expect(hooked.cancel(id)).toEqual({ headSent: false, later: true, kept: Buffer.alloc(0), usage: Buffer.alloc(0) });
        await until(() => told.length > 0);
        expect(told.map(back => [back.reason, back.kept.toString(), back.usage.toString()])).toEqual([[RelayBack.Cancelled, event('one') + event(' two') + uncounted, usageData({ prompt_tokens: 7 })]]);
        // At most the chunk under way reached the client.
        expect(down.received()).toBe(frame(event('one')) + frame(event(' two') + uncounted));
      } finally {
        pumpDelay(0);
        [up, down].forEach(pair => pair.destroy());
      }
    });

    it('that says the client has no head is right: a head the relay had not begun to write is not written', async () => {
      const up = await socketPair();
      const down = await socketPair();
      const { owner, backs: told, heads } = notingOwner();
      try {
        const head = { before: Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: '), after: Buffer.from('\r\nTransfer-Encoding: chunked\r\n\r\n') };
        const id = hooked.start(up.fd, down.fd, 5_000, RelayUsage.Forward, owner, head)!;
        pumpDelay(300);
        up.far.write(sseHead + frame(event('first')));
        // The relay has read the upstream's head and not yet written the client's.
        await delay(100);
        expect(hooked.cancel(id)).toMatchObject({ headSent: false, later: true });
        await until(() => told.length > 0);
        await delay(100);
        expect(told.map(back => back.reason)).toEqual([RelayBack.Cancelled]);
        expect(heads).toEqual([]);
        // JavaScript may answer this client itself: not a byte of the relay's answer reached it.
        expect(down.received()).toBe('');
      } finally {
        pumpDelay(0);
        [up, down].forEach(pair => pair.destroy());
      }
    });
  });

  it('charges a client that hangs up while the relay has its stream, seen by Node first, with what the relay forwarded and the usage it read', async () => {
    const words = ['one', ' two', ' three', ' four'];
    let answer = 0;
    const server = await upstream(async socket => {
      const withUsage = answer++ === 1;
      socket.write(sseHead);
      for (const word of words) {
        await delay(15);
        socket.write(frame(event(word)));
      }
      if (withUsage) {
        await delay(15);
        socket.write(`${frame(usageEvent)}${frame('data: [DONE]\n\n')}`);
      }
      // The body's last chunk never comes: the client hangs up before.
    });
    const plane = await dataPlane(server.url);
    try {
      // Each on a new upstream connection, so Node answers the head and reads the client's socket (it sees the close).
      for (const last of ['" four"', '[DONE]']) {
        const { port } = new URL(await plane.url());
        const client = net.connect({ host: '127.0.0.1', port: Number(port) });
        let raw = '';
        client.on('data', data => (raw += data.toString('latin1')));
        client.write(rawStreamRequest(plane.key));
        await until(() => raw.includes(last));
        expect(raw).toContain(last);
        client.destroy();
        const rows = plane.rows.length;
        await until(() => plane.rows.length > rows);
      }
      expect(starts).toBe(2);
      // Node saw each client go, not the relay (which never wrote to it again).
      expect(backs).toEqual([]);
      expect(plane.rows.map(r => [r.status, r.completionTokens, r.estimated])).toEqual([[499, 4, true], [499, 5, false]]);
      expect(plane.rows[1].promptTokens).toBe(7);
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it('charges the streams a stopping data plane cuts short with what the relay forwarded', async () => {
    let answer = 0;
    const server = await upstream(async socket => {
      const first = answer++ === 0;
      socket.write(sseHead + frame(event('one')));
      for (const word of [' two', ' three', ' four']) {
        await delay(15);
        socket.write(frame(event(word)));
      }
      if (first) socket.write(`${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    const { port } = new URL(await plane.url());
    const client = net.connect({ host: '127.0.0.1', port: Number(port) });
    client.on('error', () => undefined);
    try {
      // Opens the upstream connection: the relay answers the next head itself, and Node lets go of the response.
      await (await plane.call({})).text();
      await until(endedOrHandedBack);
      backs = [];
      let raw = '';
      client.on('data', data => (raw += data.toString('latin1')));
      client.write(rawStreamRequest(plane.key));
      await until(() => raw.includes('" four"'));
      expect(backs).toEqual(['head']);
      // As the data-plane process stops (child.ts): the data plane, then the usage writer's last flush, which has every row.
      await plane.close();
      expect(plane.rows.map(r => [r.completionTokens, r.estimated])).toEqual([[4, true], [4, true]]);
      // Ended by whichever socket's close Node reports first: the client's (499) or the upstream's (502).
      expect([499, 502]).toContain(plane.rows[1].status);
    } finally {
      await plane.close();
      await server.close();
      client.destroy();
    }
  });

  it('completes a body the relay ended whose client hangs up before the end notice is read: 200, its usage, the upstream connection kept', async () => {
    const server = await upstream(async socket => {
      socket.write(sseHead);
      await delay(20);
      socket.write(frame(event('one')));
      await delay(20);
      socket.write(`${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    });
    const plane = await dataPlane(server.url);
    try {
      // A new upstream connection: Node answers the head and sees the client's close, here before the relay's End notice.
      endNoticeLateMs = 300;
      const { port } = new URL(await plane.url());
      const client = net.connect({ host: '127.0.0.1', port: Number(port) });
      let raw = '';
      client.on('data', data => (raw += data.toString('latin1')));
      client.write(rawStreamRequest(plane.key));
      await until(() => raw.endsWith('0\r\n\r\n'));
      client.destroy();
      await until(() => plane.rows.length > 0);
      expect(backs).toEqual(['5']);
      expect(plane.rows.map(r => [r.status, r.promptTokens, r.completionTokens, r.estimated])).toEqual([[200, 7, 5, false]]);
      // The upstream's connection went back to the pool: the next call goes on it.
      endNoticeLateMs = 0;
      expect(await (await plane.call({})).text()).toBe(`${event('one')}data: [DONE]\n\n`);
      expect(server.connections()).toBe(1);
    } finally {
      await plane.close();
      await server.close();
    }
  });

  it('records a client the relay finds gone before the head as leaving (499), and tries no fallback for it', async () => {
    const answer = async (socket: net.Socket) => {
      socket.write(sseHead + frame(event('first')));
      await delay(10);
      socket.write(`${frame(usageEvent)}${frame('data: [DONE]\n\n')}0\r\n\r\n`);
    };
    const server = await upstream(answer);
    let fallbackCalls = 0;
    const fallback = await upstream(socket => {
      fallbackCalls++;
      return answer(socket);
    });
    const plane = await dataPlane(server.url, 5_000, true, 8192, fallback.url);
    // A connection the relay's writes fail on (its sending side shut), while Node has not seen the client go.
    const gone = await socketPair(true);
    try {
      // Opens the upstream connection: the relay answers the next head itself.
      await (await plane.call({ model: 'r' })).text();
      await until(endedByRelay);
      await new Promise<void>(resolve => gone.near.end(resolve));
      clientFdInstead = gone.fd;
      backs = [];
      await (await plane.call({ model: 'r' })).text();
      await until(() => plane.rows.length >= 2);
      expect(plane.rows.map(r => r.status)).toEqual([200, 499]);
      expect(fallbackCalls).toBe(0);
      expect(backs).toEqual(['2']);
    } finally {
      gone.destroy();
      await plane.close();
      await server.close();
      await fallback.close();
    }
  });
});
