// Fixtures for the gateway views' tests.
import type {
  GatewayAuditEvent,
  GatewayKeyRequest,
  GatewayKeyView,
  GatewayProduct,
  GatewayUsageSummary,
} from '@quarterdeck/plugin-gateway-common';
import type { GatewayApi, GatewayAuditQuery } from '../api/GatewayClient';

export const product: GatewayProduct = {
  id: 'llm-chat',
  entityRef: 'api:default/llm-chat',
  kind: 'openai',
  title: 'LLM chat (OpenAI-compatible)',
  updatedAt: '2026-11-22T09:00:00Z',
  updatedBy: 'quarterdeck:seed',
  upstreams: [
    { name: 'model-server-v1', url: 'http://127.0.0.1:7101', version: 'v1' },
    { name: 'model-server-v2', url: 'http://127.0.0.1:7102', version: 'v2' },
  ],
  models: [
    { name: 'chat-small-v1', upstream: 'model-server-v1', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 0.15, outputPricePerMillion: 0.6 },
    { name: 'chat-small-v2', upstream: 'model-server-v2', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 0.15, outputPricePerMillion: 0.6 },
    { name: 'chat-large', upstream: 'model-server-v1', contextWindow: 32768, inputPricePerMillion: 2.5, outputPricePerMillion: 10 },
  ],
  routes: [{ name: 'chat-small', targets: [{ model: 'chat-small-v1', weight: 80 }, { model: 'chat-small-v2', weight: 20 }], fallbacks: ['chat-small-v1'], largerContextModel: 'chat-large', rollout: 'local/default/chat-model' }],
  plans: [
    { name: 'standard', requestsPerMinute: 120, tokensPerMinute: 40000, dailyCost: 10, models: ['chat-small', 'chat-large'] },
    { name: 'trial', requestsPerMinute: 10, dailyCost: 0.5, models: ['chat-small'] },
  ],
};

export const pendingRequest: GatewayKeyRequest = {
  id: 'req-1',
  productId: 'llm-chat',
  plan: 'standard',
  apiRef: 'api:default/llm-chat',
  componentRef: 'component:default/chat-assistant',
  justification: 'the assistant answers customer questions',
  status: 'pending',
  requestedBy: 'user:default/erin',
  requestedAt: '2026-11-22T10:00:00Z',
  // Ahead of whenever the tests run: a request past its expiry can no longer be decided, and the pages say so.
  expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
};

export const activeKey: GatewayKeyView = {
  id: 'key-1',
  publicId: 'abcdefghijkl',
  masked: 'qdk_abcdefghijkl_…',
  componentRef: 'component:default/chat-assistant',
  productId: 'llm-chat',
  plan: 'standard',
  status: 'active',
  createdAt: '2026-11-22T10:05:00Z',
  createdBy: 'user:default/carol',
};

export const SECRET = `qdk_abcdefghijkl_${'S'.repeat(43)}`;
export const ROTATED_SECRET = `qdk_mnopqrstuvwx_${'R'.repeat(43)}`;

export function usage(requests = 3): GatewayUsageSummary {
  const start = Date.parse('2026-11-21T11:00:00Z');
  const zero = { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cost: 0, p50Ms: 0, p99Ms: 0 };
  const busy = { requests, errors: 1, promptTokens: 120, completionTokens: 300, cost: 0.0002, p50Ms: 25, p99Ms: 100 };
  return {
    from: new Date(start).toISOString(),
    to: new Date(start + 24 * 3_600_000).toISOString(),
    bucketMs: 3_600_000,
    latencyBoundsMs: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    series: Array.from({ length: 24 }, (_, i) => ({ start: new Date(start + i * 3_600_000).toISOString(), ...(i === 23 ? busy : zero) })),
    byConsumer: [{ consumerRef: 'component:default/chat-assistant', ...busy }],
    byModel: [{ model: 'chat-small-v1', upstream: 'model-server-v1@v1', ...busy }],
  };
}

/**
 * The whole gateway's day: llm-chat's calls, a removed product's, and twelve
 * consumers, the busiest the cheapest (consumer-1: 20 calls, $0.0002), and
 * calls without a consumer.
 */
export function gatewayUsage(): GatewayUsageSummary {
  const day = usage();
  const busy = day.byConsumer[0];
  return {
    ...day,
    byProduct: [{ ...busy, productId: 'llm-chat', entityRef: 'api:default/llm-chat', title: 'LLM chat (OpenAI-compatible)' }, { ...busy, requests: 2, errors: 0, productId: 'old-payments' }],
    byConsumer: [
      ...Array.from({ length: 12 }, (_, i) => ({ ...busy, requests: 20 - i, cost: busy.cost * (i + 1), consumerRef: `component:default/consumer-${i + 1}` })),
      { ...busy, requests: 1, cost: 0, consumerRef: 'unknown' },
    ],
  };
}

const auditTrail: GatewayAuditEvent[] = [
  { id: '2', createdAt: '2026-11-23T09:00:00Z', actor: 'user:default/erin', action: 'key.rotated', target: 'key-0', details: { newKeyId: 'key-1', graceSeconds: 86_400, graceUntil: '2026-11-24T09:00:00Z' } },
  { id: '1', createdAt: '2026-11-22T10:00:00Z', actor: 'user:default/erin', action: 'key-request.created', target: 'req-1', reason: 'the assistant answers customer questions', details: { plan: 'standard' } },
];

export function mockGateway(): jest.Mocked<GatewayApi> {
  return {
    health: jest.fn(),
    listProducts: jest.fn().mockResolvedValue([product]),
    getProduct: jest.fn().mockResolvedValue(product),
    putProduct: jest.fn(),
    deleteProduct: jest.fn(),
    listKeyRequests: jest.fn().mockImplementation(async ({ status }: { status?: string }) => [pendingRequest].filter(r => !status || r.status === status)),
    createKeyRequest: jest.fn().mockImplementation(async body => ({ ...pendingRequest, ...body, id: 'req-2' })),
    approveKeyRequest: jest.fn().mockResolvedValue({
      request: { ...pendingRequest, status: 'approved', reviewedBy: 'user:default/carol', keyId: activeKey.id },
      issued: { key: activeKey, secret: SECRET },
    }),
    denyKeyRequest: jest.fn().mockResolvedValue({ ...pendingRequest, status: 'denied' }),
    listKeys: jest.fn().mockResolvedValue({ items: [activeKey], totalItems: 1, activeItems: 1 }),
    countKeysByProduct: jest.fn().mockResolvedValue({ 'llm-chat': { totalItems: 1, activeItems: 1 } }),
    rotateKey: jest.fn().mockResolvedValue({ key: { ...activeKey, id: 'key-2', publicId: 'mnopqrstuvwx', masked: 'qdk_mnopqrstuvwx_…' }, secret: ROTATED_SECRET }),
    revokeKey: jest.fn().mockResolvedValue({ ...activeKey, status: 'revoked' }),
    getUsage: jest.fn(async (query: { entityRef?: string }) => (query.entityRef ? usage() : gatewayUsage())),
    getStatus: jest.fn().mockResolvedValue({
      dataPlane: { running: true, host: 'replica-a', url: 'http://127.0.0.1:7008', pid: 4242, since: '2026-11-23T08:00:00Z', restarts: 1, lastExit: { at: '2026-11-23T07:59:59Z', code: null, signal: 'SIGKILL' }, streams: { relay: 'native' } },
      limits: 'memory',
      allowedUpstreamHosts: ['127.0.0.1', 'api.openai.com'],
      held: { keys: 3, products: 2 },
      usageRows: { waiting: 1200, dropped: 0 },
      keyRequestWatchers: ['group:default/platform-admins'],
    }),
    // Like the backend, a query for one action gets that action's entries only.
    listAudit: jest.fn(async (query: GatewayAuditQuery) => ({ items: auditTrail.filter(e => !query.action || e.action === query.action) })),
  };
}
