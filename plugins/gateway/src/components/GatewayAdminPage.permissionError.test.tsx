import { screen } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { gatewayApiRef } from '../api/GatewayClient';
import { GatewayAdminPage } from './GatewayAdminPage';
import { mockGateway } from './testData';

// A file of its own: the permission's answer is cached for the whole file (as in GatewayAdminPage.denied.test.tsx).
describe('GatewayAdminPage when the permission cannot be checked', () => {
  it('says the check failed, not that the page is for platform admins only, and reads nothing', async () => {
    const gateway = mockGateway();
    const permissions = { authorize: jest.fn().mockRejectedValue(new Error('permission backend unavailable')), authorizeConditional: jest.fn() };
    await renderInTestApp(
      <TestApiProvider apis={[[gatewayApiRef, gateway], [permissionApiRef, permissions]]}>
        <GatewayAdminPage />
      </TestApiProvider>,
    );
    expect(await screen.findByText(/Could not check whether you may open the gateway admin page/)).toBeInTheDocument();
    expect(screen.queryByText('Platform admins only')).not.toBeInTheDocument();
    expect(gateway.listProducts).not.toHaveBeenCalled();
  });
});
