#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run test:e2e`: journeys in headless Chromium (Debian's chromium,
// driven by playwright-core) against the real portal on SQLite. Screenshots
// go to e2e/screenshots/. Prints `e2e: N passed, N failed` and exits non-zero
// on a failure.
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { ensureFrontendBuilt } = require('../scripts/lib/frontend');
const { startPortal, signIn, waitForCatalogUsers, freePort } = require('../scripts/lib/portal');

const SCREENSHOTS = path.join(__dirname, 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run',
];

const journeys = [];
/** The key the gateway journey issued, which a later journey revokes. */
let issuedSecret;
/**
 * A journey: a name and a function of a fresh page, the portal's URL and the
 * running portal (`gatewayUrl`: the gateway's data plane) and browser.
 */
function journey(name, fn) {
  journeys.push({ name, fn });
}

async function shot(page, name) {
  // From the top: the sidebar is fixed, so a page scrolled by a click would draw it mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function signInAs(page, url, user) {
  await page.goto(url);
  await page.getByText(`Sign in as ${user}`).click();
}

/** `fn` with a page of its own, signed in as `user`, beside the journey's page; closed after. */
async function asAnotherUser(browser, url, user, fn) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await signInAs(page, url, user);
    try {
      await fn(page);
    } catch (error) {
      // The page that failed, before its context closes (the journey's own screenshot shows the other user's).
      await shot(page, `failed-as-${user}`).catch(() => {});
      throw error;
    }
  } finally {
    await context.close();
  }
}

journey('signs in as a catalog user and lands on the catalog', async (page, url) => {
  await page.goto(url);
  await page.getByRole('button', { name: 'Enter as guest' }).waitFor();
  await shot(page, '01-sign-in');
  await page.getByText('Sign in as alice').click();
  await page.waitForURL(/\/catalog/);
  // The catalog opens on what the user owns: alice owns payments-api only.
  await page.getByRole('link', { name: 'payments-api' }).waitFor({ timeout: 30_000 });
  await page.getByText('Owned Components (1)').waitFor();
  await page.getByRole('menuitem', { name: /^All/ }).click();
  await page.getByRole('link', { name: 'chat-assistant' }).waitFor();
  await page.getByRole('link', { name: 'sentiment-model' }).waitFor();
  await shot(page, '02-catalog');
});

journey("opens payments-api and sees its owner, system and API", async (page, url) => {
  await signInAs(page, url, 'alice');
  await page.goto(`${url}/catalog/default/component/payments-api`);
  await page.getByRole('heading', { name: 'payments-api' }).first().waitFor({ timeout: 30_000 });
  await page.getByText('team-payments').first().waitFor();
  await page.getByText('quarterdeck-demo').first().waitFor();
  await page.getByText('Takes and refunds payments').first().waitFor();
  await shot(page, '03-payments-api');
});

journey('shows the API catalog with both example APIs', async (page, url) => {
  await signInAs(page, url, 'erin');
  await page.goto(`${url}/api-docs`);
  await page.getByRole('menuitem', { name: /^All/ }).click({ timeout: 30_000 });
  await page.getByRole('link', { name: 'llm-chat' }).waitFor();
  await page.getByRole('link', { name: 'payments-rest' }).waitFor();
  await shot(page, '04-apis');
});

journey("follows payments-api's canary and promotes it past the pause", async (page, url) => {
  await signInAs(page, url, 'alice');
  // The example update (examples/deploy) pauses at step 2 of 6, and her team is told so.
  await page.getByRole('link', { name: /^Notifications/ }).click();
  const told = page.getByRole('link', { name: 'payments-api: waits for promotion at step 2 of 6' });
  await told.waitFor({ timeout: 60_000 });
  await shot(page, '05a-rollout-notification');
  await told.click();
  await page.waitForURL(/\/catalog\/default\/component\/payments-api\/rollouts$/);
  await page.getByText('Step 2 of 6').waitFor({ timeout: 60_000 });
  await page.getByText(/Paused: CanaryPauseStep/).waitFor();
  await page.getByLabel('canary weight 25%').waitFor();
  await shot(page, '05-rollout-paused');
  await page.getByRole('button', { name: 'Promote', exact: true }).click();
  // Past the pause: the weight goes to 50 and the analysis runs.
  await page.getByText(/Step [3-6] of 6/).waitFor({ timeout: 30_000 });
  await page.getByLabel('canary weight 50%').waitFor({ timeout: 30_000 });
  await page.getByRole('table', { name: 'audit trail' }).getByText('alice').waitFor();
  await page.getByRole('table', { name: 'audit trail' }).getByText('promote').waitFor();
  await page.getByText(/payments-api-\w+-2-3/).waitFor({ timeout: 30_000 });
  await shot(page, '06-rollout-promoted');
});

journey('shows the rollout actions disabled to a user outside the owning team', async (page, url) => {
  await signInAs(page, url, 'erin');
  await page.goto(`${url}/catalog/default/component/payments-api/rollouts`);
  const promote = page.getByRole('button', { name: 'Promote', exact: true });
  await promote.waitFor({ timeout: 60_000 });
  // Restart applies to a rollout in any state: disabled, it is the permission, and the tooltip says which.
  await page.getByLabel('You need argo.rollout.restart on component:default/payments-api').waitFor({ timeout: 30_000 });
  if (await page.getByRole('button', { name: 'Restart', exact: true }).isEnabled()) throw new Error('Restart is enabled for erin');
  await shot(page, '07-rollout-not-allowed');
});

journey("follows sentiment-model's blue-green update and promotes it to the active Service", async (page, url) => {
  await signInAs(page, url, 'carol');
  await page.goto(`${url}/catalog/default/component/sentiment-model/rollouts`);
  // The example update (examples/deploy/04) comes up behind the preview
  // Service, passes its pre-promotion analysis and waits for a promotion.
  await page.getByText(/Waiting for promotion: the new version is up behind the preview Service/).waitFor({ timeout: 90_000 });
  await page.getByText(/Paused: BlueGreenPause/).waitFor();
  const stages = page.getByLabel('blue-green stages');
  await stages.getByText('Pre-promotion analysis').waitFor();
  await stages.getByText('Waiting for promotion').waitFor();
  const preview = page.getByLabel(/^preview service sentiment-model-preview selects rev \d+ · /);
  await preview.waitFor();
  const green = (await preview.getAttribute('aria-label')).split(' · ').pop();
  await page.getByLabel(/^active service sentiment-model selects rev \d+ · /).waitFor();
  await page.getByText('Pre-promotion', { exact: true }).first().waitFor();
  await shot(page, '08-bluegreen-paused');
  const promote = page.getByRole('button', { name: 'Promote', exact: true });
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('button')].find(x => x.textContent === 'Promote');
    return b && !b.hasAttribute('disabled');
  });
  await promote.click();
  // The active Service switches to the new version, which becomes stable.
  await page.getByLabel(new RegExp(`^active service sentiment-model selects rev \\d+ · ${green}$`)).waitFor({ timeout: 30_000 });
  await page.getByText('Healthy', { exact: true }).first().waitFor({ timeout: 30_000 });
  await page.getByRole('table', { name: 'audit trail' }).getByText('carol').waitFor();
  await page.getByRole('table', { name: 'replica sets' }).getByText(/scales down at/).waitFor({ timeout: 30_000 });
  await shot(page, '09-bluegreen-promoted');
});

journey('requests a gateway key as erin, approves it as carol, calls the gateway with it and sees the usage', async (page, url, { gatewayUrl, browser }) => {
  // erin (team-web) asks for a key for chat-assistant, which consumes llm-chat.
  await signInAs(page, url, 'erin');
  await page.goto(`${url}/catalog/default/component/chat-assistant/gateway`);
  const access = page.getByRole('region', { name: 'gateway access to llm-chat' });
  await access.getByText('LLM chat (OpenAI-compatible)').waitFor({ timeout: 30_000 });
  await access.getByRole('button', { name: 'Request access' }).click();
  const form = page.getByRole('dialog');
  await form.getByLabel('Plan', { exact: true }).selectOption('standard');
  await form.getByLabel(/Justification/).fill('The chat assistant answers customer questions on the shop.');
  await form.getByRole('button', { name: 'Send request' }).click();
  await form.waitFor({ state: 'hidden' });
  await access.getByRole('table', { name: 'key requests for llm-chat' }).getByText('pending').waitFor();
  await shot(page, '10-gateway-requested');

  // carol (team-ml, owns llm-chat) approves it and sees the key once.
  let secret;
  let calledAt;
  await asAnotherUser(browser, url, 'carol', async carol => {
    // She learns of it from Backstage's notifications, and the notification takes her to the review.
    await carol.getByRole('link', { name: /^Notifications/ }).click();
    await carol.getByRole('link', { name: 'chat-assistant asks for access to llm-chat' }).waitFor({ timeout: 30_000 });
    await shot(carol, '10b-gateway-review-notification');
    await carol.getByRole('link', { name: 'chat-assistant asks for access to llm-chat' }).click();
    await carol.waitForURL(/\/catalog\/default\/api\/llm-chat\/gateway$/);
    const pending = carol.getByRole('table', { name: 'pending key requests' });
    await pending.getByText('The chat assistant answers customer questions on the shop.').waitFor({ timeout: 30_000 });
    // Requested as erin, the one signed in on the component's page.
    await pending.getByText('by erin').waitFor();
    await pending.getByRole('button', { name: 'Approve' }).click();
    await carol.getByLabel('Reason (optional)').fill('ok for the shop');
    // The shop chats; it needs no embeddings: carol leaves embed-small out of the key.
    await carol.getByRole('checkbox', { name: 'embed-small' }).uncheck();
    await carol.getByText('Only chat-large, chat-small; a model added to plan standard later is not included.').waitFor();
    await shot(carol, '10c-gateway-approve-models');
    await carol.getByRole('button', { name: 'Approve and issue key' }).click();
    const issued = carol.getByRole('dialog', { name: 'Key issued' });
    await issued.getByText(/it will not be shown again/).waitFor();
    secret = await issued.getByLabel('API key').inputValue();
    if (!/^qdk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/.test(secret)) throw new Error(`The dialog shows "${secret}", not a gateway key`);
    await shot(carol, '11-gateway-key-issued');
    await issued.getByRole('button', { name: 'I have copied the key' }).click();
    await issued.waitFor({ state: 'hidden' });
    if ((await carol.content()).includes(secret)) throw new Error('The key is still on the page after the dialog closed');

    // The key works on the data plane: an answer from the model.
    calledAt = new Date();
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'Where is my order?' }] }),
      signal: AbortSignal.timeout(15_000),
    });
    if (response.status !== 200) throw new Error(`The gateway answered ${response.status}: ${await response.text()}`);
    const answer = await response.json();
    if (!answer.choices?.[0]?.message?.content) throw new Error(`The gateway's 200 has no answer: ${JSON.stringify(answer)}`);
    // The model left out is refused, though the plan has it.
    const embedding = await fetch(`${gatewayUrl}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'embed-small', input: 'order 1234' }),
    });
    if (embedding.status !== 403) throw new Error(`The gateway answered embed-small, which the key leaves out, with ${embedding.status}`);

    // The call shows in the API's usage, by consumer (written within a second or so).
    const byConsumer = carol.getByRole('table', { name: 'usage by consumer' });
    for (let attempt = 0; ; attempt++) {
      await carol.reload();
      try {
        await byConsumer.getByRole('row', { name: /chat-assistant\s+[1-9]/ }).waitFor({ timeout: 5_000 });
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
      }
    }
    await carol.getByRole('table', { name: 'issued keys' }).getByText('active').waitFor();
    await carol.getByRole('table', { name: 'issued keys' }).getByText('standard (chat-large, chat-small)').waitFor();
    // Narrowed to the one consumer, the API's usage is that consumer's call.
    await carol.getByRole('combobox', { name: 'Consumer' }).click();
    await carol.getByRole('option', { name: 'chat-assistant' }).click();
    await carol.getByText("Totals, charts and versions count chat-assistant's calls only.").waitFor();
    await carol.getByLabel(/^Requests: [1-9]/).waitFor();
    await carol.getByLabel(/^Tokens: [1-9]/).waitFor();
    await carol.getByLabel('Errors: 0', { exact: true }).waitFor();
    // Shown once: not after a reload either.
    if ((await carol.content()).includes(secret)) throw new Error("The key shows on the API's page after a reload");
    await shot(carol, '12-gateway-api-usage');
  });

  // erin sees the key (masked: its public part only) and the usage on the component.
  await page.reload();
  const keyRow = access.getByRole('table', { name: 'keys for llm-chat' }).getByRole('row', { name: new RegExp(`${secret.slice(0, 17)}…`) });
  await keyRow.getByText('active').waitFor({ timeout: 30_000 });
  await page.getByLabel(/^Requests: [1-9]/).waitFor();
  await page.getByLabel(/^Tokens: [1-9]/).waitFor();
  await page.getByLabel('Errors: 0', { exact: true }).waitFor();
  // Nor is the secret in any list the gateway answers either user with.
  for (const [user, ref] of [['erin', 'component:default/chat-assistant'], ['carol', 'api:default/llm-chat']]) {
    for (const list of [`keys?entityRef=${encodeURIComponent(ref)}`, `key-requests?entityRef=${encodeURIComponent(ref)}`]) {
      const listed = await fetch(`${url}/api/gateway/${list}`, { headers: { authorization: `Bearer ${await signIn(url, user)}` } });
      const text = await listed.text();
      if (listed.status !== 200) throw new Error(`GET /api/gateway/${list} as ${user} answered ${listed.status}: ${text}`);
      if (text.includes(secret.slice(17))) throw new Error(`GET /api/gateway/${list} as ${user} holds the key's secret`);
    }
  }
  await page.getByRole('table', { name: 'usage by model' }).getByText('chat-small-v1').waitFor();
  if ((await page.content()).includes(secret)) throw new Error("The key shows on the component's page");
  await shot(page, '13-gateway-component-usage');
  // A month, by UTC day: the call is in today's bar, labelled by its date alone.
  await page.getByRole('button', { name: 'last 30 d' }).click();
  const requestsByDay = page.getByRole('img', { name: 'Requests and errors per UTC day' });
  // The call's UTC day, not the day now (a journey that crosses midnight UTC).
  const today = calledAt.toLocaleDateString('en-GB', { day: '2-digit', month: 'short', timeZone: 'UTC' }).replace('Sept', 'Sep');
  await requestsByDay.getByText(today, { exact: true }).waitFor();
  await requestsByDay.locator('title', { hasText: new RegExp(`^${today} \\(UTC day\\): ok [1-9]`) }).first().waitFor({ state: 'attached' });
  await shot(page, '13b-gateway-component-usage-30-days');
  // Her notifications say who approved it, and where the key is.
  await page.getByRole('link', { name: /^Notifications/ }).click();
  await page.getByRole('link', { name: "chat-assistant's access to llm-chat was approved" }).waitFor();
  await page.getByText(/carol approved plan standard\. The key qdk_[a-z0-9]{12}_… was shown once, to carol/).waitFor();
  issuedSecret = secret;
});

journey("takes a key back as the API's owner: the gateway refuses it at once and both trails say who and why", async (page, url, { gatewayUrl, browser }) => {
  if (!issuedSecret) throw new Error('No key: the journey that issues one did not finish');
  // carol (team-ml, owns llm-chat) revokes chat-assistant's key from the API's page.
  await signInAs(page, url, 'carol');
  await page.goto(`${url}/catalog/default/api/llm-chat/gateway`);
  const keys = page.getByRole('table', { name: 'issued keys' });
  await keys.getByRole('row', { name: /chat-assistant.*active/ }).getByRole('button', { name: 'Revoke' }).click({ timeout: 30_000 });
  await page.getByLabel(/^Reason/).fill('The assistant sent abusive prompts; ask again once fixed.');
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.getByRole('button', { name: 'Accepted now (0)' }).waitFor();
  const refused = await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${issuedSecret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'Still there?' }] }),
  });
  if (refused.status !== 401) throw new Error(`The gateway answered a revoked key with ${refused.status}`);
  const apiTrail = page.getByRole('table', { name: 'gateway audit trail' });
  await apiTrail.getByRole('row', { name: /carol\s+key\.revoked.*abusive prompts/ }).waitFor();
  // Narrowed to revocations, the API's trail holds just that one.
  await page.getByLabel('Action', { exact: true }).selectOption('key.revoked');
  await apiTrail.getByRole('cell', { name: 'key-request.approved', exact: true }).waitFor({ state: 'detached' });
  if ((await apiTrail.getByRole('row').count()) !== 2) throw new Error("The API's trail narrowed to key.revoked holds more than the one revocation");
  await shot(page, '15-gateway-key-revoked-by-api-owner');

  // erin (team-web, owns chat-assistant) sees it on the component: no key accepted now, and who took it back.
  await asAnotherUser(browser, url, 'erin', async erin => {
    await erin.goto(`${url}/catalog/default/component/chat-assistant/gateway`);
    const access = erin.getByRole('region', { name: 'gateway access to llm-chat' });
    await access.getByText('None: a key is issued when a request is approved.').waitFor({ timeout: 30_000 });
    await erin.getByRole('table', { name: 'gateway audit trail' }).getByRole('row', { name: /carol\s+key\.revoked.*abusive prompts/ }).waitFor();
  });
});

journey("decides a request from the gateway admin page as a platform admin, and sees it in the gateway's audit trail", async (page, url, { browser }) => {
  // erin asks for payments-rest too; grace (platform-admins) finds it in the queue of every API's requests.
  await signInAs(page, url, 'erin');
  await page.goto(`${url}/catalog/default/component/chat-assistant/gateway`);
  const access = page.getByRole('region', { name: 'gateway access to payments-rest' });
  await access.getByRole('button', { name: 'Request access' }).click({ timeout: 30_000 });
  const form = page.getByRole('dialog');
  await form.getByLabel('Plan', { exact: true }).selectOption('standard');
  await form.getByLabel(/Justification/).fill('The assistant looks up refunds for customers.');
  await form.getByRole('button', { name: 'Send request' }).click();
  await form.waitFor({ state: 'hidden' });

  await asAnotherUser(browser, url, 'grace', async grace => {
    // Platform admins watch every API's key requests (gateway.keyRequestWatchers in app-config.yaml): she is told of it.
    await grace.getByRole('link', { name: /^Notifications/ }).click();
    await grace.getByRole('link', { name: 'chat-assistant asks for access to payments-rest' }).waitFor({ timeout: 30_000 });
    await grace.goto(`${url}/gateway`);
    const queue = grace.getByRole('table', { name: 'pending key requests' });
    const row = queue.getByRole('row', { name: /payments-rest.*chat-assistant.*refunds/ });
    await row.waitFor({ timeout: 30_000 });
    await grace.getByRole('table', { name: 'gateway audit trail' }).getByText('key-request.created').first().waitFor();
    // This replica's data plane is serving, and says who forwards streamed events.
    await grace.getByText('serving', { exact: true }).waitFor();
    await grace.getByText(/^forwarded (by the native relay|in JavaScript)/).waitFor();
    // And says who is told of every key request, beside each API's owners: her group.
    await grace.getByText("each API's owners, and").waitFor();
    // The whole gateway's usage: the call made through llm-chat above, by product and by consumer.
    const llmChatUsage = grace.getByRole('table', { name: 'usage by product' }).getByRole('row', { name: /llm-chat/ });
    await llmChatUsage.waitFor({ timeout: 30_000 });
    const calls = Number(await llmChatUsage.getByRole('cell').nth(2).textContent());
    if (!(calls >= 1)) throw new Error(`The admin page's usage by product counts ${calls} calls of llm-chat`);
    await grace.getByRole('table', { name: 'usage by consumer' }).getByRole('link', { name: /chat-assistant/ }).waitFor();
    // And under the team that owns chat-assistant in the catalog (its link shows the group's display name).
    await grace.getByRole('table', { name: 'usage by owner' }).getByRole('link', { name: /Team Web/ }).waitFor();
    await shot(grace, '14-gateway-admin');
    await row.getByRole('button', { name: 'Deny' }).click();
    await grace.getByLabel(/^Reason/).fill('Read refunds through the orders API instead.');
    await grace.getByRole('button', { name: 'Deny request' }).click();
    await queue.waitFor({ state: 'detached' });
    await grace.getByText('No request waits for review on any API.', { exact: false }).waitFor();
    await grace.getByRole('table', { name: 'gateway audit trail' }).getByText('Read refunds through the orders API instead.').first().waitFor();
  });
});

journey("adds a plan to llm-chat in its product editor as its owner, and a consumer can ask for it", async (page, url, { browser }) => {
  // carol (team-ml, owns llm-chat) edits the product's YAML on the API's page.
  await signInAs(page, url, 'carol');
  await page.goto(`${url}/catalog/default/api/llm-chat/gateway`);
  await page.getByRole('button', { name: 'Edit', exact: true }).click({ timeout: 30_000 });
  const editor = page.getByRole('dialog', { name: 'Edit gateway product llm-chat' });
  const yaml = editor.getByLabel('product YAML');
  const opened = await yaml.inputValue();
  if (!/^plans:\n {2}- name: standard$/m.test(opened)) throw new Error(`The editor opened without the plans:\n${opened}`);
  // A limit of 0 is refused by the backend, and the editor points at it.
  const withBatch = opened.replace(/^plans:\n/m, 'plans:\n  - name: batch\n    requestsPerMinute: 0\n    models: [chat-small]\n');
  await yaml.fill(withBatch);
  await editor.getByRole('button', { name: 'Save' }).click();
  const line = withBatch.split('\n').indexOf('    requestsPerMinute: 0') + 1;
  await editor.getByText(`spec.plans[0].requestsPerMinute: must be positive (line ${line})`).waitFor();
  await shot(page, '16-gateway-product-editor-refused');
  await yaml.fill(withBatch.replace('requestsPerMinute: 0\n', 'requestsPerMinute: 30\n'));
  await editor.getByRole('button', { name: 'Save' }).click();
  await editor.waitFor({ state: 'hidden' });
  await page.getByRole('table', { name: 'plans' }).getByRole('cell', { name: 'batch', exact: true }).waitFor();
  await page.getByRole('table', { name: 'gateway audit trail' }).getByRole('row', { name: /carol\s+product\.updated\s+plan batch added/ }).waitFor();
  await shot(page, '17-gateway-product-edited');

  // erin (team-web) can ask for the new plan for chat-assistant.
  await asAnotherUser(browser, url, 'erin', async erin => {
    await erin.goto(`${url}/catalog/default/component/chat-assistant/gateway`);
    const access = erin.getByRole('region', { name: 'gateway access to llm-chat' });
    await access.getByRole('button', { name: 'Request access' }).click({ timeout: 30_000 });
    const plans = await erin.getByRole('dialog').getByLabel('Plan', { exact: true }).locator('option').allTextContents();
    if (!plans.some(p => p.startsWith('batch'))) throw new Error(`The request form offers the plans ${plans.join(', ')}, not batch`);
  });
});

journey("takes payments-rest out of the gateway as its owner once nothing uses it, and its trail stays", async (page, url, { browser }) => {
  // alice (team-payments, owns payments-rest) removes its product; the journey before denied its only request.
  await signInAs(page, url, 'alice');
  await page.goto(`${url}/catalog/default/api/payments-rest/gateway`);
  await page.getByRole('button', { name: 'Edit', exact: true }).click({ timeout: 30_000 });
  const editor = page.getByRole('dialog', { name: 'Edit gateway product payments-rest' });
  await editor.getByRole('button', { name: 'Remove from the gateway' }).click();
  await editor.getByLabel('Reason (for the audit trail)').fill('Refunds move to the orders API.');
  await shot(page, '18-gateway-product-removal-confirmed');
  await editor.getByRole('button', { name: 'Remove product' }).click();
  await editor.waitFor({ state: 'hidden' });
  await page.getByText('This API is not offered through the gateway').waitFor();
  // The page says who removed it and why; its usage (none came through the gateway) and trail stay.
  await page.getByText(/^Its gateway product "payments-rest" was removed .* by alice: Refunds move to the orders API\.$/).waitFor();
  await page.getByText('Usage before the removal').waitFor();
  // Its owners can offer it again; the trail says who removed it and why.
  await page.getByRole('button', { name: 'Offer through the gateway' }).waitFor();
  await page.getByRole('table', { name: 'gateway audit trail' }).getByRole('row', { name: /alice\s+product\.deleted\s+had plan standard\s+Refunds move to the orders API\./ }).waitFor();
  await shot(page, '19-gateway-product-removed');

  // erin's chat-assistant no longer offers a request for it.
  await asAnotherUser(browser, url, 'erin', async erin => {
    await erin.goto(`${url}/catalog/default/component/chat-assistant/gateway`);
    await erin.getByText('Also consumed, not through the gateway: api:default/payments-rest.').waitFor({ timeout: 30_000 });
    if ((await erin.getByRole('region', { name: 'gateway access to payments-rest' }).count()) !== 0) throw new Error('chat-assistant still offers access to payments-rest');
  });
});

/** The gateway's example upstreams (examples/gateway/llm-chat.yaml), which `npm start` runs. */
async function startExampleUpstreams() {
  const { startModelServer } = require('../examples/model-server/server.js');
  const started = [];
  for (const [port, version] of [[7101, 'v1'], [7102, 'v2']]) {
    try {
      started.push(await startModelServer({ port, version }));
    } catch (error) {
      // Already running (`npm start` in another terminal) is fine; the journey says if not.
      console.warn(`Example model server ${version} not started on ${port}: ${error.message}`);
    }
  }
  return { close: () => Promise.all(started.map(s => s.close())) };
}

async function main() {
  ensureFrontendBuilt();
  // This run's screenshots only: a failed run's would otherwise sit beside an earlier run's.
  fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const upstreams = await startExampleUpstreams();
  const portal = await startPortal({ port: await freePort() }).catch(async error => {
    await upstreams.close();
    throw error;
  });
  let passed = 0;
  let failed = 0;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    await waitForCatalogUsers(portal.url, ['alice', 'carol', 'erin']);
    for (const { name, fn } of journeys) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const started = Date.now();
      try {
        await fn(page, portal.url, { gatewayUrl: portal.gatewayUrl, browser });
        passed++;
        console.log(`  ✓ ${name} (${Date.now() - started} ms)`);
      } catch (error) {
        failed++;
        console.log(`  ✕ ${name}\n    ${String(error?.message ?? error).split('\n').join('\n    ')}`);
        await shot(page, `failed-${name.replace(/\W+/g, '-')}`).catch(() => {});
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await portal.stop();
    await upstreams.close();
  }
  console.log(`Screenshots in ${path.relative(process.cwd(), SCREENSHOTS)}/`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  if (process.env.E2E_RESULT_FILE) {
    fs.writeFileSync(process.env.E2E_RESULT_FILE, JSON.stringify({ passed, failed }));
  }
  process.exit(failed > 0 ? 1 : 0);
}

main().catch(error => {
  console.error(error);
  console.log('e2e: 0 passed, 1 failed');
  process.exit(1);
});
