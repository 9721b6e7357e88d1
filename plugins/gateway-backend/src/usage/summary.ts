import type { GatewayUsageSummary } from '@quarterdeck/plugin-gateway-common';

/** The fields of a usage row a summary reads. */
export interface UsageRow {
  at: Date | string | number;
  consumer_ref: string | null;
  model: string | null;
  upstream: string | null;
  status: number;
  latency_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
}

/** The q-quantile (0–1) of sorted numbers, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const isError = (status: number) => status >= 400;

/**
 * Usage over a window, by hour, by consumer and by model/upstream (the last
 * is what a rollout compares versions by): requests, errors, tokens, cost,
 * p50/p99 latency.
 */
export function summarizeUsage(rows: UsageRow[], from: Date, to: Date, bucketMs = 3_600_000): GatewayUsageSummary {
  const start = Math.floor(from.getTime() / bucketMs) * bucketMs;
  const buckets = new Map<number, { rows: UsageRow[] }>();
  for (let t = start; t < to.getTime(); t += bucketMs) buckets.set(t, { rows: [] });
  const byConsumer = new Map<string, UsageRow[]>();
  const byModel = new Map<string, UsageRow[]>();
  for (const row of rows) {
    const at = new Date(row.at).getTime();
    const bucket = buckets.get(Math.floor(at / bucketMs) * bucketMs);
    if (bucket) bucket.rows.push(row);
    const consumer = row.consumer_ref ?? 'unknown';
    (byConsumer.get(consumer) ?? byConsumer.set(consumer, []).get(consumer)!).push(row);
    const model = `${row.model ?? ''}\u0000${row.upstream ?? ''}`;
    (byModel.get(model) ?? byModel.set(model, []).get(model)!).push(row);
  }
  const totals = (group: UsageRow[]) => ({
    requests: group.length,
    errors: group.filter(r => isError(r.status)).length,
    promptTokens: group.reduce((n, r) => n + r.prompt_tokens, 0),
    completionTokens: group.reduce((n, r) => n + r.completion_tokens, 0),
    cost: group.reduce((n, r) => n + r.cost, 0),
  });
  const latency = (group: UsageRow[]) => {
    const sorted = group.map(r => r.latency_ms).sort((a, b) => a - b);
    return { p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
  };
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    bucketMs,
    series: [...buckets.entries()].map(([t, b]) => ({ start: new Date(t).toISOString(), ...totals(b.rows), ...latency(b.rows) })),
    byConsumer: [...byConsumer.entries()].map(([consumerRef, group]) => ({ consumerRef, ...totals(group), ...latency(group) }))
      .sort((a, b) => b.requests - a.requests),
    byModel: [...byModel.entries()].map(([k, group]) => {
      const [model, upstream] = k.split('\u0000');
      return { model, upstream, ...totals(group), ...latency(group) };
    }).sort((a, b) => b.requests - a.requests),
  };
}
