import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import type { GatewayStore, StoredKey } from '../database/GatewayStore';
import { withDeadline } from './deadline';
import { deadBefore, forgetBefore, KEY_SWEEP_MS } from './keyCache';

/** Receives the policy the data plane must hold. */
export interface PolicyListener {
  keys(keys: StoredKey[]): Promise<void>;
  products(products: GatewayProduct[]): Promise<void>;
}

/**
 * How far before the newest change it has seen each poll for keys reads
 * again. A change another replica stamped earlier than that newest one — its
 * clock a little behind this replica's, or its transaction committed after a
 * later one — still arrives; a change read again and already held is not
 * sent on. So replicas' clocks must agree within this (NTP keeps them within
 * milliseconds).
 */
export const KEY_POLL_OVERLAP_MS = 30_000;

/**
 * How often the feed reads every live key again and compares it with what it
 * holds, as an informer's resync does. The polls trust that a change commits
 * within KEY_POLL_OVERLAP_MS of its stamp and that clocks agree within it; a
 * change that broke either (a commit that waited long for a connection or a
 * lock, a replica's clock far off) is repaired by this read at the latest.
 */
export const KEY_RESYNC_MS = 5 * 60_000;

/**
 * How long a poll may take before the next one starts anyway (a query stuck on a dead connection
 * would stop them all); what the one given up reads, if it ever answers, is dropped. The full
 * read gets longer, as a big table takes longer to read.
 */
export const POLL_TIMEOUT_MS = 30_000;
const RESYNC_TIMEOUT_MS = 2 * 60_000;

/** Whether a poll's read is still wanted: false once the poll was given up and another started. */
type StillWanted = () => boolean;
const always: StillWanted = () => true;

/**
 * How far along its one-way life a key row is: issued, rotated out
 * (`replacedBy` set), revoked. Every change to a key moves it forward, so
 * this orders two states of it without trusting replicas' clocks.
 */
function stage(key: StoredKey) {
  if (key.status === 'revoked') return 2;
  return key.replacedBy ? 1 : 0;
}

/**
 * A key as the data plane uses it. Marking a key's owners told of its expiry changes the row
 * without its stamp (no poll reads it), and the data plane has no use for it: no change.
 */
function policyOf(key: StoredKey) {
  return JSON.stringify({ ...key, expiryWarnedAt: undefined });
}

/**
 * The control plane's side of the data plane's caches: every key and
 * product, read from the database at start, then this replica's changes
 * at once (`applyKey`, `applyProduct`) and other replicas' by polling
 * (keys changed since the newest seen, less `KEY_POLL_OVERLAP_MS`, every
 * second: a revocation reaches every replica's data plane within about a
 * second; products every two).
 * Every KEY_RESYNC_MS it reads every live key again, so a change the polls
 * missed is repaired (`resyncKeys`).
 * Keys dead for longer than the retention are dropped, here as in the data
 * plane's own cache (keyCache.ts, `deadBefore`), so neither grows with every
 * key ever issued.
 */
export class PolicyFeed {
  private readonly keysById = new Map<string, StoredKey>();
  /** Keys dropped lately, by id: as they were, their stage, and when (forgetDead keeps them for KEY_POLL_OVERLAP_MS). */
  private readonly forgotten = new Map<string, { key: StoredKey; stage: number; at: number }>();
  private products: GatewayProduct[] = [];
  private productsJson = '';
  /** For each product refresh under way (one, or more after one was given up), the products this replica wrote or removed meanwhile. */
  private readonly refreshesUnderWay = new Set<Set<string>>();
  private since?: string;
  private timers: NodeJS.Timeout[] = [];
  private listener?: PolicyListener;
  /** Counts changes, so a data plane that started from an older snapshot can tell it missed some. */
  version = 0;

  constructor(
    private readonly store: Pick<GatewayStore, 'keysChangedSince' | 'getKeys' | 'listProducts'>,
    private readonly options: {
      logger?: LoggerService;
      keyRefreshMs?: number;
      productRefreshMs?: number;
      pollTimeoutMs?: number;
      deadKeyRetentionMs?: number;
      now?: () => number;
    } = {},
  ) {}

  /** The data plane this feed keeps current. */
  connect(listener: PolicyListener) {
    this.listener = listener;
  }

  /** Everything, for a data plane (re)starting. */
  snapshot() {
    return { keys: [...this.keysById.values()], products: this.products };
  }

  /**
   * Keys dropped lately, as they were when dropped: a data plane that started from a snapshot
   * still holding one (revoked while it started, with a retention of 0) is sent these too, and
   * drops it, where the snapshot's keys alone would leave it as it was.
   */
  recentlyForgotten(): StoredKey[] {
    return [...this.forgotten.values()].map(f => f.key);
  }

  /**
   * Takes keys as they now are; one older than what the feed holds (a
   * rotation's notice arriving after a revocation's, or a poll that read the
   * row just before a change) is left out, so the data plane never sees a key
   * step back, not even for the second until the next poll.
   */
  async applyKeys(keys: StoredKey[]): Promise<StoredKey[]> {
    const newer = keys.filter(key => this.remember(key));
    if (newer.length > 0) await this.listener?.keys(newer);
    return newer;
  }

  async applyProduct(product: GatewayProduct) {
    for (const changed of this.refreshesUnderWay) changed.add(product.id);
    await this.setProducts([...this.products.filter(p => p.id !== product.id), product]);
  }

  async removeProduct(id: string) {
    for (const changed of this.refreshesUnderWay) changed.add(id);
    await this.setProducts(this.products.filter(p => p.id !== id));
  }

  /** Holds the key unless it is behind the one held (or just forgotten); says whether it did. */
  private remember(key: StoredKey) {
    const held = this.keysById.get(key.id);
    const heldStage = held ? stage(held) : this.forgotten.get(key.id)?.stage;
    if (heldStage !== undefined && stage(key) < heldStage) return false;
    this.version++;
    if (deadBefore(key, this.forgetBefore())) this.forget(key);
    else this.keysById.set(key.id, key);
    this.readUpTo(key);
    return true;
  }

  /**
   * Moves the next poll's start past a row it read, held or not (with no live key, every poll
   * would otherwise read the whole table), but never past this replica's own clock: a replica
   * whose clock runs ahead must not move the polls past everyone else's stamps.
   */
  private readUpTo(key: StoredKey) {
    const now = new Date(this.options.now?.() ?? Date.now()).toISOString();
    const at = key.updatedAt > now ? now : key.updatedAt;
    if (!this.since || at > this.since) this.since = at;
  }

  /**
   * Drops a key, remembering for a while how far along it was: with a short
   * retention a revoked key is dropped as it arrives, and a rotation's notice
   * heard after it must still be behind something.
   */
  private forget(key: StoredKey) {
    this.keysById.delete(key.id);
    this.forgotten.set(key.id, { key, stage: stage(key), at: this.options.now?.() ?? Date.now() });
  }

  /** Drops keys dead for longer than the retention (the data plane drops its own on the same rule). */
  forgetDead() {
    const before = this.forgetBefore();
    for (const key of this.keysById.values()) if (deadBefore(key, before)) this.forget(key);
    const now = this.options.now?.() ?? Date.now();
    for (const [id, { at }] of this.forgotten) if (now - at > KEY_POLL_OVERLAP_MS) this.forgotten.delete(id);
  }

  private forgetBefore() {
    return forgetBefore(this.options.now?.() ?? Date.now(), this.options.deadKeyRetentionMs);
  }

  private async setProducts(products: GatewayProduct[]) {
    const json = JSON.stringify(products);
    if (json === this.productsJson) return;
    this.version++;
    this.products = products;
    this.productsJson = json;
    await this.listener?.products(products);
  }

  async refreshKeys(stillWanted: StillWanted = always) {
    const since = this.since && new Date(Date.parse(this.since) - KEY_POLL_OVERLAP_MS).toISOString();
    const read = await this.store.keysChangedSince(since);
    if (!stillWanted()) return;
    for (const key of read) this.readUpTo(key);
    const changed = read.filter(key => !this.holds(key));
    if (changed.length > 0) await this.applyKeys(changed);
  }

  /**
   * Reads every live key, and in one more read each held key the first left out (dead past the
   * retention), and sends on what moved past what the feed holds. Returns how many did: more
   * than none means a poll missed a change, which is said in the log. A held key whose row is
   * gone (its product removed, with its dead keys) is forgotten.
   */
  async resyncKeys(stillWanted: StillWanted = always): Promise<number> {
    const listed = await this.store.keysChangedSince(undefined, { deadBefore: new Date(this.forgetBefore()) });
    const seen = new Set(listed.map(key => key.id));
    const missing = [...this.keysById.keys()].filter(held => !seen.has(held));
    const reread = missing.length > 0 ? await this.store.getKeys(missing) : [];
    if (!stillWanted()) return 0;
    const found = new Set(reread.map(key => key.id));
    for (const id of missing) {
      const held = this.keysById.get(id);
      if (held && !found.has(id)) this.forget(held);
    }
    // Only what the feed took: a key that moved on meanwhile (a revocation here) is no missed change.
    const taken = await this.applyKeys([...listed, ...reread].filter(key => !this.holds(key)));
    if (taken.length === 0) return 0;
    this.options.logger?.warn(`Gateway keys: a full read found ${taken.length} key change(s) the polls had missed (${taken.slice(0, 5).map(key => key.publicId).join(', ')}${taken.length > 5 ? ', …' : ''}); a change committed long after its stamp, or replicas' clocks apart by more than ${KEY_POLL_OVERLAP_MS / 1000} s`);
    return taken.length;
  }

  /** Whether the feed already holds this very key (or has rightly forgotten it): read again, it changes nothing. */
  private holds(key: StoredKey) {
    const held = this.keysById.get(key.id);
    if (!held) return deadBefore(key, this.forgetBefore());
    return policyOf(held) === policyOf(key);
  }

  /**
   * Reads every product again (the changes other replicas made). A product
   * this replica wrote or removed while the read was under way is kept as it
   * is now: the read may have begun before that write committed, and would
   * put back, until the next poll, weights a rollout had just changed.
   */
  async refreshProducts(stillWanted: StillWanted = always) {
    const changed = new Set<string>();
    this.refreshesUnderWay.add(changed);
    let listed: GatewayProduct[];
    try {
      listed = await this.store.listProducts();
    } finally {
      this.refreshesUnderWay.delete(changed);
    }
    // A read given up may be older than a later refresh's, already applied.
    if (!stillWanted()) return;
    if (changed.size === 0) {
      await this.setProducts(listed);
      return;
    }
    const current = new Map(this.products.filter(p => changed.has(p.id)).map(p => [p.id, p]));
    // In the read's order; what this replica removed meanwhile stays removed, what it created is added.
    const merged = listed.filter(p => !changed.has(p.id) || current.has(p.id)).map(p => current.get(p.id) ?? p);
    for (const [id, p] of current) if (!listed.some(l => l.id === id)) merged.push(p);
    await this.setProducts(merged);
  }

  /** Loads everything once; the first data plane starts from this snapshot. */
  async load() {
    for (const key of await this.store.keysChangedSince(undefined, { deadBefore: new Date(this.forgetBefore()) })) this.remember(key);
    this.products = await this.store.listProducts();
    this.productsJson = JSON.stringify(this.products);
  }

  start() {
    const pollTimeoutMs = this.options.pollTimeoutMs ?? POLL_TIMEOUT_MS;
    const every = (ms: number, what: string, fn: (stillWanted: StillWanted) => Promise<unknown>, timeoutMs = pollTimeoutMs) => {
      // Each run's number: a run given up is no longer the latest, and what it reads later is dropped.
      let latest = 0;
      const tick = () => {
        const timer = setTimeout(() => {
          const run = ++latest;
          withDeadline(fn(() => run === latest), timeoutMs, `no answer within ${timeoutMs} ms; the next one starts now`).catch(error => {
            if (run === latest) latest++;
            this.options.logger?.warn(`Gateway ${what} refresh failed: ${error}`);
          }).finally(() => {
            if (this.timers.includes(timer)) {
              this.timers = this.timers.filter(t => t !== timer);
              tick();
            }
          });
        }, ms);
        timer.unref?.();
        this.timers.push(timer);
      };
      tick();
    };
    every(this.options.keyRefreshMs ?? 1000, 'key', stillWanted => this.refreshKeys(stillWanted));
    every(this.options.productRefreshMs ?? 2000, 'product', stillWanted => this.refreshProducts(stillWanted));
    every(KEY_SWEEP_MS, 'dead key', async () => this.forgetDead());
    every(KEY_RESYNC_MS, 'full key', stillWanted => this.resyncKeys(stillWanted), Math.max(pollTimeoutMs, RESYNC_TIMEOUT_MS));
  }

  stop() {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }
}
