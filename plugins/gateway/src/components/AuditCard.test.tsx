import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import type { GatewayAuditEvent } from '@quarterdeck/plugin-gateway-common';
import { gatewayApiRef } from '../api/GatewayClient';
import { AuditCard } from './AuditCard';
import { mockGateway } from './testData';

/** Entry n is the n-th newest: key.revoked when n is a multiple of 10, key-request.created otherwise. */
const entry = (n: number): GatewayAuditEvent => ({
  id: String(1000 - n),
  createdAt: new Date(Date.parse('2026-11-23T12:00:00Z') - n * 60_000).toISOString(),
  actor: 'user:default/erin',
  action: n % 10 === 0 ? 'key.revoked' : 'key-request.created',
  entityRef: 'component:default/chat-assistant',
  target: `t${n}`,
  reason: `reason ${n}`,
});

/** A gateway whose trail has 60 entries; `before` is the number of entries already shown, as an opaque cursor would be. */
function sixtyEntries() {
  const gateway = mockGateway();
  gateway.listAudit.mockImplementation(async ({ action, before, limit = 100 }) => {
    const all = Array.from({ length: 60 }, (_, i) => entry(i + 1)).filter(e => !action || e.action === action);
    const from = before ? Number(before) : 0;
    const items = all.slice(from, from + limit);
    return { items, ...(from + limit < all.length ? { next: String(from + limit) } : {}) };
  });
  return gateway;
}

async function render(gateway = sixtyEntries()) {
  await renderInTestApp(
    <TestApiProvider apis={[[gatewayApiRef, gateway]]}>
      <AuditCard entityRef="component:default/chat-assistant" />
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
  return gateway;
}

const trail = () => within(screen.getByRole('table', { name: 'gateway audit trail' }));

describe('AuditCard', () => {
  it('goes back through the trail a page at a time and forward again', async () => {
    const gateway = await render();
    expect(await screen.findByText('reason 1')).toBeInTheDocument();
    expect(trail().getAllByRole('row')).toHaveLength(26);
    expect(screen.getByText('Page 1')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Newer' })).toBeDisabled();

    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(trail().getByText('reason 26')).toBeInTheDocument());
    expect(trail().queryByText('reason 1')).not.toBeInTheDocument();
    expect(gateway.listAudit).toHaveBeenLastCalledWith({ entityRef: 'component:default/chat-assistant', action: undefined, before: '25', limit: 25 });
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(trail().getByText('reason 60')).toBeInTheDocument());
    expect(screen.getByText('Page 3')).toBeInTheDocument();
    // The last page: nothing older.
    expect(screen.getByRole('button', { name: 'Older' })).toBeDisabled();

    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await waitFor(() => expect(trail().getByText('reason 26')).toBeInTheDocument());
    expect(screen.getByText('Page 2')).toBeInTheDocument();
  });

  it('says what a product edit changed, and which plans a removed product had', async () => {
    const gateway = mockGateway();
    gateway.listAudit.mockResolvedValue({ items: [
      { id: '3', createdAt: '2026-12-06T20:09:00Z', actor: 'user:default/carol', action: 'product.deleted', entityRef: 'api:default/llm-chat', target: 'llm-chat', details: { plans: ['standard', 'batch'] } },
      { id: '2', createdAt: '2026-12-06T20:05:31Z', actor: 'user:default/carol', action: 'product.updated', entityRef: 'api:default/llm-chat', target: 'llm-chat', details: { changes: ['plan batch added', 'plan trial changed'] } },
      { id: '1', createdAt: '2026-12-06T20:04:00Z', actor: 'user:default/carol', action: 'product.updated', entityRef: 'api:default/llm-chat', target: 'llm-chat', details: { changes: [] } },
    ] });
    await render(gateway);
    expect(await screen.findByText('plan batch added, plan trial changed')).toBeInTheDocument();
    expect(trail().getByText('no change')).toBeInTheDocument();
    expect(trail().getByText('had plans standard, batch')).toBeInTheDocument();
  });

  it('narrows the trail to one action, from its first page, and says when there is none', async () => {
    const gateway = await render();
    expect(await screen.findByText('reason 1')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(trail().getByText('reason 26')).toBeInTheDocument());

    fireEvent.change(screen.getByLabelText('Action'), { target: { value: 'key.revoked' } });
    await waitFor(() => expect(trail().getByText('reason 10')).toBeInTheDocument());
    expect(trail().getAllByRole('row')).toHaveLength(7);
    expect(gateway.listAudit).toHaveBeenLastCalledWith({ entityRef: 'component:default/chat-assistant', action: 'key.revoked', before: undefined, limit: 25 });
    // Six entries fit on one page: no paging to show.
    expect(screen.queryByRole('button', { name: 'Older' })).not.toBeInTheDocument();

    fireEvent.change(screen.getByLabelText('Action'), { target: { value: 'route.weights' } });
    expect(await screen.findByText('No route.weights here.')).toBeInTheDocument();
  });

  it('shows a page that could not be read as failed, not the page before under its number, and lets the user go back', async () => {
    const gateway = sixtyEntries();
    const read = gateway.listAudit.getMockImplementation()!;
    gateway.listAudit.mockImplementation(async query => {
      if (query.before === '25') throw new Error('Service Unavailable');
      return read(query);
    });
    await render(gateway);
    expect(await screen.findByText('reason 1')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    expect(await screen.findByText('Service Unavailable')).toBeInTheDocument();
    expect(screen.getByText('Page 2')).toBeInTheDocument();
    // Not page 1's entries under page 2's number, nor a page still loading.
    expect(screen.queryByRole('table', { name: 'gateway audit trail' })).not.toBeInTheDocument();
    expect(screen.queryByRole('progressbar', { name: 'loading audit entries' })).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Older' })).toBeDisabled();
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await waitFor(() => expect(trail().getByText('reason 1')).toBeInTheDocument());
    expect(screen.getByText('Page 1')).toBeInTheDocument();
    expect(screen.queryByText('Service Unavailable')).not.toBeInTheDocument();
  });
});
