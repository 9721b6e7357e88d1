import { screen, within } from '@testing-library/react';
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
  });

});
