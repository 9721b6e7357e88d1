// bench/rollouts: the canary reconciler with many Rollouts active, on the
// local driver and, in the same run, on kube-apiserver (with kwok's pods).
//   - N Rollouts (1 replica, steps setWeight 50 → pause) deployed, then updated so each pauses
//   - reconciles per second while they progress
//   - promote-to-step: from the promote patch to status.currentStepIndex moving on, p50 / p99
//   - CPU seconds and peak RSS of this process (which runs the reconcilers)
//   node --require @backstage/cli/config/nodeTransform.cjs bench/rollouts/run.ts [rollouts] [promotions]
import { KubeConfig } from '@kubernetes/client-node';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, KubernetesCluster, startLocalCluster, type ClusterClient } from '@quarterdeck/plugin-argo-node';
import { RolloutReconciler } from '../../plugins/argo-backend/src/rollouts/reconciler';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';

const ROLLOUTS = Number(process.argv[2] ?? 500);
const PROMOTIONS = Number(process.argv[3] ?? 100);
const root = path.resolve(__dirname, '../..');
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function rollout(ns: string, i: number, image: string): Rollout {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: `r${i}`, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: `r${i}` } },
      template: { metadata: { labels: { app: `r${i}` } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }] } },
    },
  };
}

async function pool<T>(items: T[], n: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

async function waitAll(client: ClusterClient, ns: string, predicate: (r: Rollout) => boolean, what: string, ms = 600_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const { items } = await argoClients(client).rollouts.list(ns);
    const done = items.filter(predicate).length;
    if (done >= ROLLOUTS) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${done}/${ROLLOUTS} after ${ms} ms`);
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function measure(label: string, client: ClusterClient) {
  const ns = `bench-${Date.now().toString(36)}`;
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  let reconciles = 0;
  const reconciler = new RolloutReconciler(client);
  const original = reconciler.reconcile.bind(reconciler);
  reconciler.reconcile = async key => {
    reconciles++;
    return original(key);
  };
  await reconciler.start();
  const rollouts = argoClients(client).rollouts;
  const indexes = Array.from({ length: ROLLOUTS }, (_, i) => i);
  fs.writeFileSync(`/proc/${process.pid}/clear_refs`, '5');
  const cpu0 = cpuSeconds();
  let t = performance.now();
  await pool(indexes, 16, i => rollouts.apply(rollout(ns, i, 'app:1')).then(() => undefined));
  await waitAll(client, ns, r => r.status?.phase === 'Healthy', 'deploy');
  const deploySeconds = (performance.now() - t) / 1000;
  const r0 = reconciles;
  t = performance.now();
  await pool(indexes, 16, i => rollouts.apply(rollout(ns, i, 'app:2')).then(() => undefined));
  await waitAll(client, ns, r => r.status?.phase === 'Paused' && r.status?.currentStepIndex === 1, 'pause');
  const progressSeconds = (performance.now() - t) / 1000;
  const reconcilesPerSecond = (reconciles - r0) / progressSeconds;

  // Promote some, one at a time, while all the others stay active.
  const latencies: number[] = [];
  for (const i of indexes.slice(0, PROMOTIONS)) {
    const started = performance.now();
    await client.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: ns, name: `r${i}` }, 'merge', { status: { pauseConditions: null } }, { subresource: 'status' });
    for (;;) {
      const r = await rollouts.get(ns, `r${i}`);
      if ((r?.status?.currentStepIndex ?? 0) >= 2) break;
      await new Promise(resolve => setTimeout(resolve, 5));
    }
    latencies.push(performance.now() - started);
  }
  const cpu = cpuSeconds() - cpu0;
  const rss = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${process.pid}/status`, 'utf8'))![1]) / 1024;
  await reconciler.stop();
  await client.delete({ apiVersion: 'v1', kind: 'Namespace', name: ns }).catch(() => undefined);
  return { label, deploySeconds, progressSeconds, reconcilesPerSecond, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu, rss };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-bench-rollouts-'));
  const db = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(dataDir, 'argo.sqlite') }, useNullAsDefault: true });
  const local = await startLocalCluster({ name: 'bench', db, kubelet: { readyDelayMs: 200 } });
  const results = [];
  try {
    console.log(`${ROLLOUTS} Rollouts (1 replica each), ${PROMOTIONS} promotions measured one at a time`);
    results.push(await measure('local driver', local.cluster));
  } finally {
    await local.stop();
    await db.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (!process.env.BENCH_LOCAL_ONLY) {
    const kubeconfig = execFileSync('bash', [path.join(root, 'scripts/test-cluster/cluster.sh'), 'start'], { encoding: 'utf8' }).trim().split('\n').pop()!;
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfig);
      results.push(await measure('kube-apiserver', new KubernetesCluster('bench', kc)));
    } finally {
      execFileSync('bash', [path.join(root, 'scripts/test-cluster/cluster.sh'), 'stop']);
    }
  }
  console.log(`\n${'driver'.padEnd(16)}${'deploy s'.padStart(10)}${'to pause s'.padStart(12)}${'reconciles/s'.padStart(14)}${'promote p50 ms'.padStart(16)}${'p99 ms'.padStart(10)}${'CPU s'.padStart(8)}${'peak RSS MB'.padStart(13)}`);
  for (const r of results) {
    console.log(`${r.label.padEnd(16)}${r.deploySeconds.toFixed(1).padStart(10)}${r.progressSeconds.toFixed(1).padStart(12)}${r.reconcilesPerSecond.toFixed(0).padStart(14)}${r.p50.toFixed(1).padStart(16)}${r.p99.toFixed(1).padStart(10)}${r.cpu.toFixed(1).padStart(8)}${r.rss.toFixed(0).padStart(13)}`);
  }
  if (results.length === 2) console.log(`ratio local/kube promote p99: ${(results[0].p99 / results[1].p99).toFixed(2)}`);
  console.log(`goal promote-to-step p99 < 1000 ms: ${results.every(r => r.p99 < 1000) ? 'met' : 'NOT met'}`);
}

main().then(() => process.exit(0), error => {
  console.error(error);
  process.exit(1);
});
