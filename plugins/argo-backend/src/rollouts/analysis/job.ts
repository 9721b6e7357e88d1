import type { AnalysisRun, Metric } from '@quarterdeck/plugin-argo-common';
import {
  ObjectConflictError,
  ObjectNotFoundError,
  selectorToString,
  type ClusterClient,
  type KubeObject,
  type LabelSelectorObject,
  type OwnerReference,
} from '@quarterdeck/plugin-argo-node';
import type { Measurement, MetricResult } from './assess';
import type { ResumableMetricProvider } from './providers';

/*
 * Argo Rollouts' job metric provider (metricproviders/job/job.go): a
 * measurement is a Kubernetes Job made from `provider.job`; it is Running
 * until the Job has a Complete (Successful) or Failed (Failed) condition.
 */

/** Measurement metadata naming the measurement's Job. */
export const JOB_NAME_KEY = 'job-name';
export const JOB_NAMESPACE_KEY = 'job-namespace';
/** The Job's annotations naming the AnalysisRun and metric it measures for. */
export const ANALYSIS_RUN_NAME_ANNOTATION = 'analysisrun.argoproj.io/name';
export const ANALYSIS_RUN_NAMESPACE_ANNOTATION = 'analysisrun.argoproj.io/namespace';
export const ANALYSIS_RUN_METRIC_ANNOTATION = 'analysisrun.argoproj.io/metric-name';
/** The Job's and its pods' label with the AnalysisRun's uid; Argo's Job informer selects on it. */
export const ANALYSIS_RUN_UID_LABEL = 'analysisrun.argoproj.io/uid';
/** Argo's defaults.Kubernetes_DNS_Limit: the job controller puts the Job's name in a pod label. */
const JOB_NAME_LIMIT = 63;

export interface JobMetric {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { template?: { metadata?: { labels?: Record<string, string> } & Record<string, unknown> } & Record<string, unknown>; selector?: LabelSelectorObject } & Record<string, unknown>;
}

export type Job = KubeObject & {
  spec?: { selector?: LabelSelectorObject } & Record<string, unknown>;
  status?: { conditions?: Array<{ type: string; status?: string }> } & Record<string, unknown>;
};

type Run = AnalysisRun & KubeObject;

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** MarkMeasurementError: Error with the message, finished now unless it already was. */
function markError(measurement: Measurement, message: string, now: Date): Measurement {
  return { ...measurement, phase: 'Error', message, finishedAt: measurement.finishedAt ?? iso(now) };
}

/**
 * `<run uid>.<metric>.<n>`, n being every measurement taken so far (count
 * plus errors) + 1; the metric's part is cut so the name fits 63 characters
 * (newJobName, getJobIDSuffix).
 */
export function jobName(run: Run, metricName: string, result: MetricResult | undefined): string {
  const id = result ? result.count + result.error + 1 : 1;
  const name = `${run.metadata.uid}.${metricName}.${id}`;
  if (name.length <= JOB_NAME_LIMIT) return name;
  return `${run.metadata.uid}.${metricName.slice(0, metricName.length - (name.length - JOB_NAME_LIMIT))}.${id}`;
}

/**
 * The Job a measurement creates (newMetricJob): the metric's job spec and
 * metadata, the run's uid as a label on the Job and its pods, the run's
 * name, namespace and the metric as annotations, and the run as its
 * controller, so deleting the run deletes its Jobs.
 */
export function newMetricJob(run: Run, metric: Metric, result: MetricResult | undefined): Job {
  const job = structuredClone(metric.provider.job) as JobMetric;
  const spec = job.spec ?? {};
  const template = spec.template ?? {};
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(run, metric.name, result),
      namespace: run.metadata.namespace,
      labels: { ...job.metadata?.labels, [ANALYSIS_RUN_UID_LABEL]: run.metadata.uid! },
      annotations: {
        ...job.metadata?.annotations,
        [ANALYSIS_RUN_NAME_ANNOTATION]: run.metadata.name!,
        [ANALYSIS_RUN_NAMESPACE_ANNOTATION]: run.metadata.namespace!,
        [ANALYSIS_RUN_METRIC_ANNOTATION]: metric.name,
      },
      ownerReferences: [{
        apiVersion: run.apiVersion,
        kind: 'AnalysisRun',
        name: run.metadata.name!,
        uid: run.metadata.uid!,
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec: {
      ...spec,
      template: { ...template, metadata: { ...template.metadata, labels: { ...template.metadata?.labels, [ANALYSIS_RUN_UID_LABEL]: run.metadata.uid! } } },
    },
  };
}

/**
 * A finished Job's phase (the loop over conditions in Resume): Complete is
 * Successful, Failed is Failed, the last one listed winning. Like Argo, only
 * the condition's type is looked at; Kubernetes only ever sets them True.
 * Argo gives a failed Job's measurement no message.
 */
export function jobOutcome(job: Job): 'Successful' | 'Failed' | undefined {
  let phase: 'Successful' | 'Failed' | undefined;
  for (const condition of job.status?.conditions ?? []) {
    if (condition.type === 'Complete') phase = 'Successful';
    else if (condition.type === 'Failed') phase = 'Failed';
  }
  return phase;
}

/** Waiting reasons after which a job's pod will never start (terminalWaitingReasons). */
const TERMINAL_WAITING_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName']);

type ContainerStatus = { name: string; state?: { waiting?: { reason?: string; message?: string } } };

/**
 * Why a job's pods will never get anywhere (processJobPods): a container or
 * init container waiting for good, e.g. on an image that cannot be pulled.
 * The message is Argo's, trailing newline included.
 */
export function terminalPodError(pods: KubeObject[]): string | undefined {
  for (const pod of pods) {
    const status = (pod.status ?? {}) as { initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] };
    for (const cs of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
      const waiting = cs.state?.waiting;
      if (waiting?.reason && TERMINAL_WAITING_REASONS.has(waiting.reason)) {
        return `Pod ${pod.metadata.name}, container ${cs.name} has terminal error (${waiting.reason}): ${waiting.message ?? ''}\n`;
      }
    }
  }
  return undefined;
}

/** The Job a measurement started (getJobNamespacedName), or why it cannot be told. */
function jobRef(measurement: Measurement, defaultNamespace: string | undefined): { namespace: string; name: string } | string {
  const name = measurement.metadata?.[JOB_NAME_KEY];
  if (!name) return 'job metadata reference missing';
  return { namespace: measurement.metadata?.[JOB_NAMESPACE_KEY] || defaultNamespace || 'default', name };
}

const jobRefOf = (ref: { namespace: string; name: string }) => ({ apiVersion: 'batch/v1', kind: 'Job', ...ref });

/** Argo's job provider, acting through the cluster the AnalysisRun is in. */
export class JobProvider implements ResumableMetricProvider {
  readonly resumable = true;

  constructor(private readonly client: ClusterClient) {}

  /**
   * Creates the Job and answers a Running measurement naming it, with
   * `resumeAt` now so a short Job is looked at on the next pass. A Job of
   * that name already there and controlled by this run is the one a pass
   * whose status write was lost created: it is taken over, not an error.
   */
  async run(run: Run, metric: Metric, result: MetricResult | undefined, now: Date): Promise<Measurement> {
    const measurement: Measurement = { phase: 'Running', startedAt: iso(now) };
    const job = newMetricJob(run, metric, result);
    let created: KubeObject;
    try {
      created = await this.client.create(job, { fieldManager: 'quarterdeck-analysis' });
    } catch (error) {
      if (!(error instanceof ObjectConflictError)) return markError(measurement, (error as Error).message, now);
      let existing: KubeObject | undefined;
      try {
        existing = await this.client.get({ apiVersion: 'batch/v1', kind: 'Job', namespace: job.metadata.namespace, name: job.metadata.name! });
      } catch {
        existing = undefined;
      }
      const owner = existing?.metadata.ownerReferences?.find((r: OwnerReference) => r.controller);
      if (!existing || owner?.uid !== run.metadata.uid) return markError(measurement, (error as Error).message, now);
      created = existing;
    }
    return {
      ...measurement,
      metadata: { [JOB_NAME_KEY]: created.metadata.name!, [JOB_NAMESPACE_KEY]: created.metadata.namespace! },
      resumeAt: iso(now),
    };
  }

  /**
   * Looks at the Job: finished, it decides the measurement; its pods stuck
   * for good make it Inconclusive with Argo's message; otherwise it is
   * looked at again after √(2·elapsed seconds) seconds, a delay that grows
   * with the Job's age (a Job finishing also requeues the run).
   */
  async resume(run: Run, _metric: Metric, measurement: Measurement, now: Date): Promise<Measurement> {
    const ref = jobRef(measurement, run.metadata.namespace);
    if (typeof ref === 'string') return markError(measurement, ref, now);
    let job: Job | undefined;
    try {
      job = await this.client.get<Job>(jobRefOf(ref));
    } catch (error) {
      return markError(measurement, (error as Error).message, now);
    }
    if (!job) return markError(measurement, `job.batch "${ref.name}" not found`, now);
    const outcome = jobOutcome(job);
    if (outcome) return { ...measurement, phase: outcome, finishedAt: iso(now) };

    let pods: KubeObject[];
    try {
      // Real Jobs carry the selector the job controller generated; the local driver's pods carry the label it uses.
      const labelSelector = job.spec?.selector
        ? selectorToString(job.spec.selector)
        : `batch.kubernetes.io/controller-uid=${job.metadata.uid}`;
      pods = (await this.client.list({ apiVersion: 'v1', kind: 'Pod', namespace: ref.namespace }, { labelSelector })).items;
    } catch (error) {
      return markError(measurement, (error as Error).message, now);
    }
    const stuck = terminalPodError(pods);
    if (stuck) return { ...measurement, phase: 'Inconclusive', message: stuck, finishedAt: iso(now) };

    const elapsedSeconds = Math.max(0, now.getTime() - Date.parse(measurement.startedAt ?? iso(now))) / 1000;
    const delayMs = Math.sqrt(2 * elapsedSeconds) * 1000;
    // Status times are whole seconds: round up, so the next look is never earlier than Argo's.
    const resumeAt = new Date(Math.ceil((now.getTime() + delayMs) / 1000) * 1000);
    return { ...measurement, resumeAt: iso(resumeAt) };
  }

  /** Deletes the Job (in the foreground, so its pods go first); the measurement ends Inconclusive. */
  async terminate(run: Run, _metric: Metric, measurement: Measurement, now: Date): Promise<Measurement> {
    const ref = jobRef(measurement, run.metadata.namespace);
    if (typeof ref === 'string') return markError(measurement, ref, now);
    try {
      await this.deleteJob(ref);
    } catch (error) {
      return markError(measurement, (error as Error).message, now);
    }
    return { ...measurement, phase: 'Inconclusive', finishedAt: iso(now) };
  }

  /**
   * Deletes all but the newest `limit` Jobs (by creation time) of this run's
   * metric. Argo selects every Job of the run, whatever its metric, so one
   * job metric's history could delete another's running Job; here only the
   * metric's own Jobs are counted.
   */
  async garbageCollect(run: Run, metric: Metric, limit: number): Promise<void> {
    const jobs = (await this.client.list<Job>(
      { apiVersion: 'batch/v1', kind: 'Job', namespace: run.metadata.namespace },
      { labelSelector: `${ANALYSIS_RUN_UID_LABEL}=${run.metadata.uid}` },
    )).items.filter(j => j.metadata.annotations?.[ANALYSIS_RUN_METRIC_ANNOTATION] === metric.name);
    // Creation times are whole seconds; the name's measurement number breaks ties.
    jobs.sort((a, b) =>
      (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
      a.metadata.name!.localeCompare(b.metadata.name!, undefined, { numeric: true }));
    for (const job of jobs.slice(0, Math.max(0, jobs.length - limit))) {
      await this.deleteJob({ namespace: job.metadata.namespace!, name: job.metadata.name! });
    }
  }

  private async deleteJob(ref: { namespace: string; name: string }) {
    try {
      await this.client.delete(jobRefOf(ref), { propagationPolicy: 'Foreground' });
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
    }
  }
}

/**
 * The AnalysisRun a Job measures for, as `namespace/name` (Argo's
 * jobParentReference): its controller, or its uid label and annotations.
 */
export function analysisRunKeyOf(job: KubeObject): string | undefined {
  const owner = job.metadata.ownerReferences?.find(r => r.controller);
  const annotations = job.metadata.annotations ?? {};
  const namespace = annotations[ANALYSIS_RUN_NAMESPACE_ANNOTATION] || job.metadata.namespace;
  if (owner) return owner.kind === 'AnalysisRun' ? `${namespace}/${owner.name}` : undefined;
  if (job.metadata.labels?.[ANALYSIS_RUN_UID_LABEL] && annotations[ANALYSIS_RUN_NAME_ANNOTATION]) {
    return `${namespace}/${annotations[ANALYSIS_RUN_NAME_ANNOTATION]}`;
  }
  return undefined;
}
