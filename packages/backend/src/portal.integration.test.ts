import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The same helper the journeys and benchmarks use to run the real backend.
// eslint-disable-next-line @backstage/no-relative-monorepo-imports
const { startPortal, signIn, waitForCatalogUsers, freePort, root } = require('../../../scripts/lib/portal');

jest.setTimeout(180_000);

const databases: Array<'sqlite' | 'pg'> = process.env
  .BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING
  ? ['sqlite', 'pg']
  : ['sqlite'];

type Notification = { origin: string; payload: { title: string; description: string; link: string; topic: string; severity: string } };

/** The notifications of `token`'s user, newest first. */
async function notificationsOf(url: string, token: string): Promise<Notification[]> {
  const res = await fetch(`${url}/api/notifications/notifications?orderField=created,desc`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()).notifications;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise(resolve => setTimeout(resolve, 500));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

describe('the production config (app-config.production.yaml)', () => {
  it('starts with oauth2-proxy sign-in only, and serves while its cluster does not answer', async () => {
    const portal = await startPortal({
      port: await freePort(),
      baseConfig: 'app-config.production.yaml',
      env: {
        NODE_ENV: 'production',
        ORGANIZATION_NAME: 'Acme',
        BACKEND_STATIC_TOKEN: 'a-static-token-for-the-production-config-test',
        QUARTERDECK_GATEWAY_KEY_SECRET: 'a-test-server-secret-of-at-least-32-chars',
        // Nothing listens there: the Rollouts' watches retry in the background.
        KUBERNETES_CLUSTER_NAME: 'prod', KUBERNETES_CLUSTER_URL: 'https://127.0.0.1:9', KUBERNETES_SERVICE_ACCOUNT_TOKEN: 'token', KUBERNETES_CA_DATA: 'eA==',
        POSTGRES_HOST: '127.0.0.1', POSTGRES_PORT: '5432', POSTGRES_USER: 'unused', POSTGRES_PASSWORD: 'unused',
      },
    });
    try {
      for (const plugin of ['argo', 'gateway']) expect((await fetch(`${portal.url}/api/${plugin}/health`)).status).toBe(200);
      // No development sign-in: neither guest nor dev-user is there.
      for (const provider of ['guest', 'dev-user']) {
        expect((await fetch(`${portal.url}/api/auth/${provider}/refresh`, { headers: { 'x-requested-with': 'XMLHttpRequest' } })).status).toBe(404);
      }
      expect((await fetch(`${portal.gatewayUrl}/v1/models`)).status).toBe(401);
    } finally {
      await portal.stop();
    }
  });
});

describe.each(databases)('the portal backend on %s', database => {
  let portal: any;
  let tokens: Record<string, string>;

  beforeAll(async () => {
    portal = await startPortal({ port: await freePort(), database });
    const guest = await waitForCatalogUsers(portal.url, ['alice', 'erin', 'grace']);
    tokens = {
      guest,
      alice: await signIn(portal.url, 'alice'),
      erin: await signIn(portal.url, 'erin'),
      grace: await signIn(portal.url, 'grace'),
    };
  });
  afterAll(async () => portal?.stop());

  const get = (route: string, who?: string) =>
    fetch(`${portal.url}${route}`, {
      headers: who ? { authorization: `Bearer ${tokens[who]}` } : {},
    });

  it("answers each Quarterdeck plugin's health probe", async () => {
    for (const plugin of ['argo', 'gateway']) {
      const res = await get(`/api/${plugin}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    }
  });

  it('runs the embedded local cluster and lists it', async () => {
    const res = await get('/api/argo/clusters', 'alice');
    expect(res.status).toBe(200);
    expect((await res.json()).items).toEqual([
      expect.objectContaining({ name: 'local', driver: 'local', isDefault: true }),
    ]);
  });

  it('loads the example catalog and shows it to a signed-in user only', async () => {
    const entity = await waitFor('payments-api in the catalog', async () => {
      const res = await get('/api/catalog/entities/by-name/component/default/payments-api', 'guest');
      return res.ok ? await res.json() : undefined;
    });
    expect(entity.spec.owner).toBe('group:default/team-payments');
    expect(entity.metadata.annotations['backstage.io/kubernetes-id']).toBe('payments-api');
    expect((await get('/api/catalog/entities/by-name/component/default/payments-api')).status).toBe(401);
  });

  it('signs in as a catalog user with their group memberships, and refuses unknown users', async () => {
    const claims = JSON.parse(Buffer.from(tokens.alice.split('.')[1], 'base64url').toString());
    expect(claims.sub).toBe('user:default/alice');
    const res = await fetch(`${portal.url}/api/auth/dev-user/refresh`, {
      headers: { 'x-requested-with': 'XMLHttpRequest', 'x-quarterdeck-dev-user': 'mallory' },
    });
    expect(res.status).toBe(401);
    expect((await res.json()).error.message).toMatch(/No User named 'mallory' in the catalog/);
  });

  it("lets owners and platform admins act on an entity, and no one else", async () => {
    const decide = async (who: string, name: string, resourceRef: string) => {
      const res = await fetch(`${portal.url}/api/permission/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[who]}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          items: [{
            id: '1',
            permission: { type: 'resource', name, attributes: { action: 'update' }, resourceType: 'catalog-entity' },
            resourceRef,
          }],
        }),
      });
      expect(res.status).toBe(200);
      return (await res.json()).items[0].result;
    };
    const paymentsApi = 'component:default/payments-api';
    expect(await decide('alice', 'argo.rollout.promote', paymentsApi)).toBe('ALLOW');
    expect(await decide('erin', 'argo.rollout.promote', paymentsApi)).toBe('DENY');
    expect(await decide('guest', 'argo.rollout.promote', paymentsApi)).toBe('DENY');
    expect(await decide('grace', 'argo.rollout.promote', paymentsApi)).toBe('ALLOW');
  });

  it("tells llm-chat's owners of a request for access in Backstage's notifications, and the requesting team of the decision", async () => {
    const who = ['carol', 'dan', 'erin', 'frank'];
    for (const user of who) tokens[user] ??= await signIn(portal.url, user);
    // The notifications backend resolves a group to its members from the catalog: wait until it knows them.
    for (const [group, member] of [['team-ml', 'dan'], ['team-web', 'frank']]) {
      await waitFor(`${member} in ${group}`, async () => {
        const res = await get(`/api/catalog/entities/by-name/group/default/${group}`, 'guest');
        const entity = res.ok ? await res.json() : undefined;
        return entity?.relations?.some((r: any) => r.type === 'hasMember' && r.targetRef === `user:default/${member}`) || undefined;
      });
    }
    const send = (route: string, user: string, body: object) => fetch(`${portal.url}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[user]}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const inbox = async (user: string) => {
      // team-ml also hears of sentiment-model's rollout: this test is about the gateway's.
      return (await notificationsOf(portal.url, tokens[user])).filter(n => n.origin === 'plugin:gateway');
    };
    const asked = await send('/api/gateway/key-requests', 'erin', {
      componentRef: 'component:default/chat-assistant', productId: 'llm-chat', plan: 'standard', justification: 'answers customer questions',
    });
    expect(asked.status).toBe(201);

    for (const reviewer of ['carol', 'dan']) {
      const [told] = await waitFor(`${reviewer}'s notification`, async () => {
        const items = await inbox(reviewer);
        return items.length ? items : undefined;
      });
      expect(told).toMatchObject({
        origin: 'plugin:gateway',
        payload: { title: 'chat-assistant asks for access to llm-chat', link: '/catalog/default/api/llm-chat/gateway', topic: 'key requests' },
      });
    }
    // The requester is not told of what she did, nor is her team asked to review.
    expect(await inbox('erin')).toEqual([]);
    expect(await inbox('frank')).toEqual([]);

    const approved = await send(`/api/gateway/key-requests/${(await asked.json()).id}/approve`, 'carol', {});
    expect(approved.status).toBe(201);
    for (const member of ['erin', 'frank']) {
      const [told] = await waitFor(`${member}'s notification`, async () => {
        const items = await inbox(member);
        return items.length ? items : undefined;
      });
      expect(told.payload).toMatchObject({ title: "chat-assistant's access to llm-chat was approved", link: '/catalog/default/component/chat-assistant/gateway' });
    }
    // dan's "asks for access" now tells the outcome, in place; carol, who decided, keeps hers as it was.
    const dans = await waitFor("dan's updated notification", async () => {
      const items = await inbox('dan');
      return items[0]?.payload.title.includes('approved') ? items : undefined;
    });
    expect(dans.map(n => n.payload.title)).toEqual(["chat-assistant's request for llm-chat: approved by carol"]);
    expect((await inbox('carol')).map(n => n.payload.title)).toEqual(['chat-assistant asks for access to llm-chat']);
  });

  it("tells payments-api's team that its canary waits for promotion, and no one else", async () => {
    tokens.bob ??= await signIn(portal.url, 'bob');
    tokens.erin ??= await signIn(portal.url, 'erin');
    const fromArgo = async (user: string) => (await notificationsOf(portal.url, tokens[user])).filter(n => n.origin === 'plugin:argo');
    // The example's update pauses at its first pause step soon after start (docs/rollouts.md, Examples).
    for (const member of ['alice', 'bob']) {
      const told = await waitFor(`${member}'s notification`, async () => {
        const items = (await fromArgo(member)).filter(n => n.payload.title.startsWith('payments-api'));
        return items.length ? items : undefined;
      });
      expect(told).toEqual([expect.objectContaining({
        payload: expect.objectContaining({
          title: 'payments-api: waits for promotion at step 2 of 6',
          link: '/catalog/default/component/payments-api/rollouts',
          topic: 'rollouts',
          severity: 'normal',
        }),
      })]);
    }
    expect((await fromArgo('erin')).filter(n => n.payload.title.startsWith('payments-api'))).toEqual([]);
  });
});

describe('bad configuration', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-badconfig-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function start(configText: string) {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, configText);
    return spawnSync(
      process.execPath,
      [
        '--require', require.resolve('@backstage/cli/config/nodeTransform.cjs'),
        path.join(root, 'packages/backend/src/index.ts'),
        '--config', path.join(root, 'app-config.yaml'),
        '--config', file,
      ],
      { cwd: root, encoding: 'utf8', timeout: 60_000 },
    );
  }

  it.each([
    ['malformed YAML', 'backend: [\n', /^Configuration error: .*bad\.yaml line 2: malformed YAML/],
    ['an unknown database client', 'backend:\n  database:\n    client: mongodb\n', /^Configuration error: backend\.database\.client: unknown database client 'mongodb'/],
    ['a missing catalog file', 'catalog:\n  locations:\n    - type: file\n      target: ./examples/nope.yaml\n', /^Configuration error: catalog\.locations\[0\]\.target: file \.\/examples\/nope\.yaml does not exist/],
    ['a required key whose environment variable is not set', 'gateway:\n  keySecret: ${QUARTERDECK_TEST_UNSET_KEY_SECRET}\n', /^Configuration error: gateway\.keySecret: environment variable QUARTERDECK_TEST_UNSET_KEY_SECRET is not set/],
  ])('stops start-up on %s with one line and no stack trace', (_what, text, message) => {
    const result = start(text);
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});
