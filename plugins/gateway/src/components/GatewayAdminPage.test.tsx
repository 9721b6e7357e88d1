import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { gatewayApiRef, type GatewayApi } from '../api/GatewayClient';
import { GatewayAdminPage } from './GatewayAdminPage';
import { mockGateway } from './testData';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';

type Decision = AuthorizeResult.ALLOW | AuthorizeResult.DENY;

// The consumers of the whole gateway's usage (testData's gatewayUsage): twelve, the last not in the catalog.
const consumer = (i: number, owner: string) => ({
  apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: `consumer-${i}`, namespace: 'default' }, spec: { type: 'service', lifecycle: 'production', owner },
});
// team-b written both ways the catalog allows: one owner.
const OWNERS = [...Array(6).fill('team-a'), 'team-b', 'team-b', 'group:default/team-b', 'group:default/team-b', 'user:default/erin'];
const catalogConsumers = OWNERS.map((owner, i) => consumer(i + 1, owner));

async function render(gateway: GatewayApi, result: Decision | ((permission: string) => Decision), catalog = catalogApiMock({ entities: catalogConsumers })) {
  await renderInTestApp(
    <TestApiProvider apis={[
      [gatewayApiRef, gateway],
      [permissionApiRef, mockApis.permission({ authorize: typeof result === 'function' ? request => result(request.permission.name) : result })],
      [catalogApiRef, catalog],
    ]}>
      <GatewayAdminPage />
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

// The basic permission's answer is cached for the whole file, hence a
// separate file for the user without it (GatewayAdminPage.denied.test.tsx).
describe('GatewayAdminPage', () => {
  it('lists every product with its plans and keys', async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW);
    const table = await screen.findByRole('table', { name: 'gateway products' });
    expect(within(table).getByText('LLM chat (OpenAI-compatible)')).toBeInTheDocument();
    expect(within(table).getByText('1 of 1')).toBeInTheDocument();
    // The counts come from the server's totals: no key is read to count them.
    // Every product's counts in one read, not a read per product.
    expect(gateway.countKeysByProduct).toHaveBeenCalledTimes(1);
    expect(gateway.listKeys).not.toHaveBeenCalled();
    // Headings stay on one line (a narrow table used to break "Requests" into "Reques ts").
    expect(within(table).getByRole('columnheader', { name: 'Active keys' })).toHaveStyle({ whiteSpace: 'nowrap' });
  });

  it("charts the whole gateway's usage over time, by product (a removed one by its id) and its busiest consumers", async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW);
    const products = await screen.findByRole('table', { name: 'usage by product' });
    // One summary of the whole gateway, not a read per product.
    expect(gateway.getUsage).toHaveBeenCalledWith({ hours: 24 });
    expect(gateway.getUsage).not.toHaveBeenCalledWith(expect.objectContaining({ entityRef: expect.anything() }));
    expect(within(products).getByRole('columnheader', { name: 'Requests' })).toHaveStyle({ whiteSpace: 'nowrap' });
    const [llmChat, removed] = within(products).getAllByRole('row').slice(1);
    expect(within(llmChat).getByText('LLM chat (OpenAI-compatible)')).toBeInTheDocument();
    expect(within(llmChat).getByRole('link', { name: /llm-chat/ })).toHaveAttribute('href', expect.stringMatching(/\/catalog\/default\/api\/llm-chat$/));
    expect(within(removed).getByText('old-payments')).toBeInTheDocument();
    expect(within(removed).getByText('removed from the gateway')).toBeInTheDocument();
    expect(within(removed).getAllByRole('cell')[2]).toHaveTextContent('2');
    expect(screen.getByRole('img', { name: /Requests and errors per hour/ })).toBeInTheDocument();
    // The ten busiest consumers, and how many there are; the whole gateway's usage is not narrowed to one.
    const consumers = screen.getByRole('table', { name: 'usage by consumer' });
    expect(within(consumers).getAllByRole('row')).toHaveLength(11);
    expect(within(consumers).getAllByRole('row')[10]).toHaveTextContent('consumer-10');
    expect(screen.getByText("The 10 busiest of 13 consumers; each API's Gateway tab lists all of its own.")).toBeInTheDocument();
    expect(screen.queryByRole('combobox', { name: 'Consumer' })).not.toBeInTheDocument();
    fireEvent.click(within(consumers).getAllByRole('row')[1]);
    fireEvent.click(screen.getByRole('button', { name: 'last 30 d' }));
    await waitFor(() => expect(gateway.getUsage).toHaveBeenCalledWith({ hours: 720 }));
    expect(gateway.getUsage).not.toHaveBeenCalledWith(expect.objectContaining({ consumerRef: expect.anything() }));
  });

  it("sums the whole gateway's calls by each consumer's owner in the catalog, the costliest first", async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW);
    const owners = await screen.findByRole('table', { name: 'usage by owner' });
    expect(within(owners).getAllByRole('row').slice(1).map(row => within(row).getAllByRole('cell').map(cell => cell.textContent).slice(0, 3)))
      .toEqual([['team-b', '4', '50'], ['team-a', '6', '105'], ['not in the catalog, or not yours to read', '1', '9'], ['user:erin', '1', '10'], ['no consumer', '1', '1']]);
    expect(within(owners).getByRole('link', { name: /team-a/ })).toHaveAttribute('href', expect.stringMatching(/\/catalog\/default\/group\/team-a$/));
  });

  it("says so when the catalog cannot tell the consumers' owners, and still sums what it can", async () => {
    const gateway = mockGateway();
    const catalog = catalogApiMock.mock({ getEntitiesByRefs: jest.fn().mockRejectedValue(new Error('catalog unavailable')) });
    await render(gateway, AuthorizeResult.ALLOW, catalog);
    expect(await screen.findByText(/^Could not read consumers' owners from the catalog: catalog unavailable\. Their calls are under "owner not read yet"/)).toBeInTheDocument();
    const owners = screen.getByRole('table', { name: 'usage by owner' });
    expect(within(owners).getAllByRole('row').slice(1).map(row => within(row).getAllByRole('cell').map(cell => cell.textContent).slice(0, 2)))
      .toEqual([['owner not read yet', '12'], ['no consumer', '1']]);
    expect(screen.getByRole('table', { name: 'usage by product' })).toBeInTheDocument();
  });

  it('reads the owners again after a failed read, and keeps them when the window changes', async () => {
    const gateway = mockGateway();
    const getEntitiesByRefs = jest.fn().mockRejectedValueOnce(new Error('catalog unavailable'))
      .mockImplementation(async ({ entityRefs }: { entityRefs: string[] }) => ({
        items: entityRefs.map(ref => catalogConsumers.find(e => `component:default/${e.metadata.name}` === ref)),
      }));
    await render(gateway, AuthorizeResult.ALLOW, catalogApiMock.mock({ getEntitiesByRefs }));
    const owners = await screen.findByRole('table', { name: 'usage by owner' });
    await within(owners).findByRole('link', { name: /team-a/ });
    expect(screen.queryByText(/Could not read consumers' owners/)).not.toBeInTheDocument();
    expect(getEntitiesByRefs).toHaveBeenCalledTimes(2);
    fireEvent.click(screen.getByRole('button', { name: 'last 7 d' }));
    await waitFor(() => expect(gateway.getUsage).toHaveBeenCalledWith({ hours: 168 }));
    await within(await screen.findByRole('table', { name: 'usage by owner' })).findByRole('link', { name: /team-a/ });
    expect(getEntitiesByRefs).toHaveBeenCalledTimes(2);
  });

  it("lists the products and says so when their keys cannot be counted", async () => {
    const gateway = mockGateway();
    gateway.countKeysByProduct.mockRejectedValue(new Error('database unavailable'));
    await render(gateway, AuthorizeResult.ALLOW);
    const table = await screen.findByRole('table', { name: 'gateway products' });
    expect(within(table).getByText('LLM chat (OpenAI-compatible)')).toBeInTheDocument();
    expect(within(table).getByRole('cell', { name: '–' })).toBeInTheDocument();
    expect(screen.getByText("Could not count the products' keys: database unavailable")).toBeInTheDocument();
  });

  it('counts keys beyond what a list holds', async () => {
    const gateway = mockGateway();
    gateway.countKeysByProduct.mockResolvedValue({ 'llm-chat': { totalItems: 1250, activeItems: 1180 }, gone: { totalItems: 1, activeItems: 0 } });
    await render(gateway, AuthorizeResult.ALLOW);
    const table = await screen.findByRole('table', { name: 'gateway products' });
    expect(await within(table).findByText('1,180 of 1,250')).toBeInTheDocument();
  });

  it("shows this replica's data plane: serving since when, its restarts, who forwards streams and the allowlist", async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW);
    expect(await screen.findByText('serving')).toBeInTheDocument();
    expect(screen.getByText('http://127.0.0.1:7008')).toBeInTheDocument();
    expect(screen.getByText(/^1; last exit .* \(signal SIGKILL\)$/)).toBeInTheDocument();
    expect(screen.getByText('forwarded by the native relay')).toBeInTheDocument();
    expect(screen.getByText('api.openai.com')).toBeInTheDocument();
    expect(screen.getByText('3 keys, 2 products')).toBeInTheDocument();
    expect(screen.getByText('1,200 waiting to be written; none dropped since the portal started')).toBeInTheDocument();
    expect(screen.getByText('replica-a')).toBeInTheDocument();
    expect(screen.queryByText(/outside the allowlist/)).not.toBeInTheDocument();
    // Who hears of every key request, beside each API's owners.
    expect(screen.getByText("each API's owners, and")).toBeInTheDocument();
    expect(screen.getByRole('link', { name: /platform-admins/ })).toHaveAttribute('href', expect.stringMatching(/\/catalog\/default\/group\/platform-admins$/));
  });

  it.each([['names none', []], ['does not say (a replica from before)', undefined]])("says only each API's owners are told of key requests when the status %s", async (_case, keyRequestWatchers) => {
    const gateway = mockGateway();
    const status = await gateway.getStatus();
    gateway.getStatus.mockResolvedValue({ ...status, keyRequestWatchers: keyRequestWatchers as unknown as string[] });
    await render(gateway, AuthorizeResult.ALLOW);
    expect(await screen.findByText("each API's owners only (gateway.keyRequestWatchers names no one else)")).toBeInTheDocument();
  });

  it('warns of upstreams the narrowed allowlist no longer takes, which the data plane refuses, and is silent when there are none', async () => {
    const gateway = mockGateway();
    const status = await gateway.getStatus();
    gateway.getStatus.mockResolvedValue({ ...status, upstreamsOutsideAllowlist: [{ productId: 'llm-chat', upstream: 'ms-v2', host: 'models.old.internal' }] });
    await render(gateway, AuthorizeResult.ALLOW);
    expect(await screen.findByText('Not called: an upstream outside the allowlist')).toBeInTheDocument();
    expect(screen.getByText(/llm-chat → ms-v2 \(models\.old\.internal\)/)).toBeInTheDocument();
  });

  it('disables Approve and Deny for a request on an API the admin may not review, and says why', async () => {
    const gateway = mockGateway();
    await render(gateway, permission => (permission === 'gateway.key-request.review' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW));
    const queue = await screen.findByRole('table', { name: 'pending key requests' });
    const approve = within(queue).getByRole('button', { name: 'Approve' });
    expect(approve).toBeDisabled();
    expect(within(queue).getByRole('button', { name: 'Deny' })).toBeDisabled();
    expect(screen.getAllByLabelText('You may not review key requests for api:default/llm-chat (gateway.key-request.review on the API).')).toHaveLength(2);
  });

  it("lets an admin decide every API's pending requests from one queue, and shows the whole gateway's audit trail", async () => {
    const gateway = mockGateway();
    gateway.listAudit.mockResolvedValue({ items: [
      { id: '5', createdAt: '2026-11-23T11:00:00Z', actor: 'user:default/erin', action: 'key-request.created', entityRef: 'api:default/llm-chat', target: 'req-9', details: { componentRef: 'component:default/chat-assistant' } },
      { id: '4', createdAt: '2026-11-23T11:00:00Z', actor: 'user:default/erin', action: 'key-request.created', entityRef: 'component:default/chat-assistant', target: 'req-9', details: { productId: 'llm-chat' } },
      { id: '3', createdAt: '2026-11-23T10:00:00Z', actor: 'user:default/carol', action: 'product.updated', entityRef: 'api:default/payments-rest', target: 'payments-rest' },
    ] });
    await render(gateway, AuthorizeResult.ALLOW);
    const queue = await screen.findByRole('table', { name: 'pending key requests' });
    expect(gateway.listKeyRequests).toHaveBeenCalledWith({ status: 'pending' });
    // Each row names its API, as the queue holds every API's.
    expect(within(queue).getByRole('columnheader', { name: 'API' })).toBeInTheDocument();
    expect(within(queue).getByRole('link', { name: 'llm-chat' })).toBeInTheDocument();
    expect(screen.getByText('Key requests waiting for review (1)')).toBeInTheDocument();

    const trail = await screen.findByRole('table', { name: 'gateway audit trail' });
    expect(gateway.listAudit).toHaveBeenCalledWith({ entityRef: undefined, action: undefined, before: undefined, limit: 25 });
    expect(within(trail).getByRole('columnheader', { name: 'On' })).toBeInTheDocument();
    expect(within(trail).getByRole('link', { name: 'payments-rest' })).toBeInTheDocument();
    // One action recorded on the API and on the component is one row naming both.
    const requested = within(trail).getByText('key-request.created').closest('tr')!;
    expect(within(requested).getAllByRole('link').map(a => a.textContent)).toEqual(['llm-chat', 'chat-assistant']);
    expect(within(trail).getAllByRole('row')).toHaveLength(3);

    fireEvent.click(within(queue).getByRole('button', { name: 'Approve' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('API api:default/llm-chat, Plan standard');
    // Until its plan's models are read, the request cannot be approved; left as they are, the key has them all.
    await screen.findByRole('checkbox', { name: 'chat-large' });
    fireEvent.click(screen.getByRole('button', { name: 'Approve and issue key' }));
    await waitFor(() => expect(gateway.approveKeyRequest).toHaveBeenCalledWith('req-1', {}));
    expect(await screen.findByRole('dialog', { name: 'Key issued' })).toBeInTheDocument();

    // The decision reloads the queue, the products' key counts and the trail.
    await waitFor(() => expect(gateway.listAudit.mock.calls.length).toBeGreaterThan(1));
    expect(gateway.listKeyRequests.mock.calls.length).toBeGreaterThan(1);
    expect(gateway.countKeysByProduct.mock.calls.length).toBeGreaterThan(1);
  });

  it('reads the queue again when another reviewer decided the request first, and says so', async () => {
    const gateway = mockGateway();
    gateway.approveKeyRequest.mockRejectedValue(Object.assign(new Error('conflict'), { statusCode: 409, body: { error: { message: 'Key request req-1 was decided or expired meanwhile' } } }));
    await render(gateway, AuthorizeResult.ALLOW);
    const queue = await screen.findByRole('table', { name: 'pending key requests' });
    await waitFor(() => expect(within(queue).getByRole('button', { name: 'Approve' })).toBeEnabled());
    const reads = gateway.listKeyRequests.mock.calls.length;
    fireEvent.click(within(queue).getByRole('button', { name: 'Approve' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Approve and issue key' })).toBeEnabled());
    fireEvent.click(screen.getByRole('button', { name: 'Approve and issue key' }));
    expect(await screen.findByText('Key request req-1 was decided or expired meanwhile')).toBeInTheDocument();
    await waitFor(() => expect(gateway.listKeyRequests.mock.calls.length).toBeGreaterThan(reads));
  });
});
