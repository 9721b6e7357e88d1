import { TestDatabases } from '@backstage/backend-test-utils';
import type { AnalysisTemplate, Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, startLocalCluster, type RunningLocalCluster } from '@quarterdeck/plugin-argo-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnalysisRunReconciler } from './analysis/reconciler';
import { RolloutReconciler } from './reconciler';
import { eventually } from '../__testUtils__/eventually';

jest.setTimeout(60_000);
const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });


describe('a canary with an analysis step, on the local driver', () => {
  let local: RunningLocalCluster;
  let reconcilers: Array<{ start(): Promise<void>; stop(): Promise<void> }>;
  let server: http.Server;
  let base: string;
  const asked: Array<{ url: string; authorization?: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      asked.push({ url: req.url!, authorization: req.headers.authorization });
      res.end(JSON.stringify({ ok: req.url === '/good' || req.url!.startsWith('/good?') }));
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise(resolve => server.close(resolve)));

  beforeEach(async () => {
    local = await startLocalCluster({ name: 's', db: await databases.init('SQLITE_3'), kubelet: { readyDelayMs: 10 } });
    reconcilers = [new RolloutReconciler(local.cluster), new AnalysisRunReconciler(local.cluster)];
    for (const r of reconcilers) await r.start();
    const template: AnalysisTemplate = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name: 'health', namespace: 'default' },
      spec: {
        args: [{ name: 'path' }],
        metrics: [{ name: 'ok', successCondition: 'result == true', provider: { web: { url: `${base}/{{args.path}}`, jsonPath: '{$.ok}' } } }],
      },
    };
    await argoClients(local.cluster).analysisTemplates.apply(template);
  });
  afterEach(async () => {
    for (const r of reconcilers) await r.stop();
    await local.stop();
  });

  const rollout = (image: string, path: string, templateName = 'health'): Rollout => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'payments-api', namespace: 'default' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'payments' } },
      template: { metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { templates: [{ templateName }], args: [{ name: 'path', value: path }] } }, { setWeight: 100 }] } },
    },
  });
  const get = () => argoClients(local.cluster).rollouts.get('default', 'payments-api');

  it('passes the analysis and completes the update on its own', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1', 'good'));
    await eventually('the first deploy', async () => (await get())?.status?.phase === 'Healthy');
    await rollouts.apply(rollout('payments:2', 'good'));
    const done = await eventually('the update to complete', async () => {
      const r = await get();
      const observed = r?.status?.observedGeneration === String(r?.metadata.generation);
      return observed && r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash ? r : undefined;
    });
    expect(done.status?.currentStepIndex).toBe(3);
    const runs = (await argoClients(local.cluster).analysisRuns.list('default')).items;
    expect(runs).toHaveLength(1);
    expect(runs[0].metadata.name).toMatch(/^payments-api-\w+-2-1$/);
    expect(runs[0].metadata.labels).toMatchObject({ 'rollout-type': 'Step', 'step-index': '1', app: 'payments' });
    expect(runs[0].status?.phase).toBe('Successful');
  });

  it("keeps the Rollout's past runs only as far as its history limit", async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    const limited = (image: string): Rollout => ({ ...rollout(image, 'good'), spec: { ...rollout(image, 'good').spec, analysis: { successfulRunHistoryLimit: 1 } } });
    await rollouts.apply(limited('payments:1'));
    let stable = (await eventually('the first deploy', async () => ((await get())?.status?.phase === 'Healthy' ? get() : undefined)))!.status!.stableRS;
    for (const image of ['payments:2', 'payments:3']) {
      await rollouts.apply(limited(image));
      const before = stable;
      stable = (await eventually(`the update to ${image}`, async () => {
        const r = await get();
        return r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash && r.status.stableRS !== before ? r : undefined;
      }, 30_000)).status!.stableRS;
    }
    // Two updates, each with its own successful step analysis (the second does not take the first's run as its own): the older went.
    const runs = await eventually('the older run to go', async () => {
      const items = (await argoClients(local.cluster).analysisRuns.list('default')).items;
      return items.length === 1 ? items : undefined;
    });
    expect(runs[0].metadata.labels?.['rollouts-pod-template-hash']).toBe(stable);
  });

  it("makes one run for a step even when the Rollout's own watch events come late, and does not stop it", async () => {
    // On a real API server the run's ADDED event can start a pass before the Rollout's event of the status naming it.
    for (const r of reconcilers) await r.stop();
    const lagging = new Proxy(local.cluster, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop !== 'watch') return typeof value === 'function' ? value.bind(target) : value;
        return (kind: { kind: string }, options: unknown) => {
          const events = target.watch(kind as never, options as never);
          if (kind.kind !== 'Rollout') return events;
          return (async function* late() {
            for await (const event of events) {
              await new Promise(resolve => setTimeout(resolve, 300));
              yield event;
            }
          })();
        };
      },
    });
    reconcilers = [new RolloutReconciler(lagging), new AnalysisRunReconciler(local.cluster)];
    for (const r of reconcilers) await r.start();
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1', 'good'));
    const first = await eventually('the first deploy', async () => ((await get())?.status?.phase === 'Healthy' ? get() : undefined), 30_000);
    await rollouts.apply(rollout('payments:2', 'good'));
    await eventually('the update to complete', async () => {
      const r = await get();
      return r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash && r.status.stableRS !== first?.status?.stableRS;
    }, 30_000);
    const runs = (await argoClients(local.cluster).analysisRuns.list('default')).items;
    expect(runs.map(r => [r.spec.terminate ?? false, r.status?.phase, r.status?.message ?? ''])).toEqual([[false, 'Successful', '']]);
  });

  it('aborts the update when the analysis fails, naming the metric', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1', 'bad'));
    await eventually('the first deploy', async () => (await get())?.status?.phase === 'Healthy');
    await rollouts.apply(rollout('payments:2', 'bad'));
    const aborted = await eventually('the abort', async () => ((await get())?.status?.phase === 'Degraded' ? get() : undefined), 30_000);
    expect(aborted?.status?.message).toBe(
      'RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: Metric "ok" assessed Failed due to failed (1) > failureLimit (0)',
    );
    expect(aborted?.status?.abort).toBe(true);
  });

  it("gives a step's analysis the pod template hashes, fields of the Rollout and a Secret's key its arguments ask for", async () => {
    const template: AnalysisTemplate = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name: 'versions', namespace: 'default' },
      spec: {
        args: [{ name: 'canary-hash' }, { name: 'stable-hash' }, { name: 'team' }, { name: 'replicas' }, { name: 'was-stable' }, { name: 'token', valueFrom: { secretKeyRef: { name: 'metrics-reader', key: 'token' } } }],
        metrics: [{
          name: 'ok',
          successCondition: 'result == true',
          provider: { web: { url: `${base}/good?canary={{args.canary-hash}}&stable={{args.stable-hash}}&team={{args.team}}&replicas={{args.replicas}}`, headers: [{ key: 'Authorization', value: 'Bearer {{args.token}}' }], jsonPath: '{$.ok}' } },
        }],
      },
    };
    await argoClients(local.cluster).analysisTemplates.apply(template);
    await local.cluster.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'metrics-reader', namespace: 'default' }, data: { token: Buffer.from('s3cret').toString('base64') } });
    const withArgs = (image: string): Rollout => {
      const r = rollout(image, 'good', 'versions');
      r.metadata.labels = { team: 'payments' };
      r.spec.strategy!.canary!.steps![1] = {
        analysis: {
          templates: [{ templateName: 'versions' }],
          args: [
            { name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } },
            { name: 'stable-hash', valueFrom: { podTemplateHashValue: 'Stable' } },
            { name: 'team', valueFrom: { fieldRef: { fieldPath: "metadata.labels['team']" } } },
            { name: 'replicas', valueFrom: { fieldRef: { fieldPath: 'spec.replicas' } } },
            // Empty on the first deploy, which must not make the Rollout InvalidSpec: read when the run is made.
            { name: 'was-stable', valueFrom: { fieldRef: { fieldPath: 'status.stableRS' } } },
          ],
        },
      };
      return r;
    };
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(withArgs('payments:1'));
    const first = await eventually('the first deploy', async () => ((await get())?.status?.phase === 'Healthy' ? get() : undefined));
    asked.length = 0;
    await rollouts.apply(withArgs('payments:2'));
    const done = await eventually('the update to complete', async () => {
      const r = await get();
      return r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash && r.status.currentPodHash !== first!.status!.stableRS ? r : undefined;
    }, 30_000);
    const [run] = (await argoClients(local.cluster).analysisRuns.list('default')).items;
    expect(run.spec.args).toEqual([
      { name: 'canary-hash', value: done.status!.currentPodHash },
      { name: 'stable-hash', value: first!.status!.stableRS },
      { name: 'team', value: 'payments' },
      { name: 'replicas', value: '2' },
      { name: 'was-stable', value: first!.status!.stableRS },
      // A Secret's key stays a reference in the run: read each time it measures, never written into an object.
      { name: 'token', valueFrom: { secretKeyRef: { name: 'metrics-reader', key: 'token' } } },
    ]);
    expect(run.status?.phase).toBe('Successful');
    expect(asked).toEqual([{ url: `/good?canary=${done.status!.currentPodHash}&stable=${first!.status!.stableRS}&team=payments&replicas=2`, authorization: 'Bearer s3cret' }]);
    expect(JSON.stringify(run)).not.toContain('s3cret');
  });

  it("refuses a step analysis whose metric never ends with InvalidSpec, and carries a template's dry-run rules into its runs", async () => {
    const clients = argoClients(local.cluster);
    const template = (name: string, spec: AnalysisTemplate['spec']): AnalysisTemplate => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', metadata: { name, namespace: 'default' }, spec });
    await clients.analysisTemplates.apply(template('forever', { metrics: [{ name: 'ok', interval: '1m', provider: { web: { url: `${base}/good` } } }] }));
    await clients.rollouts.apply(rollout('payments:1', 'good', 'forever'));
    const r = await eventually('InvalidSpec', async () => ((await get())?.status?.phase === 'Degraded' ? get() : undefined));
    expect(r?.status?.message).toBe(
      'InvalidSpec: The Rollout "payments-api" is invalid: spec.strategy.canary.steps[1].analysis.templates: Invalid value: "forever": AnalysisTemplate forever has metric ok which runs indefinitely. Invalid value for count: <nil>',
    );

    // A template that tries its metric out: the run records the failure and the update goes on.
    await clients.analysisTemplates.apply(template('trial', {
      args: [{ name: 'path' }],
      dryRun: [{ metricName: 'o.' }],
      metrics: [{ name: 'ok', successCondition: 'result == true', provider: { web: { url: `${base}/{{args.path}}`, jsonPath: '{$.ok}' } } }],
    }));
    await clients.rollouts.apply(rollout('payments:1', 'bad', 'trial'));
    const first = await eventually('the first deploy', async () => ((await get())?.status?.phase === 'Healthy' ? get() : undefined));
    await clients.rollouts.apply(rollout('payments:2', 'bad', 'trial'));
    await eventually('the update to complete', async () => {
      const now = await get();
      return now?.status?.phase === 'Healthy' && now.status.stableRS === now.status.currentPodHash && now.status.stableRS !== first?.status?.stableRS;
    }, 30_000);
    const [run] = (await clients.analysisRuns.list('default')).items;
    expect(run.spec.dryRun).toEqual([{ metricName: 'o.' }]);
    expect(run.status).toMatchObject({ phase: 'Successful', metricResults: [{ name: 'ok', phase: 'Failed', dryRun: true }] });
  });

  it('refuses an unknown template with InvalidSpec', async () => {
    await argoClients(local.cluster).rollouts.apply(rollout('payments:1', 'good', 'nope'));
    const r = await eventually('InvalidSpec', async () => ((await get())?.status?.phase === 'Degraded' ? get() : undefined));
    expect(r?.status?.message).toBe(
      'InvalidSpec: The Rollout "payments-api" is invalid: spec.strategy.canary.steps[1].analysis.templates: Invalid value: "nope": AnalysisTemplate \'nope\' not found',
    );
  });

  it('marks the Rollout Degraded with InvalidSpec when a template\'s condition does not parse, naming the field', async () => {
    const broken: AnalysisTemplate = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name: 'broken', namespace: 'default' },
      spec: { metrics: [{ name: 'ok', successCondition: 'result == ', provider: { web: { url: `${base}/good` } } }] },
    };
    await argoClients(local.cluster).analysisTemplates.apply(broken);
    await argoClients(local.cluster).rollouts.apply(rollout('payments:1', 'good', 'broken'));
    const r = await eventually('InvalidSpec', async () => ((await get())?.status?.phase === 'Degraded' ? get() : undefined), 20_000);
    expect(r?.status?.message).toMatch(
      /^InvalidSpec: The Rollout "payments-api" is invalid: spec\.strategy\.canary\.steps\[1\]\.analysis\.templates: Invalid value: "broken": AnalysisTemplate 'broken' spec\.metrics\[0\]\.successCondition: /,
    );
  });
});
