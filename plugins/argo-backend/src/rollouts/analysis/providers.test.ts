import type { Metric } from '@quarterdeck/plugin-argo-common';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { assessResult } from './conditions';
import { prometheusProvider, webProvider } from './providers';

/** What the server was asked, and by whom. */
const asked: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    asked.push({ url: req.url!, headers: req.headers });
    const json = (body: unknown) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    if (req.url!.startsWith('/prometheus/api/v1/query')) {
      // The canary's errors over a baseline with none: Prometheus's +Inf.
      json({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, '+Inf'] }, { metric: {}, value: [1, 'NaN'] }] } });
    } else if (req.url!.startsWith('/garbled/api/v1/query')) {
      json({ status: 'success', data: { resultType: 'vector', result: [{ metric: {} }] } });
    } else if (req.url === '/version') {
      json({ data: { version: 'v2' } });
    } else if (req.url === '/stall') {
      // The head, then part of the body, then nothing.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"data":');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise(resolve => {
  server.closeAllConnections();
  server.close(resolve);
}));

const metric = (provider: Record<string, unknown>, conditions: Partial<Metric> = {}): Metric => ({ name: 'm', provider, ...conditions } as Metric);
const never = new AbortController().signal;

describe('the prometheus provider', () => {
  it('reads +Inf and NaN as Prometheus writes them, so a failure condition on them fails the canary', async () => {
    const m = metric({ prometheus: { address: `${base}/prometheus`, query: 'errors' } }, { failureCondition: 'result[0] > 2' });
    const measured = await prometheusProvider.measure(m, never);
    expect(measured).toEqual({ ok: true, result: [Infinity, NaN], value: '[+Inf,NaN]' });
    expect(assessResult((measured as { result: unknown }).result, m)).toEqual({ phase: 'Failed' });
    expect(assessResult([NaN], { successCondition: '!isNaN(result[0])' })).toEqual({ phase: 'Failed' });
  });

  it("queries below the address's own path, with its headers and basic auth", async () => {
    asked.length = 0;
    await prometheusProvider.measure(metric({
      prometheus: {
        address: `${base}/prometheus/`,
        query: 'up',
        headers: [{ key: 'X-Scope-OrgID', value: 'team-a' }],
        authentication: { basicAuth: { username: 'reader', password: 's3cret' } },
      },
    }), never);
    expect(asked).toHaveLength(1);
    expect(asked[0].url).toBe('/prometheus/api/v1/query?query=up');
    expect(asked[0].headers).toMatchObject({ 'x-scope-orgid': 'team-a', authorization: `Basic ${Buffer.from('reader:s3cret').toString('base64')}` });
    expect(await prometheusProvider.measure(metric({ prometheus: { address: base, query: 'up', authentication: { basicAuth: { username: 'reader' } } } }), never))
      .toEqual({ ok: false, message: 'missing mandatory parameter in metric for basic auth setup: password' });
  });

  it('says which setting it does not honour rather than send the query without it', async () => {
    asked.length = 0;
    const refused = async (prometheus: Record<string, unknown>) => prometheusProvider.measure(metric({ prometheus: { query: 'up', ...prometheus } }), never);
    expect(await refused({ address: 'https://prometheus.example', insecure: true })).toEqual({
      ok: false,
      message: "prometheus: insecure (no TLS verification) is not supported by Quarterdeck's analysis; trust the server's CA with NODE_EXTRA_CA_CERTS instead",
    });
    expect(await refused({ address: base, rangeQuery: { start: "now() - duration('5m')", end: 'now()', step: '1m' } }))
      .toEqual({ ok: false, message: "prometheus: rangeQuery is not supported by Quarterdeck's analysis" });
    expect(await refused({ address: base, authentication: { oauth2: { tokenUrl: `${base}/token`, clientId: 'a', clientSecret: 'b' } } }))
      .toEqual({ ok: false, message: "prometheus: authentication.oauth2 is not supported by Quarterdeck's analysis" });
    expect(asked).toEqual([]);
    // insecure over plain http changes nothing; sigv4 is for Amazon Managed Prometheus's addresses only, as in Argo.
    expect(await refused({ address: `${base}/prometheus`, insecure: true, authentication: { sigv4: { region: 'eu-west-1' } } })).toMatchObject({ ok: true });
  });

  it('measures an answer that is not what Prometheus sends as an Error, not a throw', async () => {
    expect(await prometheusProvider.measure(metric({ prometheus: { address: `${base}/garbled`, query: 'up' } }), never))
      .toEqual({ ok: false, message: 'cannot read undefined as a sample' });
  });
});

describe('the web provider', () => {
  it('stores a string value as Argo does, with its JSON quotes', async () => {
    expect(await webProvider.measure(metric({ web: { url: `${base}/version`, jsonPath: '{$.data.version}' } }), never))
      .toEqual({ ok: true, result: 'v2', value: '"v2"' });
  });

  it('measures a body that stalls past the timeout as an Error', async () => {
    const measured = await webProvider.measure(metric({ web: { url: `${base}/stall`, timeoutSeconds: 1 } }), never);
    expect(measured).toMatchObject({ ok: false, message: expect.stringMatching(/aborted|timeout/i) });
  });
});
