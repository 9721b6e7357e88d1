// bench/cluster: the local driver against a real kube-apiserver (with etcd),
// in the same run, on the same figures:
//   - apply rate: 10,000 ConfigMaps by server-side apply, 32 at a time
//   - list with a label selector (100 of 10,000 match): p50 / p99
//   - watch fan-out: 10 watchers, 1,000 updates; delay until all 10 saw each
// and peak RSS of the process holding the objects (the backend process for
// the local driver; kube-apiserver + etcd for the real cluster).
//
//   node --require @backstage/cli/config/nodeTransform.cjs bench/cluster/run.ts [objects]
import { KubeConfig } from '@kubernetes/client-node';
import {
  KubernetesCluster,
  startLocalCluster,
  type ClusterClient,
  type KubeObject,
} from '@quarterdeck/plugin-argo-node';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';

const OBJECTS = Number(process.argv[2] ?? 10_000);
const CONCURRENCY = 32;
const GROUPS = 100;
const LISTS = 50;
const WATCHERS = 10;
const UPDATES = 1_000;
const root = path.resolve(__dirname, '../..');

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function pool<T>(items: T[], n: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

function rssMb(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return sum + Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
  }, 0);
}
function resetPeak(pids: number[]) {
  for (const pid of pids) fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

interface Figures {
  applyPerSecond: number;
  listP50: number;
  listP99: number;
  fanoutP50: number;
  fanoutP99: number;
  peakRssMb: number;
}

async function measure(client: ClusterClient, pids: number[]): Promise<Figures> {
  const ns = `bench-${Date.now().toString(36)}`;
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  resetPeak(pids);
  const configMap = (i: number, value = 'v0'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: ns, labels: { 'bench-group': `g${i % GROUPS}`, tier: i % 2 ? 'api' : 'web' } },
    data: { index: String(i), value, payload: 'x'.repeat(200) },
  });

  const indexes = Array.from({ length: OBJECTS }, (_, i) => i);
  let started = performance.now();
  await pool(indexes, CONCURRENCY, async i => {
    await client.apply(configMap(i), { fieldManager: 'bench' });
  });
  const applyPerSecond = OBJECTS / ((performance.now() - started) / 1000);

  const lists: number[] = [];
  for (let i = 0; i < LISTS; i++) {
    const t = performance.now();
    const page = await client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { labelSelector: `bench-group=g${i % GROUPS}` });
    lists.push(performance.now() - t);
    if (page.items.length !== OBJECTS / GROUPS) throw new Error(`list returned ${page.items.length}`);
  }

  const { resourceVersion } = await client.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { limit: 1 });
  const sent = new Map<string, number>();
  const seenBy = new Map<string, number>();
  const delays: number[] = [];
  const abort = new AbortController();
  const done = Promise.all(Array.from({ length: WATCHERS }, async () => {
    let count = 0;
    for await (const e of client.watch({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { resourceVersion, signal: abort.signal })) {
      if (e.type !== 'MODIFIED') continue;
      const key = `${e.object.metadata.name}/${(e.object as any).data.value}`;
      const n = (seenBy.get(key) ?? 0) + 1;
      seenBy.set(key, n);
      if (n === WATCHERS) delays.push(performance.now() - sent.get(key)!);
      if (++count >= UPDATES) break;
    }
  }));
  started = performance.now();
  await pool(Array.from({ length: UPDATES }, (_, i) => i), CONCURRENCY, async i => {
    sent.set(`cm-${i}/v1`, performance.now());
    await client.apply(configMap(i, 'v1'), { fieldManager: 'bench' });
  });
  await Promise.race([done, new Promise(resolve => setTimeout(resolve, 60_000))]);
  abort.abort();
  const peakRssMb = rssMb(pids);
  await client.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns }).catch(() => undefined);
  return {
    applyPerSecond,
    listP50: percentile(lists, 50),
    listP99: percentile(lists, 99),
    fanoutP50: percentile(delays, 50),
    fanoutP99: percentile(delays, 99),
    peakRssMb,
  };
}

async function main() {
  // The real cluster (built and cached by scripts/test-cluster on first use).
  const kubeconfig = execFileSync('bash', [path.join(root, 'scripts/test-cluster/cluster.sh'), 'start'], { encoding: 'utf8' })
    .trim().split('\n').pop()!;
  const dir = process.env.QUARTERDECK_TEST_CLUSTER_DIR ?? '/tmp/quarterdeck-test-cluster';
  const apiPids = ['kube-apiserver', 'etcd'].map(n => Number(fs.readFileSync(path.join(dir, `${n}.pid`), 'utf8')));

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-bench-cluster-'));
  const db = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(dataDir, 'argo.sqlite') }, useNullAsDefault: true });
  const local = await startLocalCluster({ name: 'bench', db, installCrds: false });

  try {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    console.log(`${OBJECTS} ConfigMaps, ${CONCURRENCY} concurrent writers, ${WATCHERS} watchers, ${UPDATES} updates`);
    const l = await measure(local.cluster, [process.pid]);
    const k = await measure(new KubernetesCluster('bench', kc), apiPids);
    const rows: Array<[string, number, number, boolean]> = [
      ['apply rate (objects/s)', l.applyPerSecond, k.applyPerSecond, true],
      ['list with selector p50 (ms)', l.listP50, k.listP50, false],
      ['list with selector p99 (ms)', l.listP99, k.listP99, false],
      ['watch fan-out to 10, p50 (ms)', l.fanoutP50, k.fanoutP50, false],
      ['watch fan-out to 10, p99 (ms)', l.fanoutP99, k.fanoutP99, false],
      ['peak RSS (MB)', l.peakRssMb, k.peakRssMb, false],
    ];
    console.log(`\n${'figure'.padEnd(32)}${'local'.padStart(12)}${'kube-apiserver'.padStart(16)}${'local/kube'.padStart(12)}  goal`);
    for (const [name, a, b, higherIsBetter] of rows) {
      const ratio = a / b;
      const met = name.startsWith('peak') ? a < 500 : higherIsBetter ? ratio >= 1 : ratio <= 1;
      console.log(`${name.padEnd(32)}${a.toFixed(1).padStart(12)}${b.toFixed(1).padStart(16)}${ratio.toFixed(2).padStart(12)}  ${met ? 'met' : 'NOT met'}`);
    }
    console.log('(kube-apiserver RSS is kube-apiserver + etcd; local RSS is this process, which holds the local driver)');
  } finally {
    await local.stop();
    await db.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
    execFileSync('bash', [path.join(root, 'scripts/test-cluster/cluster.sh'), 'stop']);
  }
}

main().then(
  () => process.exit(0),
  error => {
    console.error(error);
    process.exit(1);
  },
);
