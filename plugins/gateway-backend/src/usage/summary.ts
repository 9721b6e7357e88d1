import type { GatewayUsageSummary } from '@quarterdeck/plugin-gateway-common';
import { BUCKET_COLUMNS, DAY_MS, histogramQuantile, HOUR_MS, LATENCY_BOUNDS, type HourlyRow } from './rollup';

/** The q-quantile (0–1) of sorted numbers, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A rollup row as a database returns it (bigints may come back as strings). */
export type StoredHourlyRow = { [K in keyof HourlyRow]: HourlyRow[K] | string | number };

interface Group {
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  buckets: number[];
}

const emptyGroup = (): Group => ({ requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cost: 0, buckets: BUCKET_COLUMNS.map(() => 0) });

function add(group: Group, row: StoredHourlyRow) {
  group.requests += Number(row.requests);
  group.errors += Number(row.errors);
  group.promptTokens += Number(row.prompt_tokens);
  group.completionTokens += Number(row.completion_tokens);
  group.cost += Number(row.cost);
  BUCKET_COLUMNS.forEach((c, i) => {
    group.buckets[i] += Number((row as Record<string, unknown>)[c] ?? 0);
  });
}

const totals = ({ buckets, ...rest }: Group) => ({ ...rest, p50Ms: histogramQuantile(buckets, 0.5), p99Ms: histogramQuantile(buckets, 0.99) });

/** The longest window `GET /usage` reads: 31 days, so a 30-day chart's first day is whole. */
export const MAX_USAGE_HOURS = 24 * 31;

/**
 * Where the daily rollup's repair starts: the first hour a page can show, or
 * the first day the rollups' retention has not begun to remove, whichever is
 * later (a day with its first hours gone would be set short).
 */
export const dailyRepairSince = (now: Date, rollupRetentionDays: number) =>
  new Date(Math.max(now.getTime() - MAX_USAGE_HOURS * HOUR_MS, (Math.floor((now.getTime() - rollupRetentionDays * DAY_MS) / DAY_MS) + 1) * DAY_MS));

/**
 * Where the retention of raw calls ends: `rawRetentionDays` back. (Until
 * 2026-12-07 never into the current UTC month, whose raw calls a data plane
 * summed at its start for the month's budgets; it reads each key's spend by
 * day now, `gateway_key_spend_daily`, kept for the current month.)
 */
export const rawUsageBefore = (now: Date, rawRetentionDays: number) => new Date(now.getTime() - rawRetentionDays * DAY_MS);

/** A window longer than a week is charted by day: 720 hourly bars would be too thin to read or point at. */
export const bucketFor = (hours: number) => (hours > 7 * 24 ? DAY_MS : HOUR_MS);

/** Rows summed into one group per key. */
function sumBy(rows: StoredHourlyRow[], keyOf: (row: StoredHourlyRow) => string): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const row of rows) {
    const key = keyOf(row);
    add(groups.get(key) ?? groups.set(key, emptyGroup()).get(key)!, row);
  }
  return groups;
}

const consumerOf = (row: StoredHourlyRow) => String(row.consumer_ref) || 'unknown';
const versionOf = (row: StoredHourlyRow) => `${row.model}\u0000${row.upstream}`;
/** Busiest first; a tie by name, so that a list cut short keeps the same members from one read to the next. */
const busiestFirst = <T extends { requests: number }>(nameOf: (item: T) => string) => (a: T, b: T) => b.requests - a.requests || nameOf(a).localeCompare(nameOf(b));

/** The summary's parts every answer has, from rows summed by bucket, by consumer and by model version. */
function summary(parts: { byTime: StoredHourlyRow[]; byConsumer: StoredHourlyRow[]; byModel: StoredHourlyRow[] }, from: Date, to: Date, bucketMs: number) {
  const start = Math.floor(from.getTime() / bucketMs) * bucketMs;
  const buckets = new Map<number, Group>();
  for (let t = start; t < to.getTime(); t += bucketMs) buckets.set(t, emptyGroup());
  for (const row of parts.byTime) {
    const bucket = buckets.get(Math.floor(new Date(row.hour as string).getTime() / bucketMs) * bucketMs);
    if (bucket) add(bucket, row);
  }
  return {
    // The window as counted: from its first bucket's start, not the instant asked for.
    from: new Date(start).toISOString(),
    to: to.toISOString(),
    bucketMs,
    latencyBoundsMs: [...LATENCY_BOUNDS],
    series: [...buckets.entries()].map(([t, g]) => ({ start: new Date(t).toISOString(), ...totals(g) })),
    byConsumer: [...sumBy(parts.byConsumer, consumerOf).entries()].map(([ref, g]) => ({ consumerRef: ref, ...totals(g) })).sort(busiestFirst(c => c.consumerRef)),
    byModel: [...sumBy(parts.byModel, versionOf).entries()].map(([k, g]) => {
      const [model, upstream] = k.split('\u0000');
      return { model, upstream, ...totals(g) };
    }).sort(busiestFirst(m => `${m.model}@${m.upstream}`)),
  };
}

/**
 * Usage over a window from a rollup's rows (by hour, or by UTC day): by
 * bucket of `bucketMs` (empty ones included), by consumer and by model
 * version (how versions compare).
 * Latency quantiles are the histogram bucket they fall in. With
 * `consumerRef`, the hours and the model versions are that consumer's
 * calls only, while `byConsumer` still lists every consumer of the rows,
 * so that a page narrowed to one can offer the others.
 */
export function summarizeUsage(rows: StoredHourlyRow[], from: Date, to: Date, consumerRef?: string, bucketMs = HOUR_MS): GatewayUsageSummary {
  const mine = consumerRef === undefined ? rows : rows.filter(row => consumerOf(row) === consumerRef);
  const { from: start, to: end, ...rest } = summary({ byTime: mine, byConsumer: rows, byModel: mine }, from, to, bucketMs);
  return { from: start, to: end, ...(consumerRef !== undefined && { consumerRef }), ...rest };
}

/**
 * The whole gateway's usage over a window, from the rollup summed by bucket,
 * product, consumer and model version (`GatewayStore.usageTotalsSince`): the
 * same summary as an API's, and `byProduct`, each with its API and title
 * while `offered` still holds it.
 */
export function summarizeGatewayUsage(
  parts: { byTime: StoredHourlyRow[]; byProduct: StoredHourlyRow[]; byConsumer: StoredHourlyRow[]; byModel: StoredHourlyRow[] },
  offered: Array<{ id: string; entityRef: string; title?: string }>,
  from: Date, to: Date, bucketMs = HOUR_MS,
): GatewayUsageSummary {
  const products = new Map(offered.map(p => [p.id, p]));
  return {
    ...summary(parts, from, to, bucketMs),
    byProduct: [...sumBy(parts.byProduct, row => String(row.product_id)).entries()].map(([productId, g]) => {
      const product = products.get(productId);
      return { productId, ...(product && { entityRef: product.entityRef, ...(product.title && { title: product.title }) }), ...totals(g) };
    }).sort(busiestFirst(p => p.productId)),
  };
}
