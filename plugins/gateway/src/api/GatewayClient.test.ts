import { ResponseError } from '@backstage/errors';
import { GatewayClient } from './GatewayClient';

function client(response: () => Response) {
  const fetch = jest.fn(async (_url: string, _init?: RequestInit) => response());
  const gateway = new GatewayClient({
    discoveryApi: { getBaseUrl: async (id: string) => `http://backstage/api/${id}` },
    fetchApi: { fetch: fetch as any },
  });
  return { gateway, fetch };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('GatewayClient', () => {
  it('reads lists with their query and unwraps items', async () => {
    const { gateway, fetch } = client(() => json({ items: [{ id: 'r' }] }));
    await expect(gateway.listKeyRequests({ entityRef: 'api:default/llm-chat', status: 'pending' })).resolves.toEqual([{ id: 'r' }]);
    expect(fetch.mock.calls[0][0]).toBe('http://backstage/api/gateway/key-requests?entityRef=api%3Adefault%2Fllm-chat&status=pending');
    await gateway.listProducts();
    expect(fetch.mock.calls[1][0]).toBe('http://backstage/api/gateway/products');
    // A false filter is sent, not dropped: it asks for the keys that no longer work.
    await gateway.listKeys({ entityRef: 'component:default/c', productId: 'llm-chat', accepted: false, limit: 25, offset: 0 });
    expect(fetch.mock.calls[2][0]).toBe('http://backstage/api/gateway/keys?entityRef=component%3Adefault%2Fc&productId=llm-chat&accepted=false&limit=25&offset=0');
    // The audit trail's page is answered whole: its next cursor is the way to the older entries.
    await expect(gateway.listAudit({ action: 'key.revoked', before: '1796561238325-12', limit: 25 })).resolves.toEqual({ items: [{ id: 'r' }] });
    expect(fetch.mock.calls[3][0]).toBe('http://backstage/api/gateway/audit?action=key.revoked&before=1796561238325-12&limit=25');
  });

  it('posts JSON bodies to the action routes', async () => {
    const { gateway, fetch } = client(() => json({ key: {}, secret: 'qdk_x' }, 201));
    await gateway.rotateKey('key/1', { graceSeconds: 60 });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('http://backstage/api/gateway/keys/key%2F1/rotate');
    expect(init).toMatchObject({ method: 'POST', body: JSON.stringify({ graceSeconds: 60 }) });
    await gateway.approveKeyRequest('req-1', { expiresInDays: 30 });
    expect(fetch.mock.calls[1][0]).toBe('http://backstage/api/gateway/key-requests/req-1/approve');
  });

  it('removes a product with its precondition and reason in the body, and reads nothing from the 204', async () => {
    const { gateway, fetch } = client(() => new Response(null, { status: 204 }));
    await expect(gateway.deleteProduct('llm-chat', { expectedUpdatedAt: '2026-12-06T10:00:00.000Z', reason: 'retired' })).resolves.toBeUndefined();
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('http://backstage/api/gateway/products/llm-chat');
    expect(init).toMatchObject({ method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ expectedUpdatedAt: '2026-12-06T10:00:00.000Z', reason: 'retired' }) });
  });

  it('surfaces backend errors as ResponseError with their message', async () => {
    const { gateway } = client(() => json({ error: { name: 'NotAllowedError', message: 'You may not review key requests' }, response: { statusCode: 403 } }, 403));
    const error = await gateway.denyKeyRequest('req-1', { reason: 'no' }).catch(e => e);
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.response.status).toBe(403);
    expect(error.body.error.message).toBe('You may not review key requests');
  });
});
