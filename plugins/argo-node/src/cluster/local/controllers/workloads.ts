import type { LoggerService } from '@backstage/backend-plugin-api';
import { ObjectConflictError, ObjectNotFoundError } from '../../errors';
import { Informer } from '../../informer';
import { scaledValue } from '../../intOrPercent';
import { computePodTemplateHash } from '../../podTemplateHash';
import { matchesLabels, requirementsOf, type LabelSelectorObject } from '../../selectors';
import type { KubeObject } from '../../types';
import { WorkQueue } from '../../workQueue';
import type { LocalCluster } from '../LocalCluster';
import {
  controllerOf,
  isPodFinished,
  isPodReady,
  readySince,
  keyOf,
  now,
  ownerRef,
  refOf,
  writeStatus,
  type Pod,
} from './shared';

type Template = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };
type ReplicaSet = KubeObject & {
  spec: { replicas?: number; selector?: LabelSelectorObject; template: Template; minReadySeconds?: number };
  status?: { replicas?: number; readyReplicas?: number; availableReplicas?: number; observedGeneration?: number };
};
type Deployment = KubeObject & {
  spec: {
    replicas?: number;
    selector?: LabelSelectorObject;
    template: Template;
    revisionHistoryLimit?: number;
    minReadySeconds?: number;
    paused?: boolean;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  };
  status?: Record<string, any>;
};
type Job = KubeObject & {
  spec: { parallelism?: number; completions?: number; backoffLimit?: number; template: Template; suspend?: boolean };
  status?: Record<string, any>;
};

const HASH_LABEL = 'pod-template-hash';
const REVISION = 'deployment.kubernetes.io/revision';

/**
 * The workload controllers the engines rely on, as kube-controller-manager
 * runs them: Deployment → ReplicaSet (rolling update with maxSurge and
 * maxUnavailable, Recreate, revision history), ReplicaSet → Pods, Job → Pods
 * (parallelism, completions, backoffLimit) and Service → Endpoints.
 */
export class WorkloadControllers {
  readonly pods: Informer<Pod>;
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly deployments: Informer<Deployment>;
  private readonly jobs: Informer<Job>;
  private readonly services: Informer;
  private readonly queues: WorkQueue[] = [];

  constructor(private readonly cluster: LocalCluster, private readonly logger?: LoggerService) {
    this.pods = new Informer<Pod>(cluster, { apiVersion: 'v1', kind: 'Pod' }, { logger });
    this.replicaSets = new Informer<ReplicaSet>(cluster, { apiVersion: 'apps/v1', kind: 'ReplicaSet' }, { logger });
    this.deployments = new Informer<Deployment>(cluster, { apiVersion: 'apps/v1', kind: 'Deployment' }, { logger });
    this.jobs = new Informer<Job>(cluster, { apiVersion: 'batch/v1', kind: 'Job' }, { logger });
    this.services = new Informer(cluster, { apiVersion: 'v1', kind: 'Service' }, { logger });
  }

  async start() {
    // Every cache filled before the first pass (client-go's WaitForCacheSync): a ReplicaSet looked at
    // before the Pod cache holds its pods would make them again. Handlers added then are called for
    // what the caches hold.
    await Promise.all([this.pods, this.replicaSets, this.deployments, this.jobs, this.services].map(i => i.start()));
    const rsQueue = this.queue(key => this.reconcileReplicaSet(key, rsQueue));
    const deployQueue = this.queue(key => this.reconcileDeployment(key));
    const jobQueue = this.queue(key => this.reconcileJob(key));
    const endpointsQueue = this.queue(key => this.reconcileEndpoints(key));

    const byOwner = (o: KubeObject, kind: string, queue: WorkQueue) => {
      const owner = controllerOf(o);
      if (owner?.kind === kind) queue.add(`${o.metadata.namespace}/${owner.name}`);
    };
    const servicesSelecting = (pod: Pod) =>
      this.services.list(
        s =>
          s.metadata.namespace === pod.metadata.namespace &&
          Boolean((s.spec as any)?.selector) &&
          matchesLabels(requirementsOf({ matchLabels: (s.spec as any).selector }), pod.metadata.labels),
      );
    const onPod = (pod: Pod, previous?: Pod) => {
      byOwner(pod, 'ReplicaSet', rsQueue);
      byOwner(pod, 'Job', jobQueue);
      for (const s of servicesSelecting(pod)) endpointsQueue.add(keyOf(s));
      if (previous) for (const s of servicesSelecting(previous)) endpointsQueue.add(keyOf(s));
    };
    this.pods.addHandlers({ onAdd: p => onPod(p), onUpdate: (prev, p) => onPod(p, prev), onDelete: p => onPod(p) });
    const onRs = (rs: ReplicaSet) => {
      rsQueue.add(keyOf(rs));
      byOwner(rs, 'Deployment', deployQueue);
    };
    this.replicaSets.addHandlers({ onAdd: onRs, onUpdate: (_, rs) => onRs(rs), onDelete: onRs });
    this.deployments.addHandlers({ onAdd: d => deployQueue.add(keyOf(d)), onUpdate: (_, d) => deployQueue.add(keyOf(d)) });
    this.jobs.addHandlers({ onAdd: j => jobQueue.add(keyOf(j)), onUpdate: (_, j) => jobQueue.add(keyOf(j)) });
    this.services.addHandlers({
      onAdd: s => endpointsQueue.add(keyOf(s)),
      onUpdate: (_, s) => endpointsQueue.add(keyOf(s)),
      onDelete: s => endpointsQueue.add(keyOf(s)),
    });
  }

  async stop() {
    for (const q of this.queues) q.stop();
    await Promise.all([this.pods, this.replicaSets, this.deployments, this.jobs, this.services].map(i => i.stop()));
  }

  private queue(work: (key: string) => Promise<void>): WorkQueue {
    const q = new WorkQueue(work, { concurrency: 2, logger: this.logger });
    this.queues.push(q);
    return q;
  }

  private ownedPods(owner: KubeObject): Pod[] {
    return this.pods.list(p => p.metadata.namespace === owner.metadata.namespace && controllerOf(p)?.uid === owner.metadata.uid);
  }

  private async ignoreMissing(work: Promise<unknown>) {
    try {
      await work;
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
    }
  }

  private async createPod(owner: KubeObject, template: Template, extraLabels: Record<string, string> = {}) {
    await this.cluster.create(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: `${owner.metadata.name}-`,
          namespace: owner.metadata.namespace,
          labels: { ...(template.metadata?.labels ?? {}), ...extraLabels },
          annotations: template.metadata?.annotations,
          ownerReferences: [ownerRef(owner)],
        },
        spec: structuredClone(template.spec ?? {}) as any,
      },
      { fieldManager: 'kube-controller-manager' },
    );
  }

  // ------------------------------------------------------------ ReplicaSet

  private async reconcileReplicaSet(key: string, queue: WorkQueue) {
    const rs = this.replicaSets.get(key);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const desired = rs.spec.replicas ?? 1;
    const pods = this.ownedPods(rs).filter(p => !p.metadata.deletionTimestamp && !isPodFinished(p));
    if (pods.length < desired) {
      for (let i = pods.length; i < desired; i++) await this.createPod(rs, rs.spec.template);
    } else if (pods.length > desired) {
      // Not-ready pods first, then the newest.
      const victims = [...pods]
        .sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)) ||
          (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))
        .slice(0, pods.length - desired);
      for (const p of victims) await this.ignoreMissing(this.cluster.delete(refOf(p)));
    }
    const current = this.ownedPods(rs).filter(p => !p.metadata.deletionTimestamp && !isPodFinished(p));
    const readyPods = current.filter(isPodReady);
    // Available: Ready for minReadySeconds (podutil.IsPodAvailable); a pod not yet there is looked at again when it will be.
    const minReadyMs = (rs.spec.minReadySeconds ?? 0) * 1000;
    const at = Date.now();
    let available = 0;
    let soonest: number | undefined;
    for (const pod of readyPods) {
      const since = readySince(pod);
      if (minReadyMs === 0 || (since !== undefined && since + minReadyMs < at)) available++;
      else if (since !== undefined) soonest = Math.min(soonest ?? Infinity, since + minReadyMs - at);
    }
    if (soonest !== undefined) queue.addAfter(key, soonest + 1000);
    await writeStatus(this.cluster, rs, {
      replicas: current.length,
      fullyLabeledReplicas: current.length,
      readyReplicas: readyPods.length,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation,
    }, 'kube-controller-manager');
  }

  // ------------------------------------------------------------ Deployment

  private async reconcileDeployment(key: string) {
    const d = this.deployments.get(key);
    if (!d || d.metadata.deletionTimestamp) return;
    const replicas = d.spec.replicas ?? 1;
    // ClaimReplicaSets: ReplicaSets its selector matches that no controller owns (a Deployment deleted with Orphan
    // and applied again) are adopted, not made a second time; the adoption's events bring it back here.
    const selector = requirementsOf(d.spec.selector ?? {});
    const orphans = this.replicaSets.list(rs => rs.metadata.namespace === d.metadata.namespace && !controllerOf(rs) &&
      !rs.metadata.deletionTimestamp && matchesLabels(selector, rs.metadata.labels));
    if (orphans.length > 0) {
      for (const rs of orphans) {
        await this.cluster.patch(refOf(rs), 'merge', {
          metadata: { ownerReferences: [...(rs.metadata.ownerReferences ?? []), ownerRef(d)], resourceVersion: rs.metadata.resourceVersion },
        }, { fieldManager: 'kube-controller-manager' }).catch(error => {
          if (!(error instanceof ObjectNotFoundError || error instanceof ObjectConflictError)) throw error;
        });
      }
      return;
    }
    const owned = this.replicaSets.list(rs => rs.metadata.namespace === d.metadata.namespace && controllerOf(rs)?.uid === d.metadata.uid);
    const hash = computePodTemplateHash(d.spec.template, d.status?.collisionCount);
    let newRs = owned.find(rs => rs.metadata.labels?.[HASH_LABEL] === hash);
    const olds = owned.filter(rs => rs !== newRs);
    const revision = Math.max(0, ...owned.map(rs => Number(rs.metadata.annotations?.[REVISION] ?? 0)));

    if (d.spec.paused) {
      await this.deploymentStatus(d, newRs, owned);
      return;
    }
    const strategy = d.spec.strategy?.type ?? 'RollingUpdate';
    if (!newRs) {
      const labels = { ...(d.spec.template.metadata?.labels ?? {}), [HASH_LABEL]: hash };
      const created = await this.cluster.create<ReplicaSet>(
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name: `${d.metadata.name}-${hash}`,
            namespace: d.metadata.namespace,
            labels,
            annotations: { [REVISION]: String(revision + 1) },
            ownerReferences: [ownerRef(d)],
          },
          spec: {
            replicas: olds.every(rs => (rs.spec.replicas ?? 0) === 0) && strategy === 'RollingUpdate' ? replicas : 0,
            selector: { ...(d.spec.selector ?? {}), matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), [HASH_LABEL]: hash } },
            template: { ...d.spec.template, metadata: { ...(d.spec.template.metadata ?? {}), labels } },
            ...(d.spec.minReadySeconds ? { minReadySeconds: d.spec.minReadySeconds } : {}),
          },
        },
        { fieldManager: 'kube-controller-manager' },
      ).catch(async error => {
        if (!(error instanceof ObjectConflictError)) throw error;
        // Its name is another controller's ReplicaSet: count the collision, which changes the hash (getNewReplicaSet).
        await writeStatus(this.cluster, d, { collisionCount: (d.status?.collisionCount ?? 0) + 1 }, 'kube-controller-manager');
        return undefined;
      });
      if (!created) return;
      newRs = created;
      if (strategy === 'RollingUpdate') return; // the new ReplicaSet's events bring us back
    } else if (Number(newRs.metadata.annotations?.[REVISION] ?? 0) < revision) {
      // Rolling back to an older template makes its ReplicaSet the newest revision.
      await this.scaleRs(newRs, newRs.spec.replicas ?? 0, String(revision + 1));
    }

    const scale = (rs: ReplicaSet, n: number) => this.scaleRs(rs, n);
    if (strategy === 'Recreate') {
      const oldActive = olds.filter(rs => (rs.spec.replicas ?? 0) > 0);
      for (const rs of oldActive) await scale(rs, 0);
      const oldPods = olds.flatMap(rs => this.ownedPods(rs)).filter(p => !isPodFinished(p));
      if (oldPods.length === 0 && (newRs.spec.replicas ?? 0) !== replicas) await scale(newRs, replicas);
    } else {
      const surge = scaledValue(d.spec.strategy?.rollingUpdate?.maxSurge, replicas, true, '25%');
      let unavailable = scaledValue(d.spec.strategy?.rollingUpdate?.maxUnavailable, replicas, false, '25%');
      if (surge === 0 && unavailable === 0) unavailable = 1;
      const newReplicas = newRs.spec.replicas ?? 0;
      const total = owned.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0) + (owned.includes(newRs) ? 0 : newReplicas);
      if (newReplicas > replicas) {
        await scale(newRs, replicas);
      } else if (newReplicas < replicas) {
        const room = replicas + surge - total;
        if (room > 0) await scale(newRs, Math.min(replicas, newReplicas + room));
      }
      const minAvailable = replicas - unavailable;
      let available = owned.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0);
      let canRemove = available - minAvailable;
      const oldest = [...olds].sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
      for (const rs of oldest) {
        const want = rs.spec.replicas ?? 0;
        if (want === 0) continue;
        // Pods that are not available can go at once: they cost no availability.
        const unhealthy = Math.max(0, want - (rs.status?.availableReplicas ?? 0));
        let next = want - unhealthy;
        const removable = Math.max(0, Math.min(canRemove, next));
        next -= removable;
        canRemove -= removable;
        available -= removable;
        if (next !== want) await scale(rs, next);
      }
    }
    // Revision history: old, empty ReplicaSets beyond the limit go.
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const empty = olds
      .filter(rs => (rs.spec.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0)
      .sort((a, b) => Number(a.metadata.annotations?.[REVISION] ?? 0) - Number(b.metadata.annotations?.[REVISION] ?? 0));
    for (const rs of empty.slice(0, Math.max(0, empty.length - limit))) await this.ignoreMissing(this.cluster.delete(refOf(rs)));
    await this.deploymentStatus(d, newRs, owned);
  }

  private async scaleRs(rs: ReplicaSet, replicas: number, revision?: string) {
    await this.cluster.patch(refOf(rs), 'merge', {
      spec: { replicas },
      ...(revision ? { metadata: { annotations: { [REVISION]: revision } } } : {}),
    }, { fieldManager: 'kube-controller-manager' });
  }

  private async deploymentStatus(d: Deployment, newRs: ReplicaSet | undefined, owned: ReplicaSet[]) {
    const replicas = d.spec.replicas ?? 1;
    const sum = (f: (rs: ReplicaSet) => number | undefined) => owned.reduce((n, rs) => n + (f(rs) ?? 0), 0);
    const available = sum(rs => rs.status?.availableReplicas);
    const updated = newRs?.status?.replicas ?? 0;
    const unavailable = scaledValue(d.spec.strategy?.rollingUpdate?.maxUnavailable, replicas, false, '25%');
    const complete = updated === replicas && sum(rs => rs.status?.replicas) === replicas && available === replicas;
    const condition = (type: string, status: boolean, reason: string, message: string) => {
      const previous = (d.status?.conditions ?? []).find((c: any) => c.type === type);
      const s = status ? 'True' : 'False';
      return {
        type,
        status: s,
        reason,
        message,
        lastUpdateTime: previous?.status === s && previous?.reason === reason ? previous.lastUpdateTime : now(),
        lastTransitionTime: previous?.status === s ? previous.lastTransitionTime : now(),
      };
    };
    await writeStatus(this.cluster, d, {
      observedGeneration: d.metadata.generation,
      replicas: sum(rs => rs.status?.replicas),
      updatedReplicas: updated,
      readyReplicas: sum(rs => rs.status?.readyReplicas),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, replicas - available),
      conditions: [
        condition('Available', available >= replicas - unavailable, available >= replicas - unavailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          available >= replicas - unavailable ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.'),
        condition('Progressing', true, complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          complete ? `ReplicaSet "${newRs?.metadata.name}" has successfully progressed.` : `ReplicaSet "${newRs?.metadata.name}" is progressing.`),
      ],
    }, 'kube-controller-manager');
  }

  // ------------------------------------------------------------------- Job

  private async reconcileJob(key: string) {
    const job = this.jobs.get(key);
    if (!job || job.metadata.deletionTimestamp) return;
    const completions = job.spec.completions ?? 1;
    const parallelism = job.spec.parallelism ?? 1;
    const backoffLimit = job.spec.backoffLimit ?? 6;
    const pods = this.ownedPods(job);
    const succeeded = pods.filter(p => p.status?.phase === 'Succeeded').length;
    const failed = pods.filter(p => p.status?.phase === 'Failed').length;
    const active = pods.filter(p => !isPodFinished(p) && !p.metadata.deletionTimestamp);
    const conditions = (job.status?.conditions ?? []) as Array<{ type: string; status: string }>;
    const finished = conditions.some(c => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    const status: Record<string, unknown> = {
      startTime: job.status?.startTime ?? now(),
      active: active.length || undefined,
      ready: active.filter(isPodReady).length,
      succeeded: succeeded || undefined,
      failed: failed || undefined,
    };
    if (!finished) {
      if (failed > backoffLimit) {
        for (const p of active) await this.ignoreMissing(this.cluster.delete(refOf(p)));
        status.active = undefined;
        status.conditions = [
          { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: now() },
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: now() },
        ];
      } else if (succeeded >= completions) {
        status.completionTime = now();
        status.conditions = [
          { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastTransitionTime: now() },
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastTransitionTime: now() },
        ];
      } else if (!job.spec.suspend) {
        const want = Math.min(parallelism, completions - succeeded) - active.length;
        const labels = { 'batch.kubernetes.io/job-name': job.metadata.name!, 'job-name': job.metadata.name!, 'batch.kubernetes.io/controller-uid': job.metadata.uid!, 'controller-uid': job.metadata.uid! };
        for (let i = 0; i < want; i++) await this.createPod(job, job.spec.template, labels);
      }
    }
    await writeStatus(this.cluster, job, status, 'kube-controller-manager');
  }

  // ------------------------------------------------------------- Endpoints

  private async reconcileEndpoints(key: string) {
    const [namespace, name] = key.split('/');
    const service = this.services.get(key);
    const ref = { apiVersion: 'v1', kind: 'Endpoints', namespace, name };
    if (!service) {
      await this.ignoreMissing(this.cluster.delete(ref));
      return;
    }
    const selector = (service.spec as any)?.selector as Record<string, string> | undefined;
    if (!selector) return; // endpoints managed by hand
    const reqs = requirementsOf({ matchLabels: selector });
    const pods = this.pods.list(p => p.metadata.namespace === namespace && !p.metadata.deletionTimestamp &&
      Boolean(p.status?.podIP) && matchesLabels(reqs, p.metadata.labels));
    const address = (p: Pod) => ({ ip: p.status!.podIP!, nodeName: p.spec.nodeName, targetRef: { kind: 'Pod', namespace, name: p.metadata.name, uid: p.metadata.uid } });
    const ready = pods.filter(isPodReady).map(address);
    const notReady = pods.filter(p => !isPodReady(p)).map(address);
    const ports = ((service.spec as any)?.ports ?? []).map((port: any) => {
      let target = port.targetPort ?? port.port;
      if (typeof target === 'string') {
        const named = pods.flatMap(p => p.spec.containers.flatMap(c => c.ports ?? [])).find(cp => cp.name === target);
        target = named?.containerPort ?? port.port;
      }
      return { ...(port.name ? { name: port.name } : {}), port: target, protocol: port.protocol ?? 'TCP' };
    });
    await this.cluster.apply(
      {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name, namespace, labels: service.metadata.labels },
        subsets: ready.length + notReady.length > 0
          ? [{ ...(ready.length ? { addresses: ready } : {}), ...(notReady.length ? { notReadyAddresses: notReady } : {}), ports }]
          : [],
      },
      { fieldManager: 'endpoint-controller', force: true },
    );
  }
}
