import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey } from '../keys/keyMaterial';
import { KeyCache } from './keyCache';
import { MemoryLimits } from './limits';
import { startDataPlane, type RunningDataPlane } from './server';
import { UsageWriter } from './usageWriter';

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
    expect(postModels.status).toBe(405);
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
