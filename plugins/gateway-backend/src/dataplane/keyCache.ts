import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayStore, StoredKey } from '../database/GatewayStore';
import { parseKey, secretMatches } from '../keys/keyMaterial';

export type KeyCheck =
  | { ok: true; key: StoredKey }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired' };

/**
 * Every key, in memory, by public id: the data plane checks a key without
 * touching the database. This replica's control plane applies its changes
 * at once; a refresh every second picks up other replicas' (a revocation
 * takes effect everywhere within about a second). The map holds every key,
 * so it is also the negative cache: an unknown key is a miss in it, never
 * a database query, and a made-up key costs one parse and one lookup.
 */
export class KeyCache {
  private readonly byPublicId = new Map<string, StoredKey>();
  private since?: string;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: GatewayStore,
    private readonly options: { keySecret: string; logger?: LoggerService; refreshMs?: number; now?: () => number },
  ) {}

  private now() {
    return this.options.now?.() ?? Date.now();
  }

  apply(key: StoredKey) {
    this.byPublicId.set(key.publicId, key);
    if (!this.since || key.updatedAt > this.since) this.since = key.updatedAt;
  }

  async refresh(): Promise<void> {
    for (const key of await this.store.keysChangedSince(this.since)) this.apply(key);
  }

  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      this.timer = setTimeout(() => {
        this.refresh().catch(error => this.options.logger?.warn(`Gateway key refresh failed: ${error}`)).finally(() => {
          if (this.timer) tick();
        });
      }, this.options.refreshMs ?? 1000);
      this.timer.unref?.();
    };
    tick();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Checks a presented key (the bearer token). */
  check(presented: string | undefined): KeyCheck {
    if (!presented) return { ok: false, reason: 'missing' };
    const parts = parseKey(presented);
    if (!parts) return { ok: false, reason: 'malformed' };
    const now = this.now();
    const key = this.byPublicId.get(parts.publicId);
    if (!key) return { ok: false, reason: 'unknown' };
    if (!secretMatches(this.options.keySecret, parts.secret, key.secretHash)) return { ok: false, reason: 'unknown' };
    if (key.status === 'revoked') return { ok: false, reason: 'revoked' };
    if (key.expiresAt && Date.parse(key.expiresAt) <= now) return { ok: false, reason: 'expired' };
    return { ok: true, key };
  }

  get size() {
    return this.byPublicId.size;
  }
}
