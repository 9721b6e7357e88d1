/**
 * The generic cell rate algorithm for requests per minute: one number per
 * key (the theoretical arrival time), no timers. A burst of up to the
 * whole minute's allowance is admitted, then requests are spaced evenly;
 * a refusal says when the next request would be admitted.
 */
export class Gcra {
  private readonly tat = new Map<string, number>();

  constructor(private readonly options: { now?: () => number; maxKeys?: number } = {}) {}

  /** Admits one request for `key` at `perMinute`, or answers how long to wait. */
  take(key: string, perMinute: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const now = this.options.now?.() ?? Date.now();
    const interval = 60_000 / perMinute;
    const tolerance = 60_000 - interval;
    const tat = Math.max(this.tat.get(key) ?? now, now);
    const allowAt = tat - tolerance;
    if (now < allowAt) return { ok: false, retryAfterMs: Math.ceil(allowAt - now) };
    this.remember(key, tat + interval, now);
    return { ok: true };
  }

  private remember(key: string, tat: number, now: number) {
    if (!this.tat.has(key) && this.tat.size >= (this.options.maxKeys ?? 100_000)) {
      // Drop keys whose allowance is full again (their state is the default).
      for (const [k, t] of this.tat) if (t <= now) this.tat.delete(k);
    }
    this.tat.set(key, tat);
  }
}
