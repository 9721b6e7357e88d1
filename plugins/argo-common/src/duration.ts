import type { IntOrString } from './kinds';

/** Go's time.ParseDuration, in milliseconds (`1m30s`, `500ms`, `1.5h`); undefined when it does not parse. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/.exec(text);
  if (!m) return text === '0' ? 0 : undefined;
  let total = 0;
  for (const part of text.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(part[1]) * units[part[2]];
  }
  return m[1] === '-' ? -total : total;
}

/**
 * A pause step's duration in seconds (RolloutPause.DurationSeconds): an int
 * is seconds, a string is seconds or a Go duration (truncated to whole
 * seconds); undefined is indefinite; -1 marks an unparsable value.
 */
export function pauseDurationSeconds(duration: IntOrString | undefined): number | undefined {
  if (duration === undefined) return undefined;
  if (typeof duration === 'number') return duration;
  if (/^[+-]?\d+$/.test(duration)) return Number(duration);
  const ms = parseGoDuration(duration);
  return ms === undefined ? -1 : Math.trunc(ms / 1000);
}
