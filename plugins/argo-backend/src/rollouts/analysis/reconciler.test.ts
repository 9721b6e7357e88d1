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
  afterAll(() => new Promise(resolve => server.close(resolve)));

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

describe('resolveMetricArgs', () => {
  it('substitutes arguments and refuses unknown or missing ones', () => {
    const metric = { name: 'm', provider: { web: { url: 'http://x/{{ args.service }}/q' } } };
    expect(resolveMetricArgs(metric, [{ name: 'service', value: 'pay"ments' }]).provider).toEqual({ web: { url: 'http://x/pay"ments/q' } });
    expect(() => resolveMetricArgs(metric, [])).toThrow('failed to resolve {{args.service}}');
    expect(() => resolveMetricArgs(metric, [{ name: 'service' }])).toThrow('argument "service" was not supplied');
  });
});
