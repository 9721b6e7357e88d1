import { useState } from 'react';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import { gatewayApiRef, type GatewayApi } from '../api/GatewayClient';
import { mockGateway, usage } from './testData';
import { UsagePanel } from './UsagePanel';
import { AuditCard } from './AuditCard';

async function render(gateway: GatewayApi) {
  await renderInTestApp(
    <TestApiProvider apis={[[gatewayApiRef, gateway]]}>
      <UsagePanel entityRef="api:default/llm-chat" />
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

/** Reads the usage again now, as when the browser tab is shown again (usePolling), rather than at the next poll. */
const refresh = () => fireEvent(document, new Event('visibilitychange'));

describe('UsagePanel', () => {
  it("shows nothing of the previous entity's usage or trail while the next entity's loads", async () => {
    const gateway = mockGateway();
    function Switching() {
      const [entityRef, setEntityRef] = useState('api:default/llm-chat');
      return (
        <>
          <button type="button" onClick={() => setEntityRef('api:default/payments-rest')}>next API</button>
          <UsagePanel entityRef={entityRef} />
          <AuditCard entityRef={entityRef} />
        </>
      );
    }
    await renderInTestApp(
      <TestApiProvider apis={[[gatewayApiRef, gateway]]}>
        <Switching />
      </TestApiProvider>,
      { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
    );
    expect(await screen.findByRole('table', { name: 'usage by model' })).toBeInTheDocument();
    await waitFor(() => expect(gateway.listAudit).toHaveBeenCalled());
    const trailBefore = (await gateway.listAudit.mock.results[0].value).items.length;
    expect(trailBefore).toBeGreaterThan(0);
    // The next API's reads are under way, and stay so here.
    gateway.getUsage.mockImplementation(() => new Promise(() => {}));
    gateway.listAudit.mockImplementation(() => new Promise(() => {}));
    fireEvent.click(screen.getByRole('button', { name: 'next API' }));
    await waitFor(() => expect(gateway.getUsage).toHaveBeenLastCalledWith({ entityRef: 'api:default/payments-rest', hours: 24 }));
    expect(screen.queryByRole('table', { name: 'usage by model' })).not.toBeInTheDocument();
    expect(screen.getAllByTestId('progress')).toHaveLength(2);
  });

  it("shows another window's figures loading, not the error of the window before's failed refresh", async () => {
    const gateway = mockGateway();
    await render(gateway);
    expect(await screen.findByRole('table', { name: 'usage by model' })).toBeInTheDocument();
    gateway.getUsage.mockRejectedValueOnce(new Error('Service Unavailable'));
    refresh();
    expect(await screen.findByText(/Could not refresh the usage/)).toBeInTheDocument();
    // The week's read is under way, and stays so here.
    gateway.getUsage.mockImplementation(() => new Promise(() => {}));
    fireEvent.click(screen.getByRole('button', { name: 'last 7 d' }));
    await waitFor(() => expect(gateway.getUsage).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat', hours: 168 }));
    expect(screen.getByTestId('progress')).toBeInTheDocument();
    expect(screen.queryByText('Service Unavailable')).not.toBeInTheDocument();
  });

  it('says the slowest latency as its hover does: past the last bucket, "> 10.0 s"', async () => {
    const gateway = mockGateway();
    const slow = usage();
    slow.series[23] = { ...slow.series[23], p99Ms: 10_001 };
    gateway.getUsage.mockResolvedValue(slow);
    await render(gateway);
    const chart = await screen.findByRole('img', { name: 'Latency per hour' });
    expect(within(chart).getByText(/p99 > 10\.0 s$/)).toBeInTheDocument();
    expect(screen.getByText('per hour, local time · max > 10.0 s')).toBeInTheDocument();
    // In words too, for a screen reader: the chart's description names its highest and latest hour.
    expect(chart).toHaveAccessibleDescription(/^Highest: .*p99 > 10\.0 s\. Latest: /);
  });
});
