#!/usr/bin/env node
/* eslint-disable no-console */
// The example upstream of the `payments-rest` API (examples/catalog/system.yaml):
// create, read and refund payments, in memory, deterministic. Node's standard
// library only (plain node:http, keep-alive).
//
//   node examples/payments-rest/server.js --port 7103
//
// In-process: const { startPaymentsServer } = require('./server');
//             const { url, close } = await startPaymentsServer({ port: 0 });
//
//   GET  /payments                 list (?status=pending|settled|refunded, ?limit=N)
//   GET  /payments/{id}            one payment, 404 when unknown
//   POST /payments                 { amount: integer > 0 (minor units), currency: 'EUR' }
//                                  → 201 settled; 400 naming the invalid field;
//                                  an Idempotency-Key header replays the first answer
//   POST /payments/{id}/refund     → 200 refunded; 409 unless settled
//   GET  /healthz
// Errors: { error: { code, message, field } }.
'use strict';

const http = require('node:http');

const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF'];
const SEED_PAYMENTS = 12;
/** Created payments kept at most (the oldest go first), so a benchmark stays flat. */
const MAX_CREATED = 10_000;
const MAX_BODY = 64 * 1024;

function seedPayments() {
  const payments = new Map();
  for (let i = 1; i <= SEED_PAYMENTS; i++) {
    const id = `pay_${String(i).padStart(6, '0')}`;
    const statuses = ['settled', 'settled', 'pending', 'refunded'];
    payments.set(id, {
      id,
      amount: 1000 + ((i * 7919) % 90000),
      currency: CURRENCIES[i % CURRENCIES.length],
      status: statuses[i % statuses.length],
      createdAt: new Date(Date.UTC(2025, 0, i, 9, 0, 0)).toISOString(),
    });
  }
  return payments;
}

class HttpError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const invalid = (field, message) =>
  new HttpError(400, 'invalid_body', message, field);

function validateNewPayment(body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(null, 'The body must be a JSON object.');
  }
  if (body.amount === undefined) throw invalid('amount', 'amount is required.');
  if (!Number.isInteger(body.amount)) {
    throw invalid(
      'amount',
      'amount must be an integer (minor units, e.g. cents).',
    );
  }
  if (body.amount <= 0 || body.amount > 100_000_000) {
    throw invalid('amount', 'amount must be between 1 and 100000000.');
  }
  if (body.currency === undefined) {
    throw invalid('currency', 'currency is required.');
  }
  if (typeof body.currency !== 'string' || !/^[A-Z]{3}$/.test(body.currency)) {
    throw invalid(
      'currency',
      'currency must be an ISO 4217 code of three capital letters, e.g. EUR.',
    );
  }
  if (body.description !== undefined && typeof body.description !== 'string') {
    throw invalid('description', 'description must be a string.');
  }
  for (const key of Object.keys(body)) {
    if (!['amount', 'currency', 'description'].includes(key)) {
      throw invalid(key, `Unknown field ${key}.`);
    }
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Starts the payments service. Resolves to `{ url, port, server, close() }`.
 * Options: port (7103; 0 picks one), host ('127.0.0.1'), latencyMs (0).
 * Per request: header x-example-fail: 500|429|…|timeout|reset, header
 * x-example-latency-ms: N.
 */
async function startPaymentsServer(options = {}) {
  const { port = 7103, host = '127.0.0.1', latencyMs = 0 } = options;
  const payments = seedPayments();
  const created = []; // ids of created payments, oldest first
  const idempotent = new Map(); // Idempotency-Key → payment id
  let next = SEED_PAYMENTS + 1;

  function send(res, status, body, headers) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  function sendError(res, err) {
    send(
      res,
      err.status,
      {
        error: {
          code: err.code,
          message: err.message,
          field: err.field ?? null,
        },
      },
      err.status === 429 ? { 'retry-after': '1' } : undefined,
    );
  }

  function readJson(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', chunk => {
        size += chunk.length;
        if (size > MAX_BODY) {
          reject(new HttpError(413, 'too_large', 'The body is too large.'));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(invalid(null, 'The body is not valid JSON.'));
        }
      });
      req.on('error', reject);
    });
  }

  function find(id) {
    const payment = payments.get(id);
    if (!payment) {
      throw new HttpError(404, 'not_found', `No payment ${id}.`);
    }
    return payment;
  }

  async function create(req, res) {
    const body = await readJson(req);
    validateNewPayment(body);
    const key = req.headers['idempotency-key'];
    if (key !== undefined && idempotent.has(key)) {
      const previous = payments.get(idempotent.get(key));
      if (previous) {
        send(res, 201, previous, { 'idempotent-replayed': 'true' });
        return;
      }
    }
    const id = `pay_${String(next++).padStart(6, '0')}`;
    const payment = {
      id,
      amount: body.amount,
      currency: body.currency,
      status: 'settled',
      ...(body.description !== undefined && { description: body.description }),
      createdAt: new Date().toISOString(),
    };
    payments.set(id, payment);
    created.push(id);
    if (key !== undefined) idempotent.set(key, id);
    if (created.length > MAX_CREATED) {
      const oldest = created.shift();
      payments.delete(oldest);
    }
    if (idempotent.size > MAX_CREATED) {
      idempotent.delete(idempotent.keys().next().value);
    }
    send(res, 201, payment, { location: `/payments/${id}` });
  }

  function list(res, query) {
    const status = query.get('status');
    if (
      status !== null &&
      !['pending', 'settled', 'refunded'].includes(status)
    ) {
      throw new HttpError(
        400,
        'invalid_query',
        'status must be pending, settled or refunded.',
        'status',
      );
    }
    const limitText = query.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new HttpError(
        400,
        'invalid_query',
        'limit must be an integer between 1 and 1000.',
        'limit',
      );
    }
    const items = [];
    for (const payment of payments.values()) {
      if (items.length >= limit) break;
      if (status === null || payment.status === status) items.push(payment);
    }
    send(res, 200, { items });
  }

  async function handle(req, res) {
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    if (path === '/healthz' || path === '/health') {
      send(res, 200, { status: 'ok' });
      return;
    }
    const injected = req.headers['x-example-fail'];
    if (injected === 'timeout') return;
    if (injected === 'reset') {
      req.socket.destroy();
      return;
    }
    const failStatus = Number(injected);
    if (
      Number.isInteger(failStatus) &&
      failStatus >= 400 &&
      failStatus <= 599
    ) {
      throw new HttpError(
        failStatus,
        'injected',
        `Injected failure ${failStatus}.`,
      );
    }
    const header = req.headers['x-example-latency-ms'];
    const latency = header !== undefined ? Number(header) || 0 : latencyMs;
    if (latency > 0) await sleep(latency);

    const parts = path.split('/'); // ['', 'payments', id?, 'refund'?]
    if (parts[1] !== 'payments' || parts.length > 4) {
      throw new HttpError(404, 'not_found', `No route ${req.method} ${path}.`);
    }
    let id;
    try {
      id = parts[2] ? decodeURIComponent(parts[2]) : undefined;
    } catch {
      // A malformed escape (`%E0`) names no payment.
      throw new HttpError(404, 'not_found', `No payment ${parts[2]}.`);
    }
    const allow = methods => {
      if (!methods.includes(req.method)) {
        res.setHeader('allow', methods.join(', '));
        throw new HttpError(
          405,
          'method_not_allowed',
          `${req.method} is not allowed on ${path}.`,
        );
      }
    };
    if (id === undefined) {
      allow(['GET', 'POST']);
      if (req.method === 'GET') {
        list(res, new URLSearchParams(q === -1 ? '' : req.url.slice(q + 1)));
      } else {
        await create(req, res);
      }
      return;
    }
    if (parts.length === 3) {
      allow(['GET']);
      send(res, 200, find(id));
      return;
    }
    if (parts[3] !== 'refund') {
      throw new HttpError(404, 'not_found', `No route ${req.method} ${path}.`);
    }
    allow(['POST']);
    const payment = find(id);
    if (payment.status !== 'settled') {
      throw new HttpError(
        409,
        'not_refundable',
        `Payment ${id} is ${payment.status}; only settled payments can be refunded.`,
      );
    }
    payment.status = 'refunded';
    send(res, 200, payment);
  }

  const server = http.createServer(
    { keepAlive: true, noDelay: true },
    (req, res) => {
      handle(req, res).catch(err => {
        if (res.headersSent || res.destroyed) return;
        sendError(
          res,
          err instanceof HttpError
            ? err
            : new HttpError(500, 'internal', String(err?.message ?? err)),
        );
      });
    },
  );
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const urlHost =
    address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost}:${address.port}`;
  let closing;
  return {
    url,
    port: address.port,
    server,
    close() {
      closing ??= new Promise(resolve => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

const HELP = `Usage: node examples/payments-rest/server.js [--port 7103] [--host 127.0.0.1] [--latency-ms 0]

Per request: header x-example-fail: 500|429|…|timeout|reset, header x-example-latency-ms: N.
`;

async function main() {
  const argv = process.argv.slice(2);
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(HELP);
      return;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (
      !arg.startsWith('--') ||
      !['port', 'host', 'latency-ms'].includes(name) ||
      value === undefined ||
      (name !== 'host' && !(Number(value) >= 0))
    ) {
      console.error(`invalid argument ${arg}\n\n${HELP}`);
      process.exitCode = 2;
      return;
    }
    flags[name] = value;
  }
  const server = await startPaymentsServer({
    port: flags.port === undefined ? 7103 : Number(flags.port),
    host: flags.host ?? '127.0.0.1',
    latencyMs: Number(flags['latency-ms'] ?? 0),
  });
  console.log(`payments-rest listening on ${server.url}`);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      server.close().then(() => process.exit(0));
    });
  }
}

if (require.main === module) {
  main().catch(err => {
    console.error(err.message);
    process.exit(1);
  });
}

module.exports = { startPaymentsServer };
