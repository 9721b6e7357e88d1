import type { LoggerService } from '@backstage/backend-plugin-api';

export interface WorkQueueOptions {
  /** How many keys are worked on at once (one key is never worked on twice at once). */
  concurrency?: number;
  /** First retry delay after a failure; doubles up to maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: LoggerService;
}

/**
 * A level-triggered work queue keyed by object, like client-go's: a key added
 * while waiting is queued once; a key added while it is being worked on is
 * worked on again afterwards; a failed key is retried with exponential
 * backoff; `addAfter` requeues later (a pause that ends, a delay that runs out).
 */
export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly options: WorkQueueOptions = {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Adds the key after `ms`; of several pending addAfters for a key, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.timers.set(key, { timer, due });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
  }

  /** Resolves when nothing is queued or being worked on. */
  idle(): Promise<void> {
    if (this.running === 0 && this.order.length === 0) return Promise.resolve();
    return new Promise(resolve => this.idleWaiters.push(resolve));
  }

  private pump() {
    const concurrency = this.options.concurrency ?? 1;
    while (!this.stopped && this.running < concurrency && this.order.length > 0) {
      const key = this.order.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      this.run(key);
    }
  }

  private async run(key: string) {
    try {
      await this.work(key);
      this.failures.delete(key);
    } catch (error) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      const base = this.options.baseBackoffMs ?? 100;
      const delay = Math.min(base * 2 ** (attempt - 1), this.options.maxBackoffMs ?? 30_000);
      this.options.logger?.warn(`Reconciling ${key} failed (attempt ${attempt}), retrying in ${delay} ms: ${error}`);
      this.addAfter(key, delay);
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      if (this.running === 0 && this.order.length === 0) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }
}
