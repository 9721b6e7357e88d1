import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/frontend-test-utils';
import { alertApiRef } from '@backstage/core-plugin-api';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { EntityProvider, entityRouteRef } from '@backstage/plugin-catalog-react';
import { AuthorizeResult, type EvaluatePermissionRequest } from '@backstage/plugin-permission-common';
import { gatewayApiRef, type GatewayApi } from '../api/GatewayClient';
import { ApiGatewayContent } from './ApiGatewayContent';
import { activeKey, mockGateway, pendingRequest, product, SECRET, usage } from './testData';

const api = (name: string) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'API',
  metadata: { name, namespace: 'default', annotations: { 'quarterdeck.io/gateway-product': 'llm-chat' } },
  spec: { type: 'openapi', owner: 'team-ml', lifecycle: 'production', definition: '{}' },
});

async function render(gateway: GatewayApi, authorize: AuthorizeResult.ALLOW | AuthorizeResult.DENY | ((r: EvaluatePermissionRequest) => AuthorizeResult.ALLOW | AuthorizeResult.DENY), name = 'llm-chat') {
  await renderInTestApp(
    <TestApiProvider apis={[[gatewayApiRef, gateway], [permissionApiRef, mockApis.permission({ authorize })], [alertApiRef, { post: jest.fn(), alert$: jest.fn() } as any]]}>
      <EntityProvider entity={api(name)}>
        <ApiGatewayContent />
      </EntityProvider>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

describe('ApiGatewayContent', () => {
  it('shows the product: upstreams, models with prices, the route split and the plans', async () => {
    await render(mockGateway(), AuthorizeResult.ALLOW, 'llm-chat-product');
    expect(await screen.findByText('LLM chat (OpenAI-compatible)')).toBeInTheDocument();
    const models = screen.getByRole('table', { name: 'models' });
    expect(within(models).getByText('32,768 tokens')).toBeInTheDocument();
    expect(within(models).getByText('$2.5 / M')).toBeInTheDocument();
    expect(within(models).getAllByText('model-server-v2@v2')).toHaveLength(1);
    expect(screen.getByRole('img', { name: 'route chat-small split chat-small-v1 80%, chat-small-v2 20%' })).toBeInTheDocument();
    // Whose canary may move this route's traffic, as its owners named it.
    expect(within(screen.getByRole('table', { name: 'routes' })).getByText('weights set by Rollout local/default/chat-model')).toBeInTheDocument();
    const plans = screen.getByRole('table', { name: 'plans' });
    expect(within(plans).getByText('standard')).toBeInTheDocument();
    expect(within(plans).getByText('$10.00')).toBeInTheDocument();
    // Issued keys, masked, with their consumer; usage by consumer and by version; the audit trail.
    expect(within(await screen.findByRole('table', { name: 'issued keys' })).getByText('qdk_abcdefghijkl_…')).toBeInTheDocument();
    expect(screen.getByText('Issued keys (1)')).toBeInTheDocument();
    // One page holds them all: no pager.
    expect(screen.queryByText('Keys per page')).not.toBeInTheDocument();
    const byConsumer = await screen.findByRole('table', { name: 'usage by consumer' });
    expect(within(byConsumer).getByText('chat-assistant')).toBeInTheDocument();
    // Latency quantiles come from the hourly histogram: shown as the bucket they fall in, not as an exact time.
    expect(within(byConsumer).getByText('10–25 ms')).toBeInTheDocument();
    expect(within(byConsumer).getByText('50–100 ms')).toBeInTheDocument();
    expect(within(screen.getByRole('table', { name: 'usage by model' })).getByText('model-server-v1@v1')).toBeInTheDocument();
    expect(screen.getByRole('img', { name: 'Requests and errors per hour' })).toBeInTheDocument();
    // The chart's hover text says the buckets too, and an hour without calls says so.
    const hovers = [...screen.getByRole('img', { name: 'Latency per hour' }).querySelectorAll('title')].map(t => t.textContent);
    expect(hovers).toHaveLength(24);
    expect(hovers[23]).toMatch(/: p50 10–25 ms, p99 50–100 ms$/);
    expect(hovers.filter(h => h?.endsWith(': no calls'))).toHaveLength(23);
    expect(await screen.findByRole('table', { name: 'gateway audit trail' })).toBeInTheDocument();
  });

  it("narrows the usage to one consumer, from the chooser or the consumer's row, and back to all", async () => {
    const gateway = mockGateway();
    const billing = 'component:default/billing-worker';
    gateway.getUsage.mockImplementation(async ({ consumerRef }) => {
      const all = usage(3);
      const billingCalls = { ...all.byConsumer[0], consumerRef: billing, requests: 7 };
      const byConsumer = [billingCalls, all.byConsumer[0]];
      if (consumerRef !== billing) return { ...all, series: all.series.map((h, i) => (i === 23 ? { ...h, requests: 10 } : h)), byConsumer };
      return { ...all, consumerRef, series: all.series.map((h, i) => (i === 23 ? { ...h, requests: 7 } : h)), byConsumer };
    });
    await render(gateway, AuthorizeResult.ALLOW);
    expect(await screen.findByLabelText('Requests: 10')).toBeInTheDocument();

    // The consumer's link opens its page and leaves the usage as it is; the rest of its row narrows it.
    const link = within(screen.getByRole('table', { name: 'usage by consumer' })).getByRole('link', { name: /billing-worker/ });
    fireEvent.click(link);
    expect(gateway.getUsage).not.toHaveBeenCalledWith(expect.objectContaining({ consumerRef: billing }));
    const row = link.closest('tr')!;
    fireEvent.click(row);
    await waitFor(() => expect(gateway.getUsage).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat', hours: 24, consumerRef: billing }));
    expect(await screen.findByLabelText('Requests: 7')).toBeInTheDocument();
    expect(screen.getByText("Totals, charts and versions count billing-worker's calls only.")).toBeInTheDocument();
    expect(within(screen.getByRole('table', { name: 'usage by consumer' })).getByText('billing-worker').closest('tr')).toHaveAttribute('aria-selected', 'true');

    // Its row again shows every consumer, from the keyboard as well as a click; the chooser narrows too.
    const selected = within(screen.getByRole('table', { name: 'usage by consumer' })).getByText('billing-worker').closest('tr')!;
    selected.focus();
    expect(selected).toHaveFocus();
    fireEvent.keyDown(selected, { key: 'Enter' });
    expect(await screen.findByLabelText('Requests: 10')).toBeInTheDocument();
    fireEvent.mouseDown(screen.getByRole('combobox', { name: 'Consumer' }));
    fireEvent.click(await screen.findByRole('option', { name: 'billing-worker' }));
    expect(await screen.findByLabelText('Requests: 7')).toBeInTheDocument();
    fireEvent.mouseDown(screen.getByRole('combobox', { name: 'Consumer' }));
    fireEvent.click(await screen.findByRole('option', { name: 'All consumers' }));
    expect(await screen.findByLabelText('Requests: 10')).toBeInTheDocument();
    expect(gateway.getUsage).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat', hours: 24 });
  });

  it('shows the pending requests; approving issues a key shown once', async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW);
    const pending = await screen.findByRole('table', { name: 'pending key requests' });
    expect(within(pending).getByText('the assistant answers customer questions')).toBeInTheDocument();
    const approve = within(pending).getByRole('button', { name: 'Approve' });
    await waitFor(() => expect(approve).toBeEnabled());
    fireEvent.click(approve);

    fireEvent.change(screen.getByLabelText('Reason (optional)'), { target: { value: 'ok for production' } });
    fireEvent.change(screen.getByLabelText('Expires in days (optional)'), { target: { value: 'soon' } });
    const confirm = screen.getByRole('button', { name: 'Approve and issue key' });
    expect(confirm).toBeDisabled();
    fireEvent.change(screen.getByLabelText('Expires in days (optional)'), { target: { value: '90' } });
    // The plan's models, read as the dialog opens, all chosen: the key follows the plan.
    const large = await screen.findByRole('checkbox', { name: 'chat-large' });
    expect(screen.getByRole('checkbox', { name: 'chat-small' })).toBeChecked();
    expect(screen.getByText('Every model of plan standard, and any it gains later.')).toBeInTheDocument();
    expect(gateway.getProduct).toHaveBeenCalledWith('llm-chat');
    // Narrowed to one; none at all cannot be approved.
    fireEvent.click(screen.getByRole('checkbox', { name: 'chat-small' }));
    fireEvent.click(large);
    expect(screen.getByText('Choose at least one model.')).toBeInTheDocument();
    expect(confirm).toBeDisabled();
    fireEvent.click(screen.getByRole('checkbox', { name: 'chat-small' }));
    expect(screen.getByText('Only chat-small; a model added to plan standard later is not included.')).toBeInTheDocument();
    fireEvent.click(confirm);
    await waitFor(() => expect(gateway.approveKeyRequest).toHaveBeenCalledWith('req-1', { reason: 'ok for production', expiresInDays: 90, models: ['chat-small'] }));

    const dialog = await screen.findByRole('dialog', { name: 'Key issued' });
    expect(within(dialog).getByLabelText('API key')).toHaveValue(SECRET);
    expect(within(dialog).getByText(/it will not be shown again/)).toBeInTheDocument();
    expect(within(dialog).getByRole('button', { name: 'Copy key' })).toBeInTheDocument();
    fireEvent.click(within(dialog).getByRole('button', { name: 'I have copied the key' }));
    await waitFor(() => expect(screen.queryByDisplayValue(SECRET)).not.toBeInTheDocument());
    // Reloaded after the decision.
    expect(gateway.listKeyRequests.mock.calls.length).toBeGreaterThan(1);
  });

  it("says when the plan's models cannot be read, reads them again, and keeps the reviewer's choice from an older answer", async () => {
    const gateway = mockGateway();
    let answerFirst: (p: typeof product) => void = () => undefined;
    gateway.getProduct
      .mockImplementationOnce(() => new Promise(resolve => { answerFirst = resolve; }))
      .mockRejectedValueOnce(new Error('the gateway is restarting'))
      .mockResolvedValue(product);
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-models');
    const approve = await screen.findByRole('button', { name: 'Approve' });
    await waitFor(() => expect(approve).toBeEnabled());
    // Opened, then closed before its plan was read.
    fireEvent.click(approve);
    expect(screen.getByRole('progressbar', { name: "reading the plan's models" })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Approve and issue key' })).toBeDisabled();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());

    // Opened again: the read fails, and the dialog says what approving now means.
    fireEvent.click(approve);
    expect(await screen.findByText("Could not read the models of plan standard (the gateway is restarting); approved now, the key has all of them.")).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    fireEvent.click(await screen.findByRole('checkbox', { name: 'chat-large' }));
    // The first opening's answer arrives late, for a plan with every model: it changes nothing.
    answerFirst({ ...product, plans: [{ ...product.plans[0], models: undefined }] });
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(screen.getByRole('checkbox', { name: 'chat-large' })).not.toBeChecked();
    expect(screen.queryByRole('checkbox', { name: 'chat-small-v1' })).not.toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Approve and issue key' }));
    await waitFor(() => expect(gateway.approveKeyRequest).toHaveBeenCalledWith('req-1', { models: ['chat-small'] }));
  });

  it("says up front when a request's plan no longer exists, and lets the reviewer deny it instead", async () => {
    const gateway = mockGateway();
    // The owners removed plan standard after the request for it.
    gateway.getProduct.mockResolvedValue({ ...product, plans: [product.plans[1]] });
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-plan-gone');
    const approve = await screen.findByRole('button', { name: 'Approve' });
    await waitFor(() => expect(approve).toBeEnabled());
    fireEvent.click(approve);
    const dialog = within(screen.getByRole('dialog'));
    expect(await dialog.findByText(/^Plan standard of llm-chat no longer exists: the product's owners removed it after this request was made, so it cannot be approved/)).toBeInTheDocument();
    expect(dialog.getByRole('button', { name: 'Approve and issue key' })).toBeDisabled();
    expect(dialog.queryByText(/A key is issued at once/)).not.toBeInTheDocument();
    fireEvent.click(dialog.getByRole('button', { name: 'Deny instead' }));
    const deny = dialog.getByRole('button', { name: 'Deny request' });
    fireEvent.change(dialog.getByLabelText(/^Reason/), { target: { value: 'plan standard is gone; ask for trial' } });
    fireEvent.click(deny);
    await waitFor(() => expect(gateway.denyKeyRequest).toHaveBeenCalledWith('req-1', { reason: 'plan standard is gone; ask for trial' }));
    expect(gateway.approveKeyRequest).not.toHaveBeenCalled();
  });

  it('keeps the reason a decision was refused for, and does not send it again', async () => {
    const gateway = mockGateway();
    const decided = 'Key request req-1 was decided or expired meanwhile';
    gateway.denyKeyRequest.mockRejectedValue(Object.assign(new Error('Request failed with 409 Conflict'), { statusCode: 409, body: { error: { message: decided } } }));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-decided');
    const deny = await screen.findByRole('button', { name: 'Deny' });
    await waitFor(() => expect(deny).toBeEnabled());
    fireEvent.click(deny);
    fireEvent.change(screen.getByLabelText(/^Reason/), { target: { value: 'use the trial plan first' } });
    fireEvent.click(screen.getByRole('button', { name: 'Deny request' }));
    expect(await within(screen.getByRole('dialog')).findByText(decided)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Deny request' })).toBeDisabled();
    expect(gateway.denyKeyRequest).toHaveBeenCalledTimes(1);
    // The next opening starts afresh.
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    fireEvent.click(deny);
    fireEvent.change(screen.getByLabelText(/^Reason/), { target: { value: 'use the trial plan first' } });
    expect(screen.getByRole('button', { name: 'Deny request' })).toBeEnabled();
  });

  it('disables Approve and Deny, saying why, once a request has expired, without waiting for the next read', async () => {
    const gateway = mockGateway();
    const soon = { ...pendingRequest, expiresAt: new Date(Date.now() + 2_500).toISOString() };
    const past = { ...pendingRequest, id: 'req-0', componentRef: 'component:default/billing-worker', expiresAt: '2026-11-20T10:00:00Z' };
    gateway.listKeyRequests.mockImplementation(async ({ status }) => (status === 'pending' ? [past, soon] : []));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-expiring');
    const [, pastRow, soonRow] = within(await screen.findByRole('table', { name: 'pending key requests' })).getAllByRole('row');
    await waitFor(() => expect(within(soonRow).getByRole('button', { name: 'Approve' })).toBeEnabled());
    expect(within(pastRow).getByRole('button', { name: 'Approve' })).toBeDisabled();
    expect(within(pastRow).getByRole('button', { name: 'Deny' })).toBeDisabled();
    expect(within(pastRow).getAllByLabelText(`This request expired ${new Date(past.expiresAt).toLocaleString()} without a review; it can no longer be decided, and leaves the list shortly. The component's owners can ask again.`)).toHaveLength(2);
    const reads = gateway.listKeyRequests.mock.calls.length;
    await waitFor(() => expect(within(soonRow).getByRole('button', { name: 'Approve' })).toBeDisabled(), { timeout: 5_000 });
    expect(within(soonRow).getByRole('button', { name: 'Deny' })).toBeDisabled();
    expect(gateway.listKeyRequests.mock.calls.length).toBe(reads);
  });

  it('asks for a reason before denying', async () => {
    const gateway = mockGateway();
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-deny');
    const deny = await screen.findByRole('button', { name: 'Deny' });
    await waitFor(() => expect(deny).toBeEnabled());
    fireEvent.click(deny);
    const confirm = screen.getByRole('button', { name: 'Deny request' });
    expect(confirm).toBeDisabled();
    fireEvent.change(screen.getByLabelText(/^Reason/), { target: { value: 'use the trial plan first' } });
    fireEvent.click(confirm);
    await waitFor(() => expect(gateway.denyKeyRequest).toHaveBeenCalledWith('req-1', { reason: 'use the trial plan first' }));
  });

  it('disables Approve and Deny for a user without gateway.key-request.review on the API', async () => {
    // Another entity: permission answers are cached per resource.
    const authorize = (r: EvaluatePermissionRequest) =>
      r.permission.name === 'gateway.key-request.review' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW;
    await render(mockGateway(), authorize, 'llm-chat-locked');
    const approve = await screen.findByRole('button', { name: 'Approve' });
    // Not merely while the permission loads: the tooltip names the missing permission (on Approve, Deny and the key's Revoke).
    expect((await screen.findAllByLabelText(/Only those who may review key requests for api:default\/llm-chat-locked/)).length).toBe(3);
    expect(approve).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Deny' })).toBeDisabled();
  });

  it("lets the API's reviewers revoke a key still accepted, with a reason, and reads the keys again", async () => {
    const gateway = mockGateway();
    const revokedKey = { ...activeKey, id: 'key-0', masked: 'qdk_revokedkey00_…', status: 'revoked' as const, revokedAt: '2026-11-23T10:00:00Z', revokedBy: 'user:default/carol' };
    gateway.listKeys.mockImplementation(async ({ accepted }) => ({ items: accepted === false ? [revokedKey] : [activeKey], totalItems: 2, activeItems: 1 }));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-revoke');
    const keys = within(await screen.findByRole('table', { name: 'issued keys' }));
    const revoke = keys.getByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    const reads = gateway.listKeys.mock.calls.length;
    fireEvent.click(revoke);
    expect(screen.getByText('Revoke qdk_abcdefghijkl_…?')).toBeInTheDocument();
    const confirm = screen.getByRole('button', { name: 'Revoke key' });
    expect(confirm).toBeDisabled();
    fireEvent.change(screen.getByLabelText(/^Reason/), { target: { value: 'the consumer sent abusive prompts' } });
    fireEvent.click(confirm);
    await waitFor(() => expect(gateway.revokeKey).toHaveBeenCalledWith('key-1', { reason: 'the consumer sent abusive prompts' }));
    await waitFor(() => expect(gateway.listKeys.mock.calls.length).toBeGreaterThan(reads));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    // Keys that no longer work have nothing to revoke.
    fireEvent.click(screen.getByRole('button', { name: 'Revoked or expired (1)' }));
    await waitFor(() => expect(within(screen.getByRole('table', { name: 'issued keys' })).getByText('qdk_revokedkey00_…')).toBeInTheDocument());
    expect(within(screen.getByRole('table', { name: 'issued keys' })).queryByRole('button', { name: 'Revoke' })).not.toBeInTheDocument();
  });

  it('disables Revoke for a user without gateway.key-request.review on the API, and says where the key can be revoked', async () => {
    const authorize = (r: EvaluatePermissionRequest) =>
      r.permission.name === 'gateway.key-request.review' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW;
    await render(mockGateway(), authorize, 'llm-chat-revoke-locked');
    const keys = within(await screen.findByRole('table', { name: 'issued keys' }));
    expect(await screen.findByLabelText(/can revoke its keys here; a key's own component's owners revoke it on that component's page/)).toBeInTheDocument();
    expect(keys.getByRole('button', { name: 'Revoke' })).toBeDisabled();
  });

  it('shows a pending request that a hundred decided ones came after, and the newest 20 of those', async () => {
    const gateway = mockGateway();
    const decided = Array.from({ length: 100 }, (_, i) => ({
      ...pendingRequest, id: `req-d${i}`, componentRef: `component:default/consumer-${i}`, status: 'approved' as const,
      requestedAt: new Date(Date.parse('2026-11-23T10:00:00Z') + (100 - i) * 60_000).toISOString(), reviewedBy: 'user:default/carol', reviewedAt: '2026-11-24T10:00:00Z',
    }));
    // As the backend answers: the newest 100 of every status, or the oldest 100 pending.
    gateway.listKeyRequests.mockImplementation(async ({ status }) => (status === 'pending' ? [pendingRequest] : decided));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-busy');
    expect(await screen.findByText('Pending key requests (1)')).toBeInTheDocument();
    expect(within(screen.getByRole('table', { name: 'pending key requests' })).getByText('the assistant answers customer questions')).toBeInTheDocument();
    expect(screen.getByText('Decided requests (the newest 20)')).toBeInTheDocument();
    expect(within(screen.getByRole('table', { name: 'decided key requests' })).getAllByRole('row')).toHaveLength(21);
  });

  it('lists the pending requests as the backend gives them, oldest first, and says when more wait than it lists', async () => {
    const gateway = mockGateway();
    const pending = Array.from({ length: 100 }, (_, i) => ({
      ...pendingRequest, id: `req-p${i}`, componentRef: `component:default/waiting-${i}`,
      requestedAt: new Date(Date.parse('2026-11-23T10:00:00Z') + i * 60_000).toISOString(),
    }));
    gateway.listKeyRequests.mockImplementation(async ({ status }) => (status === 'pending' ? pending : pending.slice(-20).reverse()));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-queue');
    expect(await screen.findByText('Pending key requests (100+)')).toBeInTheDocument();
    expect(screen.getByText('Oldest first: the next to expire on top')).toBeInTheDocument();
    const rows = within(screen.getByRole('table', { name: 'pending key requests' })).getAllByRole('row');
    expect(rows[1]).toHaveTextContent('waiting-0');
    expect(rows[100]).toHaveTextContent('waiting-99');
    expect(screen.getByText('The 100 oldest are shown; more may wait, and each comes up here as those before it are decided or expire.')).toBeInTheDocument();
    expect(gateway.listKeyRequests).toHaveBeenCalledWith({ entityRef: 'api:default/llm-chat-queue', status: 'pending' });
  });

  it('pages through many keys, those accepted now first, asking the backend for one page at a time', async () => {
    const gateway = mockGateway();
    // 640 keys, newest first: key n is the n-th newest; the newest 600 are accepted now, the 40 oldest revoked or expired.
    const nth = (n: number) => ({ ...activeKey, id: `key-${n}`, publicId: `k${String(n).padStart(11, '0')}`, masked: `qdk_k${String(n).padStart(11, '0')}_…` });
    gateway.listKeys.mockImplementation(async ({ accepted, limit = 500, offset = 0 }) => {
      const [first, count] = { all: [1, 640], true: [1, 600], false: [601, 40] }[String(accepted ?? 'all') as 'all' | 'true' | 'false'];
      return { items: Array.from({ length: Math.max(0, Math.min(limit, count - offset)) }, (_, i) => nth(first + offset + i)), totalItems: 640, activeItems: 600 };
    });
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-many');
    expect(await screen.findByText('Issued keys (640)')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Accepted now (600)' })).toHaveAttribute('aria-pressed', 'true');
    expect(screen.getByText('1–25 of 600')).toBeInTheDocument();
    expect(gateway.listKeys).toHaveBeenCalledWith({ entityRef: 'api:default/llm-chat-many', accepted: true, limit: 25, offset: 0 });
    const keys = () => within(screen.getByRole('table', { name: 'issued keys' }));
    expect(keys().getAllByRole('row')).toHaveLength(26);
    expect(keys().getByText('qdk_k00000000001_…')).toBeInTheDocument();

    fireEvent.click(screen.getByRole('button', { name: 'Go to next page' }));
    expect(await screen.findByText('26–50 of 600')).toBeInTheDocument();
    await waitFor(() => expect(keys().getByText('qdk_k00000000026_…')).toBeInTheDocument());
    expect(keys().queryByText('qdk_k00000000001_…')).not.toBeInTheDocument();
    expect(gateway.listKeys).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat-many', accepted: true, limit: 25, offset: 25 });

    // The keys that no longer work, from their first page.
    fireEvent.click(screen.getByRole('button', { name: 'Revoked or expired (40)' }));
    expect(await screen.findByText('1–25 of 40')).toBeInTheDocument();
    await waitFor(() => expect(keys().getByText('qdk_k00000000601_…')).toBeInTheDocument());
    expect(gateway.listKeys).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat-many', accepted: false, limit: 25, offset: 0 });

    // All of them; a larger page starts again from the newest.
    fireEvent.click(screen.getByRole('button', { name: 'All (640)' }));
    expect(await screen.findByText('1–25 of 640')).toBeInTheDocument();
    fireEvent.mouseDown(screen.getByRole('combobox', { name: /Keys per page/ }));
    fireEvent.click(await screen.findByRole('option', { name: '100' }));
    expect(await screen.findByText('1–100 of 640')).toBeInTheDocument();
    await waitFor(() => expect(keys().getAllByRole('row')).toHaveLength(101));
    expect(gateway.listKeys).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat-many', limit: 100, offset: 0 });
  }, 60_000); // 640 keys and a page of 100 rows: 17 s alone on a slow machine under load (2026-12-07)

  it('goes back a page when the last key of the page shown is revoked', async () => {
    const gateway = mockGateway();
    // 26 keys accepted now: the 26th alone on the second page.
    const accepted = Array.from({ length: 26 }, (_, i) => ({ ...activeKey, id: `key-${i + 1}`, masked: `qdk_k${String(i + 1).padStart(11, '0')}_…` }));
    gateway.listKeys.mockImplementation(async ({ accepted: onlyAccepted, limit = 500, offset = 0 }) => ({
      items: onlyAccepted === false ? [] : accepted.slice(offset, offset + limit), totalItems: 26, activeItems: accepted.length,
    }));
    gateway.revokeKey.mockImplementation(async id => {
      const at = accepted.findIndex(k => k.id === id);
      const [revoked] = accepted.splice(at, 1);
      return { ...revoked, status: 'revoked' };
    });
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-last-page');
    expect(await screen.findByText('1–25 of 26', undefined, { timeout: 10_000 })).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Go to next page' }));
    expect(await screen.findByText('26–26 of 26')).toBeInTheDocument();
    const keys = () => within(screen.getByRole('table', { name: 'issued keys' }));
    await waitFor(() => expect(keys().getAllByRole('row')).toHaveLength(2));
    const revoke = keys().getByRole('button', { name: 'Revoke' });
    await waitFor(() => expect(revoke).toBeEnabled());
    fireEvent.click(revoke);
    fireEvent.change(screen.getByLabelText(/^Reason/), { target: { value: 'leaked in a log' } });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke key' }));
    await waitFor(() => expect(gateway.revokeKey).toHaveBeenCalledWith('key-26', { reason: 'leaked in a log' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    // The 25 left fill the first page, which is read again; no empty second page.
    await waitFor(() => expect(keys().getAllByRole('row')).toHaveLength(26));
    expect(keys().getByText('qdk_k00000000001_…')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Accepted now (25)' })).toBeInTheDocument();
    expect(gateway.listKeys).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat-last-page', accepted: true, limit: 25, offset: 0 });
  });

  it('explains how to offer an API without a product, and lets its owners create one', async () => {
    const gateway = mockGateway();
    gateway.listProducts.mockResolvedValue([]);
    gateway.listKeyRequests.mockResolvedValue([]);
    gateway.listKeys.mockResolvedValue({ items: [], totalItems: 0, activeItems: 0 });
    gateway.putProduct.mockImplementation(async (id, body) => ({ ...(body.spec as typeof product), id, entityRef: body.entityRef, updatedAt: '2026-12-06T20:00:00.000Z', updatedBy: 'user:default/carol' }));
    await render(gateway, AuthorizeResult.ALLOW, 'plain-api');
    expect(await screen.findByText('This API is not offered through the gateway')).toBeInTheDocument();
    // Never offered: there is no usage to show, and no removal to tell of.
    expect(gateway.listAudit).toHaveBeenCalledWith({ entityRef: 'api:default/plain-api', action: 'product.deleted', limit: 1 });
    expect(screen.queryByText(/was removed/)).not.toBeInTheDocument();
    expect(screen.queryByText('Usage before the removal')).not.toBeInTheDocument();
    fireEvent.click(await screen.findByRole('button', { name: 'Offer through the gateway' }));
    const dialog = within(screen.getByRole('dialog'));
    // The id comes from the API's annotation; the starter follows the kind chosen until it is edited.
    expect(dialog.getByLabelText(/^Product id/)).toHaveValue('llm-chat');
    expect((dialog.getByLabelText('product YAML') as HTMLTextAreaElement).value).toMatch(/^kind: openai\n/);
    fireEvent.click(dialog.getByRole('button', { name: 'REST' }));
    const yaml = dialog.getByLabelText('product YAML') as HTMLTextAreaElement;
    expect(yaml.value).toMatch(/^kind: rest\n/);
    expect(yaml.value).not.toContain('models:');
    // Once the text is the owner's own, it says the kind: the toggle no longer rewrites it.
    fireEvent.change(yaml, { target: { value: yaml.value.replace('requestsPerMinute: 600', 'requestsPerMinute: 60') } });
    expect(dialog.getByRole('button', { name: 'OpenAI-compatible' })).toBeDisabled();
    fireEvent.change(yaml, { target: { value: yaml.value.replace('requestsPerMinute: 60', 'requestsPerMinute: 600') } });
    fireEvent.change(dialog.getByLabelText(/^Product id/), { target: { value: 'Plain API' } });
    expect(dialog.getByRole('button', { name: 'Create product' })).toBeDisabled();
    fireEvent.change(dialog.getByLabelText(/^Product id/), { target: { value: 'plain-api' } });
    fireEvent.click(dialog.getByRole('button', { name: 'Create product' }));
    // A create asks that no product exist yet, so it never replaces one made meanwhile.
    await waitFor(() => expect(gateway.putProduct).toHaveBeenCalledWith('plain-api', expect.objectContaining({
      entityRef: 'api:default/plain-api', expectedUpdatedAt: null, spec: expect.objectContaining({ kind: 'rest', plans: [{ name: 'standard', requestsPerMinute: 600 }] }),
    })));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it.each([
    ['under the same id', 'llm-chat', (at: string) => `Gateway product llm-chat was created meanwhile (by user:default/dave at ${at}); read it and edit that`],
    ['under another id', 'chat', (at: string) => `api:default/llm-chat-race already has the gateway product chat (changed by user:default/dave at ${at}); read it and edit that`],
  ])("keeps the owner's text when another owner creates the product meanwhile %s, and opens theirs after the conflict", async (_case, theirId, conflict) => {
    const gateway = mockGateway();
    gateway.listProducts.mockResolvedValue([]);
    gateway.listKeyRequests.mockResolvedValue([]);
    const theirs = { ...product, id: theirId, updatedBy: 'user:default/dave', updatedAt: '2026-12-06T19:00:00.000Z' };
    const message = conflict(theirs.updatedAt);
    gateway.putProduct.mockRejectedValueOnce(Object.assign(new Error(message), { response: { status: 409 }, body: { error: { message } } }));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-race');
    fireEvent.click(await screen.findByRole('button', { name: 'Offer through the gateway' }));
    const yaml = () => within(screen.getByRole('dialog')).getByLabelText('product YAML') as HTMLTextAreaElement;
    fireEvent.change(yaml(), { target: { value: yaml().value.replace('requestsPerMinute: 600', 'requestsPerMinute: 42') } });
    // The next poll finds dave's product: the page changes behind the dialog, which keeps its text.
    gateway.listProducts.mockResolvedValue([theirs]);
    await screen.findByRole('table', { name: 'plans', hidden: true }, { timeout: 12_000 });
    expect(yaml().value).toContain('requestsPerMinute: 42');
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Create product' }));
    expect(await screen.findByText(/user:default\/dave at 2026-12-06T19:00:00.000Z/)).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Open the current version' }));
    await waitFor(() => expect(screen.getByRole('dialog')).toHaveTextContent(`Edit gateway product ${theirId}`));
    expect(yaml().value).toContain('title: LLM chat (OpenAI-compatible)');
    expect((screen.getByLabelText('your unsaved edit') as HTMLTextAreaElement).value).toContain('requestsPerMinute: 42');
  }, 30_000);

  it('offers no product editor to those who may not define the product, and says why', async () => {
    const authorize = (r: EvaluatePermissionRequest) => (r.permission.name === 'gateway.product.manage' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW);
    await render(mockGateway(), authorize, 'llm-chat-edit-locked');
    expect(await screen.findByLabelText(/Only those who may define the gateway product of api:default\/llm-chat-edit-locked .*gateway\.product\.manage/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Edit' })).toBeDisabled();

    const gateway = mockGateway();
    gateway.listProducts.mockResolvedValue([]);
    await render(gateway, authorize, 'plain-api-locked');
    expect(await screen.findByText('This API is not offered through the gateway')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Offer through the gateway' })).not.toBeInTheDocument();
  });

  it('edits the product as YAML over the version it opened, points at the field the backend refuses, and opens the newer version after a conflict', async () => {
    const gateway = mockGateway();
    const refusal = (status: number, message: string) => Object.assign(new Error(message), { response: { status }, body: { error: { message } } });
    gateway.putProduct
      .mockRejectedValueOnce(refusal(400, 'spec.plans[1].requestsPerMinute: must be positive'))
      .mockRejectedValueOnce(refusal(409, 'Gateway product llm-chat was changed by user:default/dave at 2026-12-06T19:00:00.000Z, after the version you edited (2026-11-22T09:00:00Z); read it again and redo your edit'))
      .mockImplementation(async (id, body) => ({ ...(body.spec as typeof product), id, entityRef: body.entityRef, updatedAt: '2026-12-06T20:00:00.000Z', updatedBy: 'user:default/carol' }));
    const newer = { ...product, updatedAt: '2026-12-06T19:00:00.000Z', updatedBy: 'user:default/dave', title: 'LLM chat, renamed by dave' };
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-edit');
    const edit = await screen.findByRole('button', { name: 'Edit' });
    await waitFor(() => expect(edit).toBeEnabled());
    fireEvent.click(edit);
    const dialog = within(screen.getByRole('dialog'));
    const yaml = () => dialog.getByLabelText('product YAML') as HTMLTextAreaElement;
    expect(yaml().value).toContain('name: trial\n    requestsPerMinute: 10\n');
    expect(dialog.queryByLabelText(/^Product id/)).not.toBeInTheDocument();

    // Broken YAML is caught before anything is sent.
    fireEvent.change(yaml(), { target: { value: `${yaml().value}plans: []\n` } });
    // Escape does not throw the owner's text away (only Cancel does).
    fireEvent.keyDown(screen.getByRole('dialog'), { key: 'Escape' });
    expect(screen.getByRole('dialog')).toBeInTheDocument();
    expect(yaml().value).toMatch(/plans: \[\]\n$/);
    fireEvent.click(dialog.getByRole('button', { name: 'Save' }));
    expect(await dialog.findByText(/^YAML, line \d+ \(plans: \[\]\): Map keys must be unique/)).toBeInTheDocument();
    expect(gateway.putProduct).not.toHaveBeenCalled();

    // The backend's refusal names a field: the editor selects it.
    const edited = yaml().value.replace(/plans: \[\]\n$/, '').replace('requestsPerMinute: 10\n', 'requestsPerMinute: 0\n');
    fireEvent.change(yaml(), { target: { value: edited } });
    fireEvent.click(dialog.getByRole('button', { name: 'Save' }));
    const where = edited.split('\n').indexOf('    requestsPerMinute: 0') + 1;
    expect(await dialog.findByText(`spec.plans[1].requestsPerMinute: must be positive (line ${where})`)).toBeInTheDocument();
    expect(edited.slice(yaml().selectionStart, yaml().selectionEnd)).toBe('0');
    expect(gateway.putProduct).toHaveBeenLastCalledWith('llm-chat', expect.objectContaining({ entityRef: 'api:default/llm-chat-edit', expectedUpdatedAt: product.updatedAt }));

    // Someone saved meanwhile: nothing is overwritten, and their version can be opened to edit instead.
    fireEvent.change(yaml(), { target: { value: edited.replace('requestsPerMinute: 0\n', 'requestsPerMinute: 20\n') } });
    fireEvent.click(dialog.getByRole('button', { name: 'Save' }));
    expect(await dialog.findByText(/was changed by user:default\/dave/)).toBeInTheDocument();
    gateway.listProducts.mockResolvedValue([newer]);
    fireEvent.click(dialog.getByRole('button', { name: 'Open the current version' }));
    await waitFor(() => expect(yaml().value).toContain('title: LLM chat, renamed by dave'));
    // The edit that was not saved stays beside it, to be redone.
    expect((dialog.getByLabelText('your unsaved edit') as HTMLTextAreaElement).value).toContain('requestsPerMinute: 20\n');
    fireEvent.click(dialog.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(gateway.putProduct).toHaveBeenLastCalledWith('llm-chat', expect.objectContaining({ expectedUpdatedAt: newer.updatedAt, spec: expect.objectContaining({ title: 'LLM chat, renamed by dave' }) })));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('says in plain words when the product was removed while it was edited, and saves the text as a new product', async () => {
    const gateway = mockGateway();
    const refusal = (status: number, message: string) => Object.assign(new Error(message), { response: { status }, body: { error: { message } } });
    const held = 'spec.plans: the plan "trial" (1 key) is held by keys that work now; revoke those keys (the API\'s Issued keys) before removing it';
    gateway.putProduct
      .mockRejectedValueOnce(refusal(409, held))
      .mockRejectedValueOnce(refusal(409, 'Gateway product llm-chat does not exist; create it with expectedUpdatedAt: null'))
      .mockImplementation(async (id, body) => ({ ...(body.spec as typeof product), id, entityRef: body.entityRef, updatedAt: '2026-12-07T10:00:00.000Z', updatedBy: 'user:default/carol' }));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-gone');
    const edit = await screen.findByRole('button', { name: 'Edit' });
    await waitFor(() => expect(edit).toBeEnabled());
    fireEvent.click(edit);
    const dialog = within(screen.getByRole('dialog'));
    const yaml = () => dialog.getByLabelText('product YAML') as HTMLTextAreaElement;

    // A 409 about the text itself, over the version opened: the field it names, and no other version to open.
    const withoutTrial = yaml().value.replace(/ {2}- name: trial\n( {4}.*\n)*/, '');
    fireEvent.change(yaml(), { target: { value: withoutTrial } });
    fireEvent.click(dialog.getByRole('button', { name: 'Save' }));
    expect(await dialog.findByText(/^spec\.plans: the plan "trial" \(1 key\) is held by keys that work now.* \(line \d+\)$/)).toBeInTheDocument();
    expect(dialog.queryByRole('button', { name: 'Open the current version' })).not.toBeInTheDocument();

    // Removed meanwhile: said so, and the text is saved as a new product, over no version.
    const edited = yaml().value.replace('requestsPerMinute: 120\n', 'requestsPerMinute: 240\n');
    fireEvent.change(yaml(), { target: { value: edited } });
    gateway.listProducts.mockResolvedValue([]);
    fireEvent.click(dialog.getByRole('button', { name: 'Save' }));
    expect(await dialog.findByText('Gateway product llm-chat was removed from the gateway after you opened it, so nothing was saved. Your text is kept: save it as a new product to offer llm-chat-gone through the gateway again.')).toBeInTheDocument();
    expect(dialog.queryByText(/expectedUpdatedAt/)).not.toBeInTheDocument();
    expect(yaml().value).toBe(edited);
    fireEvent.click(dialog.getByRole('button', { name: 'Save as a new product' }));
    await waitFor(() => expect(gateway.putProduct).toHaveBeenLastCalledWith('llm-chat', expect.objectContaining({
      entityRef: 'api:default/llm-chat-gone', expectedUpdatedAt: null, spec: expect.objectContaining({ plans: [expect.objectContaining({ name: 'standard', requestsPerMinute: 240 })] }),
    })));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('removes the product after a confirmation, says what still uses it, and then offers the API afresh', async () => {
    const gateway = mockGateway();
    const inUse = 'Gateway product llm-chat is in use: keys that work now hold its plan "standard" (1 key); revoke those keys (the API\'s Gateway tab) before removing it';
    const changed = 'Gateway product llm-chat was changed by user:default/dave at 2026-12-06T19:00:00.000Z, after the version you read (2026-11-22T09:00:00Z); read it again before removing it';
    const newer = { ...product, updatedAt: '2026-12-06T19:00:00.000Z', updatedBy: 'user:default/dave' };
    gateway.deleteProduct
      .mockRejectedValueOnce(Object.assign(new Error(changed), { response: { status: 409 }, body: { error: { message: changed } } }))
      .mockRejectedValueOnce(Object.assign(new Error(inUse), { response: { status: 409 }, body: { error: { message: inUse } } }))
      .mockImplementationOnce(async () => {
        gateway.listProducts.mockResolvedValue([]);
        gateway.getUsage.mockResolvedValue(usage(41));
        gateway.listAudit.mockResolvedValue({ items: [
          { id: '9', createdAt: '2026-12-06T21:00:00Z', actor: 'user:default/carol', action: 'product.deleted', entityRef: 'api:default/llm-chat-remove', target: 'llm-chat', reason: 'replaced by llm-chat-2', details: { plans: ['standard', 'trial'] } },
        ] });
      });
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-remove');
    const edit = await screen.findByRole('button', { name: 'Edit' });
    await waitFor(() => expect(edit).toBeEnabled());
    fireEvent.click(edit);
    const dialog = within(screen.getByRole('dialog'));
    fireEvent.click(dialog.getByRole('button', { name: 'Remove from the gateway' }));
    // Nothing is sent until the owner confirms; they may keep it.
    expect(dialog.getByRole('alertdialog', { name: 'confirm removal' })).toHaveTextContent('Remove gateway product llm-chat?');
    fireEvent.click(dialog.getByRole('button', { name: 'Keep it' }));
    expect(dialog.queryByRole('alertdialog')).not.toBeInTheDocument();
    expect(gateway.deleteProduct).not.toHaveBeenCalled();

    // Changed since it was opened: nothing goes; the current version opens, with no "unsaved edit" beside it, as nothing was edited.
    fireEvent.click(dialog.getByRole('button', { name: 'Remove from the gateway' }));
    fireEvent.click(dialog.getByRole('button', { name: 'Remove product' }));
    expect(await dialog.findByText(changed)).toBeInTheDocument();
    gateway.listProducts.mockResolvedValue([newer]);
    fireEvent.click(dialog.getByRole('button', { name: 'Open the current version' }));
    await waitFor(() => expect(screen.getByRole('dialog')).toHaveTextContent('by dave'));
    expect(dialog.queryByLabelText('your unsaved edit')).not.toBeInTheDocument();

    // In use: the backend's reason is shown, the product stays, and the owner's reason is kept for the next try.
    fireEvent.click(dialog.getByRole('button', { name: 'Remove from the gateway' }));
    fireEvent.change(dialog.getByLabelText('Reason (for the audit trail)'), { target: { value: 'replaced' } });
    fireEvent.click(dialog.getByRole('button', { name: 'Remove product' }));
    expect(await dialog.findByText(inUse)).toBeInTheDocument();
    expect(gateway.deleteProduct).toHaveBeenLastCalledWith('llm-chat', { expectedUpdatedAt: newer.updatedAt, reason: 'replaced' });
    expect(dialog.getByLabelText('Reason (for the audit trail)')).toHaveValue('replaced');

    // Once nothing uses it, it goes over the version opened, with the reason given, and the page offers the API again.
    fireEvent.change(dialog.getByLabelText('Reason (for the audit trail)'), { target: { value: 'replaced by llm-chat-2' } });
    fireEvent.click(dialog.getByRole('button', { name: 'Remove product' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(gateway.deleteProduct).toHaveBeenLastCalledWith('llm-chat', { expectedUpdatedAt: newer.updatedAt, reason: 'replaced by llm-chat-2' });
    expect(await screen.findByText('This API is not offered through the gateway')).toBeInTheDocument();
    // The API's usage and trail outlive its product; the page says what happened to it.
    expect(await screen.findByText(/^Its gateway product "llm-chat" was removed .* by carol: replaced by llm-chat-2$/)).toBeInTheDocument();
    expect(screen.getByText('Its usage and audit trail stay below.')).toBeInTheDocument();
    // The panel reads the API's usage as it is after the removal: the calls made before it.
    const kept = (await screen.findByText('Usage before the removal')).closest('.MuiCard-root') as HTMLElement;
    expect((await within(kept).findAllByText('41')).length).toBeGreaterThan(0);
    expect(gateway.getUsage).toHaveBeenLastCalledWith({ entityRef: 'api:default/llm-chat-remove', hours: 24 });
    expect(await within(await screen.findByRole('table', { name: 'gateway audit trail' })).findByText('product.deleted')).toBeInTheDocument();
  });

  it('shows an error panel when the gateway cannot be read', async () => {
    const gateway = mockGateway();
    gateway.listProducts.mockRejectedValue(new Error('You may not read the gateway products'));
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-error');
    expect((await screen.findAllByText(/You may not read the gateway products/)).length).toBeGreaterThan(0);
  });

  it('shows a page of keys that could not be read as failed, not the page before under its numbers, and lets the user go back', async () => {
    const gateway = mockGateway();
    const keys = Array.from({ length: 60 }, (_, i) => ({ ...activeKey, id: `key-${i + 1}`, masked: `qdk_k${String(i + 1).padStart(11, '0')}_…` }));
    gateway.listKeys.mockImplementation(async ({ limit = 500, offset = 0 }) => {
      if (offset === 25) throw new Error('Service Unavailable');
      return { items: keys.slice(offset, offset + limit), totalItems: 60, activeItems: 60 };
    });
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-page-fails');
    expect(await screen.findByText('1–25 of 60', undefined, { timeout: 10_000 })).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Go to next page' }));
    expect(await screen.findByText('Service Unavailable')).toBeInTheDocument();
    expect(screen.getByText('26–50 of 60')).toBeInTheDocument();
    // Not the first page's keys (and their Revoke) under the second page's numbers, nor a page still loading.
    expect(screen.queryByRole('table', { name: 'issued keys' })).not.toBeInTheDocument();
    expect(screen.queryByRole('progressbar', { name: 'loading keys' })).not.toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Go to previous page' }));
    await waitFor(() => expect(within(screen.getByRole('table', { name: 'issued keys' })).getByText('qdk_k00000000001_…')).toBeInTheDocument());
    expect(screen.getByText('1–25 of 60')).toBeInTheDocument();
  });

  it('keeps the pager after a page size that could not be read, so the user can choose another', async () => {
    const gateway = mockGateway();
    const keys = Array.from({ length: 60 }, (_, i) => ({ ...activeKey, id: `key-${i + 1}`, masked: `qdk_k${String(i + 1).padStart(11, '0')}_…` }));
    gateway.listKeys.mockImplementation(async ({ limit = 500, offset = 0 }) => {
      if (limit === 50) throw new Error('Service Unavailable');
      return { items: keys.slice(offset, offset + limit), totalItems: 60, activeItems: 60 };
    });
    await render(gateway, AuthorizeResult.ALLOW, 'llm-chat-size-fails');
    expect(await screen.findByText('1–25 of 60', undefined, { timeout: 10_000 })).toBeInTheDocument();
    const pageSize = () => screen.getByRole('combobox', { name: /Keys per page/ });
    fireEvent.mouseDown(pageSize());
    fireEvent.click(await screen.findByRole('option', { name: '50' }));
    expect(await screen.findByText('Service Unavailable')).toBeInTheDocument();
    fireEvent.mouseDown(pageSize());
    fireEvent.click(await screen.findByRole('option', { name: '25' }));
    await waitFor(() => expect(within(screen.getByRole('table', { name: 'issued keys' })).getByText('qdk_k00000000001_…')).toBeInTheDocument());
  });

  it('says when the permissions could not be checked, rather than that the user lacks them', async () => {
    const authorize = (r: EvaluatePermissionRequest): AuthorizeResult.ALLOW => {
      if (r.permission.name === 'gateway.key-request.review') throw new Error('permission backend unavailable');
      return AuthorizeResult.ALLOW;
    };
    await render(mockGateway(), authorize, 'llm-chat-unchecked');
    const approve = await screen.findByRole('button', { name: 'Approve' });
    // On Approve, Deny and the key's Revoke.
    expect(await screen.findAllByLabelText('Could not check your permissions (permission backend unavailable): try again later.')).toHaveLength(3);
    expect(approve).toBeDisabled();
    expect(screen.queryByLabelText(/Only those who may review key requests/)).not.toBeInTheDocument();
  });
});
