#!/usr/bin/env node
/* eslint-disable no-console */
// `npm start`: builds the frontend when its sources changed, starts the
// backend (which serves the built frontend on the same port) and prints the
// URL once the backend answers its readiness probe. It also starts the
// example upstreams of the gateway in this process (examples/model-server v1
// and v2, examples/payments-rest) unless QUARTERDECK_NO_EXAMPLES=1.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ensureFrontendBuilt } = require('./lib/frontend');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);

// The example upstreams; a port already taken is logged and skipped.
async function startExamples() {
  if (process.env.QUARTERDECK_NO_EXAMPLES === '1') return [];
  const { startModelServer } = require('../examples/model-server/server');
  const { startPaymentsServer } = require('../examples/payments-rest/server');
  const examples = [
    ['model-server v1', () => startModelServer({ port: 7101, version: 'v1' })],
    ['model-server v2', () => startModelServer({ port: 7102, version: 'v2' })],
    ['payments-rest', () => startPaymentsServer({ port: 7103 })],
  ];
  const started = [];
  for (const [name, start] of examples) {
    try {
      started.push(`${name} at ${(await start()).url}`);
    } catch (err) {
      console.warn(`Example ${name} not started: ${err.message}`);
    }
  }
  return started;
}

async function waitForReady(url, child, started, examples) {
  while (child.exitCode === null) {
    try {
      const res = await fetch(`${url}/.backstage/health/v1/readiness`);
      if (res.ok) {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        const extra = (await examples).map(line => `\n  example ${line}`);
        console.log(
          `\nQuarterdeck is ready at ${url} (backend up in ${seconds} s)${extra.join('')}\n`,
        );
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
}

ensureFrontendBuilt();
fs.mkdirSync(path.join(root, 'data/sqlite'), { recursive: true });

const started = Date.now();
const child = spawn(
  process.execPath,
  [
    '--enable-source-maps',
    '--require',
    require.resolve('@backstage/cli/config/nodeTransform.cjs'),
    path.join(root, 'packages/backend/src/index.ts'),
    ...args,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { NODE_ENV: 'development', ...process.env },
  },
);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopping = true;
    child.kill(signal);
  });
}
// Killed by a signal we did not pass on (the OOM killer's SIGKILL) is a failure, not a clean exit.
child.on('exit', (code, signal) => process.exit(code ?? (signal && !stopping ? 1 : 0)));
waitForReady(
  process.env.QUARTERDECK_URL ?? 'http://localhost:7007',
  child,
  started,
  startExamples().catch(err => {
    console.warn(`Examples not started: ${err.message}`);
    return [];
  }),
);
