// Preloaded into the portal backend by bench/gateway/run.ts when
// BENCH_GATEWAY_CPU_PROF=<dir> is set (NODE_OPTIONS=--require …; Node 20 does
// not allow --cpu-prof there). The first SIGUSR2 starts V8's CPU profiler, an
// event-loop delay histogram and a record of GC pauses; the next one writes
// <dir>/backend-<pid>-<n>.cpuprofile and <dir>/backend-<pid>-<n>.json (loop
// delay percentiles, GC pauses by kind, heap spaces) and a sampled allocation
// profile (.heapprofile). So they cover the load only, not start-up.
// Summarise them with bench/gateway/profile.js. With BENCH_GATEWAY_PROFILERS=off
// only the .json is written (no profiler overhead in the figures). SIGTTIN writes
// a heap snapshot of that moment to <dir> (a pause of seconds: not for a measured run).
'use strict';

const fs = require('node:fs');
const inspector = require('node:inspector');
const path = require('node:path');
const { constants, monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks');
const v8 = require('node:v8');

const dir = process.env.BENCH_GATEWAY_CPU_PROF;
const profilers = process.env.BENCH_GATEWAY_PROFILERS !== 'off';
if (dir) {
  const session = new inspector.Session();
  session.connect();
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  // A heap snapshot of the moment (`kill -TTIN <pid>` during a run): what each stream in flight keeps alive.
  process.on('SIGTTIN', () => {
    fs.mkdirSync(dir, { recursive: true });
    v8.writeHeapSnapshot(path.join(dir, `backend-${process.pid}-${Date.now()}.heapsnapshot`));
  });
  let running = false;
  let n = 0;
  let delay;
  let gc;
  let observer;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      gc = {};
      observer = new PerformanceObserver(list => {
        for (const e of list.getEntries()) {
          const kind = kinds[e.detail?.kind ?? e.kind] ?? 'other';
          const g = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0, over10ms: 0 });
          g.count++;
          g.totalMs += e.duration;
          g.maxMs = Math.max(g.maxMs, e.duration);
          if (e.duration > 10) g.over10ms++;
        }
      });
      observer.observe({ entryTypes: ['gc'] });
      delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      if (!profilers) return;
      session.post('Profiler.enable', () => session.post('Profiler.start'));
      session.post('HeapProfiler.enable', () => session.post('HeapProfiler.startSampling', { samplingInterval: 65536, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }));
      return;
    }
    running = false;
    delay.disable();
    observer.disconnect();
    const ms = ns => Math.round(ns / 1e4) / 100;
    const summary = {
      eventLoopDelayMs: { p50: ms(delay.percentile(50)), p90: ms(delay.percentile(90)), p99: ms(delay.percentile(99)), max: ms(delay.max), mean: ms(delay.mean) },
      gc,
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
      heap: v8.getHeapStatistics(),
      spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map(sp => [sp.space_name, { sizeMb: Math.round(sp.space_size / 1048576), usedMb: Math.round(sp.space_used_size / 1048576) }])),
    };
    fs.mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `backend-${process.pid}-${++n}`);
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(summary, null, 2)}\n`);
    if (!profilers) return;
    session.post('Profiler.stop', (error, result) => {
      if (!error) fs.writeFileSync(`${base}.cpuprofile`, JSON.stringify(result.profile));
      session.post('HeapProfiler.stopSampling', (heapError, heap) => {
        if (!heapError) fs.writeFileSync(`${base}.heapprofile`, JSON.stringify(heap.profile));
      });
    });
  });
}
