import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import { argoCrds, gatewayApiCrds } from '../manifests';
import { GarbageCollector } from './controllers/garbageCollector';
import { LocalKubelet, type KubeletOptions } from './controllers/kubelet';
import { WorkloadControllers } from './controllers/workloads';
import { LocalCluster } from './LocalCluster';
import { LocalObjectStore, migrateLocalObjectStore } from './LocalObjectStore';

export interface StartLocalClusterOptions {
  name: string;
  db: Knex;
  logger?: LoggerService;
  kubelet?: Omit<KubeletOptions, 'logger'>;
  /** Install the Argo CRDs from deploy/crds and the Gateway API's HTTPRoute (the default). */
  installCrds?: boolean;
  watchLogSize?: number;
  bookmarkIntervalMs?: number;
}

export interface RunningLocalCluster {
  cluster: LocalCluster;
  stop(): Promise<void>;
}

/**
 * Opens a local cluster from the database and starts what a real cluster
 * runs beside its API server: the garbage collector, the workload
 * controllers and the kubelet. The Argo CRDs are applied at every start, so
 * an upgraded schema reaches existing clusters.
 */
export async function startLocalCluster(options: StartLocalClusterOptions): Promise<RunningLocalCluster> {
  await migrateLocalObjectStore(options.db);
  const store = new LocalObjectStore(options.db, options.name, options.logger);
  const cluster = await LocalCluster.open({
    name: options.name,
    store,
    watchLogSize: options.watchLogSize,
    bookmarkIntervalMs: options.bookmarkIntervalMs,
    logger: options.logger,
  });
  if (options.installCrds !== false) {
    for (const crd of [...argoCrds(), ...gatewayApiCrds()]) await cluster.apply(crd, { fieldManager: 'quarterdeck-install', force: true });
  }
  const gc = new GarbageCollector(cluster, options.logger);
  const workloads = new WorkloadControllers(cluster, options.logger);
  const kubelet = new LocalKubelet(cluster, { ...options.kubelet, logger: options.logger });
  gc.start();
  kubelet.start();
  await workloads.start();
  return {
    cluster,
    async stop() {
      kubelet.stop();
      gc.stop();
      await workloads.stop();
      await cluster.settle();
    },
  };
}
