/** Display helpers shared by the gateway views. */

/** `user:default/erin` → `erin`; other namespaces and kinds stay visible. */
export function shortUser(ref: string | undefined): string {
  if (!ref) return '–';
  return ref.replace(/^user:default\//, '');
}

export { formatDateTime } from '@quarterdeck/plugin-quarterdeck-react';

export function formatNumber(n: number | undefined): string {
  if (n === undefined || n === null) return '–';
  return Math.round(n).toLocaleString('en-US');
}

/** USD, with more decimals for the small amounts single calls cost. */
export function formatCost(usd: number | undefined): string {
  if (usd === undefined || usd === null) return '–';
  if (usd === 0) return '$0';
  if (Math.abs(usd) < 0.01) {
    const fixed = usd.toFixed(6);
    // Below what six decimals show, yet not nothing: "$0." would read as free (a negative alike, as "$-0.005" is written).
    if (Number(fixed) === 0) return usd > 0 ? '< $0.000001' : '> $-0.000001';
    return `$${fixed.replace(/0+$/, '')}`;
  }
  return `$${usd.toFixed(2)}`;
}

/** Dollars per million tokens. */
export function formatPrice(usd: number): string {
  return `$${usd.toLocaleString('en-US', { maximumFractionDigits: 4 })} / M`;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || ms === null) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms)} ms`;
}

/**
 * A latency quantile that is a histogram bucket's upper bound, as the bucket
 * it stands for: `≤ 5 ms`, `500–1000 ms`, `5–10 s`; the last bound + 1
 * (the answer's way of saying "slower than all of them") as `> 10.0 s`.
 */
export function formatLatencyBucket(ms: number, bounds: number[]): string {
  const last = bounds[bounds.length - 1];
  if (ms === last + 1) return `> ${formatMs(last)}`;
  const i = bounds.indexOf(ms);
  if (i < 0) return formatMs(ms);
  if (i === 0) return `≤ ${formatMs(ms)}`;
  const lower = bounds[i - 1];
  return ms >= 10_000 ? `${lower / 1000}–${ms / 1000} s` : `${lower}–${formatMs(ms)}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A series bucket's label: an hour's `14:00`, with the date when the window spans days; a UTC day's `06 Dec`. */
export function formatBucket(iso: string, withDate: boolean, bucketMs: number): string {
  if (bucketMs >= 86_400_000) {
    const day = new Date(iso);
    return `${String(day.getUTCDate()).padStart(2, '0')} ${MONTHS[day.getUTCMonth()]}`;
  }
  return formatHour(iso, withDate);
}

/** An hour's label: `14:00`, with the date when the window spans days. */
function formatHour(iso: string, withDate: boolean): string {
  const date = new Date(iso);
  const time = date.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  if (!withDate) return time;
  return `${date.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' })} ${time}`;
}

export function limitText(value: number | undefined, format: (n: number) => string = formatNumber): string {
  return value === undefined ? 'no limit' : format(value);
}
