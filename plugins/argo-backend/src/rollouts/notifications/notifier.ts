import type { LoggerService } from '@backstage/backend-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import type { NotificationSendOptions, NotificationService } from '@backstage/plugin-notifications-node';
import { notifier, type Notify } from '@quarterdeck/plugin-quarterdeck-node';
import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { argoClients, WorkQueue, type ClusterClient, type Informer, type KubeObject } from '@quarterdeck/plugin-argo-node';
import type { AuditStore } from '../../database/AuditStore';
import type { RolloutNoticeStore } from '../../database/RolloutNoticeStore';
import { rolloutNotice, type RolloutNotice } from './notices';

/** The topic a user can mute for rollouts in their notification settings. */
export const ROLLOUT_TOPIC = 'rollouts';

type RolloutObject = Rollout & KubeObject;

/** How much older than a start's list a notice row must be to be forgotten when its Rollout is not in the list. */
const ABSENT_MARGIN_MS = 60_000;

/** What a notice becomes for the owners of the Rollout's entity: one notification per Rollout, updated in place. */
export function rolloutNotification(cluster: string, rollout: RolloutObject, entityRef: string, notice: RolloutNotice, actor?: string): NotificationSendOptions {
  const { kind, namespace, name } = parseEntityRef(entityRef);
  return {
    recipients: { type: 'entity', entityRef, ...(actor ? { excludeEntityRef: actor } : {}) },
    payload: {
      title: notice.title,
      description: notice.description,
      link: `/catalog/${namespace}/${kind.toLowerCase()}/${name}/rollouts`,
      severity: notice.severity,
      topic: ROLLOUT_TOPIC,
      // The Rollout's latest state replaces what its team was told before ("waits for promotion" becomes "update complete").
      scope: `argo:rollout:${cluster}/${rollout.metadata.namespace}/${rollout.metadata.name}`,
    },
  };
}

export interface RolloutNotifierOptions {
  cluster: string;
  store: RolloutNoticeStore;
  entityOf(rollout: RolloutObject): Promise<string | undefined>;
  /** Who aborted the Rollout from the portal (its audit trail), if someone did: they are not told what they did. */
  abortedBy?(cluster: string, rollout: RolloutObject): Promise<string | undefined>;
  notifications?: NotificationService;
  logger?: LoggerService;
  /** First wait before looking again for the entity of a Rollout the catalog does not know (doubles each time, to `entityRetryMaxMs`). */
  entityRetryMs?: number;
  entityRetryMaxMs?: number;
}

/**
 * Tells a Rollout's team when it waits for them, was aborted or stopped, or
 * finished an update, on clusters in either mode (it reads what a real Argo
 * controller writes just as it reads ours). Every replica watches; the store
 * lets one of them tell each state once. A Rollout first seen complete is
 * recorded without telling, so starting this on a cluster full of finished
 * Rollouts tells no one of old news.
 */
export class RolloutNotifier {
  private readonly rollouts: Informer<RolloutObject>;
  private readonly queue: WorkQueue;
  /** The key each Rollout's notice had when last looked at, so a status write that changes nothing told costs no query. */
  private readonly seen = new Map<string, string>();
  /** The Rollouts whose entity was looked for in vain: in which state, how often, and when to look again. */
  private readonly unowned = new Map<string, { noticeKey: string; attempts: number; dueAt: number }>();

  private readonly notify: Notify;

  constructor(private readonly client: ClusterClient, private readonly options: RolloutNotifierOptions) {
    this.notify = notifier(options.notifications, options.logger);
    this.rollouts = argoClients(client).rollouts.informer(undefined, { logger: options.logger });
    this.queue = new WorkQueue(key => this.check(key), { concurrency: 2, logger: options.logger });
  }

  async start() {
    const enqueue = (o: KubeObject) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    this.rollouts.addHandlers({
      onAdd: enqueue,
      onUpdate: (_, o) => enqueue(o),
      onDelete: o => {
        this.seen.delete(`${o.metadata.namespace}/${o.metadata.name}`);
        this.unowned.delete(`${o.metadata.namespace}/${o.metadata.name}`);
        this.options.store
          .forget({ cluster: this.options.cluster, uid: o.metadata.uid! })
          .catch(error => this.options.logger?.warn(`Could not forget the notices of Rollout ${o.metadata.namespace}/${o.metadata.name}: ${error}`));
      },
    });
    // Rows last told before the list began, of Rollouts it did not find, were deleted while no replica
    // watched (a minute's margin for other replicas' clocks): their onDelete never came.
    const listing = Date.now();
    await this.rollouts.start();
    const present = this.rollouts.list().map(o => o.metadata.uid!);
    try {
      const forgotten = await this.options.store.forgetAbsent(this.options.cluster, present, new Date(listing - ABSENT_MARGIN_MS));
      if (forgotten > 0) this.options.logger?.info(`Forgot the notices of ${forgotten} Rollout(s) deleted from cluster ${this.options.cluster} while no one watched`);
    } catch (error) {
      // Housekeeping: the notifier works without it, and the next start tries again.
      this.options.logger?.warn(`Could not forget the notices of Rollouts deleted from cluster ${this.options.cluster}: ${error}`);
    }
  }

  async stop() {
    this.queue.stop();
    await this.rollouts.stop();
  }

  /** Resolves when no Rollout is waiting to be looked at (for tests). */
  idle() {
    return this.queue.idle();
  }

  private async check(key: string) {
    const cached = this.rollouts.get(key);
    if (!cached) {
      this.unowned.delete(key);
      return;
    }
    const notice = rolloutNotice(cached, this.options.cluster);
    if (!notice || this.seen.get(key) === notice.key) return;
    // A Rollout whose entity was not found is looked at again when its retry is due, or when it
    // reaches a new state, not at every status write.
    const unowned = this.unowned.get(key);
    const sameState = unowned?.noticeKey === notice.key;
    if (unowned && sameState && unowned.dueAt > Date.now()) {
      // Woken early (by a status write, or by a retry of an earlier state that was due first and so
      // kept its place in the queue): come back when this one is due.
      this.queue.addAfter(key, unowned.dueAt - Date.now() + 10);
      return;
    }
    const { cluster, store } = this.options;
    const entityRef = await this.options.entityOf(cached);
    if (!entityRef) {
      // The catalog may not have read the entity yet (it is still reading at start), or there is none:
      // look again, less and less often (every 10 minutes at most).
      const attempts = (sameState ? unowned!.attempts : 0) + 1;
      const delayMs = Math.min((this.options.entityRetryMs ?? 5_000) * 2 ** (attempts - 1), this.options.entityRetryMaxMs ?? 10 * 60_000);
      this.unowned.set(key, { noticeKey: notice.key, attempts, dueAt: Date.now() + delayMs - 10 });
      this.queue.addAfter(key, delayMs);
      return;
    }
    this.unowned.delete(key);
    // Told from the cluster's object as it is now, not from this replica's cache: a replica whose
    // watch lags must not claim, and tell, a state another has already moved past. A newer state
    // comes through the informer.
    const { namespace, name, uid } = cached.metadata as Required<Pick<KubeObject['metadata'], 'namespace' | 'name' | 'uid'>>;
    const current = await argoClients(this.client).rollouts.get(namespace, name);
    if (!current || current.metadata.uid !== uid || rolloutNotice(current, cluster)?.key !== notice.key) return;
    const claim = await store.claim({ cluster, uid, namespace, name }, notice.key);
    this.seen.set(key, notice.key);
    if (claim === 'unchanged' || (claim === 'first' && notice.kind === 'completed')) return;
    // News, not state: a notification that fails is logged, and the state counts as told.
    // The state is claimed already: an audit read that fails tells everyone rather than no one.
    const actor = notice.kind === 'aborted'
      ? await this.options.abortedBy?.(cluster, current).catch(error => {
        this.options.logger?.warn(`Could not read who aborted Rollout ${namespace}/${name}, so no one is left out of its notice: ${error}`);
        return undefined;
      })
      : undefined;
    this.notify(rolloutNotification(cluster, current, entityRef, notice, actor));
  }
}

/** How far apart an abort's audit entry and the controller's `abortedAt` may be and still be one abort. */
const ABORT_MATCH_MS = 2 * 60_000;

/**
 * Who aborted a Rollout, from the audit trail: the newest abort or retry that
 * was applied, when it is an abort recorded within two minutes of the
 * controller's `abortedAt`. An abort the analysis made has no such entry (or
 * comes after a retry, which the one who aborted before did not make), and
 * everyone is told.
 */
export function abortActor(audit: Pick<AuditStore, 'list'>) {
  return async (cluster: string, rollout: RolloutObject): Promise<string | undefined> => {
    const abortedAt = Date.parse(rollout.status?.abortedAt ?? '');
    if (Number.isNaN(abortedAt)) return undefined;
    const { namespace, name } = rollout.metadata as { namespace: string; name: string };
    // An abort whose patch failed is on the trail too (outcome `failed`): it aborted nothing.
    const [last] = (await audit.list({ object: { cluster, kind: 'Rollout', namespace, name }, limit: 10 }))
      .filter(e => (e.action === 'abort' || e.action === 'retry') && e.details?.outcome !== 'failed');
    return last?.action === 'abort' && Math.abs(Date.parse(last.createdAt) - abortedAt) <= ABORT_MATCH_MS ? last.actor : undefined;
  };
}
