#!/usr/bin/env node
// `npm test`: every package's tests, once, on SQLite.
// `npm run test:pg`: the database and backend integration tests again on
// PostgreSQL (127.0.0.1:5432 unless BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING says otherwise).
// `npm run test:cluster` (scripts/test-cluster/run.sh): the cluster
// conformance suite and the reconcilers against a real kube-apiserver, through `--cluster`.
// `--no-examples`: jest only, without the example upstreams' `node --test` (.ci/run runs and
// counts those itself, so each test runs and counts once).
// Any other arguments go to jest (e.g. a path pattern, --json --outputFile=…).
// The gateway's Redis-backed limits are tested against a real Redis: QUARTERDECK_TEST_REDIS_URL,
// else 127.0.0.1:6379; when neither answers, a temporary `redis-server` (Debian's redis-server)
// is started on a free port for the run and stopped after it.
const { spawn, spawnSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const pg = args.includes('--pg');
const cluster = args.includes('--cluster');
const examples = !pg && !cluster && !args.includes('--no-examples');
const jestArgs = args.filter(a => a !== '--pg' && a !== '--cluster' && a !== '--no-examples');

const env = { ...process.env, CI: 'true' };
if (pg) {
  env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ??=
    'postgresql://postgres@127.0.0.1:5432';
  // The suites that touch a database: migrations, stores, the real backend.
  jestArgs.push('--testPathPatterns', '(database|integration|local\\.conformance)');
}
// Suites that need the real cluster test:cluster starts: the conformance
// suite and `*.kubernetes.test.ts`.
const onCluster = '(kubernetes\\.conformance|\\.kubernetes\\.test)';
if (cluster) {
  // One suite at a time: each reconciler or notifier watches every namespace of the one cluster,
  // so two suites at once would act on each other's objects.
  jestArgs.push('--testPathPatterns', onCluster, '--runInBand');
} else {
  jestArgs.push('--testPathIgnorePatterns', onCluster);
}

/** Whether a Redis answers PING at host:port. */
function redisAnswers(host, port) {
  return new Promise(resolve => {
    const socket = net.connect(port, host);
    const done = answer => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', data => done(data.toString().startsWith('+PONG')));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A Redis for the run: the one configured or on 6379, else a temporary one (returned, to be stopped). */
async function redisForTests() {
  if (env.QUARTERDECK_TEST_REDIS_URL || (await redisAnswers('127.0.0.1', 6379))) return undefined;
  const port = await freePort();
  const redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const failed = new Promise(resolve => redis.once('error', resolve));
  for (let i = 0; i < 50; i++) {
    const error = await Promise.race([failed, new Promise(resolve => setTimeout(() => resolve(undefined), 100))]);
    if (error) {
      console.error(`No Redis answers at 127.0.0.1:6379 and redis-server could not be started (${error.message}): the Redis-backed limit tests will fail. Install Debian's redis-server, or set QUARTERDECK_TEST_REDIS_URL.`);
      return undefined;
    }
    if (await redisAnswers('127.0.0.1', port)) {
      env.QUARTERDECK_TEST_REDIS_URL = `redis://127.0.0.1:${port}`;
      console.log(`No Redis at 127.0.0.1:6379: a temporary redis-server on port ${port} serves this run.`);
      return redis;
    }
  }
  redis.kill();
  console.error('A temporary redis-server did not answer within 5 s: the Redis-backed limit tests will fail.');
  return undefined;
}

async function main() {
  const redis = await redisForTests();
  const result = spawnSync(
    process.execPath,
    [
      require.resolve('@backstage/cli/bin/backstage-cli'),
      'repo',
      'test',
      '--passWithNoTests',
      ...jestArgs,
    ],
    { cwd: root, stdio: 'inherit', env },
  );
  let status = result.status ?? 1;
  // The example upstreams (examples/model-server, examples/payments-rest) are
  // plain Node, outside the workspaces: node's own test runner.
  if (examples) {
    const exampleRun = spawnSync(process.execPath, ['--test', 'examples/model-server/server.test.js', 'examples/payments-rest/server.test.js'], { cwd: root, stdio: 'inherit', env });
    if (exampleRun.status !== 0) status = status || 1;
  }
  redis?.kill();
  process.exit(status);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
