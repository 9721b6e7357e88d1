import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { gatewayApiRef, type GatewayApi } from '../api/GatewayClient';
import { GatewayAdminPage } from './GatewayAdminPage';
import { mockGateway } from './testData';

async function render(gateway: GatewayApi, result: AuthorizeResult.ALLOW | AuthorizeResult.DENY) {
  await renderInTestApp(
    <TestApiProvider apis={[[gatewayApiRef, gateway], [permissionApiRef, mockApis.permission({ authorize: result })]]}>
      <GatewayAdminPage />
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

// The basic permission's answer is cached for the whole file, hence a
// separate file for the user without it (GatewayAdminPage.denied.test.tsx).
describe('GatewayAdminPage', () => {
  it('lists every product with its keys and its usage of the last 24 hours', async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW);
    const table = await screen.findByRole('table', { name: 'gateway products' });
    expect(within(table).getByText('LLM chat (OpenAI-compatible)')).toBeInTheDocument();
    expect(within(table).getByText('1 of 1')).toBeInTheDocument();
    expect(within(table).getByText('3')).toBeInTheDocument();
    expect(gateway.getUsage).toHaveBeenCalledWith({ entityRef: 'api:default/llm-chat', hours: 24 });
    // Headings stay on one line (a narrow table used to break "Requests" into "Reques ts").
    expect(within(table).getByRole('columnheader', { name: 'Requests' })).toHaveStyle({ whiteSpace: 'nowrap' });
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
  });

  it("lets an admin decide every API's pending requests from one queue, and shows the whole gateway's audit trail", async () => {
    const gateway = mockGateway();
    gateway.listAudit.mockResolvedValue([
      { id: '3', createdAt: '2026-11-23T10:00:00Z', actor: 'user:default/carol', action: 'product.updated', entityRef: 'api:default/payments-rest', target: 'payments-rest' },
    ]);
    await render(gateway, AuthorizeResult.ALLOW);
    const queue = await screen.findByRole('table', { name: 'pending key requests' });
    expect(gateway.listKeyRequests).toHaveBeenCalledWith({ status: 'pending' });
    // Each row names its API, as the queue holds every API's.
    expect(within(queue).getByRole('columnheader', { name: 'API' })).toBeInTheDocument();
    expect(within(queue).getByRole('link', { name: 'llm-chat' })).toBeInTheDocument();
    expect(screen.getByText('Key requests waiting for review (1)')).toBeInTheDocument();

    const trail = await screen.findByRole('table', { name: 'gateway audit trail' });
    expect(gateway.listAudit).toHaveBeenCalledWith({ entityRef: undefined });
    expect(within(trail).getByRole('columnheader', { name: 'On' })).toBeInTheDocument();
    expect(within(trail).getByRole('link', { name: 'payments-rest' })).toBeInTheDocument();

    fireEvent.click(within(queue).getByRole('button', { name: 'Approve' }));
    expect(screen.getByRole('dialog')).toHaveTextContent('API api:default/llm-chat, Plan standard');
    fireEvent.click(screen.getByRole('button', { name: 'Approve and issue key' }));
    await waitFor(() => expect(gateway.approveKeyRequest).toHaveBeenCalledWith('req-1', {}));
    expect(await screen.findByRole('dialog', { name: 'Key issued' })).toBeInTheDocument();

    // The decision reloads the queue, the products' key counts and the trail.
    await waitFor(() => expect(gateway.listAudit.mock.calls.length).toBeGreaterThan(1));
    expect(gateway.listKeyRequests.mock.calls.length).toBeGreaterThan(1);
    expect(gateway.listKeys.mock.calls.length).toBeGreaterThan(1);
  });
});
