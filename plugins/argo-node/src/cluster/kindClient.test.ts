import { TestDatabases } from '@backstage/backend-test-utils';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients } from './kindClient';
import { startLocalCluster } from './local/startLocalCluster';

describe('argoClients', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

  it('reads and writes Rollouts with their status subresource, typed', async () => {
    const { cluster, stop } = await startLocalCluster({ name: 't', db: await databases.init('SQLITE_3') });
    const argo = argoClients(cluster);
    const rollout: Rollout = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'payments-api', namespace: 'default' },
      spec: { replicas: 2, strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } } },
    };
    await argo.rollouts.apply(rollout);
    await argo.rollouts.patchStatus('default', 'payments-api', { phase: 'Paused', currentStepIndex: 1 });
    const read = await argo.rollouts.get('default', 'payments-api');
    expect(read?.spec.strategy?.canary?.steps).toHaveLength(2);
    expect(read?.status).toEqual({ phase: 'Paused', currentStepIndex: 1 });
    expect((await argo.rollouts.list('default')).items.map(r => r.metadata.name)).toEqual(['payments-api']);
    expect(await argo.analysisRuns.get('default', 'none')).toBeUndefined();
    await stop();
  });
});
