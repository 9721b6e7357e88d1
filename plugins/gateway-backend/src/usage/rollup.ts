import { CLIENT_CLOSED_STATUS } from '@quarterdeck/plugin-gateway-common';
import type { UsageRecord } from '../database/GatewayStore';

/** Upper bounds (ms) of the latency histogram the hourly rollup keeps. */
export const LATENCY_BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
export const BUCKET_COLUMNS = [...LATENCY_BOUNDS.map(b => `le_${b}`), 'le_inf'];

export interface HourlyRow {
  hour: Date;
  product_id: string;
  consumer_ref: string;
  model: string;
  upstream: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
  [bucket: `le_${string}`]: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** An error on the usage pages: a 4xx or 5xx answer, but not a call the client closed (it had no answer). */
export const isErrorStatus = (status: number) => status >= 400 && status !== CLIENT_CLOSED_STATUS;

/**
 * Sums a batch of calls into one row per hour (or per UTC day, with
 * `bucketMs` DAY_MS; the row's `hour` is then the day's start), product,
 * consumer, model and upstream.
 */
export function rollUp(records: UsageRecord[], bucketMs = HOUR_MS): HourlyRow[] {
  const rows = new Map<string, HourlyRow>();
  for (const r of records) {
    const hour = Math.floor(r.at.getTime() / bucketMs) * bucketMs;
    const consumer = r.consumerRef ?? '';
    const model = r.model ?? '';
    const upstream = r.upstream ?? '';
    const id = `${hour}\u0000${r.productId}\u0000${consumer}\u0000${model}\u0000${upstream}`;
    let row = rows.get(id);
    if (!row) {
      row = { hour: new Date(hour), product_id: r.productId, consumer_ref: consumer, model, upstream, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, cost: 0 };
      for (const c of BUCKET_COLUMNS) row[c as `le_${string}`] = 0;
      rows.set(id, row);
    }
    row.requests++;
    if (isErrorStatus(r.status)) row.errors++;
    row.prompt_tokens += r.promptTokens;
    row.completion_tokens += r.completionTokens;
    row.cost += r.cost;
    const index = LATENCY_BOUNDS.findIndex(b => r.latencyMs <= b);
    row[BUCKET_COLUMNS[index < 0 ? BUCKET_COLUMNS.length - 1 : index] as `le_${string}`]++;
  }
  return [...rows.values()];
}

/** Where a quantile beyond the last bound is put: a millisecond past it, read as "slower than the last bound". */
export const BEYOND_LAST_BOUND_MS = LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1] + 1;

/** The q-quantile of a histogram, as the upper bound of the bucket it falls in (BEYOND_LAST_BOUND_MS past the last). */
export function histogramQuantile(counts: number[], q: number): number {
  const total = counts.reduce((n, c) => n + c, 0);
  if (total === 0) return 0;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (const [i, c] of counts.entries()) {
    seen += c;
    if (seen >= rank) return i < LATENCY_BOUNDS.length ? LATENCY_BOUNDS[i] : BEYOND_LAST_BOUND_MS;
  }
  return BEYOND_LAST_BOUND_MS;
}
