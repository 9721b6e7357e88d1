import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { argoClients, startLocalCluster } from '@quarterdeck/plugin-argo-node';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnalysisRunReconciler } from '../rollouts/analysis/reconciler';
import { RolloutReconciler } from '../rollouts/reconciler';
import { seedManifests } from './seed';

jest.setTimeout(60_000);
const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

const rolloutYaml = (image: string) => `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "${image}", env: [{ name: URL, value: "$(QUARTERDECK_BASE_URL)/x" }] }] }
  strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } }
`;

describe('seedManifests', () => {
  it('applies each file once, in order, the second after the first is Healthy', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-seed-'));
    fs.writeFileSync(path.join(dir, '01.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n---${rolloutYaml('web:1')}`);
    fs.writeFileSync(path.join(dir, '02.yaml'), rolloutYaml('web:2'));
    const { cluster, stop } = await startLocalCluster({ name: 'seed', db: await databases.init('SQLITE_3'), kubelet: { readyDelayMs: 10 } });
    const reconciler = new RolloutReconciler(cluster);
    await reconciler.start();
    try {
      const files = [path.join(dir, '01.yaml'), path.join(dir, '02.yaml')];
      await seedManifests({ client: cluster, files, baseUrl: 'http://portal:7007', logger: mockServices.logger.mock() });
      const rollouts = argoClients(cluster).rollouts;
      let web = await rollouts.get('demo', 'web');
      expect((web?.spec.template?.spec as any).containers[0]).toMatchObject({ image: 'web:2', env: [{ name: 'URL', value: 'http://portal:7007/x' }] });
      // The update started a canary from a Healthy first version.
      for (let i = 0; i < 200 && (await rollouts.get('demo', 'web'))?.status?.phase !== 'Paused'; i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      web = await rollouts.get('demo', 'web');
      expect(web?.status?.phase).toBe('Paused');

      // Seeding again (a restart) changes nothing.
      await seedManifests({ client: cluster, files, baseUrl: 'http://portal:7007', logger: mockServices.logger.mock() });
      expect((await rollouts.get('demo', 'web'))?.metadata.generation).toBe(web?.metadata.generation);
    } finally {
      await reconciler.stop();
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves the shipped examples where a newcomer finds them: payments-api paused in its canary, sentiment-model waiting for promotion', async () => {
    // The examples' analyses call the portal's health endpoint.
    const portal = http.createServer((_req, res) => res.end(JSON.stringify({ status: 'ok' })));
    await new Promise<void>(resolve => portal.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(portal.address() as AddressInfo).port}`;
    const { cluster, stop } = await startLocalCluster({ name: 'examples', db: await databases.init('SQLITE_3'), kubelet: { readyDelayMs: 10 } });
    const reconcilers = [new RolloutReconciler(cluster), new AnalysisRunReconciler(cluster)];
    for (const r of reconcilers) await r.start();
    try {
      const dir = path.resolve(__dirname, '../../../../examples/deploy');
      const files = fs.readdirSync(dir).filter(f => f.endsWith('.yaml')).sort().map(f => path.join(dir, f));
      await seedManifests({ client: cluster, files, baseUrl, logger: mockServices.logger.mock() });
      const rollouts = argoClients(cluster).rollouts;
      const settled = async (ns: string, name: string, ok: (r: any) => boolean) => {
        for (let i = 0; i < 400; i++) {
          const r = await rollouts.get(ns, name);
          if (r && ok(r)) return r;
          await new Promise(resolve => setTimeout(resolve, 50));
        }
        return rollouts.get(ns, name);
      };
      const payments = await settled('payments', 'payments-api', r => r.status?.phase === 'Paused');
      expect(payments?.status).toMatchObject({ phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1 });
      const sentiment = await settled('ml', 'sentiment-model', r => r.status?.phase === 'Paused');
      expect(sentiment?.status).toMatchObject({
        phase: 'Paused',
        message: 'BlueGreenPause',
        blueGreen: { prePromotionAnalysisRunStatus: { status: 'Successful' } },
      });
      expect(sentiment?.status?.blueGreen?.previewSelector).toBe(sentiment?.status?.currentPodHash);
      expect(sentiment?.status?.blueGreen?.activeSelector).toBe(sentiment?.status?.stableRS);
    } finally {
      for (const r of reconcilers) await r.stop();
      await stop();
      await new Promise(resolve => portal.close(resolve));
    }
  });
});
