#!/usr/bin/env node
/* eslint-disable no-console */
// bench/startup: time from process start to the readiness probe answering,
// and the backend's idle RSS 30 s later, for the portal on SQLite files (as
// `npm start` runs it) and for a plain Backstage backend as the baseline, in
// the same run. `node bench/startup/run.js [runs]`.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ensureFrontendBuilt } = require('../../scripts/lib/frontend');
const { startPortal, freePort } = require('../../scripts/lib/portal');

const runs = Number(process.argv[2] ?? 3);
const IDLE_MS = 30_000;

function rssMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  return kb / 1024;
}

async function measure(kind) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-bench-startup-'));
  const portal = await startPortal({
    port: await freePort(),
    entry: kind === 'baseline' ? path.join(__dirname, 'baseline-backend.ts') : undefined,
    config: {
      backend: { database: { client: 'better-sqlite3', connection: { directory: dataDir } } },
      ...(kind === 'baseline' ? { permission: { enabled: false } } : {}),
    },
  });
  try {
    await new Promise(resolve => setTimeout(resolve, IDLE_MS));
    return { startupS: portal.startupMs / 1000, rssMb: rssMb(portal.pid) };
  } finally {
    await portal.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = xs => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;

async function main() {
  ensureFrontendBuilt();
  const results = { portal: [], baseline: [] };
  for (let i = 0; i < runs; i++) {
    for (const kind of ['portal', 'baseline']) {
      const r = await measure(kind);
      results[kind].push(r);
      console.log(`run ${i + 1} ${kind.padEnd(8)} ready in ${r.startupS.toFixed(1)} s, idle RSS ${r.rssMb.toFixed(0)} MB`);
    }
  }
  const row = kind => {
    const s = results[kind].map(r => r.startupS);
    const m = results[kind].map(r => r.rssMb);
    return { s, m, line: `${kind.padEnd(8)} start-up median ${median(s).toFixed(1)} s (${spread(s)}), idle RSS median ${median(m).toFixed(0)} MB (${spread(m)})` };
  };
  const p = row('portal');
  const b = row('baseline');
  console.log(`\n${p.line}\n${b.line}`);
  console.log(`ratio portal/baseline: start-up ${(median(p.s) / median(b.s)).toFixed(2)}×, idle RSS ${(median(p.m) / median(b.m)).toFixed(2)}×`);
  console.log(`goals: start-up < 20 s: ${median(p.s) < 20 ? 'met' : 'NOT met'}; idle RSS < 600 MB: ${median(p.m) < 600 ? 'met' : 'NOT met'}`);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
