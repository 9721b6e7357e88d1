import {
  coreServices,
  createServiceFactory,
  createServiceRef,
  type DatabaseService,
  type LoggerService,
  type RootConfigService,
} from '@backstage/backend-plugin-api';
import type { Config } from '@backstage/config';
import { KubeConfig } from '@kubernetes/client-node';
import os from 'node:os';
import { InvalidObjectError, UnknownClusterError } from './errors';
import { KubernetesCluster } from './kubernetes/KubernetesCluster';
import { startLocalCluster, type RunningLocalCluster } from './local/startLocalCluster';
import type { ClusterClient } from './types';

/** The domains whose objects Quarterdeck either reconciles itself or observes. */
export type ClusterDomain = 'gitops' | 'rollouts' | 'workflows' | 'events';
export const CLUSTER_DOMAINS: ClusterDomain[] = ['gitops', 'rollouts', 'workflows', 'events'];
/** `reconcile`: our engine owns the objects. `observe`: a real Argo controller does; we read and act. */
export type ClusterMode = 'reconcile' | 'observe';

export interface ClusterInfo {
  name: string;
  driver: 'local' | 'kubernetes';
  /** Where a kubernetes cluster's connection came from. */
  source?: 'config' | 'kubeconfig' | 'in-cluster';
  isDefault: boolean;
  modes: Record<ClusterDomain, ClusterMode>;
}

/** Hands out one ClusterClient per configured cluster. */
export interface ClusterService {
  clusters(): ClusterInfo[];
  /** The named cluster (the default one without a name); UnknownClusterError if none. */
  client(name?: string): Promise<ClusterClient>;
  mode(cluster: string, domain: ClusterDomain): ClusterMode;
}

interface ClusterEntry {
  info: ClusterInfo;
  connect(): Promise<ClusterClient>;
  stop?(): Promise<void>;
}

/** Reads `<domain>: reconcile|observe` from `config.modes` (or from `config` itself for the shared `modes.<cluster>` block). */
function readModes(config: Config | undefined, fallback: ClusterMode): Record<ClusterDomain, ClusterMode> {
  const modes = {} as Record<ClusterDomain, ClusterMode>;
  const block = config?.has('modes') ? config.getConfig('modes') : config;
  for (const domain of CLUSTER_DOMAINS) {
    const value = block?.getOptionalString(domain) ?? fallback;
    if (value !== 'reconcile' && value !== 'observe') {
      throw new InvalidObjectError(`modes.${domain}: must be reconcile or observe, not '${value}'`);
    }
    modes[domain] = value;
  }
  return modes;
}

/** A KubeConfig for one entry of the Kubernetes plugin's `clusterLocatorMethods[type=config].clusters`. */
export function kubeConfigFromBackstageCluster(cluster: Config): KubeConfig {
  const name = cluster.getString('name');
  const authProvider = cluster.getOptionalString('authProvider') ?? 'serviceAccount';
  if (authProvider !== 'serviceAccount') {
    throw new InvalidObjectError(
      `kubernetes cluster '${name}': authProvider '${authProvider}' is not supported by Quarterdeck (use serviceAccount)`,
    );
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{
      name,
      server: cluster.getString('url'),
      caData: cluster.getOptionalString('caData'),
      caFile: cluster.getOptionalString('caFile'),
      skipTLSVerify: cluster.getOptionalBoolean('skipTLSVerify') ?? false,
    }],
    users: [{ name, token: cluster.getOptionalString('serviceAccountToken') }],
    contexts: [{ name, cluster: name, user: name }],
    currentContext: name,
  });
  return kc;
}

export interface ClusterServiceOptions {
  config: RootConfigService;
  logger: LoggerService;
  database: DatabaseService;
}

/** Reads every configured cluster; local clusters start on first use. */
export function createClusterService(options: ClusterServiceOptions): ClusterService & { stop(): Promise<void> } {
  const { config, logger, database } = options;
  const entries = new Map<string, ClusterEntry>();
  const add = (entry: ClusterEntry) => {
    if (entries.has(entry.info.name)) {
      throw new InvalidObjectError(`Two clusters are named '${entry.info.name}'; cluster names must be unique`);
    }
    entries.set(entry.info.name, entry);
  };
  const root = config.getOptionalConfig('quarterdeck.clusters');

  for (const local of root?.getOptionalConfigArray('local') ?? []) {
    const name = local.getString('name');
    let running: Promise<RunningLocalCluster> | undefined;
    add({
      info: { name, driver: 'local', isDefault: false, modes: readModes(local, 'reconcile') },
      connect: async () => {
        running ??= database.getClient().then(db =>
          startLocalCluster({
            name,
            db,
            logger: logger.child({ cluster: name }),
            kubelet: {
              readyDelayMs: local.getOptionalNumber('kubelet.readyDelayMs') ?? 1000,
              execute: local.getOptionalBoolean('execute') ?? false,
            },
          }),
        );
        return (await running).cluster;
      },
      stop: async () => {
        if (running) await (await running).stop();
      },
    });
  }

  for (const method of config.getOptionalConfigArray('kubernetes.clusterLocatorMethods') ?? []) {
    if (method.getString('type') !== 'config') continue;
    for (const cluster of method.getOptionalConfigArray('clusters') ?? []) {
      const name = cluster.getString('name');
      const kc = kubeConfigFromBackstageCluster(cluster);
      add({
        // Modes live under quarterdeck.clusters.modes.<name>, not in the Kubernetes plugin's config.
        info: { name, driver: 'kubernetes', source: 'config', isDefault: false, modes: readModes(root?.getOptionalConfig('modes')?.getOptionalConfig(name), 'observe') },
        connect: async () => new KubernetesCluster(name, kc),
      });
    }
  }

  for (const file of root?.getOptionalConfigArray('kubeconfig') ?? []) {
    const name = file.getString('name');
    const path = file.getString('path').replace(/^~(?=$|\/)/, os.homedir());
    const context = file.getOptionalString('context');
    add({
      info: { name, driver: 'kubernetes', source: 'kubeconfig', isDefault: false, modes: readModes(file, 'observe') },
      connect: async () => {
        const kc = new KubeConfig();
        kc.loadFromFile(path);
        if (context) kc.setCurrentContext(context);
        return new KubernetesCluster(name, kc);
      },
    });
  }

  const inCluster = root?.getOptionalConfig('inCluster');
  if (inCluster) {
    const name = inCluster.getOptionalString('name') ?? 'in-cluster';
    add({
      info: { name, driver: 'kubernetes', source: 'in-cluster', isDefault: false, modes: readModes(inCluster, 'observe') },
      connect: async () => {
        const kc = new KubeConfig();
        kc.loadFromCluster();
        return new KubernetesCluster(name, kc);
      },
    });
  }

  const defaultName = root?.getOptionalString('default') ?? entries.keys().next().value;
  if (defaultName !== undefined) {
    const entry = entries.get(defaultName);
    if (!entry) throw new UnknownClusterError(defaultName);
    entry.info.isDefault = true;
  }
  const clients = new Map<string, Promise<ClusterClient>>();

  return {
    clusters: () => [...entries.values()].map(e => ({ ...e.info, modes: { ...e.info.modes } })),
    async client(name?: string) {
      const wanted = name ?? defaultName;
      const entry = wanted !== undefined ? entries.get(wanted) : undefined;
      if (!entry) throw new UnknownClusterError(wanted ?? '(default)');
      let client = clients.get(entry.info.name);
      if (!client) {
        client = entry.connect();
        clients.set(entry.info.name, client);
        client.catch(() => clients.delete(entry.info.name));
      }
      return client;
    },
    mode(cluster: string, domain: ClusterDomain) {
      const entry = entries.get(cluster);
      if (!entry) throw new UnknownClusterError(cluster);
      return entry.info.modes[domain];
    },
    async stop() {
      for (const e of entries.values()) await e.stop?.();
    },
  };
}

/**
 * The cluster layer as a Backstage service. Plugin-scoped: the local driver
 * keeps its objects in the database of the plugin that uses it (the argo
 * plugin), and its controllers stop with the backend.
 */
export const clusterServiceRef = createServiceRef<ClusterService>({
  id: 'quarterdeck.cluster',
  scope: 'plugin',
  defaultFactory: async service =>
    createServiceFactory({
      service,
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        database: coreServices.database,
        lifecycle: coreServices.lifecycle,
      },
      async factory({ config, logger, database, lifecycle }) {
        const clusters = createClusterService({ config, logger, database });
        lifecycle.addShutdownHook(() => clusters.stop());
        return clusters;
      },
    }),
});
