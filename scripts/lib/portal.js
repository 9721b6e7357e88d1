// Starts the real portal backend in a child process on a given port and
// database, for integration tests, journeys and benchmarks. One way to start
// it everywhere: the same entry point and app-config.yaml as `npm start`,
// with a small override file on top.
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');

/** A PostgreSQL connection string for tests, from the environment. */
function postgresConnection() {
  return process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
}

function databaseConfig(kind, prefix) {
  if (kind === 'pg') {
    return { client: 'pg', connection: postgresConnection(), prefix };
  }
  return { client: 'better-sqlite3', connection: ':memory:' };
}

async function dropPostgresDatabases(prefix) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: postgresConnection() });
  await client.connect();
  try {
    const { rows } = await client.query(
      'select datname from pg_database where datname like $1',
      [`${prefix}%`],
    );
    for (const { datname } of rows) {
      await client.query(`drop database if exists "${datname}" with (force)`);
    }
  } finally {
    await client.end();
  }
}

/**
 * @param {{ port: number, gatewayPort?: number, database?: 'sqlite' | 'pg', config?: object, env?: object, timeoutMs?: number, entry?: string }} options
 *   entry: another backend entry point (benchmarks start a baseline backend with it).
 *   gatewayPort: the gateway data plane's port (a free one unless given); returned as gatewayUrl.
 */
async function startPortal(options) {
  const {
    port,
    database = 'sqlite',
    config = {},
    env = {},
    timeoutMs = 120_000,
    entry = path.join(root, 'packages/backend/src/index.ts'),
    // The config the test's overrides go over: the development one, or app-config.production.yaml.
    baseConfig = 'app-config.yaml',
  } = options;
  const url = `http://127.0.0.1:${port}`;
  const gatewayPort = options.gatewayPort ?? (await freePort());
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const prefix = `qd_test_${crypto.randomBytes(4).toString('hex')}_`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-portal-'));
  const override = path.join(dir, 'app-config.test.json');
  fs.writeFileSync(
    override,
    JSON.stringify({
      ...config,
      app: { baseUrl: url, ...(config.app ?? {}) },
      gateway: { ...(config.gateway ?? {}), listen: { host: '127.0.0.1', port: gatewayPort } },
      backend: {
        baseUrl: url,
        listen: { port, host: '127.0.0.1' },
        database: databaseConfig(database, prefix),
        ...(config.backend ?? {}),
      },
    }),
  );
  const started = Date.now();
  const logs = [];
  const child = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      '--require',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      entry,
      '--config',
      path.join(root, baseConfig),
      '--config',
      override,
    ],
    {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', d => logs.push(String(d)));
  child.stderr.on('data', d => logs.push(String(d)));

  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (database === 'pg') await dropPostgresDatabases(prefix);
  };

  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`The portal exited with ${child.exitCode}:\n${logs.join('').slice(-4000)}`);
    }
    try {
      const res = await fetch(`${url}/.backstage/health/v1/readiness`);
      if (res.ok) {
        return { url, gatewayUrl, pid: child.pid, child, logs, startupMs: Date.now() - started, stop };
      }
    } catch {
      // not listening yet
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
  await stop();
  throw new Error(`The portal was not ready within ${timeoutMs} ms:\n${logs.join('').slice(-4000)}`);
}

/** Signs in through the development provider (or as guest) and returns a Backstage token. */
async function signIn(url, userName) {
  const provider = userName ? 'dev-user' : 'guest';
  const res = await fetch(`${url}/api/auth/${provider}/refresh`, {
    headers: {
      'x-requested-with': 'XMLHttpRequest',
      ...(userName ? { 'x-quarterdeck-dev-user': userName } : {}),
    },
  });
  if (!res.ok) {
    throw new Error(`Sign-in as ${userName ?? 'guest'} failed: ${res.status} ${await res.text()}`);
  }
  const body = await res.json();
  return body.backstageIdentity.token;
}

/**
 * Waits until the catalog has loaded the given users with their group
 * memberships: sign-in resolves both from the catalog, which a fresh portal
 * loads a few seconds after it is ready.
 */
async function waitForCatalogUsers(url, users, timeoutMs = 60_000) {
  const token = await signIn(url);
  const deadline = Date.now() + timeoutMs;
  for (const user of users) {
    for (;;) {
      const res = await fetch(`${url}/api/catalog/entities/by-name/user/default/${user}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const entity = res.ok ? await res.json() : undefined;
      if (entity?.relations?.some(r => r.type === 'memberOf')) break;
      if (Date.now() > deadline) throw new Error(`${user} did not appear in the catalog`);
      await new Promise(resolve => setTimeout(resolve, 500));
    }
  }
  return token;
}

/** A free TCP port on loopback. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = require('node:net').createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

module.exports = { startPortal, signIn, waitForCatalogUsers, freePort, root };
