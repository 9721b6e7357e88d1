import { TestDatabases } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import fs from 'node:fs';
import request from 'supertest';
import { KnexGatewayStore } from './database/GatewayStore';
import { warnOfExpiringKeys } from './service/notifications';
import { carol, chat, erin, eventually, issueKey, modelServers, product, startGateway } from './__testUtils__/gateway';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

const gateway = async (result: AuthorizeResult.ALLOW | AuthorizeResult.DENY = AuthorizeResult.ALLOW, extra: Record<string, unknown> = {}) =>
  startGateway(await databases.init('SQLITE_3'), result, extra);

describe('the gateway, control plane and data plane', () => {
  const upstreams = modelServers();

  it('takes a key from request to approval to a call, counts usage, rotates with a grace period and revokes at once', async () => {
    const { server, dataPlane, knex, stop } = await gateway();
    try {
      const put = await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      expect(put.status).toBe(201);

      const requested = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'the assistant answers customer questions' });
      expect(requested.status).toBe(201);
      expect(requested.body).toMatchObject({ status: 'pending', apiRef: 'api:default/llm-chat', componentRef: 'component:default/chat-assistant', requestedBy: 'user:default/erin' });
      const duplicate = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'the assistant answers customer questions' });
      expect(duplicate.status).toBe(409);

      const approved = await request(server).post(`/api/gateway/key-requests/${requested.body.id}/approve`).set('authorization', carol).send({ reason: 'ok for production' });
      expect(approved.status).toBe(201);
      const secret: string = approved.body.issued.secret;
      expect(secret).toMatch(/^qdk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      expect(approved.body.request).toMatchObject({ status: 'approved', reviewedBy: 'user:default/carol', keyId: approved.body.issued.key.id });
      // The secret is never stored nor listed.
      const rows = await knex('gateway_keys').select();
      expect(JSON.stringify(rows)).not.toContain(secret.slice(18));
      const keys = await request(server).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin);
      expect(keys.body.items).toEqual([expect.objectContaining({ masked: `qdk_${approved.body.issued.key.publicId}_…`, status: 'active', plan: 'standard' })]);
      expect(JSON.stringify(keys.body)).not.toContain(secret.slice(18));
      for (const [query, message] of [
        [{}, "entityRef: required to list keys (an API or a component); without it, limit=0 counts every product's keys"],
        [{ limit: 0, accepted: true }, 'accepted: only with an entityRef'],
        [{ limit: 'none' }, 'limit: a whole number from 0 to 500, not "none"'],
      ] as const) {
        const refused = await request(server).get('/api/gateway/keys').query(query).set('authorization', carol);
        expect([refused.status, refused.body.error.message]).toEqual([400, message]);
      }
      // A decided request cannot be decided again.
      expect((await request(server).post(`/api/gateway/key-requests/${requested.body.id}/deny`).set('authorization', carol).send({ reason: 'no' })).status).toBe(409);

      const response = await chat(dataPlane, secret, { model: 'chat-small', messages: [{ role: 'user', content: 'Hello there' }] });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-quarterdeck-model')).toBe('chat-small-v1');
      const completion = await response.json();
      expect(completion.choices[0].message.role).toBe('assistant');
      expect(completion.usage.prompt_tokens).toBeGreaterThan(0);

      // Streaming passes through; the usage chunk the gateway asked for is removed.
      const streamed = await chat(dataPlane, secret, { model: 'chat-small', stream: true, messages: [{ role: 'user', content: 'Stream please' }] });
      expect(streamed.headers.get('content-type')).toMatch(/text\/event-stream/);
      const text = await streamed.text();
      expect(text).toContain('chat.completion.chunk');
      expect(text.trim().endsWith('data: [DONE]')).toBe(true);
      expect(text).not.toMatch(/"choices":\[\],"usage"|"usage":\{[^}]*\},"choices":\[\]/);

      const usage = await eventually('usage rows', async () => {
        const found = await knex('gateway_usage').select();
        return found.length >= 2 ? found : undefined;
      });
      expect(usage[0]).toMatchObject({ consumer_ref: 'component:default/chat-assistant', product_id: 'llm-chat', model: 'chat-small-v1', upstream: 'ms-v1@v1', status: 200 });
      expect(usage.every(u => u.prompt_tokens > 0 && u.completion_tokens > 0)).toBe(true);
      expect(usage.every(u => !u.estimated)).toBe(true);
      expect(usage[0].cost).toBeCloseTo((usage[0].prompt_tokens * 1 + usage[0].completion_tokens * 2) / 1e6, 12);
      for (const entityRef of ['api:default/llm-chat', 'component:default/chat-assistant']) {
        const summary = await request(server).get('/api/gateway/usage').query({ entityRef, hours: 2 }).set('authorization', erin);
        expect(summary.status).toBe(200);
        expect(summary.body.series).toHaveLength(3);
        expect(summary.body.byConsumer).toEqual([expect.objectContaining({ consumerRef: 'component:default/chat-assistant', requests: 2, errors: 0 })]);
        expect(summary.body.byModel).toEqual([expect.objectContaining({ model: 'chat-small-v1', upstream: 'ms-v1@v1', requests: 2 })]);
      }
      // The whole gateway's (gateway.admin): the same calls, and by product, the database summing each dimension.
      const gatewayWide = await request(server).get('/api/gateway/usage').query({ hours: 2 }).set('authorization', erin);
      expect(gatewayWide.body.series.map((h: { requests: number }) => h.requests).reduce((n: number, r: number) => n + r, 0)).toBe(2);
      expect(gatewayWide.body.byProduct).toEqual([expect.objectContaining({ productId: 'llm-chat', entityRef: 'api:default/llm-chat', requests: 2, errors: 0 })]);
      expect(gatewayWide.body.byConsumer).toEqual([expect.objectContaining({ consumerRef: 'component:default/chat-assistant', requests: 2 })]);
      expect(gatewayWide.body.byModel).toEqual([expect.objectContaining({ model: 'chat-small-v1', upstream: 'ms-v1@v1', requests: 2 })]);
      expect(gatewayWide.body.byProduct[0].promptTokens).toBe(usage.reduce((n, u) => n + u.prompt_tokens, 0));
      // A month, by UTC day, from the daily rollup: 31 days from the start of the first, which is whole (its calls
      // before the window's instant count), both calls in the last.
      const firstDay = new Date(Math.floor((Date.now() - 720 * 3_600_000) / 86_400_000) * 86_400_000);
      await knex('gateway_usage_daily').insert({ day: firstDay, product_id: 'llm-chat', consumer_ref: 'component:default/chat-assistant', model: 'chat-small-v1', upstream: 'ms-v1@v1', requests: 5 });
      await knex('gateway_usage_daily').insert({ day: firstDay, product_id: 'removed-before', consumer_ref: 'component:default/old', model: '', upstream: 'rest', requests: 3, errors: 1 });
      const month = await request(server).get('/api/gateway/usage').query({ entityRef: 'api:default/llm-chat', hours: 720 }).set('authorization', erin);
      expect([month.body.bucketMs, month.body.series.length]).toEqual([86_400_000, 31]);
      expect([month.body.from, month.body.series[0].start, month.body.series[0].requests]).toEqual([firstDay.toISOString(), firstDay.toISOString(), 5]);
      expect(month.body.series.at(-1).requests + month.body.series.at(-2).requests).toBe(2);
      const gatewayMonth = await request(server).get('/api/gateway/usage').query({ hours: 720 }).set('authorization', erin);
      expect([gatewayMonth.body.bucketMs, gatewayMonth.body.series.length, gatewayMonth.body.series[0].requests]).toEqual([86_400_000, 31, 8]);
      // A product no longer offered is named by its id alone.
      expect(gatewayMonth.body.byProduct.map((p: { productId: string; entityRef?: string; requests: number; errors: number }) => [p.productId, p.entityRef, p.requests, p.errors]))
        .toEqual([['llm-chat', 'api:default/llm-chat', 7, 0], ['removed-before', undefined, 3, 1]]);
      // An API's usage narrowed to one consumer; a consumer that never called has an empty window.
      const narrowed = await request(server).get('/api/gateway/usage')
        .query({ entityRef: 'api:default/llm-chat', consumerRef: 'chat-assistant', hours: 2 }).set('authorization', erin);
      expect(narrowed.body).toMatchObject({ consumerRef: 'component:default/chat-assistant' });
      expect(narrowed.body.series.reduce((n: number, h: { requests: number }) => n + h.requests, 0)).toBe(2);
      const quiet = await request(server).get('/api/gateway/usage')
        .query({ entityRef: 'api:default/llm-chat', consumerRef: 'component:default/other', hours: 2 }).set('authorization', erin);
      expect(quiet.body.series.reduce((n: number, h: { requests: number }) => n + h.requests, 0)).toBe(0);
      expect(quiet.body.byModel).toEqual([]);
      expect(quiet.body.byConsumer).toEqual([expect.objectContaining({ consumerRef: 'component:default/chat-assistant', requests: 2 })]);
      for (const [query, message] of [
        [{ entityRef: 'component:default/chat-assistant', consumerRef: 'component:default/chat-assistant' }, "consumerRef: only with an API's entityRef"],
        [{ entityRef: 'api:default/llm-chat', consumerRef: ':' }, 'consumerRef: ":" is not an entity reference'],
        [{ entityRef: 'llm-chat' }, 'entityRef: "llm-chat" is not an entity reference with a kind, such as api:default/llm-chat'],
        [{ consumerRef: 'component:default/chat-assistant' }, "consumerRef: only with an API's entityRef (the whole gateway's usage is not narrowed to one consumer)"],
      ] as const) {
        const refused = await request(server).get('/api/gateway/usage').query(query).set('authorization', erin);
        expect(refused.status).toBe(400);
        expect(refused.body.error.message).toContain(message);
      }

      // A prompt template is a REST endpoint with typed variables.
      const templated = await fetch(`${dataPlane}/v1/templates/summarize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ variables: { text: 'The gateway routes calls to model versions.' } }),
      });
      expect(templated.status).toBe(200);
      expect((await templated.json()).object).toBe('chat.completion');
      const badVariable = await fetch(`${dataPlane}/v1/templates/summarize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ variables: { text: 'x', words: 'many' } }),
      });
      expect(badVariable.status).toBe(400);
      expect((await badVariable.json()).error).toMatchObject({ param: 'variables.words', message: 'variables.words: must be a number' });

      // Rotation: a new key at once, the old one still valid for the grace period.
      const rotated = await request(server).post(`/api/gateway/keys/${approved.body.issued.key.id}/rotate`).set('authorization', erin).send({ graceSeconds: 60 });
      // The new secret, like the first, is kept by no cache.
      expect([rotated.status, rotated.headers['cache-control'], approved.headers['cache-control']]).toEqual([201, 'no-store', 'no-store']);
      const next: string = rotated.body.secret;
      expect((await chat(dataPlane, next, { model: 'chat-small', messages: [{ role: 'user', content: 'new key' }] })).status).toBe(200);
      expect((await chat(dataPlane, secret, { model: 'chat-small', messages: [{ role: 'user', content: 'old key' }] })).status).toBe(200);

      const revoked = await request(server).post(`/api/gateway/keys/${rotated.body.key.id}/revoke`).set('authorization', erin).send({ reason: 'leaked' });
      expect(revoked.status).toBe(200);
      const refused = await chat(dataPlane, next, { model: 'chat-small', messages: [{ role: 'user', content: 'revoked' }] });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ error: { message: 'This API key was revoked.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      // The lists count every key: the rotated one (in its grace period) is still accepted, the revoked one is not.
      const counted = await request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', limit: 1 }).set('authorization', erin);
      expect(counted.body).toMatchObject({ totalItems: 2, activeItems: 1 });
      expect(counted.body.byProduct).toBeUndefined();
      expect(counted.body.items.map((k: { id: string }) => k.id)).toEqual([rotated.body.key.id]);
      // Every product's counts (gateway.admin, the admin page): one grouped count, no list.
      const everyProduct = await request(server).get('/api/gateway/keys').query({ limit: 0 }).set('authorization', carol);
      expect(everyProduct.body).toEqual({ items: [], totalItems: 2, activeItems: 1, byProduct: { 'llm-chat': { totalItems: 2, activeItems: 1 } } });
      const badLimit = await request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', limit: 501 }).set('authorization', erin);
      expect(badLimit.status).toBe(400);
      expect(badLimit.body.error.message).toBe('limit: a whole number from 0 to 500, not "501"');
      // The next page holds the older key, the one rotated away from.
      const older = await request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', limit: 1, offset: 1 }).set('authorization', erin);
      expect(older.body.items.map((k: { id: string }) => k.id)).toEqual([approved.body.issued.key.id]);
      const badOffset = await request(server).get('/api/gateway/keys').query({ entityRef: 'api:default/llm-chat', offset: -1 }).set('authorization', erin);
      expect(badOffset.status).toBe(400);
      expect(badOffset.body.error.message).toBe('offset: a whole number from 0 to 999999999, not "-1"');
      // A component's keys narrowed to those that work now, or to the others, for one product; the counts are the component's for it.
      const componentKeys = (query: Record<string, string>) =>
        request(server).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant', ...query }).set('authorization', erin);
      const working = await componentKeys({ accepted: 'true' });
      expect(working.body.items.map((k: { id: string }) => k.id)).toEqual([approved.body.issued.key.id]);
      expect(working.body).toMatchObject({ totalItems: 2, activeItems: 1, byProduct: { 'llm-chat': { totalItems: 2, activeItems: 1 } } });
      const gone = await componentKeys({ productId: 'llm-chat', accepted: 'false' });
      expect(gone.body.items).toEqual([expect.objectContaining({ id: rotated.body.key.id, status: 'revoked' })]);
      expect((await componentKeys({ productId: 'payments-rest' })).body).toEqual({ items: [], totalItems: 0, activeItems: 0 });
      for (const [query, message] of [
        [{ accepted: 'yes' }, 'accepted: true or false, not "yes"'],
        [{ entityRef: 'api:default/llm-chat', productId: 'llm-chat' }, "productId: only with a component's entityRef (the keys of api:default/llm-chat are its product's)"],
      ] as const) {
        const badQuery = await componentKeys(query);
        expect(badQuery.status).toBe(400);
        expect(badQuery.body.error.message).toBe(message);
      }

      // Prometheus metrics on the data plane's port, per model version.
      const metrics = await (await fetch(`${dataPlane}/metrics`)).text();
      expect(metrics).toMatch(/quarterdeck_gateway_requests_total\{product="llm-chat",model="chat-small-v1",route="chat-small",version="v1",status="2xx"\} [1-9]/);
      expect(metrics).toMatch(/quarterdeck_gateway_refusals_total\{product="",reason="key-revoked"\} 1/);
      expect(metrics).toContain('quarterdeck_gateway_request_duration_seconds_bucket');
      const audit = await request(server).get('/api/gateway/audit').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin);
      expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['key.revoked', 'key.rotated', 'key-request.approved', 'key-request.created']);
      // The API's trail holds what happened to the keys it granted, too.
      const apiAudit = await request(server).get('/api/gateway/audit').query({ entityRef: 'api:default/llm-chat' }).set('authorization', carol);
      expect(apiAudit.body.items.map((e: { action: string }) => e.action)).toEqual(['key.revoked', 'key.rotated', 'key-request.approved', 'key-request.created', 'product.created']);
      expect(apiAudit.body.items[0]).toMatchObject({ actor: 'user:default/erin', target: rotated.body.key.id, reason: 'leaked', details: { publicId: rotated.body.key.publicId } });
    } finally {
      await stop();
    }
  });

  it("lets an API's reviewers revoke the keys they granted, but not rotate them, and refuses everyone else with nothing changed", async () => {
    const knex = await databases.init('SQLITE_3');
    // carol reviews llm-chat's requests and does not own chat-assistant.
    const reviewer = await startGateway(knex, permission => (permission === 'gateway.key.manage' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW));
    let keyId: string;
    try {
      await request(reviewer.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const issued = await issueKey(reviewer.server, 'the key its API takes back');
      keyId = issued.key.id;
      const rotate = await request(reviewer.server).post(`/api/gateway/keys/${keyId}/rotate`).set('authorization', carol).send({ graceSeconds: 60 });
      expect(rotate.status).toBe(403);
      expect(rotate.body.error.message).toBe('You may not rotate the gateway keys of component:default/chat-assistant (permission gateway.key.manage on component:default/chat-assistant)');
      expect((await chat(reviewer.dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'before' }] })).status).toBe(200);
      const revoked = await request(reviewer.server).post(`/api/gateway/keys/${keyId}/revoke`).set('authorization', carol).send({ reason: 'the consumer sent abusive prompts' });
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ status: 'revoked', revokedBy: 'user:default/carol' });
      expect((await chat(reviewer.dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'after' }] })).status).toBe(401);
      // Both pages' trails say who took the key back, and why.
      for (const entityRef of ['api:default/llm-chat', 'component:default/chat-assistant']) {
        const trail = await request(reviewer.server).get('/api/gateway/audit').query({ entityRef }).set('authorization', carol);
        expect(trail.body.items[0]).toMatchObject({ action: 'key.revoked', actor: 'user:default/carol', reason: 'the consumer sent abusive prompts' });
      }
    } finally {
      await reviewer.stop();
    }

    const outsider = await startGateway(knex, permission => (permission === 'gateway.read' ? AuthorizeResult.ALLOW : AuthorizeResult.DENY));
    try {
      const before = await knex('audit_events').count({ n: '*' });
      const refused = await request(outsider.server).post(`/api/gateway/keys/${keyId!}/revoke`).set('authorization', erin).send({ reason: 'not mine to take' });
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toBe('You may not revoke the gateway keys of component:default/chat-assistant (permission gateway.key.manage on component:default/chat-assistant, or gateway.key-request.review on api:default/llm-chat)');
      expect(await knex('audit_events').count({ n: '*' })).toEqual(before);
    } finally {
      await outsider.stop();
    }
  });

  it("tells an API's owners of a request, a component's owners of its decision and of what happens to their keys, never who acted, never a secret", async () => {
    const { server, notified, stop } = await gateway();
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'answers customer questions' });
      expect(notified).toEqual([{
        recipients: { type: 'entity', entityRef: 'api:default/llm-chat', excludeEntityRef: 'user:default/erin' },
        payload: expect.objectContaining({
          title: 'chat-assistant asks for access to llm-chat',
          description: `erin asks for plan standard; the request waits for your review until ${asked.body.expiresAt.slice(0, 10)}. Why: answers customer questions`,
          link: '/catalog/default/api/llm-chat/gateway',
          topic: 'key requests',
          scope: `gateway:key-request:${asked.body.id}:review`,
        }),
      }]);

      const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({ reason: 'fine' });
      expect(approved.status).toBe(201);
      const { key, secret } = approved.body.issued;
      expect(notified.slice(1)).toEqual([
        {
          recipients: { type: 'entity', entityRef: 'component:default/chat-assistant', excludeEntityRef: 'user:default/carol' },
          payload: expect.objectContaining({
            title: "chat-assistant's access to llm-chat was approved",
            description: `carol approved plan standard. The key ${key.masked} was shown once, to carol, to hand over; rotate it on the Gateway tab for a secret only your team has seen. Reason: fine`,
            link: '/catalog/default/component/chat-assistant/gateway',
            scope: `gateway:key-request:${asked.body.id}`,
          }),
        },
        {
          // The same scope as the request's to them: the notifications backend updates the API owners' "asks for access" in place.
          recipients: { type: 'entity', entityRef: 'api:default/llm-chat', excludeEntityRef: 'user:default/carol' },
          payload: expect.objectContaining({ title: "chat-assistant's request for llm-chat: approved by carol", scope: `gateway:key-request:${asked.body.id}:review` }),
        },
      ]);
      // A decision that does not happen tells no one.
      expect((await request(server).post(`/api/gateway/key-requests/${asked.body.id}/deny`).set('authorization', carol).send({ reason: 'late' })).status).toBe(409);
      expect(notified).toHaveLength(3);

      const other = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'tiny', justification: 'a second, smaller one' });
      await request(server).post(`/api/gateway/key-requests/${other.body.id}/deny`).set('authorization', carol).send({ reason: 'one key is enough' });
      expect(notified[4]).toMatchObject({
        recipients: { entityRef: 'component:default/chat-assistant' },
        payload: { title: "chat-assistant's access to llm-chat was denied", severity: 'high', description: 'carol denied plan tiny. You can ask again, for this plan or another. Reason: one key is enough' },
      });

      const rotated = await request(server).post(`/api/gateway/keys/${key.id}/rotate`).set('authorization', erin).send({ graceSeconds: 3600 });
      expect(notified[6]).toMatchObject({
        recipients: { type: 'entity', entityRef: 'component:default/chat-assistant', excludeEntityRef: 'user:default/erin' },
        payload: { title: "chat-assistant's key for llm-chat was rotated", topic: 'keys', description: expect.stringContaining(`erin replaced ${key.masked} with ${rotated.body.key.masked}`) },
      });
      await request(server).post(`/api/gateway/keys/${rotated.body.key.id}/revoke`).set('authorization', carol).send({ reason: 'leaked in a log' });
      expect(notified[7]).toMatchObject({
        recipients: { type: 'entity', entityRef: 'component:default/chat-assistant', excludeEntityRef: 'user:default/carol' },
        payload: { title: "chat-assistant's key for llm-chat was revoked", severity: 'high', description: `carol revoked ${rotated.body.key.masked}. Calls with it are refused now; ask for access again on the Gateway tab. Reason: leaked in a log` },
      });
      expect(notified).toHaveLength(8);
      const told = JSON.stringify(notified);
      for (const s of [secret, rotated.body.secret]) expect(told).not.toContain(s.slice(-20));
    } finally {
      await stop();
    }
  });

  it("tells a key's expiry with its approval, and does not warn again of a key approved with less than the warning period left", async () => {
    const { server, knex, notified, stop } = await gateway();
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const approve = async (plan: string, expiresInDays: number) => {
        const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
          .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan, justification: 'a trial of the shop assistant' });
        const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({ expiresInDays });
        expect([asked.status, asked.body.error?.message, approved.status, approved.body.error?.message]).toEqual([201, undefined, 201, undefined]);
        return approved.body.issued.key as { id: string; expiresAt: string };
      };
      const short = await approve('standard', 3);
      const told = notified.find(n => n.payload.title === "chat-assistant's access to llm-chat was approved");
      expect(told?.payload.description).toContain(` It works until ${short.expiresAt.replace('T', ' ').slice(0, 16)} UTC.`);
      const long = await approve('tiny', 30);

      // The sweep a minute later (default warning: 7 days) tells of neither: one has been told, the other is far off.
      const sent: unknown[] = [];
      sent.push(...(await warnOfExpiringKeys(new KnexGatewayStore(knex), new Date(Date.now() + 60_000), 7 * 86_400_000)));
      expect(sent).toEqual([]);
      // Its successor after a rotation keeps the expiry and what was told of it.
      const rotated = await request(server).post(`/api/gateway/keys/${short.id}/rotate`).set('authorization', erin).send({ graceSeconds: 60 });
      sent.push(...(await warnOfExpiringKeys(new KnexGatewayStore(knex), new Date(Date.now() + 120_000), 7 * 86_400_000)));
      expect(sent).toEqual([]);
      expect(rotated.body.key.expiresAt).toBe(short.expiresAt);
      // The long one is told of in its last week.
      sent.push(...(await warnOfExpiringKeys(new KnexGatewayStore(knex), new Date(Date.parse(long.expiresAt) - 86_400_000), 7 * 86_400_000)));
      expect(sent).toHaveLength(1);
    } finally {
      await stop();
    }
  });

  it('tells the configured watchers (platform admins, say) of every request and of its outcome, beside the API\'s owners', async () => {
    const { server, notified, stop } = await gateway(AuthorizeResult.ALLOW, { keyRequestWatchers: ['group:platform-admins', 'User:default/dave'] });
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'answers customer questions' });
      const reviewers = ['api:default/llm-chat', 'group:default/platform-admins', 'user:default/dave'];
      expect(notified).toEqual([{
        recipients: { type: 'entity', entityRef: reviewers, excludeEntityRef: 'user:default/erin' },
        payload: expect.objectContaining({ title: 'chat-assistant asks for access to llm-chat', scope: `gateway:key-request:${asked.body.id}:review` }),
      }]);
      await request(server).post(`/api/gateway/key-requests/${asked.body.id}/deny`).set('authorization', carol).send({ reason: 'not now' });
      // The decision updates what each of them was told; the component's owners alone hear it as theirs.
      expect(notified.slice(1).map(n => n.recipients)).toEqual([
        { type: 'entity', entityRef: 'component:default/chat-assistant', excludeEntityRef: 'user:default/carol' },
        { type: 'entity', entityRef: reviewers, excludeEntityRef: 'user:default/carol' },
      ]);
      expect(notified[2].payload).toMatchObject({ title: "chat-assistant's request for llm-chat: denied by carol", scope: `gateway:key-request:${asked.body.id}:review` });
    } finally {
      await stop();
    }
  });

  it('ends a request no one reviewed in time and tells both teams, once', async () => {
    // Requests wait 0.6 s here.
    const { server, notified, stop } = await gateway(AuthorizeResult.ALLOW, { keyRequestTtlDays: 0.6 / 86_400 });
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'answers customer questions' });
      await new Promise(resolve => setTimeout(resolve, 700));
      const approve = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({});
      expect(approve.status).toBe(409);
      expect(approve.body.error.message).toMatch(/expired at/);
      const listed = await request(server).get('/api/gateway/key-requests').query({ entityRef: 'api:default/llm-chat' }).set('authorization', carol);
      expect(listed.body.items).toEqual([expect.objectContaining({ id: asked.body.id, status: 'expired' })]);
      // Both trails say how it ended, once, whoever looked first.
      for (const entityRef of ['api:default/llm-chat', 'component:default/chat-assistant']) {
        const trail = await request(server).get('/api/gateway/audit').query({ entityRef, action: 'key-request.expired' }).set('authorization', carol);
        expect(trail.body.items).toEqual([expect.objectContaining({
          actor: 'quarterdeck:gateway', target: asked.body.id, reason: 'not reviewed in time', details: { componentRef: 'component:default/chat-assistant', plan: 'standard' },
        })]);
      }
      expect(notified.slice(1)).toEqual([
        {
          recipients: { type: 'entity', entityRef: 'component:default/chat-assistant' },
          payload: expect.objectContaining({ title: "chat-assistant's request for llm-chat expired unreviewed", scope: `gateway:key-request:${asked.body.id}` }),
        },
        {
          recipients: { type: 'entity', entityRef: 'api:default/llm-chat' },
          payload: expect.objectContaining({ title: "chat-assistant's request for llm-chat: expired unreviewed", scope: `gateway:key-request:${asked.body.id}:review` }),
        },
      ]);
    } finally {
      await stop();
    }
  });

  it('answers in OpenAI\'s error JSON: unknown key, model outside the plan, bad body, rate limit', async () => {
    const { server, dataPlane, stop } = await gateway();
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const requested = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'tiny', justification: 'a small trial for the assistant' });
      const approved = await request(server).post(`/api/gateway/key-requests/${requested.body.id}/approve`).set('authorization', carol).send({});
      const key: string = approved.body.issued.secret;

      const unknown = await chat(dataPlane, `qdk_aaaaaaaaaaaa_${'a'.repeat(43)}`, { model: 'chat-small', messages: [{ role: 'user', content: 'x' }] });
      expect(unknown.status).toBe(401);
      expect((await unknown.json()).error).toMatchObject({ code: 'invalid_api_key', message: 'Incorrect API key provided.' });

      // A key narrowed to some of the plan's models.
      const narrowRequest = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'only the large model please' });
      const narrowed = await request(server).post(`/api/gateway/key-requests/${narrowRequest.body.id}/approve`).set('authorization', carol).send({ models: ['chat-large'] });
      expect(narrowed.body.issued.key.models).toEqual(['chat-large']);
      const notInKey = await chat(dataPlane, narrowed.body.issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'x' }] });
      expect(notInKey.status).toBe(403);
      expect((await notInKey.json()).error).toMatchObject({ code: 'model_not_allowed', message: 'This key may only use chat-large, not `chat-small`.' });

      const outside = await chat(dataPlane, key, { model: 'chat-large', messages: [{ role: 'user', content: 'x' }] });
      expect(outside.status).toBe(403);
      expect((await outside.json()).error).toMatchObject({ param: 'model', code: 'model_not_allowed' });

      const bad = await chat(dataPlane, key, { model: 'chat-small', messages: 'hello' });
      expect(bad.status).toBe(400);
      expect((await bad.json()).error).toMatchObject({ param: 'messages', message: 'messages: must be a non-empty array' });
      const numbered = await chat(dataPlane, key, { model: 5, messages: [{ role: 'user', content: 'x' }] });
      expect([numbered.status, (await numbered.json()).error]).toEqual([400, expect.objectContaining({ param: 'model', message: 'model: must be the name of a model' })]);

      // Two per minute on plan "tiny".
      expect((await chat(dataPlane, key, { model: 'chat-small', messages: [{ role: 'user', content: '1' }] })).status).toBe(200);
      expect((await chat(dataPlane, key, { model: 'chat-small', messages: [{ role: 'user', content: '2' }] })).status).toBe(200);
      const limited = await chat(dataPlane, key, { model: 'chat-small', messages: [{ role: 'user', content: '3' }] });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await limited.json()).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });

      // A rotation hands the new key the old one's minute, not a fresh allowance: rotating is no way round the plan.
      const rotated = await request(server).post(`/api/gateway/keys/${approved.body.issued.key.id}/rotate`).set('authorization', erin).send({ graceSeconds: 0 });
      expect(rotated.status).toBe(201);
      const afterRotation = await chat(dataPlane, rotated.body.secret, { model: 'chat-small', messages: [{ role: 'user', content: '4' }] });
      expect([afterRotation.status, (await afterRotation.json()).error]).toEqual([429, expect.objectContaining({ type: 'requests', code: 'rate_limit_exceeded' })]);
    } finally {
      await stop();
    }
  });

  it('forgets a key once it has been revoked longer than gateway.deadKeyRetentionDays, and still refuses it, as an unknown key', async () => {
    const { server, dataPlane, stop } = await gateway(AuthorizeResult.ALLOW, { deadKeyRetentionDays: 0 });
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const kept = await issueKey(server, 'the key that stays');
      const dropped = await issueKey(server, 'the key revoked and then forgotten');
      const hello = { model: 'chat-small', messages: [{ role: 'user', content: 'hello' }] };
      expect((await chat(dataPlane, dropped.secret, hello)).status).toBe(200);
      expect((await request(server).post(`/api/gateway/keys/${dropped.key.id}/revoke`).set('authorization', erin).send({ reason: 'done' })).status).toBe(200);
      const refused = await chat(dataPlane, dropped.secret, hello);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ error: { message: 'Incorrect API key provided.', code: 'invalid_api_key' } });
      expect((await chat(dataPlane, kept.secret, hello)).status).toBe(200);
      // The pages still list it: only the gateway's memory let it go.
      const listed = await request(server).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin);
      expect(listed.body.items.find((k: { id: string }) => k.id === dropped.key.id)).toMatchObject({ status: 'revoked' });
    } finally {
      await stop();
    }
  });

  it('stops calling an upstream once the allowlist no longer takes its host, and tells the admin page which', async () => {
    const knex = await databases.init('SQLITE_3');
    const before = await startGateway(knex);
    let issued;
    try {
      await request(before.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      issued = await issueKey(before.server, 'before the allowlist was narrowed');
      expect((await chat(before.dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    } finally {
      await before.stop();
    }
    // The portal restarts with an allowlist that no longer takes 127.0.0.1: the product is still stored.
    const after = await startGateway(knex, AuthorizeResult.ALLOW, { allowedUpstreamHosts: ['models.internal'] });
    try {
      const refused = await chat(after.dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'hi' }] });
      expect(refused.status).toBe(502);
      expect((await refused.json()).error).toMatchObject({ code: 'upstream_not_allowed', message: expect.stringContaining('gateway.allowedUpstreamHosts') });
      const status = await request(after.server).get('/api/gateway/status').set('authorization', carol);
      expect(status.body.upstreamsOutsideAllowlist).toEqual([
        { productId: 'llm-chat', upstream: 'ms-v1', host: '127.0.0.1' },
        { productId: 'llm-chat', upstream: 'ms-v2', host: '127.0.0.1' },
      ]);
    } finally {
      await after.stop();
    }
  });

  it('runs the data plane in a process of its own and starts it again, from the database, when it dies', async () => {
    const { server, dataPlane, stop } = await gateway();
    // The data plane's process: a child of this one running dataplane/child.
    const dataPlaneProcesses = () => fs.readdirSync('/proc').filter(p => /^\d+$/.test(p)).filter(p => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('dataplane/child');
      } catch {
        return false;
      }
    }).map(Number);
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const kept = await issueKey(server, 'the key that survives the crash');
      const doomed = await issueKey(server, 'the key revoked while the data plane is down');
      const hello = { model: 'chat-small', messages: [{ role: 'user', content: 'hello' }] };
      expect((await chat(dataPlane, kept.secret, hello)).status).toBe(200);

      const [pid] = dataPlaneProcesses();
      expect(pid).toBeGreaterThan(0);
      expect(pid).not.toBe(process.pid);
      const status = async () => (await request(server).get('/api/gateway/status').set('authorization', carol)).body;
      expect(await status()).toMatchObject({ dataPlane: { running: true, pid, url: dataPlane, restarts: 0 } });
      process.kill(pid, 'SIGKILL');
      const revoked = await request(server).post(`/api/gateway/keys/${doomed.key.id}/revoke`).set('authorization', erin).send({ reason: 'leaked' });
      expect(revoked.status).toBe(200);

      await eventually('a new data plane process', async () => {
        const now = dataPlaneProcesses();
        if (now.length !== 1 || now[0] === pid) return false;
        return (await fetch(`${dataPlane}/healthz`).catch(() => undefined))?.ok;
      });
      expect((await chat(dataPlane, kept.secret, hello)).status).toBe(200);
      // The admin page says it died and was started again.
      const after = await status();
      expect(after.dataPlane).toMatchObject({ running: true, restarts: 1, lastExit: { code: null, signal: 'SIGKILL' } });
      expect(after.dataPlane.pid).not.toBe(pid);
      const refused = await chat(dataPlane, doomed.secret, hello);
      expect(refused.status).toBe(401);
      expect((await refused.json()).error.message).toMatch(/revoked/i);
    } finally {
      await stop();
    }
    expect(dataPlaneProcesses()).toEqual([]);
  });

  it('falls back to the other version when the chosen upstream fails', async () => {
    const { server, dataPlane, stop } = await gateway();
    try {
      const broken = product('http://127.0.0.1:9', upstreams.v2.url); // nothing listens on port 9
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(broken);
      const requested = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'testing the fallbacks' });
      const key = (await request(server).post(`/api/gateway/key-requests/${requested.body.id}/approve`).set('authorization', carol).send({})).body.issued.secret;
      const response = await chat(dataPlane, key, { model: 'chat-small', messages: [{ role: 'user', content: 'fallback' }] });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-quarterdeck-model')).toBe('chat-small-v2');
      // A stream falls back the same way (its upstream call takes the stream client's path).
      const streamed = await chat(dataPlane, key, { model: 'chat-small', stream: true, messages: [{ role: 'user', content: 'fallback' }] });
      expect(streamed.status).toBe(200);
      expect(streamed.headers.get('x-quarterdeck-model')).toBe('chat-small-v2');
      expect(await streamed.text()).toMatch(/data: \[DONE\]/);
      // No fallback for a plain model: 502 in OpenAI's shape.
      const direct = await chat(dataPlane, key, { model: 'chat-large', messages: [{ role: 'user', content: 'x' }] });
      expect(direct.status).toBe(502);
      expect((await direct.json()).error).toMatchObject({ type: 'api_error', code: 'upstream_error' });
      const directStream = await chat(dataPlane, key, { model: 'chat-large', stream: true, messages: [{ role: 'user', content: 'x' }] });
      expect(directStream.status).toBe(502);
      expect((await directStream.json()).error).toMatchObject({ type: 'api_error', code: 'upstream_error' });
    } finally {
      await stop();
    }
  });

  it('takes one of two requests sent at once, decides a request against the product as it is now, and never extends a key by rotating it', async () => {
    const { server, knex, stop } = await gateway();
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const ask = (plan: string) => request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan, justification: 'a double click on Request' });
      const both = await Promise.all([ask('tiny'), ask('tiny')]);
      expect(both.map(r => r.status).sort()).toEqual([201, 409]);
      expect(both.find(r => r.status === 409)!.body.error.message).toBe('component:default/chat-assistant already has a pending request for llm-chat');
      const pending = both.find(r => r.status === 201)!.body;

      // The owner drops the plan before anyone decides: approving would issue a key no call could use.
      const withoutTiny = product(upstreams.v1.url, upstreams.v2.url);
      withoutTiny.spec.plans = withoutTiny.spec.plans.filter(p => p.name !== 'tiny');
      expect((await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(withoutTiny)).status).toBe(200);
      const stale = await request(server).post(`/api/gateway/key-requests/${pending.id}/approve`).set('authorization', carol).send({});
      expect(stale.status).toBe(409);
      expect(stale.body.error.message).toBe('plan: gateway product llm-chat no longer has the plan "tiny" this request asks for; deny it, and the component can ask for another plan');
      expect(await knex('gateway_keys').select()).toEqual([]);
      expect((await request(server).post(`/api/gateway/key-requests/${pending.id}/deny`).set('authorization', carol).send({ reason: 'the tiny plan is gone' })).status).toBe(200);

      // A key approved for one day, rotated with a 30-day grace: the old key still ends when it was approved to.
      const asked = await ask('standard');
      const approved = await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({ expiresInDays: 1 });
      const old = approved.body.issued.key;
      const rotated = await request(server).post(`/api/gateway/keys/${old.id}/rotate`).set('authorization', erin).send({ graceSeconds: 30 * 86_400 });
      expect(rotated.status).toBe(201);
      const keys = (await request(server).get('/api/gateway/keys').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin)).body.items;
      expect(keys.find((k: { id: string }) => k.id === old.id).expiresAt).toBe(old.expiresAt);
      expect(rotated.body.key.expiresAt).toBe(old.expiresAt);
      const audit = await request(server).get('/api/gateway/audit').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin);
      expect(audit.body.items[0]).toMatchObject({ action: 'key.rotated', details: { graceSeconds: 30 * 86_400, graceUntil: old.expiresAt } });
    } finally {
      await stop();
    }
  });

  it("shows platform admins every API's pending requests, the whole audit trail and the data plane's status, and no one else", async () => {
    const knex = await databases.init('SQLITE_3');
    const admin = await startGateway(knex);
    try {
      await request(admin.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const asked = await request(admin.server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'the review queue shows it' });
      const queue = await request(admin.server).get('/api/gateway/key-requests').query({ status: 'pending' }).set('authorization', carol);
      expect(queue.status).toBe(200);
      expect(queue.body.items.map((r: { id: string; apiRef: string }) => [r.id, r.apiRef])).toEqual([[asked.body.id, 'api:default/llm-chat']]);
      // This replica's data plane and what it serves, with no secret in it.
      const status = await request(admin.server).get('/api/gateway/status').set('authorization', carol);
      expect(status.body).toMatchObject({
        dataPlane: { running: true, url: admin.dataPlane, restarts: 0, streams: { relay: expect.stringMatching(/^(native|javascript)$/) } },
        limits: 'memory', allowedUpstreamHosts: ['127.0.0.1'], upstreamsOutsideAllowlist: [], held: { keys: 0, products: 1 }, keyRequestWatchers: [],
        usageRows: { waiting: 0, dropped: 0 },
      });
      expect(JSON.stringify(status.body)).not.toContain('a-test-server-secret');
      const trail = await request(admin.server).get('/api/gateway/audit').set('authorization', carol);
      // Newest first, across entities: the request (on the component and on the API), then the product.
      expect(trail.body.items.map((e: { action: string; entityRef: string }) => `${e.action} ${e.entityRef}`)).toEqual([
        'key-request.created api:default/llm-chat', 'key-request.created component:default/chat-assistant', 'product.created api:default/llm-chat',
      ]);
      expect(trail.body.next).toBeUndefined();
      // A page at a time: one change's two rows stay together, and `next` leads on to the older entries.
      const newest = await request(admin.server).get('/api/gateway/audit').query({ limit: 1 }).set('authorization', carol);
      expect(newest.body.items.map((e: { action: string }) => e.action)).toEqual(['key-request.created', 'key-request.created']);
      const older = await request(admin.server).get('/api/gateway/audit').query({ limit: 1, before: newest.body.next }).set('authorization', carol);
      expect(older.body).toEqual({ items: [expect.objectContaining({ action: 'product.created' })] });
      const products = await request(admin.server).get('/api/gateway/audit').query({ action: 'product.created' }).set('authorization', carol);
      expect(products.body.items.map((e: { target: string }) => e.target)).toEqual(['llm-chat']);
      for (const [query, message] of [
        [{ action: 'key.deleted' }, 'action: one of product.created, product.updated, product.deleted, route.weights, key-request.created, key-request.approved, key-request.denied, key-request.expired, key.rotated, key.revoked, not "key.deleted"'],
        [{ before: 'yesterday' }, 'before: "yesterday" is not the next of an earlier page'],
        [{ limit: '0' }, 'limit: a whole number from 1 to 500, not "0"'],
      ] as const) {
        const bad = await request(admin.server).get('/api/gateway/audit').query(query).set('authorization', carol);
        expect(bad.status).toBe(400);
        expect(bad.body.error.message).toBe(message);
      }
    } finally {
      await admin.stop();
    }
    // Everyone may read an entity's requests and audit; the gateway-wide lists are gateway.admin's.
    const user = await startGateway(knex, permission => (permission === 'gateway.admin' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW));
    try {
      const queue = await request(user.server).get('/api/gateway/key-requests').query({ status: 'pending' }).set('authorization', erin);
      expect(queue.status).toBe(403);
      expect(queue.body.error.message).toBe("You may not read every API's key requests; give an entityRef to see one API's or component's (permission gateway.admin)");
      expect((await request(user.server).get('/api/gateway/audit').set('authorization', erin)).status).toBe(403);
      expect((await request(user.server).get('/api/gateway/status').set('authorization', erin)).status).toBe(403);
      const counts = await request(user.server).get('/api/gateway/keys').query({ limit: 0 }).set('authorization', erin);
      expect([counts.status, counts.body.error.message])
        .toEqual([403, "You may not count every product's keys; give an entityRef to see one API's or component's (permission gateway.admin)"]);
      const usage = await request(user.server).get('/api/gateway/usage').set('authorization', erin);
      expect([usage.status, usage.body.error.message])
        .toEqual([403, "You may not read the whole gateway's usage; give an entityRef to see one API's or component's (permission gateway.admin)"]);
      const own = await request(user.server).get('/api/gateway/key-requests').query({ entityRef: 'component:default/chat-assistant' }).set('authorization', erin);
      expect(own.body.items).toHaveLength(1);
    } finally {
      await user.stop();
    }
  });

  it("lists an API's (and every API's) pending requests oldest first, as a review queue, and the others newest first", async () => {
    const { server, knex, stop } = await gateway();
    try {
      await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const store = new KnexGatewayStore(knex);
      const t0 = Date.now() - 3600_000;
      for (const [i, [component, status]] of [['first', 'pending'], ['second', 'denied'], ['third', 'pending']].entries()) {
        const at = new Date(t0 + i * 60_000);
        await store.createKeyRequest({
          id: `00000000-0000-4000-8000-00000000000${i}`, productId: 'llm-chat', plan: 'standard', apiRef: 'api:default/llm-chat', componentRef: `component:default/${component}`,
          justification: 'the order of the queue', status: status as 'pending', requestedBy: 'user:default/erin', requestedAt: at.toISOString(), expiresAt: new Date(at.getTime() + 7 * 86_400_000).toISOString(),
        }, []);
      }
      const list = async (query: Record<string, string>) =>
        (await request(server).get('/api/gateway/key-requests').query({ entityRef: 'api:default/llm-chat', ...query }).set('authorization', carol)).body.items.map((r: { componentRef: string }) => r.componentRef);
      // The next to expire on top, as on the admin page's queue.
      expect(await list({ status: 'pending' })).toEqual(['component:default/first', 'component:default/third']);
      expect(await list({})).toEqual(['component:default/third', 'component:default/second', 'component:default/first']);
      // Every API's (the admin page): the pending queue alike, and the rest newest first, so the latest decisions are not past the 100 shown.
      const listAll = async (query: Record<string, string>) =>
        (await request(server).get('/api/gateway/key-requests').query(query).set('authorization', carol)).body.items.map((r: { componentRef: string }) => r.componentRef);
      expect(await listAll({ status: 'pending' })).toEqual(['component:default/first', 'component:default/third']);
      expect(await listAll({})).toEqual(['component:default/third', 'component:default/second', 'component:default/first']);
      for (const [status, message] of [
        ['weird', 'status: "weird" is not pending, approved, denied or expired'],
        [['pending', 'denied'], 'status: must be given once'],
      ] as const) {
        const bad = await request(server).get('/api/gateway/key-requests').query({ entityRef: 'api:default/llm-chat', status }).set('authorization', carol);
        expect(bad.status).toBe(400);
        expect(bad.body.error.message).toBe(message);
      }
    } finally {
      await stop();
    }
  });

  it('refuses bad products with the field named, and users without the permission with 403 and nothing changed', async () => {
    const allowed = await gateway();
    try {
      const outside = product('http://evil.example.com', upstreams.v2.url);
      const res = await request(allowed.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(outside);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe('spec.upstreams[0].url: host "evil.example.com" is not in gateway.allowedUpstreamHosts');
      const badRoute = product(upstreams.v1.url, upstreams.v2.url);
      badRoute.spec.routes[0].targets[0].model = 'nope';
      expect((await request(allowed.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(badRoute)).body.error.message)
        .toBe('spec.routes[0].targets[0].model: no model named "nope"');
      // A body sent as anything but JSON is refused, not read as empty.
      const asText = await request(allowed.server).put('/api/gateway/products/llm-chat').set('authorization', carol)
        .set('content-type', 'text/plain').send(JSON.stringify(product(upstreams.v1.url, upstreams.v2.url)));
      expect([asText.status, asText.body.error.message]).toEqual([415, 'The body must be JSON (content-type: application/json), not text/plain']);
      // A method the path does not take says which it does.
      const posted = await request(allowed.server).post('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      expect([posted.status, posted.headers.allow, posted.body.error.message]).toEqual([405, 'DELETE, GET, PUT', 'POST is not taken by /products/:id; it takes DELETE, GET, PUT']);
      expect((await request(allowed.server).get('/api/gateway/products/llm-chat').set('authorization', carol)).status).toBe(404);
      // A component that does not consume the API cannot ask for it.
      await request(allowed.server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const notConsumer = await request(allowed.server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/payments-api', productId: 'llm-chat', plan: 'standard', justification: 'we would like to try it' });
      expect(notConsumer.status).toBe(400);
      expect(notConsumer.body.error.message).toBe('componentRef: component:default/payments-api does not list api:default/llm-chat in consumesApis');
    } finally {
      await allowed.stop();
    }

    const denied = await gateway(AuthorizeResult.DENY);
    try {
      const res = await request(denied.server).put('/api/gateway/products/llm-chat').set('authorization', erin).send(product(upstreams.v1.url, upstreams.v2.url));
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe('You may not define the gateway product of api:default/llm-chat (permission gateway.product.manage on api:default/llm-chat)');
      expect(await denied.knex('gateway_products').select()).toEqual([]);
      expect(await denied.knex('audit_events').select()).toEqual([]);
      // Nor may they remove one that is there.
      const spec = product(upstreams.v1.url, upstreams.v2.url).spec as never;
      await new KnexGatewayStore(denied.knex).putProduct({ id: 'llm-chat', entityRef: 'api:default/llm-chat', spec, actor: 'user:default/carol', now: new Date(), expect: { exists: false }, audit: () => [] });
      const removal = await request(denied.server).delete('/api/gateway/products/llm-chat').set('authorization', erin);
      expect([removal.status, removal.body.error.message]).toEqual([403, 'You may not remove gateway product llm-chat (permission gateway.product.manage on api:default/llm-chat)']);
      expect(await denied.knex('gateway_products').count({ n: '*' })).toEqual([{ n: 1 }]);
    } finally {
      await denied.stop();
    }
  });

  it('edits a product only over the version the editor read, and keeps a plan while keys that work hold it', async () => {
    const { server, dataPlane, knex, stop } = await gateway();
    try {
      const put = (body: object) => request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(body);
      // An edit of a version that is not there (the product was never created) creates nothing.
      const ghost = await put({ ...product(upstreams.v1.url, upstreams.v2.url), expectedUpdatedAt: '2026-12-01T00:00:00.000Z' });
      expect([ghost.status, ghost.body.error.message]).toEqual([409, 'Gateway product llm-chat does not exist; create it with expectedUpdatedAt: null']);
      expect(await knex('gateway_products').select()).toEqual([]);
      const created = await put({ ...product(upstreams.v1.url, upstreams.v2.url), expectedUpdatedAt: null });
      expect(created.status).toBe(201);
      // A second "create" finds the first one's product: it is not overwritten.
      const again = await put({ ...product(upstreams.v1.url, upstreams.v2.url), expectedUpdatedAt: null });
      expect([again.status, again.body.error.message]).toEqual([409, `Gateway product llm-chat was created meanwhile (by user:default/carol at ${created.body.updatedAt}); read it and edit that`]);
      // A create under another id finds the API's product just the same, and says whose it is (the editor then offers to open it).
      const elsewhere = await request(server).put('/api/gateway/products/chat').set('authorization', carol).send({ ...product(upstreams.v1.url, upstreams.v2.url), expectedUpdatedAt: null });
      expect([elsewhere.status, elsewhere.body.error.message]).toEqual([409, `api:default/llm-chat already has the gateway product llm-chat (changed by user:default/carol at ${created.body.updatedAt}); read it and edit that`]);

      // Two owners edit the version they both read: the first wins, the second is told who changed it and nothing of theirs is written.
      const read = created.body.updatedAt;
      const faster = product(upstreams.v1.url, upstreams.v2.url);
      faster.spec.plans[0].requestsPerMinute = 300;
      const first = await put({ ...faster, expectedUpdatedAt: read });
      expect(first.status).toBe(200);
      expect(first.body.updatedAt).not.toBe(read);
      const slower = product(upstreams.v1.url, upstreams.v2.url);
      slower.spec.plans[0].requestsPerMinute = 10;
      const second = await put({ ...slower, expectedUpdatedAt: read });
      expect([second.status, second.body.error.message]).toEqual([409,
        `Gateway product llm-chat was changed by user:default/carol at ${first.body.updatedAt}, after the version you edited (${read}); read it again and redo your edit`]);
      const now = (await request(server).get('/api/gateway/products/llm-chat').set('authorization', carol)).body;
      expect(now.plans[0].requestsPerMinute).toBe(300);
      expect((await put({ ...slower, expectedUpdatedAt: 'yesterday' })).body.error.message).toBe('expectedUpdatedAt: must be an instant, as updatedAt gives it');

      // A plan whose keys work cannot be removed: each of them would be refused at once.
      const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'tiny', justification: 'a small plan will do' });
      const issued = (await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({})).body.issued;
      const withoutTiny = product(upstreams.v1.url, upstreams.v2.url);
      withoutTiny.spec.plans = withoutTiny.spec.plans.filter(p => p.name !== 'tiny');
      const held = await put(withoutTiny);
      expect([held.status, held.body.error.message]).toEqual([409,
        `spec.plans: the plan "tiny" (1 key) is held by keys that work now; revoke those keys (the API's Issued keys) before removing it`]);
      expect((await knex('gateway_plans').where('product_id', 'llm-chat').orderBy('name')).map(p => p.name)).toEqual(['standard', 'tiny']);
      // The one edit that went through, and what it changed.
      const edits = await request(server).get('/api/gateway/audit').query({ entityRef: 'api:default/llm-chat', action: 'product.updated' }).set('authorization', carol);
      expect(edits.body.items).toEqual([expect.objectContaining({ actor: 'user:default/carol', target: 'llm-chat', details: { changes: ['plan standard changed'] } })]);
      expect((await chat(dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'still here' }] })).status).toBe(200);

      // Once its key is revoked, the plan goes.
      expect((await request(server).post(`/api/gateway/keys/${issued.key.id}/revoke`).set('authorization', erin).send({ reason: 'moving to standard' })).status).toBe(200);
      expect((await put(withoutTiny)).status).toBe(200);
      expect((await knex('gateway_plans').where('product_id', 'llm-chat')).map(p => p.name)).toEqual(['standard']);

      // A write that names no version replaces whatever is there when it lands, and its trail says what it
      // changed from that: here dave's edit lands between carol's read and her write, which puts the read back.
      const land = KnexGatewayStore.prototype.putProduct;
      const landing = jest.spyOn(KnexGatewayStore.prototype, 'putProduct').mockImplementationOnce(async function meanwhile(this: KnexGatewayStore, write) {
        const plans = write.spec.plans.map(p => ({ ...p, requestsPerMinute: 50 }));
        await land.call(this, { ...write, spec: { ...write.spec, plans }, actor: 'user:default/dave', audit: () => [] });
        return land.call(this, write);
      });
      try {
        expect((await put(withoutTiny)).status).toBe(200);
      } finally {
        landing.mockRestore();
      }
      const last = await request(server).get('/api/gateway/audit').query({ entityRef: 'api:default/llm-chat', action: 'product.updated' }).set('authorization', carol);
      expect(last.body.items[0]).toMatchObject({ actor: 'user:default/carol', details: { changes: ['plan standard changed'] } });
    } finally {
      await stop();
    }
  });

  it('takes an API out of the gateway only once nothing uses it, stops serving it at once, and keeps its trail and usage', async () => {
    const { server, dataPlane, knex, stop } = await gateway();
    try {
      const created = await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
      const remove = (body: Record<string, string> = {}) => request(server).delete('/api/gateway/products/llm-chat').set('authorization', carol).send(body);
      const productsHeld = async () => (await request(server).get('/api/gateway/status').set('authorization', carol)).body.held.products;
      const issued = await issueKey(server, 'to try the removal');
      expect((await chat(dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'hello' }] })).status).toBe(200);
      const waiting = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'tiny', justification: 'a second, smaller key' });
      expect(waiting.status).toBe(201);

      // In use: a key works and a request waits. Both are named, and nothing goes.
      const inUse = await remove({ reason: 'retiring llm-chat' });
      expect([inUse.status, inUse.body.error.message]).toEqual([409,
        'Gateway product llm-chat is in use: keys not yet revoked or expired hold its plan "standard" (1 key) and 1 key request waits for review; revoke those keys and approve or deny that request (the API\'s Gateway tab) before removing it']);
      expect((await chat(dataPlane, issued.secret, { model: 'chat-small', messages: [{ role: 'user', content: 'still here' }] })).status).toBe(200);

      await request(server).post(`/api/gateway/keys/${issued.key.id}/revoke`).set('authorization', carol).send({ reason: 'retiring llm-chat' });
      // The request ran out of time unswept: the removal ends it as expired, told and audited, rather than deleting it unnoticed.
      await knex('gateway_key_requests').where('id', waiting.body.id).update({ expires_at: new Date(Date.now() - 1000) });
      // A removal over a version read before the last change is refused too; a date that is not one is a 400.
      expect((await remove({ expectedUpdatedAt: 'yesterday' })).body.error.message).toBe('expectedUpdatedAt: must be an instant, as updatedAt gives it');
      const stale = await remove({ expectedUpdatedAt: '2026-01-01T00:00:00.000Z' });
      expect([stale.status, stale.body.error.message]).toEqual([409,
        `Gateway product llm-chat was changed by user:default/carol at ${created.body.updatedAt}, after the version you read (2026-01-01T00:00:00.000Z); read it again before removing it`]);
      expect(await productsHeld()).toBe(1);

      const removed = await remove({ expectedUpdatedAt: created.body.updatedAt, reason: 'retiring llm-chat' });
      expect(removed.status).toBe(204);
      expect((await request(server).get('/api/gateway/products/llm-chat').set('authorization', carol)).status).toBe(404);
      expect((await request(server).get('/api/gateway/products').query({ entityRef: 'api:default/llm-chat' }).set('authorization', carol)).body.items).toEqual([]);
      // This replica's data plane holds it no more, before the answer.
      expect(await productsHeld()).toBe(0);
      // Its plans, keys and requests went with it; what was audited and used stays.
      expect(await knex('gateway_plans').where('product_id', 'llm-chat')).toEqual([]);
      expect(await knex('gateway_keys').where('product_id', 'llm-chat')).toEqual([]);
      expect(await knex('gateway_key_requests').where('product_id', 'llm-chat')).toEqual([]);
      const trail = await request(server).get('/api/gateway/audit').query({ entityRef: 'api:default/llm-chat' }).set('authorization', carol);
      expect(trail.body.items.slice(0, 2)).toEqual([
        expect.objectContaining({ actor: 'user:default/carol', action: 'product.deleted', target: 'llm-chat', reason: 'retiring llm-chat', details: { plans: ['standard', 'tiny'] } }),
        expect.objectContaining({ actor: 'quarterdeck:gateway', action: 'key-request.expired', target: waiting.body.id }),
      ]);
      // The API's page still counts the calls made before, by its consumer.
      const usage = await eventually('both calls in the API\'s usage', async () => {
        const summary = await request(server).get('/api/gateway/usage').query({ entityRef: 'api:default/llm-chat', hours: 2 }).set('authorization', carol);
        return summary.body.byConsumer?.[0]?.requests === 2 ? summary.body : undefined;
      });
      expect(usage.byConsumer).toEqual([expect.objectContaining({ consumerRef: 'component:default/chat-assistant', requests: 2, errors: 0 })]);
      // A request for it now finds no product, and a second removal nothing to remove.
      const late = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'asked after it was removed' });
      expect([late.status, late.body.error.message]).toEqual([404, 'productId: no gateway product llm-chat']);
      expect((await remove()).status).toBe(404);
      // The id stays llm-chat's: another API cannot take it (the usage kept under it would show as theirs), but llm-chat can be offered again.
      const taken = await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol)
        .send({ ...product(upstreams.v1.url, upstreams.v2.url), entityRef: 'api:default/search-rest', expectedUpdatedAt: null });
      expect([taken.status, taken.body.error.message]).toEqual([409,
        `Gateway product id llm-chat was api:default/llm-chat's until ${trail.body.items[0].createdAt}, and its usage is kept under that id; give this product another id`]);
      expect((await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send({ ...product(upstreams.v1.url, upstreams.v2.url), expectedUpdatedAt: null })).status).toBe(201);
      const again = await request(server).get('/api/gateway/usage').query({ entityRef: 'api:default/llm-chat', hours: 2 }).set('authorization', carol);
      expect(again.body.byConsumer).toEqual([expect.objectContaining({ requests: 2 })]);
    } finally {
      await stop();
    }
  });

  describe('tokens, budgets and context windows', () => {
    const limited = (v1Url: string) => ({
      entityRef: 'api:default/llm-chat',
      spec: {
        kind: 'openai',
        upstreams: [{ name: 'ms', url: v1Url, version: 'v1' }],
        models: [
          { name: 'chat-tiny', upstream: 'ms', upstreamModel: 'chat-small', contextWindow: 300, inputPricePerMillion: 1000, outputPricePerMillion: 1000 },
          { name: 'chat-large', upstream: 'ms', contextWindow: 32768, inputPricePerMillion: 1, outputPricePerMillion: 1 },
        ],
        routes: [{ name: 'chat', targets: [{ model: 'chat-tiny', weight: 100 }], largerContextModel: 'chat-large' }],
        plans: [
          { name: 'tokens', tokensPerMinute: 500 },
          { name: 'budget', dailyCost: 0.5 },
          { name: 'open' },
        ],
      },
    });
    const keyFor = async (server: Parameters<typeof request>[0], plan: string) => {
      const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
        .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan, justification: `a key on plan ${plan} for tests` });
      return (await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({})).body.issued.secret as string;
    };
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

    it('reserves max_tokens against tokens per minute, trims or reroutes long conversations, and stops at the daily budget', async () => {
      const { server, dataPlane, stop } = await gateway();
      try {
        await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(limited(upstreams.v1.url));
        // Tokens per minute: a call asking for more than the plan's minute is refused up front.
        const tokensKey = await keyFor(server, 'tokens');
        const greedy = await chat(dataPlane, tokensKey, { model: 'chat-large', max_tokens: 600, messages: [{ role: 'user', content: 'hi' }] });
        expect(greedy.status).toBe(429);
        expect((await greedy.json()).error).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded' });
        expect((await chat(dataPlane, tokensKey, { model: 'chat-large', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);

        const key = await keyFor(server, 'open');
        // Too long for chat-tiny: the oldest turns go, the system prompt and the last question stay.
        const conversation = [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: words(120) },
          { role: 'assistant', content: words(120) },
          { role: 'user', content: 'So what is the answer?' },
        ];
        const trimmed = await chat(dataPlane, key, { model: 'chat-tiny', max_tokens: 20, messages: conversation });
        expect(trimmed.status).toBe(200);
        expect(trimmed.headers.get('x-quarterdeck-context-trimmed')).toMatch(/^[12] older messages? dropped to fit 300 tokens$/);
        // So is a stream's (its head written here by JavaScript; nativeRelay.test.ts checks the head the relay writes).
        const trimmedStream = await chat(dataPlane, key, { model: 'chat-tiny', max_tokens: 20, stream: true, messages: conversation });
        expect(trimmedStream.headers.get('x-quarterdeck-context-trimmed')).toBe(trimmed.headers.get('x-quarterdeck-context-trimmed'));
        expect(trimmedStream.headers.get('x-quarterdeck-model')).toBe('chat-tiny');
        expect(await trimmedStream.text()).toMatch(/\ndata: \[DONE\]\n\n$/);
        // The route has a larger-context model: the same conversation goes there, untrimmed.
        const routed = await chat(dataPlane, key, { model: 'chat', max_tokens: 20, messages: conversation });
        expect(routed.status).toBe(200);
        expect(routed.headers.get('x-quarterdeck-context-routed')).toBe('chat-large');
        expect(routed.headers.get('x-quarterdeck-model')).toBe('chat-large');
        // Nothing can be dropped: 400 naming the limit.
        const hopeless = await chat(dataPlane, key, { model: 'chat-tiny', max_tokens: 20, messages: [{ role: 'user', content: words(400) }] });
        expect(hopeless.status).toBe(400);
        expect((await hopeless.json()).error).toMatchObject({ param: 'messages', code: 'context_length_exceeded', message: expect.stringMatching(/^This model's maximum context length is 300 tokens\. However, you requested \d+ tokens \(\d+ in the messages that cannot be dropped, 20 in the completion\)\. Shorten the system prompt or the last message\.$/) });
        // The messages fit and the reply does not: max_tokens is named, with the most it can be.
        const tooLong = await chat(dataPlane, key, { model: 'chat-tiny', max_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] });
        expect(tooLong.status).toBe(400);
        const tooLongError = (await tooLong.json()).error;
        expect(tooLongError).toMatchObject({ param: 'max_tokens', code: 'context_length_exceeded' });
        const [, inMessages] = /\((\d+) in the messages/.exec(tooLongError.message)!;
        expect(tooLongError.message).toMatch(new RegExp(`, 1000 in the completion\\)\\. Lower max_tokens to at most ${300 - Number(inMessages)}\\.$`));
        // Asked as max_completion_tokens, it is that field the error names.
        const tooLongNewer = await chat(dataPlane, key, { model: 'chat-tiny', max_completion_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] });
        const tooLongNewerError = (await tooLongNewer.json()).error;
        expect(tooLongNewerError).toMatchObject({ param: 'max_completion_tokens', code: 'context_length_exceeded' });
        expect(tooLongNewerError.message).toMatch(/\. Lower max_completion_tokens to at most \d+\.$/);

        // $0.50 a day at $1000 per million tokens: the reservation (prompt + max_tokens) decides.
        const budgetKey = await keyFor(server, 'budget');
        let spentStatus = 0;
        for (let i = 0; i < 20 && spentStatus !== 429; i++) {
          spentStatus = (await chat(dataPlane, budgetKey, { model: 'chat-tiny', max_tokens: 50, messages: [{ role: 'user', content: `question ${i}` }] })).status;
        }
        expect(spentStatus).toBe(429);
        const spent = await chat(dataPlane, budgetKey, { model: 'chat-tiny', max_tokens: 50, messages: [{ role: 'user', content: 'more' }] });
        expect((await spent.json()).error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded' });
      } finally {
        await stop();
      }
    });

    it('keeps limits in Redis when gateway.redis is set', async () => {
      const { server, dataPlane, stop } = await gateway(AuthorizeResult.ALLOW, { redis: { url: process.env.QUARTERDECK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' } });
      try {
        await request(server).put('/api/gateway/products/llm-chat').set('authorization', carol).send(product(upstreams.v1.url, upstreams.v2.url));
        const asked = await request(server).post('/api/gateway/key-requests').set('authorization', erin)
          .send({ componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'tiny', justification: 'redis-backed limits' });
        const key = (await request(server).post(`/api/gateway/key-requests/${asked.body.id}/approve`).set('authorization', carol).send({})).body.issued.secret;
        const statuses = [];
        for (let i = 0; i < 3; i++) statuses.push((await chat(dataPlane, key, { model: 'chat-small', messages: [{ role: 'user', content: `${i}` }] })).status);
        expect(statuses).toEqual([200, 200, 429]);
      } finally {
        await stop();
      }
    });
  });
});
