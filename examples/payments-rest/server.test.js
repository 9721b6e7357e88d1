// node --test examples/model-server/server.test.js examples/payments-rest/server.test.js
'use strict';

const { test, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { startPaymentsServer } = require('./server');

let server;

beforeEach(async () => {
  server = await startPaymentsServer({ port: 0 });
});

afterEach(async () => {
  await server.close();
});

async function call(method, path, body, headers = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body:
      body === undefined || typeof body === 'string'
        ? body
        : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

test('healthz', async () => {
  const res = await call('GET', '/healthz');
  assert.equal(res.status, 200);
  assert.equal(res.json.status, 'ok');
});

test('deterministic seed data: list, filter, read', async () => {
  const { status, json } = await call('GET', '/payments');
  assert.equal(status, 200);
  assert.equal(json.items.length, 12);
  assert.deepEqual(json.items[0], {
    id: 'pay_000001',
    amount: 8919,
    currency: 'USD',
    status: 'settled',
    createdAt: '2025-01-01T09:00:00.000Z',
  });
  const other = await startPaymentsServer({ port: 0 });
  try {
    const again = await (await fetch(`${other.url}/payments`)).json();
    assert.deepEqual(again, json);
  } finally {
    await other.close();
  }
  const pending = await call('GET', '/payments?status=pending&limit=2');
  assert.equal(pending.json.items.length, 2);
  for (const p of pending.json.items) assert.equal(p.status, 'pending');
  assert.equal((await call('GET', '/payments?status=lost')).status, 400);
  assert.equal((await call('GET', '/payments?limit=0')).status, 400);

  const one = await call('GET', '/payments/pay_000002');
  assert.equal(one.status, 200);
  assert.equal(one.json.id, 'pay_000002');
  const none = await call('GET', '/payments/pay_999999');
  assert.equal(none.status, 404);
  assert.equal(none.json.error.code, 'not_found');
});

test('POST /payments creates a settled payment', async () => {
  const res = await call('POST', '/payments', {
    amount: 1250,
    currency: 'EUR',
  });
  assert.equal(res.status, 201);
  assert.equal(res.json.id, 'pay_000013');
  assert.equal(res.json.amount, 1250);
  assert.equal(res.json.currency, 'EUR');
  assert.equal(res.json.status, 'settled');
  assert.equal(res.headers.get('location'), '/payments/pay_000013');
  const read = await call('GET', '/payments/pay_000013');
  assert.deepEqual(read.json, res.json);
});

test('POST /payments validates the body (400 naming the field)', async () => {
  const cases = [
    [{ currency: 'EUR' }, 'amount'],
    [{ amount: 12.5, currency: 'EUR' }, 'amount'],
    [{ amount: '100', currency: 'EUR' }, 'amount'],
    [{ amount: -1, currency: 'EUR' }, 'amount'],
    [{ amount: 100 }, 'currency'],
    [{ amount: 100, currency: 'euro' }, 'currency'],
    [{ amount: 100, currency: 'EUR', description: 7 }, 'description'],
    [{ amount: 100, currency: 'EUR', extra: true }, 'extra'],
    [[], null],
    ['{not json', null],
  ];
  for (const [body, field] of cases) {
    const res = await call('POST', '/payments', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.error.code, 'invalid_body');
    assert.equal(res.json.error.field, field, JSON.stringify(body));
  }
});

test('Idempotency-Key replays the first answer', async () => {
  const headers = { 'idempotency-key': 'k1' };
  const a = await call(
    'POST',
    '/payments',
    { amount: 5, currency: 'EUR' },
    headers,
  );
  const b = await call(
    'POST',
    '/payments',
    { amount: 5, currency: 'EUR' },
    headers,
  );
  assert.deepEqual(b.json, a.json);
  assert.equal(b.headers.get('idempotent-replayed'), 'true');
  const c = await call('POST', '/payments', { amount: 5, currency: 'EUR' });
  assert.notEqual(c.json.id, a.json.id);
});

test('POST /payments/{id}/refund', async () => {
  const res = await call('POST', '/payments/pay_000001/refund');
  assert.equal(res.status, 200);
  assert.equal(res.json.status, 'refunded');
  const twice = await call('POST', '/payments/pay_000001/refund');
  assert.equal(twice.status, 409);
  assert.equal(twice.json.error.code, 'not_refundable');
  const pending = await call('POST', '/payments/pay_000002/refund');
  assert.equal(pending.status, 409);
  const none = await call('POST', '/payments/pay_999999/refund');
  assert.equal(none.status, 404);
});

test('unknown routes and methods', async () => {
  assert.equal((await call('GET', '/nothing')).status, 404);
  assert.equal((await call('GET', '/payments/pay_000001/void')).status, 404);
  // A malformed escape names no payment: a 404, not the server's 500.
  const malformed = await call('GET', '/payments/%E0');
  assert.equal(malformed.status, 404);
  assert.equal(malformed.json.error.code, 'not_found');
  const del = await call('DELETE', '/payments/pay_000001');
  assert.equal(del.status, 405);
  assert.equal(del.headers.get('allow'), 'GET');
});

test('failure injection and latency', async () => {
  const e503 = await call('GET', '/payments', undefined, {
    'x-example-fail': '503',
  });
  assert.equal(e503.status, 503);
  assert.equal(e503.json.error.code, 'injected');
  await assert.rejects(
    fetch(`${server.url}/payments`, {
      headers: { 'x-example-fail': 'timeout' },
      signal: AbortSignal.timeout(100),
    }),
  );
  const t0 = Date.now();
  await call('GET', '/payments', undefined, { 'x-example-latency-ms': '50' });
  assert.ok(Date.now() - t0 >= 45);
});
