import { screen } from '@testing-library/react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { gatewayApiRef } from '../api/GatewayClient';
import { GatewayAdminPage } from './GatewayAdminPage';
import { mockGateway } from './testData';

describe('GatewayAdminPage without gateway.admin', () => {
  it('tells the user the page is for platform admins, and reads nothing', async () => {
    const gateway = mockGateway();
    await renderInTestApp(
      <TestApiProvider apis={[[gatewayApiRef, gateway], [permissionApiRef, mockApis.permission({ authorize: AuthorizeResult.DENY })]]}>
        <GatewayAdminPage />
      </TestApiProvider>,
    );
    expect(await screen.findByText('Platform admins only')).toBeInTheDocument();
    expect(gateway.listProducts).not.toHaveBeenCalled();
  });
});
