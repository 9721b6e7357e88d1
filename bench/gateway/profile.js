#!/usr/bin/env node
/* eslint-disable no-console */
// Summarises a V8 .cpuprofile (from BENCH_GATEWAY_CPU_PROF=<dir> npm run bench:gateway):
// self time by function and by package or source file, and the total time
// under a few frames of the data plane.
//   node bench/gateway/profile.js <file.cpuprofile> [top]
'use strict';

const fs = require('node:fs');

const file = process.argv[2];
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));

const place = frame => {
  const url = frame.url || '';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return url;
  const m = /\/work\/main\/(.*)$/.exec(url) || /([^/]+)$/.exec(url);
  return m ? m[1] : `(${frame.functionName || 'native'})`;
};

if (file.endsWith('.heapprofile')) {
  // A sampled allocation profile: bytes allocated (sampled) by function and by place, self only.
  const byFunction = new Map();
  const byPlace = new Map();
  let total = 0;
  const walk = node => {
    const bytes = (node.selfSize ?? 0);
    if (bytes) {
      total += bytes;
      const f = node.callFrame;
      const k = `${f.functionName || '(anonymous)'}  ${place(f)}:${f.lineNumber + 1}`;
      byFunction.set(k, (byFunction.get(k) ?? 0) + bytes);
      byPlace.set(place(f), (byPlace.get(place(f)) ?? 0) + bytes);
    }
    for (const c of node.children ?? []) walk(c);
  };
  walk(profile.head);
  const show = (title, map) => {
    console.log(`\n${title}`);
    for (const [k, b] of [...map].sort((a, c) => c[1] - a[1]).slice(0, top)) console.log(`${((100 * b) / total).toFixed(1).padStart(5)} %  ${k}`);
  };
  console.log(`${file}: sampled allocations (every 64 KB allocated, collected objects included)`);
  show('allocations by package or file', byPlace);
  show('allocations by function', byFunction);
  process.exit(0);
}
const byId = new Map(profile.nodes.map(n => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the samples and their time deltas.
const self = new Map();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = n => place(n.callFrame);
const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);

const byFunction = new Map();
const byPlace = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  add(byFunction, `${n.callFrame.functionName || '(anonymous)'}  ${where(n)}:${n.callFrame.lineNumber + 1}`, us);
  add(byPlace, where(n), us);
}

// Inclusive time under frames whose function name matches.
const inclusive = pattern => {
  let us = 0;
  for (const [id, t] of self) {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (pattern.test(`${n.callFrame.functionName} ${n.callFrame.url}`)) {
        us += t;
        break;
      }
    }
  }
  return us;
};

const pct = us => `${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms`;
const show = (title, map) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
show('self time by package or file', byPlace);
show('self time by function', byFunction);
console.log('\ninclusive time under');
for (const [label, re] of [
  ['(idle)', /^\(idle\) /],
  ['(garbage collector)', /^\(garbage collector\) /],
  ['gateway data plane (dataplane/*.ts, or its bundle)', /gateway-backend\/src\/dataplane\/|\/dataplane\/child\.cjs/],
  ['usage writer / GatewayStore.insertUsage', /insertUsage|usageWriter/],
  ['prom-client', /prom-client/],
  ['undici', /node_modules\/undici\//],
  ['knex', /node_modules\/knex\//],
  ['catalog', /plugin-catalog-backend/],
  ['source maps (prepareStackTrace)', /prepareStackTrace|source-map/],
]) console.log(`${pct(inclusive(re))}  ${label}`);
