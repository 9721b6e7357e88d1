import type { LoggerService } from '@backstage/backend-plugin-api';
import { WatchExpiredError } from './errors';
import { objectKey, type ClusterClient, type KindRef, type KubeObject } from './types';

export interface InformerHandlers<T extends KubeObject> {
  onAdd?(object: T): void;
  /** Also called with the same object twice on each resync. */
  onUpdate?(previous: T, object: T): void;
  onDelete?(object: T): void;
}

export interface InformerOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often (level-triggered reconcilers). */
  resyncMs?: number;
  logger?: LoggerService;
}

const MIN_BACKOFF_MS = 500;

/** Waits `ms`, or less when `signal` aborts: a stopped informer does not wait out its backoff. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>(resolve => {
    const timer = setTimeout(done, ms);
    timer.unref?.();
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
const MAX_BACKOFF_MS = 30_000;
/** A watch that ends with no event sooner than this is treated as a failure (backed off). */
const SHORT_WATCH_MS = 1_000;

/**
 * A list + watch cache of one kind, like client-go's shared informer: lists,
 * then watches from the list's resourceVersion; lists again when the watch
 * expires (410 Gone) and backs off on errors. Reconcilers read the cache and
 * react to handler calls instead of polling the cluster.
 */
export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private abort = new AbortController();
  private synced = false;
  private syncedWaiters: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private resync?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly client: ClusterClient,
    readonly kind: KindRef,
    private readonly options: InformerOptions = {},
  ) {}

  addHandlers(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
    // What the cache holds, as `emit` would tell it: a handler that throws on one object is logged, not fatal.
    if (this.synced) for (const o of this.cache.values()) this.call(handlers, h => h.onAdd?.(o));
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  async start(): Promise<void> {
    if (!this.running) {
      this.abort = new AbortController();
      this.running = this.run(this.abort.signal);
      if (this.options.resyncMs) {
        this.resync = setInterval(() => {
          for (const o of this.cache.values()) this.emit(h => h.onUpdate?.(o, o));
        }, this.options.resyncMs);
        this.resync.unref?.();
      }
    }
    await this.waitForSync();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // A start still waiting for its first list (a cluster that does not answer) ends now.
    for (const waiter of this.syncedWaiters.splice(0)) waiter.reject(new Error(`The ${this.kind.kind} informer stopped before its first list`));
    if (this.resync) clearInterval(this.resync);
    await this.running?.catch(() => undefined);
    this.running = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve, reject) => this.syncedWaiters.push({ resolve, reject }));
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(filter?: (o: T) => boolean): T[] {
    const all = [...this.cache.values()];
    return filter ? all.filter(filter) : all;
  }

  private emit(call: (h: InformerHandlers<T>) => void) {
    for (const h of this.handlers) this.call(h, call);
  }

  private call(handlers: InformerHandlers<T>, call: (h: InformerHandlers<T>) => void) {
    try {
      call(handlers);
    } catch (error) {
      this.options.logger?.error(`Informer handler for ${this.kind.kind} failed: ${error}`);
    }
  }

  private async relist(signal: AbortSignal): Promise<string> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.client.list<T>(this.kind, {
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        limit: 500,
        continue: cont,
        signal,
      });
      items.push(...page.items);
      cont = page.continue;
      resourceVersion = page.resourceVersion;
    } while (cont);
    const seen = new Set<string>();
    for (const o of items) {
      const key = objectKey(o);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, o);
      if (!previous) this.emit(h => h.onAdd?.(o));
      else if (previous.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit(h => h.onUpdate?.(previous, o));
    }
    for (const [key, o] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit(h => h.onDelete?.(o));
      }
    }
    if (!this.synced) {
      this.synced = true;
      for (const waiter of this.syncedWaiters.splice(0)) waiter.resolve();
    }
    return resourceVersion;
  }

  private async run(signal: AbortSignal) {
    let backoff = MIN_BACKOFF_MS;
    let resourceVersion: string | undefined;
    while (!signal.aborted) {
      try {
        resourceVersion ??= await this.relist(signal);
        const watchStarted = Date.now();
        let events = 0;
        for await (const event of this.client.watch<T>(this.kind, {
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          resourceVersion,
          allowBookmarks: true,
          signal,
        })) {
          backoff = MIN_BACKOFF_MS;
          events++;
          resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
          if (event.type === 'BOOKMARK') continue;
          const key = objectKey(event.object);
          const previous = this.cache.get(key);
          if (event.type === 'DELETED') {
            this.cache.delete(key);
            this.emit(h => h.onDelete?.(event.object));
          } else {
            this.cache.set(key, event.object);
            if (previous) this.emit(h => h.onUpdate?.(previous, event.object));
            else this.emit(h => h.onAdd?.(event.object));
          }
        }
        // The server ended the watch: resume from where it left off. One that ended at once with nothing (a proxy
        // that closes streaming requests) is backed off as client-go's reflector does, not reopened as fast as a
        // round trip allows.
        if (!signal.aborted && events === 0 && Date.now() - watchStarted < SHORT_WATCH_MS) {
          throw new Error(`the watch ended within ${SHORT_WATCH_MS} ms with no event`);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof WatchExpiredError || (error as { statusCode?: number }).statusCode === 410) {
          resourceVersion = undefined;
          continue;
        }
        this.options.logger?.warn(`Watching ${this.kind.kind} failed, retrying in ${backoff} ms: ${error}`);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        // The resourceVersion is kept, as client-go keeps it: the next watch resumes where this one was (a list
        // of everything again, on every dropped connection, is what a big cluster's API server can least afford),
        // and a 410 says when it is too old to. A list that failed has left none, and lists again.
      }
    }
  }
}
