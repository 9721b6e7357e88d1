import type { LoggerService } from '@backstage/backend-plugin-api';
import type { AnalysisRun, Metric } from '@quarterdeck/plugin-argo-common';
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
  newMetricResult,
  nextMeasurementAt,
  recordMeasurement,
  type AnalysisPhase,
  type Measurement,
  type MetricResult,
} from './assess';
import { assessResult } from './conditions';
import { providerFor } from './providers';
import { reconcileQueue } from '../retryOnConflict';

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

/**
 * Runs the AnalysisRuns of one cluster: takes each metric's measurements when
 * they are due (initialDelay, interval, count), judges them with the metric's
 * conditions, and writes the run's status with Argo's phases and messages.
 */
export class AnalysisRunReconciler {
  private readonly runs: Informer<AnalysisRun & KubeObject>;
  private readonly queue: WorkQueue;
  private readonly abort = new AbortController();

  constructor(
    private readonly client: ClusterClient,
    private readonly options: { logger?: LoggerService; now?: () => Date } = {},
  ) {
    this.runs = argoClients(client).analysisRuns.informer(undefined, { logger: options.logger });
    this.queue = reconcileQueue(key => this.reconcile(key), options.logger);
  }

  async start() {
    const enqueue = (o: KubeObject) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    this.runs.addHandlers({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o) });
    await this.runs.start();
  }

  async stop() {
    this.abort.abort();
    this.queue.stop();
    await this.runs.stop();
  }

  idle() {
    return this.queue.idle();
  }

  private now() {
    return this.options.now?.() ?? new Date();
  }

  private async measure(metric: Metric, args: AnalysisRun['spec']['args']): Promise<Measurement> {
    const startedAt = nowIso(this.now());
    let resolved: Metric;
    try {
      resolved = resolveMetricArgs(metric, args);
    } catch (error) {
      return { phase: 'Error', message: `Unable to resolve metric arguments: ${(error as Error).message}`, startedAt, finishedAt: startedAt };
    }
    const provider = providerFor(resolved);
    if (typeof provider === 'string') return { phase: 'Error', message: provider, startedAt, finishedAt: nowIso(this.now()) };
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

  async reconcile(key: string): Promise<void> {
    const run = this.runs.get(key);
    if (!run || run.metadata.deletionTimestamp) return;
    const status = run.status ?? {};
    if (isCompleted(status.phase as AnalysisPhase | undefined)) return;
    const now = this.now();
    const startedAt = status.startedAt ?? nowIso(now);
    const metrics = run.spec.metrics ?? [];
    const dryRun = new Set((run.spec.dryRun ?? []).map(d => d.metricName));
    let results: MetricResult[] = metrics.map(m => {
      const existing = (status.metricResults ?? []).find(r => r.name === m.name) as MetricResult | undefined;
      return existing ? { ...newMetricResult(m, dryRun.has(m.name)), ...existing } : newMetricResult(m, dryRun.has(m.name));
    });

    const terminating = Boolean(run.spec.terminate) ||
      results.some(r => !dryRun.has(r.name) && ['Failed', 'Error', 'Inconclusive'].includes(r.phase));
    if (!terminating) {
      results = await Promise.all(results.map(async (result, i) => {
        const due = nextMeasurementAt(metrics[i], result.measurements.length ? result : undefined, Date.parse(startedAt));
        if (due === undefined || due > now.getTime()) return result;
        return recordMeasurement(result, await this.measure(metrics[i], run.spec.args));
      }));
    }
    const assessed = assessRun(metrics, results, { terminate: run.spec.terminate, dryRun });
    const completed = isCompleted(assessed.phase);
    const patch: Record<string, unknown> = {
      phase: assessed.phase,
      message: assessed.message || null,
      startedAt,
      metricResults: assessed.metricResults,
      ...(completed ? { completedAt: nowIso(this.now()) } : {}),
    };
    await this.client.patch(
      { apiVersion: run.apiVersion, kind: 'AnalysisRun', namespace: run.metadata.namespace, name: run.metadata.name! },
      'merge',
      { metadata: { resourceVersion: run.metadata.resourceVersion }, status: patch },
      { subresource: 'status', fieldManager: FIELD_MANAGER },
    );
    if (!completed) {
      const next = metrics
        .map((m, i) => nextMeasurementAt(m, assessed.metricResults[i]?.measurements.length ? assessed.metricResults[i] : undefined, Date.parse(startedAt)))
        .filter((t): t is number => t !== undefined);
      if (next.length > 0) this.queue.addAfter(key, Math.max(0, Math.min(...next) - this.now().getTime()));
    }
  }
}
