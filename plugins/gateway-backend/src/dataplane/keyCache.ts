import type { StoredKey } from '../database/GatewayStore';
import { parseKey, secretMatches } from '../keys/keyMaterial';

export type KeyCheck =
  | { ok: true; key: StoredKey }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired' };

/**
 * Every key, in memory, by public id: the data plane checks a key without
 * touching the database. The control plane feeds it (policyFeed.ts): its
 * own changes at once, other replicas' within a second. The map holds every
 * key, so it is also the negative cache: an unknown key is a miss in it,
 * never a database query, and a made-up key costs one parse and one lookup.
 */
export class KeyCache {
  private readonly byPublicId = new Map<string, StoredKey>();

  constructor(private readonly options: { keySecret: string; now?: () => number }) {}

  apply(key: StoredKey) {
    this.byPublicId.set(key.publicId, key);
  }

  /** Checks a presented key (the bearer token). */
  check(presented: string | undefined): KeyCheck {
    if (!presented) return { ok: false, reason: 'missing' };
    const parts = parseKey(presented);
    if (!parts) return { ok: false, reason: 'malformed' };
    const key = this.byPublicId.get(parts.publicId);
    if (!key) return { ok: false, reason: 'unknown' };
    if (!secretMatches(this.options.keySecret, parts.secret, key.secretHash)) return { ok: false, reason: 'unknown' };
    if (key.status === 'revoked') return { ok: false, reason: 'revoked' };
    if (key.expiresAt && Date.parse(key.expiresAt) <= (this.options.now?.() ?? Date.now())) return { ok: false, reason: 'expired' };
    return { ok: true, key };
  }

  get size() {
    return this.byPublicId.size;
  }
}
