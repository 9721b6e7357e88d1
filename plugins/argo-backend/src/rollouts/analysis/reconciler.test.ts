import { TestDatabases } from '@backstage/backend-test-utils';
import type { AnalysisRun } from '@quarterdeck/plugin-argo-common';
import { argoClients, startLocalCluster, type RunningLocalCluster } from '@quarterdeck/plugin-argo-node';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnalysisRunReconciler, resolveMetricArgs } from './reconciler';
import { eventually } from '../../__testUtils__/eventually';

jest.setTimeout(30_000);
const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });


describe('AnalysisRunReconciler', () => {
  let local: RunningLocalCluster;
  let reconciler: AnalysisRunReconciler;
  let server: http.Server;
  let base: string;
  const hits: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(req.url!);
      if (req.url!.startsWith('/api/v1/query')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, '0.97'] }] } }));
      } else if (req.url === '/health/good') {
        res.end(JSON.stringify({ data: { ok: true, latency: 120 } }));
      } else if (req.url === '/slow') {
        // Answers only when the test is over.
      } else if (req.url === '/health/bad') {
        res.end(JSON.stringify({ data: { ok: false, latency: 900 } }));
      } else {
        res.statusCode = 503;
        res.end('down');
      }
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise(resolve => {
    server.closeAllConnections();
    server.close(resolve);
  }));

  beforeEach(async () => {
    local = await startLocalCluster({ name: 'a', db: await databases.init('SQLITE_3'), kubelet: { readyDelayMs: 10 } });
    reconciler = new AnalysisRunReconciler(local.cluster);
    await reconciler.start();
  });
  afterEach(async () => {
    await reconciler.stop();
    await local.stop();
  });

  const run = (name: string, spec: AnalysisRun['spec']): AnalysisRun => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AnalysisRun',
    metadata: { name, namespace: 'default' },
    spec,
  });
  const finished = (name: string) =>
    eventually(`${name} to finish`, async () => {
      const r = await argoClients(local.cluster).analysisRuns.get('default', name);
      return ['Successful', 'Failed', 'Error', 'Inconclusive'].includes(r?.status?.phase ?? '') ? r : undefined;
    });

  it('measures a web metric count times at its interval and succeeds', async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('web-ok', {
      args: [{ name: 'path', value: 'good' }],
      metrics: [{
        name: 'health',
        count: 2,
        interval: '100ms',
        successCondition: 'result.ok && result.latency < 500',
        provider: { web: { url: `${base}/health/{{args.path}}`, jsonPath: '{$.data}' } },
      }],
    }));
    const r = await finished('web-ok');
    expect(r.status).toMatchObject({ phase: 'Successful' });
    const result = r.status!.metricResults![0];
    expect(result).toMatchObject({ name: 'health', phase: 'Successful', count: 2, successful: 2 });
    expect(result.measurements!.map(m => m.value)).toEqual(['{"ok":true,"latency":120}', '{"ok":true,"latency":120}']);
  });

  it('fails on a failing measurement, with Argo\'s message', async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('web-bad', {
      metrics: [{ name: 'health', successCondition: 'result.ok', provider: { web: { url: `${base}/health/bad`, jsonPath: '{$.data}' } } }],
    }));
    const r = await finished('web-bad');
    expect(r.status).toMatchObject({ phase: 'Failed', message: 'Metric "health" assessed Failed due to failed (1) > failureLimit (0)' });
  });

  it('reads a Prometheus vector as an array of floats', async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('prom', {
      metrics: [{ name: 'success-rate', successCondition: 'result[0] >= 0.95', provider: { prometheus: { address: base, query: 'sum(rate(ok[1m]))' } } }],
    }));
    const r = await finished('prom');
    expect(r.status!.phase).toBe('Successful');
    expect(r.status!.metricResults![0].measurements![0].value).toBe('[0.97]');
    expect(hits.some(h => h.includes('query=sum%28rate%28ok%5B1m%5D%29%29'))).toBe(true);
  });

  it("ends Error, as Argo does, when an argument's Secret or key is missing", async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('no-secret', {
      args: [{ name: 'token', valueFrom: { secretKeyRef: { name: 'reader', key: 'token' } } }],
      metrics: [{ name: 'health', successCondition: 'result.ok', provider: { web: { url: `${base}/health/good`, headers: [{ key: 'Authorization', value: 'Bearer {{args.token}}' }], jsonPath: '{$.data}' } } }],
    }));
    expect((await finished('no-secret')).status).toMatchObject({ phase: 'Error', message: 'Unable to resolve metric arguments: secrets "reader" not found' });
    await local.cluster.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'reader', namespace: 'default' }, data: { other: 'eA==' } });
    await argoClients(local.cluster).analysisRuns.apply(run('no-key', {
      args: [{ name: 'token', valueFrom: { secretKeyRef: { name: 'reader', key: 'token' } } }],
      metrics: [{ name: 'health', successCondition: 'result.ok', provider: { web: { url: `${base}/health/good`, headers: [{ key: 'Authorization', value: 'Bearer {{args.token}}' }], jsonPath: '{$.data}' } } }],
    }));
    expect((await finished('no-key')).status).toMatchObject({ phase: 'Error', message: "Unable to resolve metric arguments: key 'token' does not exist in secret 'reader'" });
  });

  it("records a dry-run metric's failure without failing the run, its rules matched by regular expression", async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('dry', {
      dryRun: [{ metricName: '.*' }],
      metrics: [{ name: 'health', successCondition: 'result.ok', provider: { web: { url: `${base}/health/bad`, jsonPath: '{$.data}' } } }],
    }));
    const r = await finished('dry');
    expect(r.status).toMatchObject({ phase: 'Successful' });
    expect(r.status!.metricResults![0]).toMatchObject({ name: 'health', phase: 'Failed', dryRun: true });
  });

  it('ends Error, saying why, on a spec Argo refuses: a dry-run rule that names no metric, an interval without a unit', async () => {
    const clients = argoClients(local.cluster);
    await clients.analysisRuns.apply(run('dry-none', {
      dryRun: [{ metricName: 'latency' }],
      metrics: [{ name: 'health', successCondition: 'result.ok', provider: { web: { url: `${base}/health/good`, jsonPath: '{$.data}' } } }],
    }));
    await clients.analysisRuns.apply(run('no-unit', {
      metrics: [{ name: 'health', count: 2, interval: '5', successCondition: 'result.ok', provider: { web: { url: `${base}/health/good`, jsonPath: '{$.data}' } } }],
    }));
    expect((await finished('dry-none')).status).toMatchObject({ phase: 'Error', message: "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)" });
    expect((await finished('no-unit')).status).toMatchObject({ phase: 'Error', message: 'Analysis spec invalid: metrics[0]: invalid interval string: time: missing unit in duration "5"' });
  });

  it("keeps as many measurements as the metric's retention rule says, not 10", async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('kept', {
      measurementRetention: [{ metricName: 'heal', limit: 12 }],
      metrics: [{ name: 'health', count: 13, interval: '20ms', successCondition: 'result.ok', provider: { web: { url: `${base}/health/good`, jsonPath: '{$.data}' } } }],
    }));
    const r = await finished('kept');
    expect(r.status!.metricResults![0]).toMatchObject({ phase: 'Successful', count: 13 });
    expect(r.status!.metricResults![0].measurements).toHaveLength(12);
  });

  it('records nothing for a measurement cut short by its own stop (a shutdown, a lost lease): the next holder measures again', async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('cut-short', {
      metrics: [{ name: 'health', consecutiveErrorLimit: 0, successCondition: 'result.ok', provider: { web: { url: `${base}/slow`, timeoutSeconds: 30 } } }],
    }));
    await eventually('the measurement to be under way', async () => hits.includes('/slow'));
    await reconciler.stop();
    await new Promise(resolve => setTimeout(resolve, 200));
    const r = await argoClients(local.cluster).analysisRuns.get('default', 'cut-short');
    expect(r?.status?.phase).toBeUndefined();
    expect(r?.status?.metricResults).toBeUndefined();
    // Started again (afterEach stops it once more: a second stop is harmless).
    reconciler = new AnalysisRunReconciler(local.cluster);
    await reconciler.start();
  });

  it("keeps a Secret's value out of what the run records, even where a provider's error quotes it", async () => {
    // A token with a line break is not a valid header value: fetch's error quotes the header it was given.
    await local.cluster.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'multiline', namespace: 'default' }, data: { token: Buffer.from('s3cret\nline-two').toString('base64') } });
    await argoClients(local.cluster).analysisRuns.apply(run('leaky', {
      args: [{ name: 'token', valueFrom: { secretKeyRef: { name: 'multiline', key: 'token' } } }],
      metrics: [{ name: 'health', consecutiveErrorLimit: 0, successCondition: 'result.ok', provider: { web: { url: `${base}/health/good`, headers: [{ key: 'Authorization', value: 'Bearer {{args.token}}' }] } } }],
    }));
    const r = await finished('leaky');
    expect(r.status?.phase).toBe('Error');
    const recorded = JSON.stringify(r.status);
    expect(recorded).toContain('*****');
    expect(recorded).not.toContain('s3cret');
  });

  it('errors after consecutive errors beyond the limit', async () => {
    await argoClients(local.cluster).analysisRuns.apply(run('down', {
      metrics: [{ name: 'health', consecutiveErrorLimit: 0, successCondition: 'result.ok', provider: { web: { url: `${base}/down` } } }],
    }));
    const r = await finished('down');
    expect(r.status).toMatchObject({
      phase: 'Error',
      message: 'Metric "health" assessed Error due to consecutiveErrors (1) > consecutiveErrorLimit (0): "Error Message: received non 2xx response code: 503"',
    });
  });
});

describe('AnalysisRunReconciler: job metrics', () => {
  let local: RunningLocalCluster;
  let reconciler: AnalysisRunReconciler;

  beforeEach(async () => {
    // `execute` lets a pod opt into running its command on the host: the only way the local kubelet fails a pod.
    local = await startLocalCluster({ name: 'jobs', db: await databases.init('SQLITE_3'), kubelet: { readyDelayMs: 10, execute: true } });
    reconciler = new AnalysisRunReconciler(local.cluster);
    await reconciler.start();
  });
  afterEach(async () => {
    await reconciler.stop();
    await local.stop();
  });

  const jobMetric = (name: string, podSpec: Record<string, unknown>, extra: Record<string, unknown> = {}, podAnnotations?: Record<string, string>) => ({
    name,
    provider: {
      job: {
        metadata: { labels: { team: 'checks' } },
        spec: {
          backoffLimit: 0,
          ...extra,
          template: { ...(podAnnotations ? { metadata: { annotations: podAnnotations } } : {}), spec: { restartPolicy: 'Never', ...podSpec } },
        },
      },
    },
  });
  const apply = (name: string, metrics: AnalysisRun['spec']['metrics']) =>
    argoClients(local.cluster).analysisRuns.apply({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', metadata: { name, namespace: 'default' }, spec: { metrics } });
  const get = (name: string) => argoClients(local.cluster).analysisRuns.get('default', name);
  const finished = (name: string) =>
    eventually(`${name} to finish`, async () => {
      const r = await get(name);
      return ['Successful', 'Failed', 'Error', 'Inconclusive'].includes(r?.status?.phase ?? '') ? r : undefined;
    });
  const jobsOf = async (uid: string) =>
    (await local.cluster.list({ apiVersion: 'batch/v1', kind: 'Job', namespace: 'default' }, { labelSelector: `analysisrun.argoproj.io/uid=${uid}` })).items;

  it('runs a Job and succeeds when it completes', async () => {
    await apply('job-ok', [jobMetric('smoke', { containers: [{ name: 'check', image: 'busybox', command: ['true'] }] })]);
    const r = await finished('job-ok');
    const uid = r.metadata.uid!;
    expect(r.status).toMatchObject({ phase: 'Successful' });
    expect(r.status!.metricResults![0]).toMatchObject({ name: 'smoke', phase: 'Successful', count: 1, successful: 1 });
    const measurement = r.status!.metricResults![0].measurements![0] as any;
    expect(measurement).toMatchObject({ phase: 'Successful', metadata: { 'job-name': `${uid}.smoke.1`, 'job-namespace': 'default' } });
    expect(measurement.finishedAt).toBeDefined();
    const [job] = await jobsOf(uid);
    expect(job.metadata).toMatchObject({
      name: `${uid}.smoke.1`,
      labels: { team: 'checks', 'analysisrun.argoproj.io/uid': uid },
      annotations: { 'analysisrun.argoproj.io/name': 'job-ok', 'analysisrun.argoproj.io/namespace': 'default', 'analysisrun.argoproj.io/metric-name': 'smoke' },
      ownerReferences: [{ kind: 'AnalysisRun', name: 'job-ok', uid, controller: true }],
    });
    expect((job.status as any).conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Complete', status: 'True' })]));
  });

  it('fails when the Job fails (a host-executed pod that exits non-zero)', async () => {
    await apply('job-bad', [jobMetric('smoke', { containers: [{ name: 'check', image: 'busybox', command: ['sh', '-c', 'exit 3'] }] }, {}, { 'quarterdeck.io/execute': 'host' })]);
    const r = await finished('job-bad');
    expect(r.status).toMatchObject({ phase: 'Failed', message: 'Metric "smoke" assessed Failed due to failed (1) > failureLimit (0)' });
    const measurement = r.status!.metricResults![0].measurements![0];
    expect(measurement.phase).toBe('Failed');
    expect(measurement.message).toBeUndefined();
    const [job] = await jobsOf(r.metadata.uid!);
    expect((job.status as any).conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Failed', reason: 'BackoffLimitExceeded' })]));
  });

  it('terminating the run deletes its running Job and ends Inconclusive, as Argo does', async () => {
    // A suspended Job never starts a pod: it runs until someone ends it.
    await apply('job-stop', [jobMetric('smoke', { containers: [{ name: 'check', image: 'busybox' }] }, { suspend: true })]);
    const started = await eventually('the Job to be running', async () => {
      const r = await get('job-stop');
      const m = r?.status?.metricResults?.[0]?.measurements?.[0];
      return m?.phase === 'Running' && (await jobsOf(r!.metadata.uid!)).length === 1 ? r : undefined;
    });
    await local.cluster.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', namespace: 'default', name: 'job-stop' }, 'merge', { spec: { terminate: true } });
    const r = await finished('job-stop');
    expect(r.status).toMatchObject({
      phase: 'Inconclusive',
      message: 'Metric "smoke" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0): "Error Message: Metric Terminated"',
    });
    expect(r.status!.metricResults![0].measurements![0]).toMatchObject({ phase: 'Inconclusive', message: 'Metric Terminated' });
    await eventually('the Job to be gone', async () => (await jobsOf(started.metadata.uid!)).length === 0);
  });

  it('keeps the last 10 measurements and their Jobs', async () => {
    await apply('job-many', [{ ...jobMetric('smoke', { containers: [{ name: 'check', image: 'busybox' }] }), count: 12, interval: '10ms' }]);
    const r = await finished('job-many');
    const uid = r.metadata.uid!;
    expect(r.status).toMatchObject({ phase: 'Successful' });
    const result = r.status!.metricResults![0];
    expect(result).toMatchObject({ count: 12, successful: 12 });
    expect(result.measurements!.map(m => (m as any).metadata['job-name'])).toEqual(Array.from({ length: 10 }, (_, i) => `${uid}.smoke.${i + 3}`));
    const names = await eventually('old Jobs to be collected', async () => {
      const jobs = await jobsOf(uid);
      return jobs.length === 10 ? jobs.map(j => j.metadata.name) : undefined;
    });
    expect(names.sort((a, b) => a!.localeCompare(b!, undefined, { numeric: true }))).toEqual(Array.from({ length: 10 }, (_, i) => `${uid}.smoke.${i + 3}`));
  });
});

describe('resolveMetricArgs', () => {
  it('substitutes arguments and refuses unknown or missing ones', () => {
    const metric = { name: 'm', provider: { web: { url: 'http://x/{{ args.service }}/q' } } };
    expect(resolveMetricArgs(metric, [{ name: 'service', value: 'pay"ments' }]).provider).toEqual({ web: { url: 'http://x/pay"ments/q' } });
    expect(() => resolveMetricArgs(metric, [])).toThrow('failed to resolve {{args.service}}');
    expect(() => resolveMetricArgs(metric, [{ name: 'service' }])).toThrow('argument "service" was not supplied');
  });
});
