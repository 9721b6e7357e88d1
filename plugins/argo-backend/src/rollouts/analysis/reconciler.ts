import type { LoggerService } from '@backstage/backend-plugin-api';
import type { AnalysisRun, MeasurementRetentionRule, Metric } from '@quarterdeck/plugin-argo-common';
import {
  argoClients,
  Informer,
  type WorkQueue,
  type ClusterClient,
  type KubeObject,
} from '@quarterdeck/plugin-argo-node';
import {
  assessRun,
  isCompleted,
  MEASUREMENT_HISTORY_LIMIT,
  newMetricResult,
  nextMeasurementAt,
  recordMeasurement,
  updateLastMeasurement,
  type AnalysisPhase,
  type Measurement,
  type MetricResult,
} from './assess';
import { assessResult } from './conditions';
import { analysisRunKeyOf, ANALYSIS_RUN_UID_LABEL, JOB_NAME_KEY, JOB_NAMESPACE_KEY, jobOutcome, type Job } from './job';
import type { QuarterdeckGateway } from '../../gateway/client';
import { isResumable, providerFor } from './providers';
import { reconcileQueue } from '../retryOnConflict';
import { metricsMatching, metricsProblem } from './validation';

const FIELD_MANAGER = 'quarterdeck-analysis';
const nowIso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Replaces `{{args.NAME}}` in a metric with the run's argument values, as
 * Argo does before measuring; an argument without a value is an error.
 */
export function resolveMetricArgs(metric: Metric, args: Array<{ name: string; value?: string }> | undefined): Metric {
  const values = new Map((args ?? []).map(a => [a.name, a.value]));
  const text = JSON.stringify(metric).replace(/\{\{\s*([^}]+?)\s*\}\}/g, (_, tag: string) => {
    if (!tag.startsWith('args.')) throw new Error(`failed to resolve {{${tag}}}`);
    const name = tag.slice(5);
    if (!values.has(name)) throw new Error(`failed to resolve {{${tag}}}`);
    const value = values.get(name);
    if (value === undefined) throw new Error(`argument "${name}" was not supplied`);
    return JSON.stringify(value).slice(1, -1);
  });
  return JSON.parse(text);
}

type Run = AnalysisRun & KubeObject;
/** A run's arguments, its secrets read (and marked, to be kept out of what the run records). */
type ResolvedArgs = Array<{ name: string; value?: string; secret?: boolean }>;

/**
 * A measurement's message with the run's secret values masked, as Argo's
 * RedactorFormatter masks them in its logs: a provider's error can quote a
 * header or URL the secret went into ("…is an invalid header value"), and
 * the message is stored in the run, for anyone who can read it.
 */
export function redacted(measurement: Measurement, secrets: readonly string[]): Measurement {
  if (!measurement.message || secrets.length === 0) return measurement;
  let message = measurement.message;
  for (const secret of secrets) if (secret) message = message.split(secret).join('*****');
  return message === measurement.message ? measurement : { ...measurement, message };
}

/**
 * Runs the AnalysisRuns of one cluster: takes each metric's measurements when
 * they are due (initialDelay, interval, count), judges them with the metric's
 * conditions, and writes the run's status with Argo's phases and messages.
 * A job metric's measurement runs on in a Job: it is resumed when its Job
 * finishes (the Jobs' informer requeues the run) or at its `resumeAt`, and
 * terminated, deleting the Job, when the run ends first.
 */
export class AnalysisRunReconciler {
  private readonly runs: Informer<Run>;
  private readonly jobs: Informer<Job>;
  private readonly queue: WorkQueue;
  private readonly abort = new AbortController();

  constructor(
    private readonly client: ClusterClient,
    private readonly options: { logger?: LoggerService; now?: () => Date; gateway?: QuarterdeckGateway } = {},
  ) {
    this.runs = argoClients(client).analysisRuns.informer(undefined, { logger: options.logger });
    // Only the Jobs of job metrics, as Argo's Job informer selects them.
    this.jobs = new Informer<Job>(client, { apiVersion: 'batch/v1', kind: 'Job' }, { labelSelector: ANALYSIS_RUN_UID_LABEL, logger: options.logger });
    this.queue = reconcileQueue(key => this.reconcile(key), options.logger);
  }

  async start() {
    // Both caches filled before the first pass (a run must see its Jobs); the handlers are then called for what they hold.
    await Promise.all([this.runs.start(), this.jobs.start()]);
    const enqueue = (o: KubeObject) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    this.runs.addHandlers({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o) });
    // A Job that has finished requeues its run (enqueueJobIfCompleted); one still running is looked at on its resumeAt.
    const onJob = (job: Job) => {
      const key = jobOutcome(job) ? analysisRunKeyOf(job) : undefined;
      if (key) this.queue.add(key);
    };
    this.jobs.addHandlers({ onAdd: onJob, onUpdate: (_, job) => onJob(job), onDelete: onJob });
  }

  async stop() {
    this.abort.abort();
    this.queue.stop();
    await Promise.all([this.runs.stop(), this.jobs.stop()]);
  }

  idle() {
    return this.queue.idle();
  }

  private now() {
    return this.options.now?.() ?? new Date();
  }

  /** A new measurement (provider.Run, or a measurement judged by the metric's conditions). */
  private async measure(run: Run, resolved: Metric, result: MetricResult): Promise<Measurement> {
    const startedAt = nowIso(this.now());
    const provider = providerFor(resolved, { client: this.client, gateway: this.options.gateway });
    if (typeof provider === 'string') return { phase: 'Error', message: provider, startedAt, finishedAt: nowIso(this.now()) };
    if (isResumable(provider)) {
      return provider.run(run, resolved, result, this.now());
    }
    const measured = await provider.measure(resolved, this.abort.signal);
    const finishedAt = nowIso(this.now());
    if (!measured.ok) return { phase: 'Error', message: measured.message, startedAt, finishedAt };
    const verdict = assessResult(measured.result, resolved);
    return {
      phase: verdict.phase,
      ...(verdict.phase === 'Error' ? {} : { value: measured.value }),
      ...(verdict.message ? { message: verdict.message } : {}),
      startedAt,
      finishedAt,
    };
  }

  /**
   * The in-flight measurement, resumed, or terminated when the run is
   * terminating (runMeasurements with an incomplete measurement). A
   * terminated measurement that ends Successful or Inconclusive says so.
   */
  private async continueMeasurement(run: Run, resolved: Metric, measurement: Measurement, terminating: boolean): Promise<Measurement> {
    const error = (message: string): Measurement => ({ ...measurement, phase: 'Error', message, finishedAt: measurement.finishedAt ?? nowIso(this.now()) });
    const provider = providerFor(resolved, { client: this.client, gateway: this.options.gateway });
    if (typeof provider === 'string') return error(provider);
    // Only a resumable provider leaves a measurement running; anything else would stay Running for ever.
    if (!isResumable(provider)) return error('the measurement was left running by a provider that cannot resume it');
    if (!terminating) return provider.resume(run, resolved, measurement, this.now());
    const terminated = await provider.terminate(run, resolved, measurement, this.now());
    return terminated.phase === 'Successful' || terminated.phase === 'Inconclusive' ? { ...terminated, message: 'Metric Terminated' } : terminated;
  }

  /**
   * Whether the measurement's Job has finished, as the Jobs' informer saw it.
   * Argo waits for resumeAt even then; resumeAt paces the looks at a Job
   * still running, and a finished one is looked at as soon as it is seen.
   */
  private jobFinished(run: Run, measurement: Measurement): boolean {
    const name = measurement.metadata?.[JOB_NAME_KEY];
    if (!name) return false;
    const job = this.jobs.get(`${measurement.metadata?.[JOB_NAMESPACE_KEY] || run.metadata.namespace}/${name}`);
    return Boolean(job && jobOutcome(job));
  }

  /** One metric's part of a pass (generateMetricTasks and runMeasurements). */
  private async advance(run: Run, metric: Metric, result: MetricResult, startedAt: string, terminating: boolean): Promise<MetricResult> {
    if (isCompleted(result.phase)) return result;
    const now = this.now().getTime();
    const last = result.measurements[result.measurements.length - 1];
    if (last && !last.finishedAt) {
      // A terminating run ends an in-flight measurement at once, whatever its resumeAt.
      const early = !terminating && last.resumeAt && Date.parse(last.resumeAt) > now;
      if (early && !this.jobFinished(run, last)) return result;
      return updateLastMeasurement(result, await this.continueMeasurement(run, metric, last, terminating));
    }
    if (terminating) return result;
    const due = nextMeasurementAt(metric, result.measurements.length ? result : undefined, Date.parse(startedAt));
    if (due === undefined || due > now) return result;
    return recordMeasurement(result, await this.measure(run, metric, result), Infinity);
  }

  /**
   * Trims each metric's measurements to its limit — its measurementRetention
   * rule's, else MEASUREMENT_HISTORY_LIMIT — and, for a job metric, deletes
   * the older Jobs (garbageCollectMeasurements). A failed cleanup leaves that
   * metric untrimmed until a later pass.
   */
  private async garbageCollect(run: Run, metrics: Metric[], results: MetricResult[], retention: Map<string, MeasurementRetentionRule>): Promise<MetricResult[]> {
    return Promise.all(results.map(async (result, i) => {
      const rule = retention.get(result.name);
      const limit = rule && rule.limit > 0 ? rule.limit : MEASUREMENT_HISTORY_LIMIT;
      if (result.measurements.length <= limit) return result;
      const provider = providerFor(metrics[i], { client: this.client, gateway: this.options.gateway });
      if (typeof provider !== 'string' && isResumable(provider)) {
        try {
          await provider.garbageCollect(run, metrics[i], limit);
        } catch (error) {
          this.options.logger?.warn(`Failed to garbage collect measurements of ${run.metadata.namespace}/${run.metadata.name}: ${error}`);
          return result;
        }
      }
      return { ...result, measurements: result.measurements.slice(-limit) };
    }));
  }

  /**
   * The run's arguments with each `valueFrom.secretKeyRef` read from its
   * Secret, at each pass as Argo reads them: a rotated secret is used from the
   * next measurement on. Throws Argo's message for a Secret or key missing.
   */
  private async secretArgs(run: Run): Promise<ResolvedArgs> {
    return Promise.all((run.spec.args ?? []).map(async (arg): Promise<ResolvedArgs[number]> => {
      const ref = arg.valueFrom?.secretKeyRef;
      if (!ref) return arg;
      const secret = await this.client.get({ apiVersion: 'v1', kind: 'Secret', namespace: run.metadata.namespace, name: ref.name }) as (KubeObject & { data?: Record<string, string> }) | undefined;
      if (!secret) throw new Error(`secrets "${ref.name}" not found`);
      const data = secret.data?.[ref.key];
      if (data === undefined) throw new Error(`key '${ref.key}' does not exist in secret '${ref.name}'`);
      return { name: arg.name, value: Buffer.from(data, 'base64').toString('utf8'), secret: true };
    }));
  }

  private async writeStatus(run: Run, status: Record<string, unknown>) {
    await this.client.patch(
      { apiVersion: run.apiVersion, kind: 'AnalysisRun', namespace: run.metadata.namespace, name: run.metadata.name! },
      'merge',
      { metadata: { resourceVersion: run.metadata.resourceVersion }, status },
      { subresource: 'status', fieldManager: FIELD_MANAGER },
    );
  }

  async reconcile(key: string): Promise<void> {
    const run = this.runs.get(key);
    if (!run || run.metadata.deletionTimestamp) return;
    const status = run.status ?? {};
    if (isCompleted(status.phase as AnalysisPhase | undefined)) return;
    const now = this.now();
    const startedAt = status.startedAt ?? nowIso(now);
    // As Argo's reconcileAnalysisRun: a run whose arguments cannot be resolved, or whose spec is invalid, ends Error at once.
    const endWithError = (message: string) =>
      this.writeStatus(run, { phase: 'Error', message, startedAt, metricResults: status.metricResults ?? [], completedAt: nowIso(this.now()) });
    let metrics: Metric[];
    let secrets: string[];
    try {
      const args = await this.secretArgs(run);
      secrets = args.filter(a => a.secret && a.value).map(a => a.value!);
      metrics = (run.spec.metrics ?? []).map(m => resolveMetricArgs(m, args));
    } catch (error) {
      await endWithError(`Unable to resolve metric arguments: ${(error as Error).message}`);
      return;
    }
    let dryRun: Set<string>;
    let retention: Map<string, MeasurementRetentionRule>;
    try {
      const problem = metricsProblem(metrics);
      if (problem) throw new Error(problem);
      dryRun = new Set(metricsMatching('dryRun', run.spec.dryRun, metrics).keys());
      retention = metricsMatching('measurementRetention', run.spec.measurementRetention, metrics);
    } catch (error) {
      await endWithError(`Analysis spec invalid: ${(error as Error).message}`);
      return;
    }
    let results: MetricResult[] = metrics.map(m => {
      const existing = (status.metricResults ?? []).find(r => r.name === m.name) as MetricResult | undefined;
      return existing ? { ...newMetricResult(m, dryRun.has(m.name)), ...existing } : newMetricResult(m, dryRun.has(m.name));
    });

    const terminating = Boolean(run.spec.terminate) ||
      results.some(r => !dryRun.has(r.name) && ['Failed', 'Error', 'Inconclusive'].includes(r.phase));
    results = (await Promise.all(results.map((result, i) => this.advance(run, metrics[i], result, startedAt, terminating))))
      .map(result => (secrets.length ? { ...result, measurements: result.measurements.map(m => redacted(m, secrets)) } : result));
    // Stopped while measuring (a shutdown, a lost lease): what the abort cut short is not a measurement. The next
    // holder measures again.
    if (this.abort.signal.aborted) return;
    const assessed = assessRun(metrics, results, { terminate: run.spec.terminate, dryRun });
    const metricResults = await this.garbageCollect(run, metrics, assessed.metricResults, retention);
    const completed = isCompleted(assessed.phase);
    const patch: Record<string, unknown> = {
      phase: assessed.phase,
      message: assessed.message || null,
      startedAt,
      metricResults,
      ...(completed ? { completedAt: nowIso(this.now()) } : {}),
    };
    await this.writeStatus(run, patch);
    if (!completed) {
      const next = metrics
        .map((m, i) => nextMeasurementAt(m, metricResults[i]?.measurements.length ? metricResults[i] : undefined, Date.parse(startedAt)))
        .filter((t): t is number => t !== undefined);
      if (next.length > 0) this.queue.addAfter(key, Math.max(0, Math.min(...next) - this.now().getTime()));
    }
  }
}
