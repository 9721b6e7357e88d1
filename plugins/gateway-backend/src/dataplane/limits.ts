import type { GatewayPlan } from '@quarterdeck/plugin-gateway-common';
import type { SpendSoFar } from './ipc';

/**
 * A plan's limits, checked and charged in one step per call:
 * - requests per minute: GCRA (a theoretical arrival time per key);
 * - tokens per minute: a token bucket that reserves the call's prompt
 *   tokens plus its `max_tokens` before the call, and gives back (or takes)
 *   the difference when the upstream reports what was used;
 * - daily and monthly token and cost budgets, reserved the same way, so
 *   concurrent calls cannot together spend past a budget: the overshoot is
 *   at most what one call uses beyond its reservation.
 * In memory on one replica; `RedisLimits` keeps the same state in Redis
 * (one Lua script per check, atomic) when several replicas share a budget.
 */

export interface Charge {
  tokens: number;
  /** USD. */
  cost: number;
}

export type LimitName = 'requests' | 'tokens' | 'daily-tokens' | 'monthly-tokens' | 'daily-cost' | 'monthly-cost';

export type Admission = { ok: true } | { ok: false; limit: LimitName; retryAfterMs: number; message: string };

export interface Limits {
  /** Admits a call and reserves `ask`, or says which limit refuses it and for how long. */
  admit(keyId: string, plan: GatewayPlan, ask: Charge, now: number): Promise<Admission>;
  /**
   * Replaces a call's reservation with what it actually used, in the budget periods of
   * `admittedAt` (when it was admitted): a call that ends after midnight UTC settles the day it
   * was reserved in, not the next one, whose counters it never added to.
   */
  settle(keyId: string, plan: GatewayPlan, reserved: Charge, used: Charge, admittedAt: number): Promise<void>;
  /** Drops what is held for keys the gateway has forgotten (keyCache.ts, `deadBefore`). */
  forget?(keyIds: string[]): void;
  close?(): Promise<void>;
}

/** Costs are counted in whole nano-dollars, so sums are exact (0.05 × 20 is 1, not 1.0000000000000002). */
export const nanos = (usd: number) => Math.round(usd * 1e9);

export interface Periods {
  day: string;
  month: string;
  dayStarts: number;
  dayEnds: number;
  monthEnds: number;
}

let current: Periods | undefined;

/** UTC day and month of an instant, as budget periods, with when each ends (computed once a day, not per call). */
export function periods(now: number): Periods {
  if (current && now >= current.dayStarts && now < current.dayEnds) return current;
  const d = new Date(now);
  const dayStarts = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const computed = {
    day: new Date(dayStarts).toISOString().slice(0, 10),
    month: new Date(month).toISOString().slice(0, 7),
    dayStarts,
    dayEnds: dayStarts + 86_400_000,
    monthEnds: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
  // Tests move clocks backwards; only the period of the newest instant is kept.
  if (!current || now >= current.dayStarts) current = computed;
  return computed;
}

/** A cost as a person reads it: cents, or more digits when it is smaller than a cent. */
const dollars = (usd: number) => (usd >= 0.01 ? usd.toFixed(2) : String(Number(usd.toPrecision(2))));

/**
 * GCRA's theoretical arrival time is kept as a whole part and a fraction of a millisecond below
 * one: `60000 / rpm` added to today's epoch (~1.8e12 ms) rounds each step by up to 0.1 µs, and
 * a full burst's last request was refused by the sum of those roundings (rpm 17, 90 and most
 * others). On the fraction the steps are exact to 1e-11 ms; an arrival within a microsecond of
 * its allowed instant is admitted.
 */
export const GCRA_TOLERANCE_MS = 1e-3;

export function refusal(limit: LimitName, plan: GatewayPlan, retryAfterMs: number, ask?: Charge): Admission {
  const messages: Record<LimitName, string> = {
    requests: `Rate limit reached for requests: ${plan.requestsPerMinute} per minute on plan "${plan.name}".`,
    tokens: ask && plan.tokensPerMinute !== undefined && ask.tokens > plan.tokensPerMinute
      ? `This request needs up to ${ask.tokens} tokens, more than plan "${plan.name}" allows per minute (${plan.tokensPerMinute}); lower max_tokens.`
      : `Rate limit reached for tokens: ${plan.tokensPerMinute} per minute on plan "${plan.name}".`,
    'daily-tokens': ask && plan.dailyTokens !== undefined && ask.tokens > plan.dailyTokens
      ? `This request needs up to ${ask.tokens} tokens, more than plan "${plan.name}" allows in a day (${plan.dailyTokens}); lower max_tokens.`
      : `Daily token budget of plan "${plan.name}" (${plan.dailyTokens}) is spent.`,
    'monthly-tokens': ask && plan.monthlyTokens !== undefined && ask.tokens > plan.monthlyTokens
      ? `This request needs up to ${ask.tokens} tokens, more than plan "${plan.name}" allows in a month (${plan.monthlyTokens}); lower max_tokens.`
      : `Monthly token budget of plan "${plan.name}" (${plan.monthlyTokens}) is spent.`,
    'daily-cost': ask && plan.dailyCost !== undefined && nanos(ask.cost) > nanos(plan.dailyCost)
      ? `This request may cost up to $${dollars(ask.cost)}, more than plan "${plan.name}" allows in a day ($${plan.dailyCost}); lower max_tokens.`
      : `Daily cost budget of plan "${plan.name}" ($${plan.dailyCost}) is spent.`,
    'monthly-cost': ask && plan.monthlyCost !== undefined && nanos(ask.cost) > nanos(plan.monthlyCost)
      ? `This request may cost up to $${dollars(ask.cost)}, more than plan "${plan.name}" allows in a month ($${plan.monthlyCost}); lower max_tokens.`
      : `Monthly cost budget of plan "${plan.name}" ($${plan.monthlyCost}) is spent.`,
  };
  return { ok: false, limit, retryAfterMs: Math.max(0, Math.ceil(retryAfterMs)), message: messages[limit] };
}

interface KeyState {
  /** GCRA's theoretical arrival time: tat + tatFrac, tatFrac in [0, 1). */
  tat: number;
  tatFrac: number;
  bucket: number;
  bucketAt: number;
  day: string;
  dayTokens: number;
  /** Nano-dollars. */
  dayCost: number;
  month: string;
  monthTokens: number;
  /** Nano-dollars. */
  monthCost: number;
}

/** Everything in this process's memory. */
export class MemoryLimits implements Limits {
  private readonly keys = new Map<string, KeyState>();

  /**
   * Spend already recorded (from the usage table at start), so a restart does not reset budgets.
   * Sums read for a day or month that has ended since (a restart across midnight UTC) are that
   * period's, not the new one's: they are left out.
   */
  seed(keyId: string, spent: Omit<SpendSoFar, 'keyId'>, now: number) {
    const state = this.state(keyId, now);
    if (spent.day === state.day) Object.assign(state, { dayTokens: spent.dayTokens, dayCost: nanos(spent.dayCost) });
    if (spent.month === state.month) Object.assign(state, { monthTokens: spent.monthTokens, monthCost: nanos(spent.monthCost) });
  }

  forget(keyIds: string[]) {
    for (const keyId of keyIds) this.keys.delete(keyId);
  }

  /** Keys with state held. */
  get size() {
    return this.keys.size;
  }

  private state(keyId: string, now: number): KeyState {
    const { day, month } = periods(now);
    let state = this.keys.get(keyId);
    if (!state) {
      state = { tat: now, tatFrac: 0, bucket: Number.POSITIVE_INFINITY, bucketAt: now, day, dayTokens: 0, dayCost: 0, month, monthTokens: 0, monthCost: 0 };
      this.keys.set(keyId, state);
    }
    if (state.day !== day) Object.assign(state, { day, dayTokens: 0, dayCost: 0 });
    if (state.month !== month) Object.assign(state, { month, monthTokens: 0, monthCost: 0 });
    return state;
  }

  async admit(keyId: string, plan: GatewayPlan, ask: Charge, now: number): Promise<Admission> {
    const s = this.state(keyId, now);
    const p = periods(now);
    let tat = s.tat;
    let tatFrac = s.tatFrac;
    if (plan.requestsPerMinute) {
      const interval = 60_000 / plan.requestsPerMinute;
      if (tat + tatFrac < now) {
        tat = Math.floor(now);
        tatFrac = now - tat;
      }
      // How far the allowed instant (tat - (60000 - interval)) is ahead of now, from small numbers only.
      const early = (tat - now) + tatFrac - (60_000 - interval);
      if (early > GCRA_TOLERANCE_MS) return refusal('requests', plan, early);
      tatFrac += interval;
      const carry = Math.floor(tatFrac);
      tat += carry;
      tatFrac -= carry;
    }
    let bucket = s.bucket;
    if (plan.tokensPerMinute) {
      const rate = plan.tokensPerMinute / 60_000;
      // A clock that stepped back refills nothing (it never drains a bucket).
      bucket = Math.min(plan.tokensPerMinute, (Number.isFinite(s.bucket) ? s.bucket : plan.tokensPerMinute) + Math.max(0, now - s.bucketAt) * rate);
      if (ask.tokens > plan.tokensPerMinute) return refusal('tokens', plan, 60_000, ask);
      if (bucket < ask.tokens) return refusal('tokens', plan, (ask.tokens - bucket) / rate);
      bucket -= ask.tokens;
    }
    // Monthly budgets first: when both a month's and a day's refuse, the answer's Retry-After is the month's end, which helps.
    const askCost = nanos(ask.cost);
    if (plan.monthlyTokens !== undefined && s.monthTokens + ask.tokens > plan.monthlyTokens) return refusal('monthly-tokens', plan, p.monthEnds - now, ask);
    if (plan.monthlyCost !== undefined && s.monthCost + askCost > nanos(plan.monthlyCost)) return refusal('monthly-cost', plan, p.monthEnds - now, ask);
    if (plan.dailyTokens !== undefined && s.dayTokens + ask.tokens > plan.dailyTokens) return refusal('daily-tokens', plan, p.dayEnds - now, ask);
    if (plan.dailyCost !== undefined && s.dayCost + askCost > nanos(plan.dailyCost)) return refusal('daily-cost', plan, p.dayEnds - now, ask);
    s.tat = tat;
    s.tatFrac = tatFrac;
    if (plan.tokensPerMinute) {
      s.bucket = bucket;
      s.bucketAt = Math.max(s.bucketAt, now);
    }
    s.dayTokens += ask.tokens;
    s.monthTokens += ask.tokens;
    s.dayCost += askCost;
    s.monthCost += askCost;
    return { ok: true };
  }

  async settle(keyId: string, plan: GatewayPlan, reserved: Charge, used: Charge, admittedAt: number): Promise<void> {
    const s = this.keys.get(keyId);
    if (!s) return;
    const { day, month } = periods(admittedAt);
    const tokens = used.tokens - reserved.tokens;
    const cost = nanos(used.cost) - nanos(reserved.cost);
    if (plan.tokensPerMinute && Number.isFinite(s.bucket)) s.bucket = Math.min(plan.tokensPerMinute, s.bucket - tokens);
    // Counters that have moved on to a new period since hold none of this reservation.
    if (s.day === day) {
      s.dayTokens = Math.max(0, s.dayTokens + tokens);
      s.dayCost = Math.max(0, s.dayCost + cost);
    }
    if (s.month === month) {
      s.monthTokens = Math.max(0, s.monthTokens + tokens);
      s.monthCost = Math.max(0, s.monthCost + cost);
    }
  }
}
