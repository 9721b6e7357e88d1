import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import type { StoredKey, UsageRecord } from '../database/GatewayStore';

// Messages are JSON: dates travel as epoch milliseconds.

/** What the portal sends the data plane process (child.ts) over its IPC channel. */
export type ToDataPlane =
  | {
    type: 'start';
    host: string;
    port: number;
    /** Passed here, not in argv or the environment, so that `ps` and /proc never show it. */
    keySecret: string;
    /** How long a revoked or expired key is remembered (keyCache.ts, `deadBefore`). */
    deadKeyRetentionMs?: number;
    redisUrl?: string;
    /** `gateway.allowedUpstreamHosts`: a stored product's upstream outside it is not called. */
    allowedUpstreamHosts: string[];
    /** The native relay's compiled file (nativeRelay.ts), when streams use it. */
    nativeRelay?: string;
    /** Why there is none (not built, turned off), for the admin page's status. */
    nativeRelayReason?: string;
    keys: StoredKey[];
    products: GatewayProduct[];
    /** What each key spent this day and month (in-memory budgets start from it). */
    spend: SpendSoFar[];
    /** How many usage rows the process holds for the portal at most before it drops the oldest (UsageWriter's default when absent; tests set it small). */
    usageQueueMax?: number;
  }
  | (PolicyChange & { id: number })
  | { type: 'stop' };

/** A change of policy, acknowledged by the data plane once it holds it. */
export type PolicyChange =
  | { type: 'keys'; keys: StoredKey[] }
  | { type: 'products'; products: GatewayProduct[] };

/** What the data plane process sends back. */
export type FromDataPlane =
  /** `streams`: who forwards streamed events in this process (the relay may be built and still fail to load here). */
  | { type: 'listening'; url: string; streams: { relay: 'native' | 'javascript'; reason?: string } }
  | { type: 'failed'; message: string }
  | { type: 'ack'; id: number }
  /** `dropped`: the rows this process has dropped so far, its queue full (the portal not reading them fast enough). */
  | { type: 'usage'; rows: Array<Omit<UsageRecord, 'at'> & { at: number }>; dropped: number }
  | { type: 'log'; level: 'error' | 'warn' | 'info' | 'debug'; message: string }
  | { type: 'stopped' };

export interface SpendSoFar {
  keyId: string;
  /** The UTC day (YYYY-MM-DD) and month (YYYY-MM) the sums were read for: a process that starts in a later one starts that period at 0. */
  day: string;
  month: string;
  dayTokens: number;
  dayCost: number;
  monthTokens: number;
  monthCost: number;
}
