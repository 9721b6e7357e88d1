import type { StoredKey } from '../database/GatewayStore';
import type { SpendSoFar } from './ipc';
import { parseKey, secretMatches } from '../keys/keyMaterial';

export type KeyCheck =
  | { ok: true; key: StoredKey }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired' };

/** Verified presented keys remembered at most; all are forgotten when it is reached (only keys that matched get in). */
const MAX_VERIFIED = 10_000;

/** How long a revoked or expired key is remembered unless `gateway.deadKeyRetentionDays` says otherwise. */
export const DEFAULT_DEAD_KEY_RETENTION_MS = 30 * 86_400_000;

/** How often the caches look for keys to forget: a key goes at most this long after its retention ends. */
export const KEY_SWEEP_MS = 60_000;

/** The instant before which a dead key is forgotten. */
export const forgetBefore = (now: number, retentionMs = DEFAULT_DEAD_KEY_RETENTION_MS) => now - retentionMs;

/**
 * Whether a key has been dead (revoked, or past its expiry) since `before`
 * or earlier: inclusive, so a retention of 0 forgets a key the moment it
 * dies, not a millisecond later or at the next sweep. Such a key opens
 * nothing, and the caches drop it: they hold the keys that still open
 * something plus the recently dead ones, not every key ever issued (each
 * rotation leaves one behind). A call with a dropped key is answered as an
 * unknown key: a 401 all the same, only the message differs.
 */
export function deadBefore(key: StoredKey, before: number): boolean {
  if (key.status === 'revoked' && Date.parse(key.revokedAt ?? key.updatedAt) <= before) return true;
  return key.expiresAt !== undefined && Date.parse(key.expiresAt) <= before;
}

/**
 * What a key's limits and budgets are kept under: the approved request it was
 * issued for, which its rotations share, so a rotation hands its successor
 * the minute's and the day's spend instead of a fresh allowance (rotating
 * again and again would otherwise be a way round the plan). A key issued for
 * no request is its own.
 */
export function grantOf(key: StoredKey): string {
  return key.requestId ?? key.id;
}

/**
 * What each grant has spent so far, from its keys' sums (a key and its
 * rotations): a data plane's budgets start from these. Only the keys given
 * count: a key the cache has forgotten opens nothing.
 */
export function spendByGrant(keys: StoredKey[], spend: SpendSoFar[]): Map<string, SpendSoFar> {
  const grants = new Map(keys.map(key => [key.id, grantOf(key)]));
  const sums = new Map<string, SpendSoFar>();
  for (const spent of spend) {
    const grant = grants.get(spent.keyId);
    if (!grant) continue;
    const sum = sums.get(grant);
    if (!sum) sums.set(grant, { ...spent, keyId: grant });
    else Object.assign(sum, { dayTokens: sum.dayTokens + spent.dayTokens, dayCost: sum.dayCost + spent.dayCost, monthTokens: sum.monthTokens + spent.monthTokens, monthCost: sum.monthCost + spent.monthCost });
  }
  return sums;
}

/**
 * Every key, in memory, by public id: the data plane checks a key without
 * touching the database. The control plane feeds it (policyFeed.ts): its
 * own changes at once, other replicas' within a second. The map holds every
 * key but those long dead (`deadBefore`), so it is also the negative cache:
 * an unknown key is a miss in it, never a database query, and a made-up key
 * costs one parse and one lookup.
 */
export class KeyCache {
  private readonly byPublicId = new Map<string, StoredKey>();
  /**
   * Presented keys whose secret matched, with the key and hash they matched:
   * the HMAC is computed once per key and secret, not on every call (it was
   * 5 % of the data plane's busy time at 1,000 streams). An entry counts only while
   * its key still has that hash, and status and expiry are read from the
   * key each time, so a rotation, revocation or expiry acts as before.
   */
  private readonly verified = new Map<string, { publicId: string; secretHash: string }>();

  constructor(private readonly options: { keySecret: string; now?: () => number; deadKeyRetentionMs?: number }) {}

  /** Holds the key as it now is; true when it is dropped instead (dead past the retention: its limits' state can go too). */
  apply(key: StoredKey): boolean {
    if (deadBefore(key, this.forgetBefore())) {
      this.byPublicId.delete(key.publicId);
      return true;
    }
    this.byPublicId.set(key.publicId, key);
    return false;
  }

  /**
   * Drops the keys dead for longer than the retention; returns the grants
   * (grantOf) no key it holds is of any more: their limits' state can go too.
   */
  forgetDead(): string[] {
    const before = this.forgetBefore();
    const forgotten: StoredKey[] = [];
    for (const [publicId, key] of this.byPublicId) {
      if (!deadBefore(key, before)) continue;
      this.byPublicId.delete(publicId);
      forgotten.push(key);
    }
    if (forgotten.length > 0) {
      for (const [presented, seen] of this.verified) if (!this.byPublicId.has(seen.publicId)) this.verified.delete(presented);
    }
    return this.grantsLetGo(forgotten);
  }

  /** Of the grants of these dropped keys, those no key it holds is of (a rotated-out key goes before its successor). */
  grantsLetGo(dropped: StoredKey[]): string[] {
    if (dropped.length === 0) return [];
    const held = new Set<string>();
    for (const key of this.byPublicId.values()) held.add(grantOf(key));
    return [...new Set(dropped.map(grantOf))].filter(grant => !held.has(grant));
  }

  private forgetBefore() {
    return forgetBefore(this.options.now?.() ?? Date.now(), this.options.deadKeyRetentionMs);
  }

  /** Checks a presented key (the bearer token). */
  check(presented: string | undefined): KeyCheck {
    if (!presented) return { ok: false, reason: 'missing' };
    const seen = this.verified.get(presented);
    let key = seen ? this.byPublicId.get(seen.publicId) : undefined;
    if (!seen || !key || key.secretHash !== seen.secretHash) {
      const parts = parseKey(presented);
      if (!parts) return { ok: false, reason: 'malformed' };
      key = this.byPublicId.get(parts.publicId);
      if (!key) return { ok: false, reason: 'unknown' };
      if (!secretMatches(this.options.keySecret, parts.secret, key.secretHash)) return { ok: false, reason: 'unknown' };
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(presented, { publicId: key.publicId, secretHash: key.secretHash });
    }
    if (key.status === 'revoked') return { ok: false, reason: 'revoked' };
    if (key.expiresAt && Date.parse(key.expiresAt) <= (this.options.now?.() ?? Date.now())) return { ok: false, reason: 'expired' };
    return { ok: true, key };
  }

  get size() {
    return this.byPublicId.size;
  }
}
