import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { alertApiRef } from '@backstage/core-plugin-api';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { EntityProvider, entityRouteRef } from '@backstage/plugin-catalog-react';
import { AuthorizeResult, type EvaluatePermissionRequest } from '@backstage/plugin-permission-common';
import { gatewayApiRef, type GatewayApi } from '../api/GatewayClient';
import { ComponentGatewayContent } from './ComponentGatewayContent';
import { activeKey, mockGateway, pendingRequest, product, ROTATED_SECRET, usage } from './testData';

const component = (name: string, consumes = ['llm-chat', 'payments-rest']) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name, namespace: 'default' },
  spec: { type: 'website', owner: 'team-web', lifecycle: 'production', consumesApis: consumes },
  relations: consumes.map(api => ({ type: 'consumesApi', targetRef: `api:default/${api}` })),
});

type Authorize = AuthorizeResult.ALLOW | AuthorizeResult.DENY | ((r: EvaluatePermissionRequest) => AuthorizeResult.ALLOW | AuthorizeResult.DENY);

async function render(gateway: GatewayApi, authorize: Authorize, name: string, consumes?: string[]) {
  await renderInTestApp(
    <TestApiProvider apis={[[gatewayApiRef, gateway], [permissionApiRef, mockApis.permission({ authorize })], [alertApiRef, { post: jest.fn(), alert$: jest.fn() } as any]]}>
      <EntityProvider entity={component(name, consumes)}>
        <ComponentGatewayContent />
      </EntityProvider>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

/** Reads the tab again now, as when the browser tab is shown again (usePolling), rather than at the next poll. */
const refresh = () => fireEvent(document, new Event('visibilitychange'));

/** llm-chat has a product; payments-rest does not; no request yet. */
function gatewayFor(name: string) {
  const gateway = mockGateway();
  gateway.listProducts.mockImplementation(async query => (query?.entityRef === 'api:default/llm-chat' ? [(await mockGateway().listProducts())[0]] : []));
  gateway.listKeyRequests.mockResolvedValue([]);
  gateway.listKeys.mockResolvedValue({ items: [{ ...activeKey, componentRef: `component:default/${name}` }], totalItems: 1, activeItems: 1 });
  return gateway;
}

describe('ComponentGatewayContent', () => {
  it('requests access: a plan and a justification of at least 10 characters, then posts', async () => {
    const gateway = gatewayFor('chat-assistant');
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant');
    expect(await screen.findByText('LLM chat (OpenAI-compatible)')).toBeInTheDocument();
    expect(screen.getByText(/Also consumed, not through the gateway: api:default\/payments-rest/)).toBeInTheDocument();
    const request = screen.getByRole('button', { name: 'Request access' });
    await waitFor(() => expect(request).toBeEnabled());
    fireEvent.click(request);

    const dialog = screen.getByRole('dialog');
    fireEvent.change(within(dialog).getByLabelText('Plan'), { target: { value: 'trial' } });
    fireEvent.change(within(dialog).getByLabelText(/Justification/), { target: { value: 'for tests' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Send request' }));
    expect(await within(dialog).findByText(/Say why the component needs the key, in at least 10 characters/)).toBeInTheDocument();
    expect(within(dialog).getByRole('button', { name: 'Send request' })).toBeDisabled();
    expect(gateway.createKeyRequest).not.toHaveBeenCalled();

    fireEvent.change(within(dialog).getByLabelText(/Justification/), { target: { value: '  answers customer questions on the shop  ' } });
    const send = within(dialog).getByRole('button', { name: 'Send request' });
    expect(send).toBeEnabled();
    fireEvent.click(send);
    await waitFor(() => expect(gateway.createKeyRequest).toHaveBeenCalledWith({
      componentRef: 'component:default/chat-assistant',
      productId: 'llm-chat',
      plan: 'trial',
      justification: 'answers customer questions on the shop',
    }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('shows what the backend refuses in the form', async () => {
    const gateway = gatewayFor('chat-assistant-409');
    gateway.createKeyRequest.mockRejectedValue(Object.assign(new Error('Request failed with 409'), {
      body: { error: { name: 'ConflictError', message: 'component:default/chat-assistant-409 already has a pending request for llm-chat' } },
    }));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-409');
    const request = await screen.findByRole('button', { name: 'Request access' });
    await waitFor(() => expect(request).toBeEnabled());
    fireEvent.click(request);
    fireEvent.change(screen.getByLabelText(/Justification/), { target: { value: 'a second request for the same API' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send request' }));
    expect(await screen.findByText(/already has a pending request for llm-chat/)).toBeInTheDocument();
  });

  it('rotates a key with the chosen grace period and shows the new key once', async () => {
    const gateway = gatewayFor('chat-assistant-rotate');
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-rotate');
    const keys = await screen.findByRole('table', { name: 'keys for llm-chat' });
    expect(within(keys).getByText('qdk_abcdefghijkl_…')).toBeInTheDocument();
    const rotate = within(keys).getByRole('button', { name: 'Rotate' });
    await waitFor(() => expect(rotate).toBeEnabled());
    fireEvent.click(rotate);
    fireEvent.change(screen.getByLabelText('Grace period'), { target: { value: '3600' } });
    fireEvent.click(screen.getByRole('button', { name: 'Rotate key' }));
    await waitFor(() => expect(gateway.rotateKey).toHaveBeenCalledWith('key-1', { graceSeconds: 3600 }));

    const dialog = await screen.findByRole('dialog', { name: 'New key' });
    expect(within(dialog).getByLabelText('API key')).toHaveValue(ROTATED_SECRET);
    expect(within(dialog).getByText(/it will not be shown again/)).toBeInTheDocument();
    fireEvent.click(within(dialog).getByRole('button', { name: 'I have copied the key' }));
    await waitFor(() => expect(screen.queryByDisplayValue(ROTATED_SECRET)).not.toBeInTheDocument());
    // The audit trail says until when a rotated-out key works.
    const trail = await screen.findByRole('table', { name: 'gateway audit trail' });
    expect(within(trail).getByText(`old key works until ${new Date('2026-11-24T09:00:00Z').toLocaleString()}`)).toBeInTheDocument();
  });

  it('revokes a key only with a reason', async () => {
    const gateway = gatewayFor('chat-assistant-revoke');
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-revoke');
    const revoke = await screen.findByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    fireEvent.click(revoke);
    const confirm = screen.getByRole('button', { name: 'Revoke key' });
    expect(confirm).toBeDisabled();
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'leaked in a log' } });
    fireEvent.click(confirm);
    await waitFor(() => expect(gateway.revokeKey).toHaveBeenCalledWith('key-1', { reason: 'leaked in a log' }));
  });

  it('reads the keys again when a revocation finds the key changed meanwhile, and says why', async () => {
    const gateway = gatewayFor('chat-assistant-stale');
    gateway.revokeKey.mockRejectedValue(Object.assign(new Error('Key qdk_abcdefghijkl_… is revoked'), { statusCode: 409 }));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-stale');
    const revoke = await screen.findByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    const reads = gateway.listKeys.mock.calls.length;
    fireEvent.click(revoke);
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'rotated out' } });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke key' }));
    expect(await within(screen.getByRole('dialog')).findByText('Key qdk_abcdefghijkl_… is revoked')).toBeInTheDocument();
    // Not at the next poll, ten seconds on: now.
    await waitFor(() => expect(gateway.listKeys.mock.calls.length).toBeGreaterThan(reads));
    // Another click would only be refused again: the dialog offers only to close.
    const dialog = within(screen.getByRole('dialog'));
    expect(dialog.queryByRole('button', { name: 'Revoke key' })).not.toBeInTheDocument();
    expect(dialog.getByRole('button', { name: 'Close' })).toBeEnabled();
  });

  it('offers only to close a rotation refused because the key changed meanwhile', async () => {
    const gateway = gatewayFor('chat-assistant-rotated');
    gateway.rotateKey.mockRejectedValue(Object.assign(new Error('Key qdk_abcdefghijkl_… changed meanwhile'), { statusCode: 409 }));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-rotated');
    const rotate = await screen.findByRole('button', { name: 'Rotate' });
    await waitFor(() => expect(rotate).toBeEnabled());
    fireEvent.click(rotate);
    fireEvent.click(screen.getByRole('button', { name: 'Rotate key' }));
    const dialog = within(screen.getByRole('dialog'));
    expect(await dialog.findByText('Key qdk_abcdefghijkl_… changed meanwhile')).toBeInTheDocument();
    expect(dialog.queryByRole('button', { name: 'Rotate key' })).not.toBeInTheDocument();
    fireEvent.click(dialog.getByRole('button', { name: 'Close' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(gateway.rotateKey).toHaveBeenCalledTimes(1);
  });

  it('keeps the keys of an API the component no longer consumes, to rotate or revoke them', async () => {
    const gateway = gatewayFor('chat-assistant-left');
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-left', []);
    const others = await screen.findByRole('table', { name: 'other keys' });
    expect(within(others).getByText('qdk_abcdefghijkl_…')).toBeInTheDocument();
    expect(screen.getByText(/no longer lists under spec.consumesApis/)).toBeInTheDocument();
    expect(screen.queryByText('This component consumes no API')).not.toBeInTheDocument();
    const revoke = within(others).getByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    fireEvent.click(revoke);
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'no longer calls the API' } });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke key' }));
    await waitFor(() => expect(gateway.revokeKey).toHaveBeenCalledWith('key-1', { reason: 'no longer calls the API' }));
  });

  it('says the component consumes no API when it holds no key either', async () => {
    const gateway = gatewayFor('chat-assistant-none');
    gateway.listKeys.mockResolvedValue({ items: [], totalItems: 0, activeItems: 0 });
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-none', []);
    expect(await screen.findByText('This component consumes no API')).toBeInTheDocument();
    // It says how to request access.
    expect(screen.getByText(/To request access to an API offered through the gateway, add the API under spec.consumesApis/)).toBeInTheDocument();
  });

  it('keeps the usage and trail of a component whose keys are all revoked and whose APIs left the gateway or its spec', async () => {
    for (const [name, consumes] of [['chat-assistant-past', []], ['chat-assistant-removed', ['payments-rest']]] as const) {
      const gateway = gatewayFor(name);
      gateway.listKeys.mockResolvedValue({ items: [], totalItems: 2, activeItems: 0 });
      await render(gateway, AuthorizeResult.ALLOW, name, [...consumes]);
      expect(await screen.findByText('Usage by this component')).toBeInTheDocument();
      await waitFor(() => expect(gateway.getUsage).toHaveBeenCalledWith(expect.objectContaining({ entityRef: `component:default/${name}` })));
      await waitFor(() => expect(gateway.listAudit).toHaveBeenCalledWith(expect.objectContaining({ entityRef: `component:default/${name}` })));
      expect(screen.queryByText('This component consumes no API')).not.toBeInTheDocument();
      document.body.innerHTML = '';
    }
  });

  it('keeps the new key on screen, and the card as last read, when the read after the rotation fails', async () => {
    const gateway = gatewayFor('chat-assistant-rotate-unread');
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-rotate-unread');
    const rotate = within(await screen.findByRole('table', { name: 'keys for llm-chat' })).getByRole('button', { name: 'Rotate' });
    await waitFor(() => expect(rotate).toBeEnabled());
    fireEvent.click(rotate);
    gateway.listProducts.mockRejectedValue(new Error('the gateway is restarting'));
    fireEvent.click(screen.getByRole('button', { name: 'Rotate key' }));
    // The rotation reads the tab again, and that read fails: the card stays as it was read, and the key stays shown.
    expect(await screen.findByText(/Could not refresh the gateway product of api:default\/llm-chat; its card shows it as last read/)).toBeInTheDocument();
    // (Behind the key's dialog: hidden from the accessibility tree while it is open.)
    expect(screen.getByRole('table', { name: 'keys for llm-chat', hidden: true })).toBeInTheDocument();
    expect(screen.queryByRole('table', { name: 'other keys', hidden: true })).not.toBeInTheDocument();
    const dialog = screen.getByRole('dialog', { name: 'New key' });
    expect(within(dialog).getByLabelText('API key')).toHaveValue(ROTATED_SECRET);
  });

  it('keeps the new key on screen when the key rotated under "Other keys" moves to its API\'s card', async () => {
    const gateway = gatewayFor('chat-assistant-rotate-moved');
    const unread = gateway.listProducts.getMockImplementation()!;
    gateway.listProducts.mockRejectedValue(new Error('the gateway is restarting'));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-rotate-moved');
    // Its product unread, the key shows under "Other keys".
    expect(await screen.findByText(/Could not read the gateway product of api:default\/llm-chat$/)).toBeInTheDocument();
    const rotate = within(screen.getByRole('table', { name: 'other keys' })).getByRole('button', { name: 'Rotate' });
    await waitFor(() => expect(rotate).toBeEnabled());
    fireEvent.click(rotate);
    gateway.listProducts.mockImplementation(unread);
    fireEvent.click(screen.getByRole('button', { name: 'Rotate key' }));
    // Read again after the rotation, the product is there: the keys go to its card, and the new one stays shown.
    expect(await screen.findByRole('table', { name: 'keys for llm-chat', hidden: true })).toBeInTheDocument();
    expect(screen.queryByRole('table', { name: 'other keys', hidden: true })).not.toBeInTheDocument();
    const dialog = screen.getByRole('dialog', { name: 'New key' });
    expect(within(dialog).getByLabelText('API key')).toHaveValue(ROTATED_SECRET);
    fireEvent.click(within(dialog).getByRole('button', { name: 'I have copied the key' }));
    await waitFor(() => expect(screen.queryByDisplayValue(ROTATED_SECRET)).not.toBeInTheDocument());
  });

  it('opens the request dialog afresh each time, and does not send a plan removed while it is open', async () => {
    const gateway = gatewayFor('chat-assistant-reopen');
    gateway.createKeyRequest.mockRejectedValueOnce(Object.assign(new Error('Request failed with 503'), {
      body: { error: { message: 'the gateway is restarting' } },
    }));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-reopen');
    const request = await screen.findByRole('button', { name: 'Request access' });
    await waitFor(() => expect(request).toBeEnabled());
    fireEvent.click(request);
    fireEvent.change(screen.getByLabelText('Plan'), { target: { value: 'trial' } });
    fireEvent.change(screen.getByLabelText(/Justification/), { target: { value: 'answers customer questions' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send request' }));
    expect(await screen.findByText('the gateway is restarting')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());

    // Opened again: no error of the last try, the first plan; the justification written stays.
    fireEvent.click(request);
    const dialog = within(screen.getByRole('dialog'));
    expect(dialog.queryByText('the gateway is restarting')).not.toBeInTheDocument();
    expect(dialog.getByLabelText('Plan')).toHaveValue('standard');
    expect(dialog.getByLabelText(/Justification/)).toHaveValue('answers customer questions');

    // The owners remove the plan chosen while the dialog is open: the next read says so, and it is not sent.
    fireEvent.change(dialog.getByLabelText('Plan'), { target: { value: 'trial' } });
    gateway.listProducts.mockImplementation(async query => (query?.entityRef === 'api:default/llm-chat' ? [{ ...product, plans: [product.plans[0]] }] : []));
    refresh();
    expect(await dialog.findByText('Plan trial is no longer offered: the owners of api:default/llm-chat removed it meanwhile. Choose the plan to request.')).toBeInTheDocument();
    expect(dialog.getByLabelText('Plan')).toHaveValue('standard');
    fireEvent.click(dialog.getByRole('button', { name: 'Send request' }));
    await waitFor(() => expect(gateway.createKeyRequest).toHaveBeenLastCalledWith(expect.objectContaining({ plan: 'standard' })));
  });

  it('offers a rotated key in its grace period for revocation, to end the grace early, and not for another rotation', async () => {
    const gateway = gatewayFor('chat-assistant-grace');
    const rotatedKey = { ...activeKey, id: 'key-0', masked: 'qdk_rotatedaway0_…', componentRef: 'component:default/chat-assistant-grace', replacedBy: 'key-1', expiresAt: '2026-11-24T09:00:00Z' };
    gateway.listKeys.mockResolvedValue({ items: [{ ...activeKey, componentRef: 'component:default/chat-assistant-grace' }, rotatedKey], totalItems: 2, activeItems: 2 });
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-grace');
    const keys = within(await screen.findByRole('table', { name: 'keys for llm-chat' }));
    const [, current, rotated] = keys.getAllByRole('row');
    // No key of this API is revoked or expired: nothing to open.
    expect(screen.queryByRole('button', { name: /^Revoked and expired keys/ })).not.toBeInTheDocument();
    expect(within(current).getByRole('button', { name: 'Rotate' })).toBeInTheDocument();
    expect(within(rotated).getByText('rotated')).toBeInTheDocument();
    expect(within(rotated).queryByRole('button', { name: 'Rotate' })).not.toBeInTheDocument();
    const revoke = within(rotated).getByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    fireEvent.click(revoke);
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'every client has the new key' } });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke key' }));
    await waitFor(() => expect(gateway.revokeKey).toHaveBeenCalledWith('key-0', { reason: 'every client has the new key' }));
  });

  it('lists the keys that work, and those revoked or expired a page at a time when asked for', async () => {
    const gateway = gatewayFor('chat-assistant-past');
    const componentRef = 'component:default/chat-assistant-past';
    const current = { ...activeKey, componentRef };
    // 30 keys rotated away from and revoked over the years, newest first.
    const past = Array.from({ length: 30 }, (_, i) => ({
      ...current, id: `old-${i}`, publicId: `old${String(i).padStart(9, '0')}`, masked: `qdk_old${String(i).padStart(9, '0')}_…`,
      status: 'revoked' as const, revokedAt: '2026-11-01T10:00:00Z', revokedBy: 'user:default/erin',
    }));
    gateway.listKeys.mockImplementation(async ({ accepted, limit = 500, offset = 0 }) => ({
      items: accepted ? [current] : past.slice(offset, offset + limit),
      totalItems: 31,
      activeItems: 1,
      ...(accepted === undefined || accepted ? { byProduct: { 'llm-chat': { totalItems: 31, activeItems: 1 } } } : {}),
    }));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-past');
    const working = await screen.findByRole('table', { name: 'keys for llm-chat' });
    expect(within(working).getAllByRole('row')).toHaveLength(2);
    expect(within(working).getByText('qdk_abcdefghijkl_…')).toBeInTheDocument();
    // The past keys are read only when asked for.
    expect(gateway.listKeys).toHaveBeenCalledWith({ entityRef: componentRef, accepted: true });
    expect(gateway.listKeys).not.toHaveBeenCalledWith(expect.objectContaining({ accepted: false }));
    fireEvent.click(screen.getByRole('button', { name: 'Revoked and expired keys (30)' }));
    const older = await screen.findByRole('table', { name: 'revoked and expired keys for llm-chat' });
    expect(gateway.listKeys).toHaveBeenCalledWith({ entityRef: componentRef, productId: 'llm-chat', accepted: false, limit: 25, offset: 0 });
    expect(within(older).getAllByRole('row')).toHaveLength(26);
    expect(within(older).getAllByText('revoked')).toHaveLength(25);
    expect(within(older).queryByRole('button', { name: 'Revoke' })).not.toBeInTheDocument();
    expect(screen.getByText('1–25 of 30')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Go to next page' }));
    await waitFor(() => expect(gateway.listKeys).toHaveBeenLastCalledWith({ entityRef: componentRef, productId: 'llm-chat', accepted: false, limit: 25, offset: 25 }));
    expect(await screen.findByText('qdk_old000000029_…')).toBeInTheDocument();
    expect(screen.getByText('26–30 of 30')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Revoked and expired keys (30)' }));
    expect(screen.queryByRole('table', { name: 'revoked and expired keys for llm-chat' })).not.toBeInTheDocument();
  });

  it('disables Request access, Rotate and Revoke without the permissions on the component', async () => {
    const gateway = gatewayFor('chat-assistant-locked');
    await render(gateway, AuthorizeResult.DENY, 'chat-assistant-locked');
    const reason = await screen.findByLabelText(/Only those who may request keys for component:default\/chat-assistant-locked/);
    expect(screen.getByRole('button', { name: 'Request access' })).toBeDisabled();
    // A keyboard reaches the reason: the disabled button cannot take focus, its wrapper can.
    reason.focus();
    expect(reason).toHaveFocus();
    expect(await screen.findAllByLabelText(/Only those who may manage the keys of component:default\/chat-assistant-locked/)).toHaveLength(2);
    expect(screen.getByRole('button', { name: 'Rotate' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Revoke' })).toBeDisabled();
  });

  it('lists the component\'s requests with their status and its usage', async () => {
    const gateway = gatewayFor('chat-assistant-usage');
    const pending = { ...pendingRequest, componentRef: 'component:default/chat-assistant-usage' };
    // A hundred requests for another product came after it: the newest 100 alone would leave it out.
    const others = Array.from({ length: 100 }, (_, i) => ({ ...pending, id: `req-o${i}`, productId: 'other', status: 'denied' as const, requestedAt: '2026-11-23T10:00:00Z' }));
    gateway.listKeyRequests.mockImplementation(async ({ status }) => (status === 'pending' ? [pending] : others));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-usage');
    const requests = await screen.findByRole('table', { name: 'key requests for llm-chat' });
    expect(within(requests).getByText('pending')).toBeInTheDocument();
    // Until when it waits for review.
    expect(within(requests).getByRole('columnheader', { name: 'Expires' })).toBeInTheDocument();
    expect(within(requests).getByText(new Date(pending.expiresAt).toLocaleString())).toBeInTheDocument();
    // A pending request: no second one.
    expect(await screen.findByLabelText('A request for plan standard is waiting for review')).toBeInTheDocument();
    expect(await screen.findByText('Usage by this component')).toBeInTheDocument();
    expect(await screen.findByRole('table', { name: 'usage by model' })).toBeInTheDocument();
    expect(screen.queryByRole('table', { name: 'usage by consumer' })).not.toBeInTheDocument();
    expect(gateway.getUsage).toHaveBeenCalledWith({ entityRef: 'component:default/chat-assistant-usage', hours: 24 });
    fireEvent.click(screen.getByRole('button', { name: 'last 7 d' }));
    await waitFor(() => expect(gateway.getUsage).toHaveBeenCalledWith({ entityRef: 'component:default/chat-assistant-usage', hours: 168 }));
    // A month comes by UTC day: its charts say so, and label the days by date alone.
    const hourly = usage();
    const days = Array.from({ length: 31 }, (_, i) => ({ ...hourly.series[0], start: new Date(Date.UTC(2026, 9, 22 + i)).toISOString() }));
    gateway.getUsage.mockResolvedValue({ ...hourly, bucketMs: 86_400_000, from: days[0].start, series: days });
    fireEvent.click(screen.getByRole('button', { name: 'last 30 d' }));
    await waitFor(() => expect(gateway.getUsage).toHaveBeenCalledWith({ entityRef: 'component:default/chat-assistant-usage', hours: 720 }));
    const chart = await screen.findByRole('img', { name: 'Requests and errors per UTC day' });
    expect(within(chart).getByText('22 Oct')).toBeInTheDocument();
    expect(within(chart).getByText('21 Nov')).toBeInTheDocument();
    expect(chart.querySelector('title')?.textContent).toMatch(/^22 Oct \(UTC day\): ok 0, errors 0$/);
    // On screen, not only on hover: a day here is a UTC day, which is not the viewer's own where they are not in UTC.
    expect(screen.getAllByText(/^per UTC day · max /).length).toBeGreaterThan(0);
  });

  it('says when a request expired unreviewed, as the API\'s page does', async () => {
    const gateway = gatewayFor('chat-assistant-expired');
    const expired = { ...pendingRequest, componentRef: 'component:default/chat-assistant-expired', status: 'expired' as const, expiresAt: '2026-11-20T10:00:00Z' };
    gateway.listKeyRequests.mockImplementation(async ({ status }) => (status === 'pending' ? [] : [expired]));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-expired');
    const requests = await screen.findByRole('table', { name: 'key requests for llm-chat' });
    const [, row] = within(requests).getAllByRole('row');
    expect(within(row).getByText('expired')).toBeInTheDocument();
    expect(within(row).getByText(`expired ${new Date('2026-11-20T10:00:00Z').toLocaleString()}`)).toBeInTheDocument();
  });

  it('says when the usage could not be read again, and keeps the last figures', async () => {
    const gateway = gatewayFor('chat-assistant-stale-usage');
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-stale-usage');
    expect(await screen.findByRole('table', { name: 'usage by model' })).toBeInTheDocument();
    gateway.getUsage.mockRejectedValue(new Error('Service Unavailable'));
    // Another window fails to read; back on the day's, its last figures stay, under the failure.
    fireEvent.click(screen.getByRole('button', { name: 'last 7 d' }));
    expect(await screen.findByText('Service Unavailable')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'last 24 h' }));
    expect(await screen.findByText(/Could not refresh the usage/)).toBeInTheDocument();
    expect(screen.getByRole('table', { name: 'usage by model' })).toBeInTheDocument();
  });

  it('keeps saying why a revocation was refused when the read after it takes the API\'s last key away', async () => {
    const gateway = gatewayFor('chat-assistant-gone');
    gateway.revokeKey.mockRejectedValue(Object.assign(new Error('Key qdk_abcdefghijkl_… is revoked'), { statusCode: 409 }));
    await render(gateway, AuthorizeResult.ALLOW, 'chat-assistant-gone');
    const revoke = await screen.findByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    // Revoked elsewhere meanwhile: the read after the refusal lists no key accepted.
    gateway.listKeys.mockResolvedValue({ items: [], totalItems: 1, activeItems: 0 });
    fireEvent.click(revoke);
    fireEvent.change(screen.getByLabelText(/Reason/), { target: { value: 'rotated out' } });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke key' }));
    expect(await screen.findByText('None: a key is issued when a request is approved.')).toBeInTheDocument();
    expect(within(screen.getByRole('dialog')).getByText('Key qdk_abcdefghijkl_… is revoked')).toBeInTheDocument();
  });

  it('disables Request access, Rotate and Revoke saying the permissions could not be checked, not that the user lacks them', async () => {
    const gateway = gatewayFor('chat-assistant-unchecked');
    const authorize = (): AuthorizeResult.ALLOW => {
      throw new Error('permission backend unavailable');
    };
    await render(gateway, authorize, 'chat-assistant-unchecked');
    expect(await screen.findAllByLabelText('Could not check your permissions (permission backend unavailable): try again later.')).toHaveLength(3);
    expect(screen.getByRole('button', { name: 'Request access' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Rotate' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Revoke' })).toBeDisabled();
    expect(screen.queryByLabelText(/Only those who may/)).not.toBeInTheDocument();
  });
});
