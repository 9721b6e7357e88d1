import type { AuthService, DiscoveryService } from '@backstage/backend-plugin-api';
import type { Metric } from '@quarterdeck/plugin-argo-common';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayMetricProvider } from '../rollouts/analysis/gatewayProvider';
import { HttpQuarterdeckGateway } from './client';

describe('the gateway client against a gateway that never answers', () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    server = http.createServer(() => {}); // accepts, reads, never responds
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise(resolve => server.close(resolve));
  });

  const gateway = (timeoutMs?: number) => new HttpQuarterdeckGateway({
    discovery: { getBaseUrl: async () => base } as unknown as DiscoveryService,
    auth: { getOwnServiceCredentials: async () => ({}), getPluginRequestToken: async () => ({ token: 't' }) } as unknown as AuthService,
    ...(timeoutMs ? { timeoutMs } : {}),
  });

  it('gives up after its timeout, saying so', async () => {
    const started = Date.now();
    await expect(gateway(200).routeWeights('llm-chat', 'chat-small')).rejects.toThrow('gateway GET /products/llm-chat: no answer within 0.2s');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('stops a gateway metric measurement when the analysis reconciler cancels it', async () => {
    const metric: Metric = { name: 'errors', provider: { plugin: { 'quarterdeck.io/gateway': { product: 'llm-chat', model: 'small-v2' } } } };
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 100);
    const started = Date.now();
    const measured = await new GatewayMetricProvider(gateway()).measure(metric, cancel.signal);
    expect(measured).toEqual({ ok: false, message: 'gateway GET /metrics/models?productId=llm-chat&model=small-v2&windowSeconds=300: cancelled' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
