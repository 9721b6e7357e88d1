#!/usr/bin/env node
// `npm test`: every package's tests, once, on SQLite.
// `npm run test:pg`: the database and backend integration tests again on
// PostgreSQL (127.0.0.1:5432 unless BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING says otherwise).
// `npm run test:cluster` (scripts/test-cluster/run.sh): the cluster
// conformance suite and the reconcilers against a real kube-apiserver, through `--cluster`.
// `--no-examples`: jest only, without the example upstreams' `node --test` (.ci/run runs and
// counts those itself, so each test runs and counts once).
// Any other arguments go to jest (e.g. a path pattern, --json --outputFile=…).
const { spawnSync } = require('node:child_process');
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
  const exampleRun = spawnSync(process.execPath, ['--test', 'examples/model-server', 'examples/payments-rest'], { cwd: root, stdio: 'inherit', env });
  if (exampleRun.status !== 0) status = status || 1;
}
process.exit(status);
