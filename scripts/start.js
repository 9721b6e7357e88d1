#!/usr/bin/env node
/* eslint-disable no-console */
// `npm start`: builds the frontend when its sources changed, starts the
// backend (which serves the built frontend on the same port) and prints the
// URL once the backend answers its readiness probe.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ensureFrontendBuilt } = require('./lib/frontend');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);

async function waitForReady(url, child, started) {
  while (child.exitCode === null) {
    try {
      const res = await fetch(`${url}/.backstage/health/v1/readiness`);
      if (res.ok) {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        console.log(`\nQuarterdeck is ready at ${url} (backend up in ${seconds} s)\n`);
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
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', code => process.exit(code ?? 0));
waitForReady(process.env.QUARTERDECK_URL ?? 'http://localhost:7007', child, started);
