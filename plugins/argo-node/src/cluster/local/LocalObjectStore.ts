import { resolvePackagePath, type LoggerService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import type { KubeObject } from '../types';

const migrationsDir = resolvePackagePath('@quarterdeck/plugin-argo-node', 'migrations');
/** Its own migrations table, so it shares the argo plugin's database without mixing histories. */
const MIGRATIONS_TABLE = 'knex_migrations_quarterdeck_cluster';

export async function migrateLocalObjectStore(db: Knex): Promise<void> {
  await db.migrate.latest({ directory: migrationsDir, tableName: MIGRATIONS_TABLE });
}

/** Identifies a row: the object's group, kind, namespace and name. */
export interface StoredKey {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

type Write = { key: StoredKey; object?: KubeObject };

const keyString = (k: StoredKey) => `${k.group}\u0000${k.kind}\u0000${k.namespace}\u0000${k.name}`;
const CHUNK = 200;
/** The longest wait between two attempts at a transaction the database refused. */
const MAX_RETRY_MS = 5_000;
/** How long writers wait for a database that refuses every write before they are told so (the writes are still retried). */
const WRITERS_WAIT_MS = 60_000;
/** How long `drain` (a clean stop) waits for a database that refuses every write. */
const DRAIN_GIVE_UP_MS = 10_000;

/**
 * Persists one local cluster's objects. Writes arriving while a commit runs
 * are grouped into the next transaction (group commit), so throughput grows
 * with concurrency while every write is durable before it is acknowledged.
 */
export class LocalObjectStore {
  private pending = new Map<string, Write>();
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private pendingVersion = 0;
  private flushing: Promise<void> | undefined;
  private retryMs = 0;
  private failingSince?: number;
  private givenUp?: unknown;

  constructor(private readonly db: Knex, private readonly cluster: string, private readonly logger?: LoggerService) {}

  async load(): Promise<{ objects: KubeObject[]; resourceVersion: number }> {
    const rows = await this.db('cluster_objects').where({ cluster: this.cluster }).select('body');
    const [version] = await this.db('cluster_versions').where({ cluster: this.cluster }).select('resource_version');
    return {
      objects: rows.map(r => JSON.parse(r.body) as KubeObject),
      resourceVersion: version ? Number(version.resource_version) : 0,
    };
  }

  /** Queues a write (an object, or its deletion) at `resourceVersion`; resolves once committed. */
  write(key: StoredKey, object: KubeObject | undefined, resourceVersion: number): Promise<void> {
    this.pending.set(keyString(key), { key, object });
    this.pendingVersion = Math.max(this.pendingVersion, resourceVersion);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.scheduleFlush();
    return done;
  }

  private scheduleFlush() {
    if (this.flushing) return;
    this.flushing = new Promise<void>(resolve => setImmediate(resolve))
      .then(() => this.flush())
      .finally(() => {
        this.flushing = undefined;
        if (this.pending.size > 0) this.scheduleFlush();
      });
  }

  private async flush() {
    const writes = [...this.pending.values()];
    const waiters = this.waiters;
    const version = this.pendingVersion;
    this.pending = new Map();
    this.waiters = [];
    try {
      await this.db.transaction(async tx => {
        const puts = writes.filter(w => w.object);
        const deletes = writes.filter(w => !w.object);
        for (let i = 0; i < deletes.length; i += CHUNK) {
          await tx('cluster_objects')
            .where({ cluster: this.cluster })
            .where(q => {
              for (const { key } of deletes.slice(i, i + CHUNK)) {
                q.orWhere({ api_group: key.group, kind: key.kind, namespace: key.namespace, name: key.name });
              }
            })
            .delete();
        }
        for (let i = 0; i < puts.length; i += CHUNK) {
          await tx('cluster_objects')
            .insert(
              puts.slice(i, i + CHUNK).map(({ key, object }) => ({
                cluster: this.cluster,
                api_group: key.group,
                kind: key.kind,
                namespace: key.namespace,
                name: key.name,
                uid: object!.metadata.uid,
                resource_version: Number(object!.metadata.resourceVersion),
                body: JSON.stringify(object),
              })),
            )
            .onConflict(['cluster', 'api_group', 'kind', 'namespace', 'name'])
            .merge();
        }
        await tx('cluster_versions')
          .insert({ cluster: this.cluster, resource_version: version })
          .onConflict('cluster')
          .merge();
      });
      this.retryMs = 0;
      this.failingSince = undefined;
      for (const w of waiters) w.resolve();
    } catch (error) {
      if (this.givenUp !== undefined) {
        for (const w of waiters) w.reject(error);
        return;
      }
      // The cluster's memory already holds these changes and has told its watchers: they are written
      // again until the database takes them (a newer write of the same object in their place), so
      // the database never falls behind what the cluster answered. Their writers wait meanwhile, as
      // an API server's do while etcd is away.
      for (const w of writes) {
        const k = keyString(w.key);
        if (!this.pending.has(k)) this.pending.set(k, w);
      }
      this.pendingVersion = Math.max(this.pendingVersion, version);
      this.failingSince ??= Date.now();
      if (Date.now() - this.failingSince < WRITERS_WAIT_MS) this.waiters = [...waiters, ...this.waiters];
      // A database that has refused writes for a minute (no privilege, a full disk) is not waited for
      // any longer: its writers are told, as an API server's are when etcd times out, and the writes
      // are still tried in the background.
      else for (const w of waiters) w.reject(error);
      this.retryMs = Math.min(Math.max(this.retryMs * 2, 100), MAX_RETRY_MS);
      this.logger?.warn(`Local cluster ${this.cluster}: writing ${writes.length} object(s) failed, retrying in ${this.retryMs} ms: ${error}`);
      await new Promise(resolve => setTimeout(resolve, this.retryMs));
    }
  }

  /**
   * Resolves when every queued write has been committed. A database that
   * refuses every write for 10 s is given up on: the writes still queued
   * fail, and are lost with the cluster's memory.
   */
  async drain(): Promise<void> {
    const giveUp = setTimeout(() => {
      this.givenUp = new Error(`Local cluster ${this.cluster}: the database refused its writes for ${DRAIN_GIVE_UP_MS / 1000} s at stop`);
    }, DRAIN_GIVE_UP_MS);
    try {
      while (this.flushing) await this.flushing;
    } finally {
      clearTimeout(giveUp);
    }
  }
}
