import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import crypto from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey } from '../keys/keyMaterial';
import { KeyCache } from './keyCache';
import { MemoryLimits } from './limits';
import { startDataPlane, type RunningDataPlane } from './server';
import { countChat } from './tokens';
import { UsageWriter } from './usageWriter';
import type { UsageRecord } from '../database/GatewayStore';
import { delay, until } from '../__testUtils__/waiting';

const SECRET = 'a-test-server-secret-of-at-least-32-chars';

/** What the upstream was sent, byte for byte. */
async function recordingUpstream() {
  const bodies: string[] = [];
  const read = (req: IncomingMessage) => new Promise<string>(resolve => {
    const parts: Buffer[] = [];
    req.on('data', part => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
  const server = http.createServer(async (req, res) => {
    const body = await read(req);
    bodies.push(body);
    if (JSON.parse(body).stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n');
      res.end('data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'hi' } }], usage: { prompt_tokens: 3, completion_tokens: 1 } }));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, bodies, close: () => new Promise(resolve => server.close(resolve)) };
}

describe('the body a call sends upstream', () => {
  let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  let plane: RunningDataPlane;
  let usage: UsageWriter;
  const key = generateKey(SECRET);

  beforeAll(async () => {
    upstream = await recordingUpstream();
    const keys = new KeyCache({ keySecret: SECRET });
    keys.apply({ id: 'k1', publicId: key.publicId, secretHash: key.hash, componentRef: 'component:default/app', productId: 'llm', plan: 'p', status: 'active', createdAt: '', createdBy: '', updatedAt: '' });
    const product = {
      id: 'llm', entityRef: 'api:default/llm', kind: 'openai', updatedAt: '', updatedBy: '',
      upstreams: [{ name: 'up', url: upstream.url }],
      models: [
        { name: 'small', upstream: 'up', upstreamModel: 'small-2026', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 },
        { name: 'tiny', upstream: 'up', contextWindow: 8192, inputPricePerMillion: 1, outputPricePerMillion: 2 },
        { name: 'large', upstream: 'up', contextWindow: 8192, inputPricePerMillion: 10, outputPricePerMillion: 20 },
      ],
      plans: [{ name: 'p', requestsPerMinute: 1000, models: ['small', 'tiny'] }],
    } as unknown as GatewayProduct;
    usage = new UsageWriter({ insertUsage: async () => undefined }, { intervalMs: 20 });
    plane = await startDataPlane({ host: '127.0.0.1', port: 0, keys, products: { get: id => (id === 'llm' ? product : undefined) }, limits: new MemoryLimits(), usage });
  });

  afterAll(async () => {
    await plane.close();
    await usage.stop();
    await upstream.close();
  });

  const call = (body: string) => fetch(`${plane.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key.full}`, 'content-type': 'application/json' }, body,
  });

  it('is what the client sent, with the upstream\'s model name and, for a stream, the usage request', async () => {
    const sent = '{"model":"small", "messages":[{"role":"user","content":"say \\"hi\\""}],"temperature":0.5}';
    expect((await call(sent)).status).toBe(200);
    expect(upstream.bodies.pop()).toBe(sent.replace('"model":"small"', '"model":"small-2026"'));

    const streamed = '{"model":"small","messages":[{"role":"user","content":"hi"}],"stream":true}';
    const response = await call(streamed);
    expect(await response.text()).toBe('data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\ndata: [DONE]\n\n');
    expect(upstream.bodies.pop()).toBe('{"model":"small-2026","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}');
  });

  it('answers what is wrong at the door: an OpenAI product under /p/, a body too large, a wrong method; and reads the scheme in any case', async () => {
    const before = upstream.bodies.length;
    const passThrough = await fetch(`${plane.url}/p/llm/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key.full}`, 'content-type': 'application/json' }, body: '{"model":"large","messages":[{"role":"user","content":"hi"}]}',
    });
    expect(passThrough.status).toBe(403);
    expect((await passThrough.json()).error).toMatchObject({ code: 'wrong_product_kind', message: expect.stringContaining('call it under /v1/') });
    expect(upstream.bodies.length).toBe(before);

    const huge = await fetch(`${plane.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key.full}`, 'content-type': 'application/json' }, body: `{"model":"small","messages":[{"role":"user","content":"${'x'.repeat(4 * 1024 * 1024)}"}]}`,
    });
    expect(huge.status).toBe(413);
    expect((await huge.json()).error).toMatchObject({ code: 'request_too_large', message: 'Request body is larger than 4194304 bytes' });

    const postModels = await fetch(`${plane.url}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${key.full}` } });
    expect([postModels.status, postModels.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fetch(`${plane.url}/v1/models`, { method: 'HEAD', headers: { authorization: `Bearer ${key.full}` } })).status).toBe(200);
    const getChat = await fetch(`${plane.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${key.full}` } });
    expect([getChat.status, getChat.headers.get('allow')]).toEqual([405, 'POST']);
    const lower = await fetch(`${plane.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `bearer ${key.full}`, 'content-type': 'application/json' }, body: '{"model":"small","messages":[{"role":"user","content":"hi"}]}',
    });
    expect(lower.status).toBe(200);
    upstream.bodies.pop();
  });

  it('never lets a repeated member take another model past the plan', async () => {
    // JSON.parse reads "tiny" (the last one wins), which the plan allows and which needs no renaming;
    // an upstream whose parser keeps the first would read "large". It is sent the body as the gateway read it.
    expect((await call('{"model":"large","model":"tiny","messages":[{"role":"user","content":"hi"}]}')).status).toBe(200);
    const forwarded = upstream.bodies.pop()!;
    expect(forwarded).not.toContain('large');
    expect(JSON.parse(forwarded)).toEqual({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] });
    expect((await call('{"model":"large","messages":[{"role":"user","content":"hi"}]}')).status).toBe(403);
  });
});

/**
 * An upstream that does what a test tells it by the request (the chat's first
 * message, or the REST path), and says how each request ended.
 */
async function scriptedUpstream() {
  const ended: Array<{ what: string; finished: boolean }> = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', part => parts.push(part));
    req.on('end', () => {
      const rest = req.url!.startsWith('/rest');
      const what = rest ? req.url!.slice('/rest'.length) : JSON.parse(Buffer.concat(parts).toString('utf8')).messages[0].content;
      res.on('close', () => ended.push({ what, finished: res.writableFinished }));
      const events = () => {
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed) {
            clearInterval(timer);
            return;
          }
          res.write(`data: {"choices":[{"index":0,"delta":{"content":"word${sent} "}}],"usage":null}\n\n`);
          if (++sent === 200) {
            clearInterval(timer);
            res.end('data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":400}}\n\ndata: [DONE]\n\n');
          }
        }, 10);
        res.on('close', () => clearInterval(timer));
      };
      if (what === 'slow events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        events();
      } else if (what === 'limited' || what === 'down') {
        res.writeHead(what === 'limited' ? 429 : 503, { 'content-type': 'application/json', ...(what === 'limited' ? { 'retry-after': '7' } : {}) });
        res.end('{"error":{"message":"slow down"}}');
      } else if (what === 'slow reply') {
        const timer = setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"choices":[{"index":0,"message":{"role":"assistant","content":"late"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}');
        }, 1500);
        res.on('close', () => clearTimeout(timer));
      } else if (what === 'hang' && req.url!.startsWith('/hang')) {
        // Never answers: the gateway's timeout ends it.
      } else if (what === 'slow head') {
        const timer = setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          events();
        }, 600);
        res.on('close', () => clearTimeout(timer));
      } else if (what === 'odd type') {
        // Node refuses to send a control character in a header: written raw, as a broken upstream could.
        const body = 'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n';
        req.socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\x01\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
      } else if (what === '/headers') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(req.headers));
      } else if (what === '/export') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const timer = setInterval(() => res.write(Buffer.alloc(64 * 1024, 1)), 5);
        res.on('close', () => clearInterval(timer));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: req.url }));
      }
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, ended, close: () => new Promise(resolve => { server.closeAllConnections(); server.close(resolve); }) };
}

describe('calls cut short, reservations and odd upstreams', () => {
  let upstream: Awaited<ReturnType<typeof scriptedUpstream>>;
  let plane: RunningDataPlane;
  let usage: UsageWriter;
  const rows: UsageRecord[] = [];
  const llmKey = generateKey(SECRET);
  const payKey = generateKey(SECRET);
  let options: Parameters<typeof startDataPlane>[0];

  beforeAll(async () => {
    upstream = await scriptedUpstream();
    const keys = new KeyCache({ keySecret: SECRET });
    const stored = { plan: 'p', status: 'active', createdAt: '', createdBy: '', updatedAt: '', componentRef: 'component:default/app' } as const;
    keys.apply({ ...stored, id: 'k-llm', publicId: llmKey.publicId, secretHash: llmKey.hash, productId: 'llm' });
    keys.apply({ ...stored, id: 'k-pay', publicId: payKey.publicId, secretHash: payKey.hash, productId: 'pay' });
    const model = (name: string) => ({ name, upstream: 'up', contextWindow: 100_000, inputPricePerMillion: 1, outputPricePerMillion: 2 });
    const products = {
      // '通义' is what the product schema now refuses; a product stored before could still hold such a name.
      llm: { id: 'llm', entityRef: 'api:default/llm', kind: 'openai',
        upstreams: [{ name: 'up', url: `${upstream.base}/v1` }, { name: 'stuck', url: `${upstream.base}/hang/v1`, timeoutMs: 400, version: 'v2' }],
        models: [model('m'), model('通义'), { ...model('m-v2'), upstream: 'stuck' }, { ...model('m-small'), contextWindow: 300 }],
        routes: [
          { name: 'canaried', targets: [{ model: 'm-v2', weight: 100 }], fallbacks: ['m'] },
          { name: 'canaried-small', targets: [{ model: 'm-v2', weight: 100 }], fallbacks: ['m-small'] },
        ],
        plans: [{ name: 'p', requestsPerMinute: 1000, tokensPerMinute: 5000, models: ['m', '通义', 'canaried', 'canaried-small'] }] },
      pay: { id: 'pay', entityRef: 'api:default/pay', kind: 'rest', upstreams: [{ name: 'pay', url: `${upstream.base}/rest` }], plans: [{ name: 'p', requestsPerMinute: 1000 }] },
    } as unknown as Record<string, GatewayProduct>;
    usage = new UsageWriter({ insertUsage: async batch => { rows.push(...batch); } }, { intervalMs: 20 });
    usage.start();
    options = { host: '127.0.0.1', port: 0, keys, products: { get: id => products[id] }, limits: new MemoryLimits(), usage };
    plane = await startDataPlane(options);
  });

  afterAll(async () => {
    await plane.close();
    await usage.stop();
    await upstream.close();
  });

  const chat = (body: object, signal?: AbortSignal) => fetch(`${plane.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${llmKey.full}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal,
  });
  const say = (what: string, extra: object = {}) => ({ model: 'm', messages: [{ role: 'user', content: what }], max_tokens: 1000, ...extra });
  const post = (path: string, body: object) => fetch(`${plane.url}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${llmKey.full}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  /** A request as the client wrote it: fetch would resolve the dot segments first. */
  const raw = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const url = new URL(plane.url);
    http.get({ host: url.hostname, port: url.port, path, headers: { authorization: `Bearer ${payKey.full}` } }, res => {
      let body = '';
      res.on('data', part => { body += part; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });

  it('charges a stream the client hangs up on with what it was sent, as the client\'s doing (499), and stops the upstream', async () => {
    const client = new AbortController();
    const response = await chat(say('slow events', { stream: true }), client.signal);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('word20 ')) text += new TextDecoder().decode((await reader.read()).value);
    client.abort();
    await until(() => rows.some(row => row.status === 499) && upstream.ended.some(e => e.what === 'slow events'));
    expect(upstream.ended.find(e => e.what === 'slow events')).toEqual({ what: 'slow events', finished: false });
    const row = rows.find(r => r.status === 499)!;
    // Twenty-one events or more of "wordN " (two tokens each): never nothing, never the 400 the upstream would have reported.
    expect(row).toMatchObject({ estimated: true, promptTokens: expect.any(Number) });
    expect(row.completionTokens).toBeGreaterThanOrEqual(42);
    expect(row.completionTokens).toBeLessThan(400);
  });

  it('stops the upstream when the client leaves before the response\'s head has come', async () => {
    rows.length = 0;
    const client = new AbortController();
    const answered = chat(say('slow head', { stream: true }), client.signal).catch(error => error);
    await delay(150);
    client.abort();
    await answered;
    await until(() => upstream.ended.some(e => e.what === 'slow head'));
    // Before its head (at 600 ms), not after its 200 events.
    expect(upstream.ended.find(e => e.what === 'slow head')).toEqual({ what: 'slow head', finished: false });
    await until(() => rows.length > 0);
    expect(rows.map(r => r.status)).toEqual([499]);
  });

  it('stops the upstream when the client leaves a call that is not streamed, and records the call as the client\'s doing (499)', async () => {
    rows.length = 0;
    const client = new AbortController();
    const answered = chat(say('slow reply'), client.signal).catch(error => error);
    await delay(150);
    client.abort();
    await answered;
    await until(() => upstream.ended.some(e => e.what === 'slow reply'));
    // Long before its answer, at 1.5 s.
    expect(upstream.ended.find(e => e.what === 'slow reply')).toEqual({ what: 'slow reply', finished: false });
    await until(() => rows.length > 0);
    // Charged the prompt the upstream was given, not nothing.
    expect(rows).toEqual([expect.objectContaining({ status: 499, estimated: true, promptTokens: expect.any(Number), completionTokens: 0 })]);
    expect(rows[0].promptTokens).toBeGreaterThan(0);
  });

  it('refuses a reservation it cannot read, naming the field, and reserves every choice and the tool definitions', async () => {
    for (const [extra, field] of [[{ max_completion_tokens: '1' }, 'max_completion_tokens'], [{ max_tokens: -5 }, 'max_tokens'], [{ n: 0 }, 'n'], [{ n: 1.5 }, 'n']] as const) {
      const refused = await chat(say('plain', extra));
      expect(refused.status).toBe(400);
      expect((await refused.json()).error).toMatchObject({ param: field, message: `${field}: must be a positive integer` });
    }
    const oddOptions = await chat(say('plain', { stream: true, stream_options: 'yes' }));
    expect([oddOptions.status, (await oddOptions.json()).error.message]).toEqual([400, 'stream_options: must be an object']);
    // 5,000 tokens a minute: three choices of 2,000 are more than a minute's worth, one is not.
    expect((await chat(say('plain', { max_tokens: 2000, n: 3 }))).status).toBe(429);
    expect((await chat(say('plain', { max_tokens: 2000, n: 1 }))).status).toBe(200);
    const tools = [{ type: 'function', function: { name: 'lookup', description: 'word '.repeat(6000), parameters: { type: 'object' } } }];
    expect((await chat(say('plain', { max_tokens: 10, tools }))).status).toBe(429);
    expect((await chat(say('plain', { max_tokens: null, max_completion_tokens: 10 }))).status).toBe(200);
    // Both sent: the larger is reserved, whichever of the two the upstream obeys.
    expect((await chat(say('plain', { max_tokens: 10, max_completion_tokens: 6000 }))).status).toBe(429);
    expect((await chat(say('plain', { max_tokens: 6000, max_completion_tokens: 10 }))).status).toBe(429);
  });

  it('counts a large prompt between other calls, not holding them: the models list is answered while a megabyte is counted', async () => {
    // A megabyte of base64 in a message: about a second of the tokenizer's time, and no piece of it in its cache.
    const blob = crypto.randomBytes(750_000).toString('base64');
    const big = say(blob, { max_tokens: 5 });
    const order: string[] = [];
    const counted = chat(big).then(async response => {
      order.push('large');
      return response;
    });
    await delay(50);
    const listed = await fetch(`${plane.url}/v1/models`, { headers: { authorization: `Bearer ${llmKey.full}` } });
    order.push('models');
    expect(listed.status).toBe(200);
    const refused = await counted;
    expect(order).toEqual(['models', 'large']);
    // Counted whole all the same: past the model's window, by the tokenizer's own count.
    expect(refused.status).toBe(400);
    expect((await refused.json()).error.message).toContain(`(${countChat(big.messages)} in the messages that cannot be dropped, 5 in the completion)`);
  });

  it('counts a prompt that holds special-token text, as OpenAI takes it, rather than failing the call', async () => {
    expect((await chat(say('first <|endoftext|> second', { max_tokens: 5 }))).status).toBe(200);
    expect((await chat({ model: 'm', messages: [{ role: 'user', content: 'plain' }, { role: 'system', content: 'end with <|endofprompt|>' }], max_tokens: 5 })).status).toBe(200);
  });

  it('counts prompts given as token ids, and reserves a reply for each prompt of a batch', async () => {
    // 5,000 tokens a minute: 6,000 token ids are more than that, however short they would be as text.
    const ids = await post('/v1/embeddings', { model: 'm', input: [Array(6000).fill(1)] });
    expect([ids.status, (await ids.json()).error.message]).toEqual([429, expect.stringContaining('needs up to 6000 tokens')]);
    expect((await post('/v1/completions', { model: 'm', prompt: Array(6000).fill(1), max_tokens: 10 })).status).toBe(429);
    // Three prompts of a batch may each be 2,000 tokens long.
    const batch = await post('/v1/completions', { model: 'm', prompt: ['a', 'b', 'c'], max_tokens: 2000 });
    expect([batch.status, (await batch.json()).error.message]).toEqual([429, expect.stringContaining('needs up to 600')]);
  });

  it('refuses a prompt, an input or a message name the upstream would not read, naming the field', async () => {
    for (const [path, body, param, message] of [
      ['/v1/completions', { model: 'm', prompt: { text: 'hi' } }, 'prompt', 'prompt: must be a string, an array of strings, an array of token ids or an array of arrays of token ids'],
      ['/v1/embeddings', { model: 'm', input: [1, 'a'] }, 'input', 'input: must be a string, an array of strings, an array of token ids or an array of arrays of token ids'],
      ['/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi', name: 5 }] }, 'messages[0].name', 'messages[0].name: must be a string'],
    ] as const) {
      const refused = await post(path, body);
      expect([refused.status, (await refused.json()).error]).toEqual([400, expect.objectContaining({ param, message })]);
    }
  });

  it("fits the conversation to a fallback's smaller window when the first pick fails", async () => {
    rows.length = 0;
    // The system prompt tells the scripted upstream what to do: the first pick (m-v2) never answers; m-small (300 tokens) does.
    const turn = (role: string, i: number) => ({ role, content: `turn ${i}: ${'word '.repeat(60)}` });
    const messages = [{ role: 'system', content: 'hang' }, turn('user', 1), turn('assistant', 2), turn('user', 3), turn('assistant', 4), { role: 'user', content: 'and now?' }];
    const response = await chat({ model: 'canaried-small', messages, max_tokens: 50 });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-quarterdeck-model')).toBe('m-small');
    expect(response.headers.get('x-quarterdeck-context-trimmed')).toMatch(/^[1-4] older messages? dropped to fit 300 tokens$/);
    await until(() => rows.length === 2);
    expect(rows.map(r => r.status)).toEqual([504, 200]);
  });

  it('answers a stream whose upstream sends a header value Node cannot write, and survives a model name it cannot', async () => {
    const odd = await chat(say('odd type', { stream: true }));
    expect(odd.status).toBe(200);
    expect(odd.headers.get('content-type')).toBe('text/event-stream');
    expect(await odd.text()).toContain('"hi"');
    const unwritable = await chat(say('plain', { model: '通义', stream: true }));
    expect(unwritable.status).toBe(502);
    expect((await chat(say('plain'))).status).toBe(200);
  });

  it('passes no dot segment or encoded slash of a REST path upstream', async () => {
    const before = upstream.ended.length;
    for (const path of ['/p/pay/../../admin/users', '/p/pay/%2E%2e/admin', '/p/pay/a/./b', '/p/pay/a%2Fb', '/p/pay/a\\b', '/p/pay/..;/admin', '/p/pay/..;jsessionid=1/admin']) {
      const refused = await raw(path);
      expect([path, refused.status]).toEqual([path, 400]);
      expect(JSON.parse(refused.body).error.message).toMatch(/^path: /);
    }
    expect(upstream.ended.length).toBe(before);
    expect(await raw('/p/pay/items/1?full=true')).toEqual({ status: 200, body: JSON.stringify({ path: '/rest/items/1?full=true' }) });
    await until(() => rows.some(row => row.productId === 'pay'));
  });

  it("passes no identity a caller makes up to a REST upstream: the gateway says who calls, and from where", async () => {
    const payRowsBefore = rows.filter(r => r.productId === 'pay').length;
    const response = await fetch(`${plane.url}/p/pay/headers`, {
      headers: {
        authorization: `Bearer ${payKey.full}`, 'x-forwarded-email': 'grace@example.com', 'x-forwarded-user': 'grace', forwarded: 'for=1.2.3.4',
        'x-real-ip': '1.2.3.4', 'x-auth-request-email': 'grace@example.com', 'x-quarterdeck-dev-user': 'grace', 'x-quarterdeck-consumer': 'component:default/other',
        'x-request-id': 'kept',
      },
    });
    const seen = await response.json();
    for (const name of ['x-forwarded-email', 'x-forwarded-user', 'forwarded', 'x-real-ip', 'x-auth-request-email', 'x-quarterdeck-dev-user', 'authorization']) {
      expect([name, seen[name]]).toEqual([name, undefined]);
    }
    expect(seen).toMatchObject({ 'x-quarterdeck-consumer': 'component:default/app', 'x-forwarded-for': '127.0.0.1', 'x-request-id': 'kept' });
    // Its usage row written before the next test counts rows.
    await until(() => rows.filter(r => r.productId === 'pay').length > payRowsBefore);
  });

  it('passes a REST body at the pace the client reads it, and stops the upstream when the client leaves', async () => {
    rows.length = 0;
    const client = new AbortController();
    const response = await fetch(`${plane.url}/p/pay/export`, { headers: { authorization: `Bearer ${payKey.full}` }, signal: client.signal });
    const reader = response.body!.getReader();
    for (let read = 0; read < 256 * 1024;) read += (await reader.read()).value!.length;
    client.abort();
    await until(() => upstream.ended.some(e => e.what === '/export'));
    expect(upstream.ended.find(e => e.what === '/export')).toEqual({ what: '/export', finished: false });
    await until(() => rows.length > 0);
    expect(rows.map(r => r.status)).toEqual([499]);
  });

  it.each([false, true])("passes an upstream's 429 on with its Retry-After once no fallback is left, and records what each version answered (stream: %p)", async stream => {
    rows.length = 0;
    const limited = await chat(say('limited', { stream }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await limited.json()).error).toMatchObject({ type: 'rate_limit_error', code: 'upstream_rate_limited' });
    const down = await chat(say('down', { stream }));
    expect(down.status).toBe(502);
    await until(() => rows.length === 2);
    expect(rows.map(r => r.status)).toEqual([429, 503]);
  });

  it("times each attempt from its own start: a fallback's latency is its own, not the failed version's timeout", async () => {
    rows.length = 0;
    const response = await chat(say('hang', { model: 'canaried' }));
    expect(response.status).toBe(200);
    await until(() => rows.length === 2);
    const [failed, answered] = rows;
    expect([failed.status, failed.upstream, answered.status, answered.upstream]).toEqual([504, 'stuck@v2', 200, 'up']);
    expect(failed.latencyMs).toBeGreaterThanOrEqual(390);
    expect(answered.latencyMs).toBeLessThan(200);
  });

  it('passes a REST upload sent with Expect: 100-continue, and no header the client named in Connection', async () => {
    const url = new URL(plane.url);
    const put = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: '/p/pay/items/1', headers: {
        authorization: `Bearer ${payKey.full}`, expect: '100-continue', 'content-length': 5,
      } }, res => {
        let body = '';
        res.on('data', part => { body += part; });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('continue', () => req.end('hello'));
      req.on('error', reject);
    });
    expect(put).toEqual({ status: 200, body: '{"path":"/rest/items/1"}' });

    const seen = await new Promise<Record<string, string>>((resolve, reject) => {
      http.get({ host: url.hostname, port: url.port, path: '/p/pay/headers', headers: {
        authorization: `Bearer ${payKey.full}`, connection: 'keep-alive, x-hop', 'x-hop': 'for the next hop only', 'x-kept': 'end to end',
      } }, res => {
        let body = '';
        res.on('data', part => { body += part; });
        res.on('end', () => resolve(JSON.parse(body)));
      }).on('error', reject);
    });
    expect(seen['x-hop']).toBeUndefined();
    expect(seen['x-kept']).toBe('end to end');
  });

  it('answers /v1/models for a REST product\'s key as the other /v1/ routes do, and counts validation refusals', async () => {
    const models = await fetch(`${plane.url}/v1/models`, { headers: { authorization: `Bearer ${payKey.full}` } });
    expect([models.status, (await models.json()).error.code]).toEqual([403, 'wrong_product_kind']);
    const metricsBefore = await (await fetch(`${plane.url}/metrics`)).text();
    const before = Number(/quarterdeck_gateway_refusals_total\{product="",reason="validation"\} (\d+)/.exec(metricsBefore)?.[1] ?? 0);
    expect((await chat(say('plain', { max_tokens: 'x' }))).status).toBe(400);
    const metricsAfter = await (await fetch(`${plane.url}/metrics`)).text();
    expect(metricsAfter).toContain(`quarterdeck_gateway_refusals_total{product="",reason="validation"} ${before + 1}`);
  });

  it('refuses a call with 503 while its limits cannot be checked, and calls no upstream', async () => {
    const blind = await startDataPlane({ ...options, limits: { admit: () => Promise.reject(new Error('Redis is away')), settle: async () => undefined } });
    try {
      const before = upstream.ended.length;
      const refused = await fetch(`${blind.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${llmKey.full}`, 'content-type': 'application/json' }, body: JSON.stringify(say('plain')),
      });
      expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, '1']);
      expect((await refused.json()).error).toEqual({ type: 'api_error', code: 'limits_unavailable', param: null, message: 'The gateway cannot check the limits of this key right now. Try again in 1s.' });
      expect(upstream.ended.length).toBe(before);
    } finally {
      await blind.close();
    }
  });

  it('calls no upstream whose host the allowlist no longer takes', async () => {
    const narrowed = await startDataPlane({ ...options, allowedUpstreamHosts: ['models.internal', '*.127.0.0.1'] });
    try {
      const before = upstream.ended.length;
      const rest = await fetch(`${narrowed.url}/p/pay/items/1`, { headers: { authorization: `Bearer ${payKey.full}` } });
      expect(rest.status).toBe(502);
      expect((await rest.json()).error).toEqual({ type: 'api_error', code: 'upstream_not_allowed', param: null, message: 'pay is not called: its host is not in gateway.allowedUpstreamHosts.' });
      const chatted = await fetch(`${narrowed.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${llmKey.full}`, 'content-type': 'application/json' }, body: JSON.stringify(say('plain')),
      });
      expect(chatted.status).toBe(502);
      expect((await chatted.json()).error).toMatchObject({ code: 'upstream_not_allowed' });
      expect(upstream.ended.length).toBe(before);
    } finally {
      await narrowed.close();
    }
  });

  it("answers with the last attempt's failure: a fallback that failed after a target the allowlist skipped is not \"not allowed\"", async () => {
    // The canary's upstream named by a host the allowlist does not take; its fallback's is taken, and answers 503.
    const llm = options.products.get('llm')!;
    const local = { ...llm, upstreams: llm.upstreams.map(u => (u.name === 'stuck' ? { ...u, url: u.url.replace('127.0.0.1', 'localhost') } : u)) };
    const narrowed = await startDataPlane({ ...options, allowedUpstreamHosts: ['127.0.0.1'], products: { get: id => (id === 'llm' ? local : options.products.get(id)) } });
    try {
      const failed = await fetch(`${narrowed.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${llmKey.full}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...say('down'), model: 'canaried' }),
      });
      expect(failed.status).toBe(502);
      expect((await failed.json()).error).toMatchObject({ code: 'upstream_error', message: 'The upstream failed for `canaried`, and no fallback succeeded.' });
    } finally {
      await narrowed.close();
    }
  });
});
