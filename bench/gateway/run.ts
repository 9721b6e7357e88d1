// bench/gateway: the gateway data plane against direct calls and against
// Portkey's open-source gateway, in one run, in front of the same upstream
// (examples/model-server answering after a fixed 50 ms, in its own process):
//   (a) direct to the upstream
//   (b) Quarterdeck's data plane (the real portal backend: key check from memory,
//       GCRA limit per key, usage rows written in batches to the database)
//   (c) Portkey's gateway (@portkey-ai/gateway from npm, installed under bench/gateway/.portkey)
// and, for the streams only, three reference proxies that say what any proxy adds on this machine:
//   nginx (Debian's, one process, proxy_buffering off), bench/gateway/relay.js (the least a
//   Node.js proxy does: the data plane's transport without the gateway) and relay.js --bytes (the
//   least any Node.js process that forwards a stream does: bytes copied between two sockets)
// Figures, each beside the direct baseline of the same run:
//   - latency at 1,000 RPS (k6 on one core, constant-arrival-rate: no coordinated omission): added p50 / p99
//   - highest rate each sustains with < 0.1 % errors (wrk, connections swept 50 … 2,000)
//   - peak RSS (VmHWM) of the gateway process under load
//   - 1,000 concurrent streams: time to the first byte of the body, added over direct, beside the reference proxies;
//     the streaming upstream and the stream client are bench/gateway/streamload (Go, one thread each), so that
//     the instruments take as little as they can of the two cores they share with the proxy they measure
// The key runs are repeated (default 3) and reported as median (min–max).
//
//   npm run bench:gateway [-- reps]
//   env: BENCH_GATEWAY_SECONDS (30: each 1,000 RPS run), BENCH_GATEWAY_SWEEP_SECONDS (10: each wrk run),
//        BENCH_GATEWAY_STREAM_SECONDS (20), BENCH_GATEWAY_STREAMS (1000 concurrent),
//        BENCH_GATEWAY_STREAM_LOOPS (closed,open: the streams from 1,000 workers, then on a fixed schedule), BENCH_GATEWAY_ONLY (latency,sweep,streams),
//        BENCH_GATEWAY_TARGETS (direct,quarterdeck,portkey,nginx,relay,bytes),
//        BENCH_GATEWAY_STREAM_TOOLS=node (the streams' upstream and client in Node.js instead: examples/model-server
//        and bench/gateway/streams.js, ~0.3 of a core more between them), BENCH_GATEWAY_DB=pg (the portal on PostgreSQL,
//        BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING or postgresql://postgres@127.0.0.1:5432; default SQLite files),
//        BENCH_GATEWAY_CPU_PROF=<dir> (a CPU profile of the portal backend during each of its measured runs,
//        written there; summarise with `node bench/gateway/profile.js <dir>/<file>.cpuprofile`),
//        BENCH_GATEWAY_STREAM_SAMPLES=<prefix> (the Go stream client writes each measured stream's start and
//        first byte to <prefix>.<its pid>; `node bench/gateway/waves.js <file>` shows them over time),
//        BENCH_GATEWAY_GATEWAY_CONFIG='{"singleThreadedGc":false}' (the portal's `gateway` settings, over its own:
//        for back-to-back runs of one setting)
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startPortal, signIn, waitForCatalogUsers, freePort, root } = require('../../scripts/lib/portal');

const REPS = Number(process.argv[2] ?? 3);
const RATE = 1000;
const LATENCY_SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 30);
const WARMUP_SECONDS = 5;
const SWEEP_SECONDS = Number(process.env.BENCH_GATEWAY_SWEEP_SECONDS ?? 10);
const SWEEP_CONNECTIONS = [50, 100, 200, 500, 1000, 2000];
const STREAMS = Number(process.env.BENCH_GATEWAY_STREAMS ?? 1000);
const STREAM_SECONDS = Number(process.env.BENCH_GATEWAY_STREAM_SECONDS ?? 20);
const UPSTREAM_LATENCY_MS = 50;
const TOKEN_DELAY_MS = 50;
const STREAM_MAX_TOKENS = 40;
/** How long a direct stream lasts: the head after the latency, then 41 delays (40 tokens and the finish event). */
const STREAM_MS = UPSTREAM_LATENCY_MS + (STREAM_MAX_TOKENS + 1) * TOKEN_DELAY_MS;
/**
 * closed: STREAMS workers, each starting its next stream when the last ends; open: streams started at
 * STREAMS / STREAM_MS a second whatever the answers do, which keeps STREAMS in flight against direct.
 */
const STREAM_LOOPS = (process.env.BENCH_GATEWAY_STREAM_LOOPS ?? 'closed,open').split(',').filter((l): l is StreamLoop => l === 'closed' || l === 'open');
const ONLY = new Set((process.env.BENCH_GATEWAY_ONLY ?? 'latency,sweep,streams').split(','));
const TARGETS = new Set((process.env.BENCH_GATEWAY_TARGETS ?? 'direct,quarterdeck,portkey,nginx,relay,bytes').split(','));
const STREAM_TOOLS = process.env.BENCH_GATEWAY_STREAM_TOOLS === 'node' ? 'node' : 'go';
const DATABASE = process.env.BENCH_GATEWAY_DB === 'pg' ? 'pg' : 'sqlite';
const GATEWAY_CONFIG: Record<string, unknown> = JSON.parse(process.env.BENCH_GATEWAY_GATEWAY_CONFIG ?? '{}');
const PORTKEY_VERSION = '1.15.2';
const HONO_NODE_SERVER = '1.13.5';
const K6_VERSION = 'v1.8.1';
const NGINX = '/usr/sbin/nginx';

const here = __dirname;
const portkeyDir = path.join(here, '.portkey');
const k6Bin = path.join(os.homedir(), '.cache/quarterdeck/k6', K6_VERSION, 'k6');
const streamloadDir = path.join(here, 'streamload');
/** Built once per version of its source. */
const streamloadBin = path.join(os.homedir(), '.cache/quarterdeck/streamload',
  createHash('sha256').update(fs.readFileSync(path.join(streamloadDir, 'main.go'))).digest('hex').slice(0, 16), 'streamload');
/** The Go instruments run on one thread each, like the Node.js processes they stand beside. */
const ONE_THREAD = { GOMAXPROCS: '1' };
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-bench-gateway-'));

// ------------------------------------------------------------------ helpers

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

function procStat(pid: number | 'self'): number[] {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
}
/** CPU ticks (1/100 s) a process used: user + system. */
const cpuTicks = (pid: number) => {
  const f = procStat(pid);
  return f[11] + f[12];
};
/** This process's ticks plus those of its finished children (k6, wrk, the stream client). */
const selfTicks = () => {
  const f = procStat('self');
  return f[11] + f[12] + f[13] + f[14];
};
/** Busy ticks of the whole machine. */
const machineTicks = () => {
  const [, user, nice, system, , , irq, softirq, steal] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).map(Number);
  return user + nice + system + irq + softirq + steal;
};
/** Ticks the hypervisor gave this machine's vCPUs to someone else (/proc/stat's steal). */
const stealTicks = () => Number(fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/)[8]);
/** A thread's schedstat: ns on a core, ns ready to run with no core free, and times it was put on a core. */
const schedstat = (pid: number, tid: number | string) => fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
/** Nanoseconds a process's threads spent ready to run with no core free. */
const queuedNs = (pid: number) => {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += schedstat(pid, tid)[1];
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns;
};
const statusKb = (pid: number, field: 'VmHWM' | 'VmRSS') =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
/** /proc's kB are KiB; the goal is in MB (10^6 bytes). */
const mbOf = (kb: number) => (kb * 1024) / 1e6;
const resetPeak = (pid: number) => fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');

/** The gateway data plane's own process: the portal's child running dataplane/child (src/dataplane/child.ts, or its bundle <tmp>/quarterdeck-XXXXXX/dataplane/child.cjs when run from sources). */
function dataPlanePid(portalPid: number): number {
  const parentOf = (pid: string) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dataplane/child')) continue;
      // A descendant of the portal (npm start may put a wrapper between them).
      for (let p = parentOf(pid); p > 1; p = parentOf(String(p))) if (p === portalPid) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no gateway data plane process under the portal (pid ${portalPid})`);
}

/** Waits until each process uses under 10 % of a core for a second (at most 30 s, and says so when it gives up). */
async function quiesce(pids: number[]) {
  const deadline = Date.now() + 30_000;
  let busy: number[] = [];
  while (Date.now() < deadline) {
    const before = pids.map(cpuTicks);
    await sleep(1000);
    busy = pids.filter((pid, i) => cpuTicks(pid) - before[i] >= 10);
    if (busy.length === 0) return;
  }
  log(`not quiet after 30 s (pids ${busy.join(', ')} still busy): the next run starts on a busier machine`);
}

/**
 * Accounts where the machine's CPU went during a measurement: our processes
 * and everything else (other work on this shared machine disturbs figures).
 */
function cpuMeter(pids: number[]) {
  const m0 = machineTicks();
  const s0 = selfTicks();
  const p0 = pids.map(cpuTicks);
  const q0 = pids.map(queuedNs);
  const main0 = schedstat(pids[0], pids[0]);
  const st0 = stealTicks();
  const t0 = performance.now();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const ours = pids.map((pid, i) => cpuTicks(pid) - p0[i]);
    const other = machineTicks() - m0 - (selfTicks() - s0) - ours.reduce((a, b) => a + b, 0);
    return {
      seconds,
      pidTicks: ours,
      otherCores: Math.max(0, other) / 100 / seconds,
      /** Per process: ms a second its threads waited for a core. */
      queuedMsPerSecond: pids.map((pid, i) => (queuedNs(pid) - q0[i]) / 1e6 / seconds),
      stealCores: (stealTicks() - st0) / 100 / seconds,
      /** The first process's main thread (a Node.js process's event loop): its wait per second, and per time it was put on a core. */
      mainThread: (() => {
        const [, waited, slices] = schedstat(pids[0], pids[0]).map((v, i) => v - main0[i]);
        return { queuedMsPerSecond: waited / 1e6 / seconds, queuedMsPerSlice: waited / 1e6 / Math.max(1, slices), slicesPerSecond: slices / seconds };
      })(),
    };
  };
}

interface Proc {
  pid: number;
  child: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const logs: string[] = [];
  const child = spawn(command, args, { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    logs.push(String(d));
    if (logs.length > 200) logs.splice(0, logs.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    pid: child.pid!,
    child,
    logs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise(resolve => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const running = new Set<ChildProcess>();

/** Runs a command to its end without blocking this event loop (the children's pipes keep draining). */
function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', d => out.push(d));
    child.stderr.on('data', d => err.push(d));
    running.add(child);
    child.on('error', reject);
    child.on('close', status => {
      running.delete(child);
      resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

async function waitUntil(what: string, probe: () => Promise<boolean>, proc?: Proc, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${what}: the process exited:\n${proc.logs.join('').slice(-3000)}`);
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what}: not ready within ${ms} ms${proc ? `:\n${proc.logs.join('').slice(-3000)}` : ''}`);
}

// ------------------------------------------------------------------- tools

function ensureTools() {
  const missing = [
    ...(spawnSync('wrk', ['--version']).error ? ['wrk'] : []),
    ...(TARGETS.has('nginx') && spawnSync(NGINX, ['-v']).error ? ['nginx-light'] : []),
  ];
  if (missing.length) {
    if (process.getuid?.() !== 0) throw new Error(`missing: apt-get install -y ${missing.join(' ')}`);
    log(`installing ${missing.join(', ')} (apt-get)`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  const go = spawnSync('go', ['version']).error ? '/usr/local/go/bin/go' : 'go';
  // Always: the streaming upstream is started whatever the phases.
  if (STREAM_TOOLS === 'go' && !fs.existsSync(streamloadBin)) {
    log(`building bench/gateway/streamload into ${path.dirname(streamloadBin)} (go build, standard library only)`);
    execFileSync(go, ['build', '-o', streamloadBin, '.'], { cwd: streamloadDir, stdio: 'inherit' });
  }
  if (ONLY.has('latency') && !fs.existsSync(k6Bin)) {
    log(`building k6 ${K6_VERSION} into ${path.dirname(k6Bin)} (go install; a few minutes, once)`);
    execFileSync(go, ['install', `go.k6.io/k6@${K6_VERSION}`], { cwd: os.tmpdir(), env: { ...process.env, GOBIN: path.dirname(k6Bin) }, stdio: 'inherit' });
  }
  const installed = (pkg: string) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(portkeyDir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {
      return undefined;
    }
  };
  if (installed('@portkey-ai/gateway') !== PORTKEY_VERSION || installed('@hono/node-server') !== HONO_NODE_SERVER) {
    log(`installing @portkey-ai/gateway ${PORTKEY_VERSION} into ${path.relative(root, portkeyDir)} (its own package.json, outside the workspaces)`);
    fs.mkdirSync(portkeyDir, { recursive: true });
    fs.writeFileSync(path.join(portkeyDir, 'package.json'), `${JSON.stringify({
      name: 'quarterdeck-bench-portkey',
      private: true,
      description: 'Written by bench/gateway/run.ts: the Portkey gateway baseline, outside the repo\'s workspaces.',
      dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION },
      // Streaming fails with @hono/node-server 1.19.x (TypeError: immutable); see shared/BENCHMARKING.md.
      overrides: { '@hono/node-server': HONO_NODE_SERVER },
    }, null, 2)}\n`);
    // Its postinstall (patch-package) has no patches in the published package.
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: portkeyDir, stdio: 'inherit' });
  }
}

// ------------------------------------------------------------------ targets

interface Target {
  name: 'direct' | 'quarterdeck' | 'portkey' | 'nginx' | 'relay' | 'bytes';
  /** A reference proxy, measured with the streams only. */
  streamsOnly?: boolean;
  url: string;
  headers: Record<string, string>;
  model: string;
  streamUrl: string;
  streamHeaders: Record<string, string>;
  streamModel: string;
  /** The process whose CPU and RSS are the gateway's (the upstream for direct). */
  pid: number;
  streamPid: number;
  /** Processes whose CPU also counts as the gateway's (the portal writing the data plane's usage). */
  supportPids?: number[];
  /** The portal's usage rows not yet in the database, and those it dropped (GET /api/gateway/status). */
  usageRows?: () => Promise<{ waiting: number; dropped: number }>;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * nginx as a streaming reverse proxy: one process (no master, one event loop
 * like the data plane), keep-alive upstream connections, and no buffering in
 * either direction, so each event goes out as it arrives.
 */
function nginxConfig(dir: string, port: number, upstream: string): string {
  return `daemon off;
master_process off;
worker_rlimit_nofile 16384;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream model { server ${upstream}; keepalive 2048; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`;
}

const PROMPT = [{ role: 'user', content: 'Give me a short status report for the harbor.' }];
const chatBody = (model: string) => JSON.stringify({ model, messages: PROMPT, max_tokens: 16 });
const streamBody = (model: string) => ({ model, messages: PROMPT, max_tokens: STREAM_MAX_TOKENS, stream: true });

async function check(t: Target) {
  if (!t.streamsOnly) {
    const res = await fetch(t.url, { method: 'POST', headers: { ...t.headers, 'content-type': 'application/json' }, body: chatBody(t.model) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${t.name}: ${res.status} ${text.slice(0, 300)}`);
  }
  const stream = await fetch(t.streamUrl, { method: 'POST', headers: { ...t.streamHeaders, 'content-type': 'application/json' }, body: JSON.stringify(streamBody(t.streamModel)) });
  const events = (await stream.text()).split('\n\n').filter(e => e.startsWith('data: '));
  if (stream.status !== 200 || events[events.length - 1] !== 'data: [DONE]') throw new Error(`${t.name} stream: ${stream.status} ${events.slice(0, 3).join(' | ')}`);
  return { events: events.length };
}

// ---------------------------------------------------------- 1,000 RPS (k6)

const K6_SCRIPT = `
import http from 'k6/http';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
// From the instant the iteration was scheduled to its answer: an iteration k6 itself starts late
// (its one core busy) is counted late, as a client on a schedule would see it. Date.now() is whole
// milliseconds, so this serves the p99, http_req_duration (sub-millisecond) the p50.
const fromSchedule = new Trend('from_schedule', true);
const headers = JSON.parse(__ENV.HEADERS);
const body = __ENV.BODY;
const rate = Number(__ENV.RATE);
const arrival = { executor: 'constant-arrival-rate', rate, timeUnit: '1s', preAllocatedVUs: 500, maxVUs: 2000 };
export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'p(50)', 'p(90)', 'p(99)', 'p(99.9)', 'max', 'count'],
  scenarios: {
    warmup: { ...arrival, duration: __ENV.WARMUP },
    measure: { ...arrival, duration: __ENV.DURATION, startTime: __ENV.WARMUP },
  },
  // Thresholds make k6 keep these sub-metrics (the measured scenario only) in the summary.
  thresholds: {
    'http_req_duration{scenario:measure}': ['max>=0'],
    'http_req_failed{scenario:measure}': ['rate>=0'],
    'http_reqs{scenario:measure}': ['count>=0'],
    'dropped_iterations{scenario:measure}': ['count>=0'],
    'from_schedule{scenario:measure}': ['max>=0'],
  },
};
export default function () {
  const scheduled = exec.scenario.startTime + (exec.scenario.iterationInTest * 1000) / rate;
  http.post(__ENV.URL, body, { headers, timeout: '10s' });
  fromSchedule.add(Date.now() - scheduled);
}
export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
`;

interface LatencyRun {
  p50: number;
  p90: number;
  p99: number;
  /** p99 from each call's scheduled instant (k6's own lateness included). */
  scheduledP99: number;
  p999: number;
  max: number;
  requests: number;
  failed: number;
  dropped: number;
  cpuMsPerRequest: number;
  otherCores: number;
}

async function latencyRun(t: Target): Promise<LatencyRun> {
  const script = path.join(work, 'latency.js');
  fs.writeFileSync(script, K6_SCRIPT);
  const summary = path.join(work, `k6-${t.name}-${Date.now()}.json`);
  const meter = cpuMeter([t.pid, ...(t.supportPids ?? [])]);
  const env = {
    URL: t.url,
    HEADERS: JSON.stringify({ ...t.headers, 'Content-Type': 'application/json' }),
    BODY: chatBody(t.model),
    RATE: String(RATE),
    WARMUP: `${WARMUP_SECONDS}s`,
    DURATION: `${LATENCY_SECONDS}s`,
    SUMMARY: summary,
  };
  const k6 = await run(k6Bin, ['run', '--quiet', '--no-color', '--no-usage-report', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), script], {
    // One core for k6: at 1,000 RPS it needs about half of one, but its garbage collector's bursts
    // took both for tens of milliseconds, stalling the upstream and the gateway (direct runs too).
    env: { K6_NO_USAGE_REPORT: 'true', GOMAXPROCS: '1' },
  });
  const cpu = meter();
  if (!fs.existsSync(summary)) throw new Error(`k6 failed (${k6.status}):\n${k6.stdout}\n${k6.stderr}`);
  const m = JSON.parse(fs.readFileSync(summary, 'utf8')).metrics;
  const d = m['http_req_duration{scenario:measure}'].values;
  const requests = m['http_reqs{scenario:measure}']?.values.count ?? 0;
  // The whole run's ticks (warm-up included) over the whole run's requests.
  const allRequests = m.http_reqs.values.count;
  return {
    p50: d['p(50)'],
    p90: d['p(90)'],
    p99: d['p(99)'],
    // k6 numbers only the iterations it starts: after a dropped one, every later schedule computed here is early.
    scheduledP99: (m['dropped_iterations{scenario:measure}']?.values.count ?? 0) > 0 ? Number.NaN : m['from_schedule{scenario:measure}'].values['p(99)'],
    p999: d['p(99.9)'],
    max: d.max,
    requests,
    failed: Math.round((m['http_req_failed{scenario:measure}']?.values.rate ?? 0) * requests),
    dropped: m['dropped_iterations{scenario:measure}']?.values.count ?? 0,
    cpuMsPerRequest: (sum(cpu.pidTicks) * 10) / allRequests,
    otherCores: cpu.otherCores,
  };
}

// ----------------------------------------------------- max sustained (wrk)

interface WrkPoint {
  connections: number;
  rate: number;
  errors: number;
  attempts: number;
  errorRate: number;
  latencyP50: string;
  latencyP99: string;
  /** Cores the gateway process (the upstream for direct) used. */
  gatewayCores: number;
  otherCores: number;
  /** Quarterdeck: usage rows not yet in the database as wrk ended, and rows dropped during the run. */
  usage?: { waiting: number; dropped: number };
}

async function wrkRun(t: Target, connections: number): Promise<WrkPoint> {
  const lua = path.join(work, `wrk-${t.name}.lua`);
  const luaString = (s: string) => `[==[${s}]==]`;
  fs.writeFileSync(lua, [
    'wrk.method = "POST"',
    `wrk.body = ${luaString(chatBody(t.model))}`,
    'wrk.headers["Content-Type"] = "application/json"',
    ...Object.entries(t.headers).map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`),
  ].join('\n'));
  const meter = cpuMeter([t.pid, ...(t.supportPids ?? [])]);
  const wrk = await run('wrk', ['-t2', `-c${connections}`, `-d${SWEEP_SECONDS}s`, '--timeout', '2s', '--latency', '-s', lua, t.url]);
  if (wrk.status !== 0) throw new Error(`wrk failed (${wrk.status}): ${wrk.stderr}`);
  const cpu = meter();
  const out = wrk.stdout;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const requests = num(/(\d+) requests in/);
  const seconds = Number(/requests in ([\d.]+)(m?s)/.exec(out)![1]) / (/requests in [\d.]+ms/.test(out) ? 1000 : 1);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0;
  const errors = non2xx + socketErrors;
  const attempts = requests + socketErrors;
  const pct = (p: string) => new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '?';
  return {
    connections,
    rate: (requests - non2xx) / seconds,
    errors,
    attempts,
    errorRate: attempts ? errors / attempts : 1,
    latencyP50: pct('50'),
    latencyP99: pct('99'),
    gatewayCores: sum(cpu.pidTicks) / 100 / cpu.seconds,
    otherCores: cpu.otherCores,
  };
}

/**
 * The targets in another order each repetition (rotated): a run just after an overloaded one
 * (Portkey's) may find the machine still settling, and no target should always be that one.
 */
const inTurn = <T>(xs: T[], rep: number) => xs.map((_, i) => xs[(i + rep - 1) % xs.length]);

/** Every process of the bench: before a run, all are idle again (an overloaded gateway may still drain a backlog). */
let everyPid: number[] = [];

async function sweep(t: Target) {
  const points: WrkPoint[] = [];
  for (const c of SWEEP_CONNECTIONS) {
    await quiesce(everyPid);
    const before = await t.usageRows?.();
    const point = await wrkRun(t, c);
    const after = await t.usageRows?.();
    if (before && after) point.usage = { waiting: after.waiting, dropped: after.dropped - before.dropped };
    points.push(point);
    const usage = point.usage ? `; usage rows not yet written ${point.usage.waiting}, dropped ${point.usage.dropped}` : '';
    log(`  ${t.name.padEnd(12)} ${String(c).padStart(5)} connections: ${point.rate.toFixed(0).padStart(6)} RPS, errors ${(100 * point.errorRate).toFixed(2)} %, p50 ${point.latencyP50}, p99 ${point.latencyP99}; ${t.name === 'direct' ? 'upstream' : 'gateway'} ${point.gatewayCores.toFixed(2)} cores, other load ${point.otherCores.toFixed(2)}${usage}`);
  }
  // Sustained: under 0.1 % errors, and for Quarterdeck its usage written as fast as the calls came —
  // no row dropped, and no more than a second's worth still waiting for the database as the run ended
  // (a backlog written after the run, while the bench waits for quiet, would be work left out of the rate).
  const ok = points.filter(p => p.errorRate < 0.001 && (!p.usage || (p.usage.dropped === 0 && p.usage.waiting <= p.rate)));
  const best = ok.length ? ok.reduce((a, b) => (b.rate > a.rate ? b : a)) : undefined;
  return { points, best: best?.rate ?? 0, bestConnections: best?.connections ?? 0 };
}

// ------------------------------------------------------ 1,000 streams (node)

type StreamLoop = 'closed' | 'open';

interface StreamRun {
  ttfbP50: number;
  ttfbP90: number;
  ttfbP99: number;
  ttfbMax: number;
  totalP50: number;
  streams: number;
  errors: number;
  streamsPerSecond: number;
  eventsPerStream: number;
  /** Cores the proxy process used (the upstream's for direct). */
  proxyCores: number;
  /** Cores its support processes used (the portal writing the data plane's usage). */
  supportCores: number;
  otherCores: number;
  /** Ms a second the proxy's threads were ready to run and waited for a core (the run queue: the other processes, the bench's own). */
  proxyQueuedMsPerSecond: number;
  /** Cores the hypervisor took from this machine during the run (steal). */
  stealCores: number;
  /** The proxy's main thread: ms a second and ms each time it waited for a core, and how often it was put on one. */
  mainThread: { queuedMsPerSecond: number; queuedMsPerSlice: number; slicesPerSecond: number };
  /** Streams in flight, sampled every 10 ms (the Go client only). */
  inFlightMean?: number;
  inFlightMax?: number;
  /** The first byte's two legs (the Go instruments only): request sent to upstream received, and event sent by the upstream to first byte. */
  legs?: { toUpstreamP50: number; toUpstreamP99: number; fromUpstreamP50: number; fromUpstreamP99: number };
  errorSamples: string[];
}

async function streamRun(t: Target, loop: StreamLoop): Promise<StreamRun> {
  const meter = cpuMeter([t.streamPid, ...(t.supportPids ?? [])]);
  const config = {
    url: t.streamUrl,
    headers: t.streamHeaders,
    body: streamBody(t.streamModel),
    concurrency: STREAMS,
    rampMs: 1000,
    warmupMs: 4000,
    durationMs: STREAM_SECONDS * 1000,
    ...(loop === 'open' ? { arrivalsPerSecond: (STREAMS * 1000) / STREAM_MS } : {}),
  };
  if (loop === 'open' && STREAM_TOOLS !== 'go') throw new Error('the open loop needs the Go stream client (BENCH_GATEWAY_STREAM_LOOPS=closed with BENCH_GATEWAY_STREAM_TOOLS=node)');
  const out = STREAM_TOOLS === 'go'
    ? await run(streamloadBin, ['client', JSON.stringify(config)], { env: ONE_THREAD })
    : await run(process.execPath, [path.join(here, 'streams.js'), JSON.stringify(config)]);
  if (out.status !== 0) throw new Error(`the stream client failed (${out.status}): ${out.stderr}`);
  const r = JSON.parse(out.stdout.trim().split('\n').pop()!);
  const cpu = meter();
  return {
    ttfbP50: r.ttfb.p50,
    ttfbP90: r.ttfb.p90,
    ttfbP99: r.ttfb.p99,
    ttfbMax: r.ttfb.max,
    totalP50: r.total.p50,
    streams: r.measured,
    errors: r.errors,
    streamsPerSecond: r.streamsPerSecond,
    eventsPerStream: r.events / Math.max(1, r.measured),
    proxyCores: cpu.pidTicks[0] / 100 / cpu.seconds,
    supportCores: cpu.pidTicks.slice(1).reduce((a, b) => a + b, 0) / 100 / cpu.seconds,
    otherCores: cpu.otherCores,
    proxyQueuedMsPerSecond: cpu.queuedMsPerSecond[0],
    stealCores: cpu.stealCores,
    mainThread: cpu.mainThread,
    inFlightMean: r.inFlight?.mean,
    inFlightMax: r.inFlight?.max,
    legs: r.toUpstream?.count
      ? { toUpstreamP50: r.toUpstream.p50, toUpstreamP99: r.toUpstream.p99, fromUpstreamP50: r.fromUpstream.p50, fromUpstreamP99: r.fromUpstream.p99 }
      : undefined,
    errorSamples: r.errorSamples,
  };
}

// -------------------------------------------------------------------- main

async function main() {
  ensureTools();
  const started = new Date();
  log(`load average before the run: ${os.loadavg().map(x => x.toFixed(2)).join(' ')} (${os.cpus().length} cores)`);
  const procs: Proc[] = [];
  let portal: { url: string; gatewayUrl: string; pid: number; stop(): Promise<void> } | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-bench-gateway-db-'));
  const cleanup = async () => {
    for (const child of running) child.kill('SIGTERM');
    if (portal) await portal.stop().catch(() => undefined);
    portal = undefined;
    for (const p of procs.reverse()) await p.stop();
    procs.length = 0;
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping what the bench started`);
      cleanup().finally(() => process.exit(130));
    });
  }
  try {
    // The upstreams, each in its own process: one answering after 50 ms, one streaming a token every 50 ms after that.
    const fixedPort = await freePort();
    const streamPort = await freePort();
    const modelServer = path.join(root, 'examples/model-server/server.js');
    const fixed = startProcess(process.execPath, [modelServer, '--port', String(fixedPort), '--latency-ms', String(UPSTREAM_LATENCY_MS)]);
    const streaming = STREAM_TOOLS === 'go'
      ? startProcess(streamloadBin, ['upstream', '-port', String(streamPort), '-latency-ms', String(UPSTREAM_LATENCY_MS), '-token-delay-ms', String(TOKEN_DELAY_MS)], { env: ONE_THREAD })
      : startProcess(process.execPath, [modelServer, '--port', String(streamPort), '--latency-ms', String(UPSTREAM_LATENCY_MS), '--token-delay-ms', String(TOKEN_DELAY_MS)]);
    procs.push(fixed, streaming);
    const fixedUrl = `http://127.0.0.1:${fixedPort}`;
    const streamUrl = `http://127.0.0.1:${streamPort}`;
    await waitUntil('upstream', async () => (await fetch(`${fixedUrl}/healthz`)).ok, fixed);
    await waitUntil('streaming upstream', async () => (await fetch(`${streamUrl}/healthz`)).ok, streaming);

    // Portkey, as shared/BENCHMARKING.md runs it.
    const portkeyPort = await freePort();
    const portkey = startProcess(process.execPath, ['node_modules/@portkey-ai/gateway/build/start-server.js', `--port=${portkeyPort}`], { cwd: portkeyDir });
    procs.push(portkey);
    const portkeyUrl = `http://127.0.0.1:${portkeyPort}`;

    // The reference proxies, in front of the streaming upstream.
    const references: Target[] = [];
    const streamTarget = (name: Target['name'], proc: Proc, port: number): Target => ({
      name, streamsOnly: true, url: '', headers: {}, model: '', pid: proc.pid, streamPid: proc.pid,
      streamUrl: `http://127.0.0.1:${port}/v1/chat/completions`, streamHeaders: {}, streamModel: 'chat-large',
    });
    if (TARGETS.has('nginx')) {
      const dir = fs.mkdtempSync(path.join(work, 'nginx-'));
      const port = await freePort();
      fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, `127.0.0.1:${streamPort}`));
      const nginx = startProcess(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')]);
      procs.push(nginx);
      references.push(streamTarget('nginx', nginx, port));
    }
    if (TARGETS.has('relay')) {
      const port = await freePort();
      const relay = startProcess(process.execPath, [path.join(here, 'relay.js'), '--port', String(port), '--upstream', streamUrl]);
      procs.push(relay);
      references.push(streamTarget('relay', relay, port));
    }
    if (TARGETS.has('bytes')) {
      const port = await freePort();
      const bytes = startProcess(process.execPath, [path.join(here, 'relay.js'), '--port', String(port), '--upstream', streamUrl, '--bytes']);
      procs.push(bytes);
      references.push(streamTarget('bytes', bytes, port));
    }

    // The portal, as npm start runs it (SQLite files, so usage rows go to disk, not to this process's memory).
    log('starting the portal (startPortal)');
    const cpuProfDir = process.env.BENCH_GATEWAY_CPU_PROF ? path.resolve(process.env.BENCH_GATEWAY_CPU_PROF) : undefined;
    if (cpuProfDir) fs.mkdirSync(cpuProfDir, { recursive: true });
    if (DATABASE === 'pg') process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ??= 'postgresql://postgres@127.0.0.1:5432';
    portal = await startPortal({
      port: await freePort(),
      gatewayPort: await freePort(),
      database: DATABASE,
      config: {
        ...(DATABASE === 'pg' ? {} : { backend: { database: { client: 'better-sqlite3', connection: { directory: dataDir } } } }),
        ...(Object.keys(GATEWAY_CONFIG).length ? { gateway: GATEWAY_CONFIG } : {}),
      },
      // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload starts and stops V8's profiler on SIGUSR2.
      env: cpuProfDir ? { NODE_OPTIONS: `--require ${path.join(here, 'cpu-profile.js')}`, BENCH_GATEWAY_CPU_PROF: cpuProfDir } : {},
    });
    const { url, gatewayUrl } = portal!;
    const dataPlane = dataPlanePid(portal!.pid);
    log(`gateway data plane: process ${dataPlane} (the portal is ${portal!.pid})`);
    log(`portal ready in ${((portal as any).startupMs / 1000).toFixed(1)} s; creating the product and a key through /api/gateway`);
    await waitForCatalogUsers(url, ['carol', 'erin', 'grace']);
    const carol = await signIn(url, 'carol');
    const erin = await signIn(url, 'erin');
    const api = async (token: string, method: string, p: string, body?: unknown) => {
      const res = await fetch(`${url}/api/gateway${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(`${method} /api/gateway${p}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    // llm-chat, re-PUT by its owner with the bench's upstreams. Clients call a
    // weighted route, as llm-chat's do (so the body's model is rewritten).
    await api(carol, 'PUT', '/products/llm-chat', {
      entityRef: 'api:default/llm-chat',
      spec: {
        kind: 'openai',
        title: 'bench/gateway',
        upstreams: [
          { name: 'fixed-50ms', url: fixedUrl, version: 'v1', timeoutMs: 30_000 },
          { name: 'streaming', url: streamUrl, version: 'v1', timeoutMs: 30_000 },
        ],
        models: [
          { name: 'chat-small-v1', upstream: 'fixed-50ms', upstreamModel: 'chat-small', contextWindow: 8192, inputPricePerMillion: 0.15, outputPricePerMillion: 0.6 },
          { name: 'chat-stream-v1', upstream: 'streaming', upstreamModel: 'chat-large', contextWindow: 8192, inputPricePerMillion: 0.15, outputPricePerMillion: 0.6 },
        ],
        routes: [
          { name: 'chat-small', targets: [{ model: 'chat-small-v1', weight: 100 }] },
          { name: 'chat-stream', targets: [{ model: 'chat-stream-v1', weight: 100 }] },
        ],
        // Every limit on, as the issue asks ("key check, limits and usage logging on") and every example plan
        // has them: requests, tokens per minute, and daily and monthly token and cost budgets — each too high to
        // refuse a call, so that what is measured is their cost (the prompt counted, tokens reserved and settled).
        plans: [{
          name: 'bench', models: ['chat-small', 'chat-stream'],
          requestsPerMinute: 10_000_000, tokensPerMinute: 1_000_000_000_000,
          dailyTokens: 1_000_000_000_000, monthlyTokens: 1_000_000_000_000, dailyCost: 1_000_000_000, monthlyCost: 1_000_000_000,
        }],
      },
    });
    const requested = await api(erin, 'POST', '/key-requests', {
      componentRef: 'component:default/chat-assistant',
      productId: 'llm-chat',
      plan: 'bench',
      justification: 'bench/gateway: load test of the data plane',
    });
    const approved = await api(carol, 'POST', `/key-requests/${requested.id}/approve`, { reason: 'benchmark' });
    const secret: string = approved.issued.secret;

    const portkeyHeaders = (upstream: string) => ({ 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstream}/v1`, authorization: 'Bearer bench' });
    const allTargets: Target[] = [
      { name: 'direct', url: `${fixedUrl}/v1/chat/completions`, headers: {}, model: 'chat-small', streamUrl: `${streamUrl}/v1/chat/completions`, streamHeaders: {}, streamModel: 'chat-large', pid: fixed.pid, streamPid: streaming.pid },
      {
        name: 'quarterdeck',
        url: `${gatewayUrl}/v1/chat/completions`,
        headers: { authorization: `Bearer ${secret}` },
        model: 'chat-small',
        streamUrl: `${gatewayUrl}/v1/chat/completions`,
        streamHeaders: { authorization: `Bearer ${secret}` },
        streamModel: 'chat-stream',
        pid: dataPlane,
        streamPid: dataPlane,
        supportPids: [portal!.pid],
        // Signed in for each read (a token lasts an hour; a long sweep outlives it); a failed read is "unknown", not the end of the run.
        usageRows: async () => api(await signIn(url, 'grace'), 'GET', '/status').then(status => status.usageRows, () => undefined),
      },
      {
        name: 'portkey',
        url: `${portkeyUrl}/v1/chat/completions`,
        headers: portkeyHeaders(fixedUrl),
        model: 'chat-small',
        streamUrl: `${portkeyUrl}/v1/chat/completions`,
        streamHeaders: portkeyHeaders(streamUrl),
        streamModel: 'chat-large',
        pid: portkey.pid,
        streamPid: portkey.pid,
      },
    ];
    await waitUntil('portkey', async () => (await check(allTargets[2]).then(() => true)), portkey);
    for (const t of references) await waitUntil(t.name, () => check(t).then(() => true), procs.find(p => p.pid === t.pid));
    const streamTargets = [...allTargets, ...references].filter(t => TARGETS.has(t.name));
    const targets = streamTargets.filter(t => !t.streamsOnly);
    for (const t of streamTargets) {
      const { events } = await check(t);
      log(`${t.name}: answers (a stream has ${events} events)`);
    }

    const gateways = [dataPlane, portkey.pid, portal!.pid];
    everyPid = [fixed.pid, streaming.pid, ...gateways, ...references.map(t => t.pid)];
    /** With BENCH_GATEWAY_CPU_PROF, the backend's CPU profile covers each of its measured runs. */
    const profiled = async <T>(t: Target, body: () => Promise<T>): Promise<T> => {
      if (!cpuProfDir || t.name !== 'quarterdeck') return body();
      process.kill(dataPlane, 'SIGUSR2');
      try {
        return await body();
      } finally {
        process.kill(dataPlane, 'SIGUSR2');
      }
    };
    await quiesce(everyPid);
    const idleRssMb = { quarterdeck: mbOf(statusKb(dataPlane, 'VmRSS')), portkey: mbOf(statusKb(portkey.pid, 'VmRSS')), portal: mbOf(statusKb(portal!.pid, 'VmRSS')) };
    log(`idle RSS: quarterdeck data plane ${idleRssMb.quarterdeck.toFixed(0)} MB, portkey ${idleRssMb.portkey.toFixed(0)} MB, portal ${idleRssMb.portal.toFixed(0)} MB`);
    const peaks: Record<string, { quarterdeck: number; portkey: number; portal: number }> = {};
    const phase = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
      gateways.forEach(resetPeak);
      const result = await body();
      peaks[name] = { quarterdeck: mbOf(statusKb(dataPlane, 'VmHWM')), portkey: mbOf(statusKb(portkey.pid, 'VmHWM')), portal: mbOf(statusKb(portal!.pid, 'VmHWM')) };
      log(`${name}: peak RSS quarterdeck data plane ${peaks[name].quarterdeck.toFixed(0)} MB, portkey ${peaks[name].portkey.toFixed(0)} MB, portal ${peaks[name].portal.toFixed(0)} MB; load average ${os.loadavg()[0].toFixed(2)}`);
      return result;
    };

    const latency: Record<string, LatencyRun[]> = { direct: [], quarterdeck: [], portkey: [] };
    if (ONLY.has('latency')) {
      await phase('latency', async () => {
        for (let rep = 1; rep <= REPS; rep++) {
          for (const t of inTurn(targets, rep)) {
            await quiesce(everyPid);
            const r = await profiled(t, () => latencyRun(t));
            latency[t.name].push(r);
            log(`1,000 RPS run ${rep} ${t.name.padEnd(12)} p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)}, p99 ${r.p99.toFixed(2)} (from the schedule ${r.scheduledP99.toFixed(2)}), max ${r.max.toFixed(1)}; ${r.requests} requests, ${r.failed} failed, ${r.dropped} dropped; ${r.cpuMsPerRequest.toFixed(3)} ms CPU/request; other load ${r.otherCores.toFixed(2)} cores`);
          }
        }
      });
    }

    const sweeps: Record<string, Array<Awaited<ReturnType<typeof sweep>>>> = { direct: [], quarterdeck: [], portkey: [] };
    if (ONLY.has('sweep')) {
      await phase('sweep', async () => {
        for (let rep = 1; rep <= REPS; rep++) {
          for (const t of inTurn(targets, rep)) {
            const s = await profiled(t, () => sweep(t));
            sweeps[t.name].push(s);
            log(`max sustained run ${rep} ${t.name.padEnd(12)} ${s.best.toFixed(0)} RPS (at ${s.bestConnections} connections)`);
          }
        }
      });
    }

    const emptyRuns = (): Record<string, StreamRun[]> => ({ direct: [], quarterdeck: [], portkey: [], nginx: [], relay: [], bytes: [] });
    const streams: Record<StreamLoop, Record<string, StreamRun[]>> = { closed: emptyRuns(), open: emptyRuns() };
    if (ONLY.has('streams')) {
      await phase('streams', async () => {
        for (let rep = 1; rep <= REPS; rep++) {
          for (const loop of STREAM_LOOPS) {
            for (const t of inTurn(streamTargets, rep)) {
              await quiesce(everyPid);
              const r = await profiled(t, () => streamRun(t, loop));
              streams[loop][t.name].push(r);
              const flight = r.inFlightMean === undefined ? '' : `, ${r.inFlightMean.toFixed(0)} in flight (max ${r.inFlightMax})`;
              const legs = r.legs ? ` [to upstream p50 ${r.legs.toUpstreamP50.toFixed(2)}, p99 ${r.legs.toUpstreamP99.toFixed(2)}; back p50 ${r.legs.fromUpstreamP50.toFixed(2)}, p99 ${r.legs.fromUpstreamP99.toFixed(2)}]` : '';
              log(`${STREAMS} streams ${loop} loop run ${rep} ${t.name.padEnd(12)} first byte p50 ${r.ttfbP50.toFixed(2)} ms, p90 ${r.ttfbP90.toFixed(2)}, p99 ${r.ttfbP99.toFixed(2)}, max ${r.ttfbMax.toFixed(1)}${legs}; ${r.streams} streams (${r.streamsPerSecond.toFixed(0)}/s, ${r.eventsPerStream.toFixed(1)} events each${flight}), ${r.errors} errors${r.errorSamples.length ? ` (${r.errorSamples[0]})` : ''}; ${t.name === 'direct' ? 'upstream' : 'proxy'} ${r.proxyCores.toFixed(2)} cores${t.supportPids ? ` (portal ${r.supportCores.toFixed(2)})` : ''}, other load ${r.otherCores.toFixed(2)}; ${t.name === 'direct' ? 'upstream' : 'proxy'} waited for a core ${r.proxyQueuedMsPerSecond.toFixed(0)} ms/s (main thread ${r.mainThread.queuedMsPerSecond.toFixed(0)} ms/s, ${r.mainThread.queuedMsPerSlice.toFixed(3)} ms each of ${r.mainThread.slicesPerSecond.toFixed(0)}/s), steal ${r.stealCores.toFixed(2)} cores`);
            }
          }
        }
      });
    }

    // ------------------------------------------------------------- report
    const fmt = (xs: number[], digits = 1) => (xs.length ? `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : '—');
    // Against the direct run of the same repetition; none when direct was not among the targets.
    const added = (runs: Record<string, Array<Record<string, any>>>, name: string, field: string) =>
      runs[name].flatMap((r, i) => (runs.direct[i] ? [r[field] - runs.direct[i][field]] : []));
    const rows: Array<[string, string, string, string, string, string]> = [];
    const goals: Array<[string, boolean]> = [];
    if (ONLY.has('latency')) {
      const errPct = (name: string) => latency[name].map(r => (100 * (r.failed + r.dropped)) / Math.max(1, r.requests + r.dropped));
      const addP50 = added(latency, 'quarterdeck', 'p50');
      const addP99 = added(latency, 'quarterdeck', 'p99');
      // Runs with a dropped call have no figure from the schedule (above).
      const addSchedP99 = added(latency, 'quarterdeck', 'scheduledP99').filter(Number.isFinite);
      const pkP50 = added(latency, 'portkey', 'p50');
      const pkP99 = added(latency, 'portkey', 'p99');
      // The goal is read off the larger of the two: a gateway must not look faster because it made k6 start its calls late.
      const p99ForGoal = Math.max(median(addP99), addSchedP99.length ? median(addSchedP99) : -Infinity);
      rows.push(
        ['1,000 RPS: latency p50 (ms)', fmt(latency.direct.map(r => r.p50), 2), fmt(latency.quarterdeck.map(r => r.p50), 2), fmt(latency.portkey.map(r => r.p50), 2), '', ''],
        ['1,000 RPS: latency p99 (ms)', fmt(latency.direct.map(r => r.p99), 2), fmt(latency.quarterdeck.map(r => r.p99), 2), fmt(latency.portkey.map(r => r.p99), 2), '', ''],
        ['1,000 RPS: added p50 (ms)', '—', fmt(addP50, 2), fmt(pkP50, 2), (median(addP50) / median(pkP50)).toFixed(2), `≤ 1 ms: ${median(addP50) <= 1 ? 'met' : 'NOT met'}`],
        ['1,000 RPS: added p99 (ms)', '—', fmt(addP99, 2), fmt(pkP99, 2), (median(addP99) / median(pkP99)).toFixed(2), ''],
        ['1,000 RPS: added p99 from the schedule (ms)', '—', fmt(addSchedP99, 2), fmt(added(latency, 'portkey', 'scheduledP99').filter(Number.isFinite), 2), '', `≤ 5 ms: ${p99ForGoal <= 5 ? 'met' : 'NOT met'} (the larger)`],
        ['1,000 RPS: errors + dropped (%)', fmt(errPct('direct'), 2), fmt(errPct('quarterdeck'), 2), fmt(errPct('portkey'), 2), '', ''],
        ['1,000 RPS: CPU per request (ms)', fmt(latency.direct.map(r => r.cpuMsPerRequest), 3), fmt(latency.quarterdeck.map(r => r.cpuMsPerRequest), 3), fmt(latency.portkey.map(r => r.cpuMsPerRequest), 3),
          (median(latency.quarterdeck.map(r => r.cpuMsPerRequest)) / median(latency.portkey.map(r => r.cpuMsPerRequest))).toFixed(2), ''],
      );
      // Met only with under 0.1 % of the calls failed or not sent: a fast error would otherwise lower the figure.
      const fewErrors = median(errPct('quarterdeck')) < 0.1;
      goals.push(['added p50 ≤ 1 ms at 1,000 RPS (under 0.1 % errors)', fewErrors && median(addP50) <= 1], ['added p99 ≤ 5 ms at 1,000 RPS (under 0.1 % errors; the larger of the two p99s)', fewErrors && p99ForGoal <= 5]);
    }
    if (ONLY.has('sweep')) {
      const best = (name: string) => sweeps[name].map(s => s.best);
      // Portkey sustaining nothing (it died) is a failed bench, not a ratio of infinity.
      const ratio = median(best('portkey')) > 0 ? median(best('quarterdeck')) / median(best('portkey')) : Number.NaN;
      rows.push(['max RPS with < 0.1 % errors', fmt(best('direct'), 0), fmt(best('quarterdeck'), 0), fmt(best('portkey'), 0), ratio.toFixed(2), `≥ 2× Portkey: ${ratio >= 2 ? 'met' : 'NOT met'}`]);
      goals.push(['sustained RPS ≥ 2× Portkey', ratio >= 2]);
    }
    const peakOf = (name: 'quarterdeck' | 'portkey' | 'portal') => Math.max(...Object.values(peaks).map(p => p[name]));
    if (Object.keys(peaks).length) {
      rows.push(['idle RSS before load (MB)', '', idleRssMb.quarterdeck.toFixed(0), idleRssMb.portkey.toFixed(0), (idleRssMb.quarterdeck / idleRssMb.portkey).toFixed(2), '']);
      rows.push(['peak RSS under load (MB)', '', peakOf('quarterdeck').toFixed(0), peakOf('portkey').toFixed(0), (peakOf('quarterdeck') / peakOf('portkey')).toFixed(2), `≤ 300 MB: ${peakOf('quarterdeck') <= 300 ? 'met' : 'NOT met'}`]);
      rows.push(['portal process peak RSS (MB)', '', peakOf('portal').toFixed(0), '', '', 'control plane, usage writes']);
      goals.push(['peak RSS ≤ 300 MB under load (the data plane process)', peakOf('quarterdeck') <= 300]);
    }
    const loopName = { closed: `${STREAMS} workers`, open: `${((STREAMS * 1000) / STREAM_MS).toFixed(0)}/s arrivals` };
    if (ONLY.has('streams')) {
      for (const loop of STREAM_LOOPS) {
        const runs = streams[loop];
        const label = `${STREAMS} streams, ${loop} loop`;
        const addP99 = added(runs, 'quarterdeck', 'ttfbP99');
        rows.push(
          [`${label}: first byte p50 (ms)`, fmt(runs.direct.map(r => r.ttfbP50), 2), fmt(runs.quarterdeck.map(r => r.ttfbP50), 2), fmt(runs.portkey.map(r => r.ttfbP50), 2), '', ''],
          [`${label}: first byte p99 (ms)`, fmt(runs.direct.map(r => r.ttfbP99), 2), fmt(runs.quarterdeck.map(r => r.ttfbP99), 2), fmt(runs.portkey.map(r => r.ttfbP99), 2), '', ''],
          [`${label}: added p50 (ms)`, '—', fmt(added(runs, 'quarterdeck', 'ttfbP50'), 2), fmt(added(runs, 'portkey', 'ttfbP50'), 2), '', ''],
          [`${label}: added p99 (ms)`, '—', fmt(addP99, 2), fmt(added(runs, 'portkey', 'ttfbP99'), 2), (runs.portkey.length ? (median(addP99) / median(added(runs, 'portkey', 'ttfbP99'))).toFixed(2) : ''), `≤ 5 ms: ${median(addP99) <= 5 ? 'met' : 'NOT met'}`],
          [`${label}: errors`, fmt(runs.direct.map(r => r.errors), 0), fmt(runs.quarterdeck.map(r => r.errors), 0), fmt(runs.portkey.map(r => r.errors), 0), '', ''],
        );
        // Met only with under 0.1 % of the streams failed (an error, a status, a stream cut short): failed streams have no first byte in the figure.
        const fewErrors = median(runs.quarterdeck.map(r => (100 * r.errors) / Math.max(1, r.streams))) < 0.1;
        goals.push([`streaming first-byte overhead p99 ≤ 5 ms (${loop} loop, ${loopName[loop]}, under 0.1 % errors)`, fewErrors && median(addP99) <= 5]);
      }
    }

    console.log(`\nbench/gateway: upstream examples/model-server answering after ${UPSTREAM_LATENCY_MS} ms (own process); ${REPS} runs each, median (min–max)`);
    console.log(`1,000 RPS: k6 constant-arrival-rate on one core (GOMAXPROCS=1), ${WARMUP_SECONDS} s warm-up + ${LATENCY_SECONDS} s measured; max RPS: wrk -t2, ${SWEEP_CONNECTIONS.join('/')} connections × ${SWEEP_SECONDS} s, 2 s timeout;`);
    console.log(`streams: ${STREAMS} concurrent (closed loop: ${STREAMS} workers, each starting its next stream when the last ends; open loop: ${loopName.open}, ${STREAMS} in flight against direct, each timed from its scheduled start), each ${STREAM_MAX_TOKENS} tokens at ${TOKEN_DELAY_MS} ms after ${UPSTREAM_LATENCY_MS} ms, ${STREAM_SECONDS} s measured; first byte = first body byte (first event); upstream and client: ${STREAM_TOOLS === 'go' ? 'bench/gateway/streamload (Go, one thread each)' : 'examples/model-server and streams.js (Node.js)'}\n`);
    const widths = [48, 22, 22, 22, 8, 18];
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
    console.log(line(['figure', 'direct', 'quarterdeck', 'portkey', 'qd/pk', 'goal']));
    for (const r of rows) console.log(line(r));
    console.log('\n(quarterdeck CPU and RSS are the data plane process\'s; the portal process — catalog, auth, the control plane writing usage — is shown on its own line.)');
    for (const loop of ONLY.has('streams') ? STREAM_LOOPS : []) {
      const runs = streams[loop];
      if (!runs.direct.length) continue;
      // What any proxy adds here: the data plane beside a C proxy and the least a Node.js proxy does.
      const proxies: Array<[string, string]> = [
        ['quarterdeck', 'quarterdeck data plane'],
        ['nginx', 'nginx (C, one process, no buffering)'],
        ['relay', 'relay.js (Node.js transport, no gateway)'],
        ['bytes', 'relay.js --bytes (Node.js, no HTTP)'],
        ['portkey', 'portkey'],
      ];
      console.log(`\n${STREAMS} streams, ${loop} loop (${loopName[loop]}), each proxy beside direct in the same repetition:`);
      const refLine = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(42) : c.padStart(22))).join('  ').trimEnd();
      console.log(refLine(['proxy', 'added p50 (ms)', 'added p99 (ms)', 'proxy CPU (cores)']));
      for (const [name, label] of proxies) {
        if (!runs[name].length) continue;
        console.log(refLine([label, fmt(added(runs, name, 'ttfbP50'), 2), fmt(added(runs, name, 'ttfbP99'), 2), fmt(runs[name].map(r => r.proxyCores), 2)]));
      }
    }
    console.log(`goals: ${goals.map(([g, ok]) => `${g}: ${ok ? 'met' : 'NOT met'}`).join('; ')}`);

    const resultsDir = path.join(here, 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `gateway-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, `${JSON.stringify({
      started: started.toISOString(),
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavgAtEnd: os.loadavg() },
      settings: { REPS, RATE, LATENCY_SECONDS, WARMUP_SECONDS, SWEEP_SECONDS, SWEEP_CONNECTIONS, STREAMS, STREAM_LOOPS, STREAM_SECONDS, UPSTREAM_LATENCY_MS, TOKEN_DELAY_MS, STREAM_MAX_TOKENS, STREAM_TOOLS, PORTKEY_VERSION, K6_VERSION },
      idleRssMb,
      peaks,
      latency,
      sweeps,
      streams,
      goals: Object.fromEntries(goals),
    }, null, 2)}\n`);
    console.log(`raw results: ${path.relative(root, file)}`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  error => {
    console.error(error);
    process.exit(1);
  },
);
