#!/usr/bin/env node
/* eslint-disable no-console */
// bench/gateway/waves.js: the streams of one run over time, from the samples
// the Go stream client writes with BENCH_GATEWAY_STREAM_SAMPLES: for each
// window, how many streams started and their first-byte p50, p90 and max.
// A tail made of whole windows of slow streams, after bursts of starts, is
// the proxy falling behind a burst; one spread evenly is steady queueing.
//
//   node bench/gateway/waves.js <samples file> [window ms, 250]
'use strict';

const fs = require('node:fs');

const [file, windowArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/gateway/waves.js <samples file> [window ms]');
  process.exit(2);
}
const windowMs = Number(windowArg ?? 250);
const samples = fs.readFileSync(file, 'utf8').trim().split('\n').map(line => line.split(' ').map(Number)).sort((a, b) => a[0] - b[0]);
const t0 = samples[0][0];
const windows = new Map();
for (const [start, firstByte] of samples) {
  const at = Math.floor((start - t0) / windowMs);
  if (!windows.has(at)) windows.set(at, []);
  windows.get(at).push(firstByte);
}
const last = Math.max(...windows.keys());
const p10 = samples.map(s => s[1]).sort((a, b) => a - b)[Math.floor(samples.length / 10)];
let slow = 0;
let most = 0;
for (let at = 0; at <= last; at++) {
  const xs = (windows.get(at) ?? []).sort((a, b) => a - b);
  const pick = p => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(0) : '-');
  if (xs.length && xs[Math.floor(xs.length / 2)] > 2 * p10) slow++;
  most = Math.max(most, xs.length);
  console.log(`${((at * windowMs) / 1000).toFixed(2).padStart(6)} s  ${String(xs.length).padStart(4)} started  first byte p50 ${pick(0.5).padStart(4)}  p90 ${pick(0.9).padStart(4)}  max ${pick(1).padStart(4)} ms`);
}
console.log(`${samples.length} streams; starts per window: mean ${(samples.length / (last + 1)).toFixed(0)}, most ${most}; ${slow} of ${last + 1} windows with a first-byte p50 over twice the run's p10 (${p10.toFixed(0)} ms)`);
