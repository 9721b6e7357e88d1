import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayStore, UsageRecord } from '../database/GatewayStore';

/** Where batches go: the store in the portal's process, the portal over IPC in the data plane's. */
export type UsageSink = Pick<GatewayStore, 'insertUsage'>;

/**
 * Usage rows, written in batches off the request path: every second, or at
 * once when a batch fills. Memory is bounded: past `maxQueued` rows (the
 * database is down for a long time) the oldest are dropped and counted.
 */
export class UsageWriter {
  private queue: UsageRecord[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  dropped = 0;

  constructor(
    private readonly sink: UsageSink,
    private readonly options: { logger?: LoggerService; intervalMs?: number; batchSize?: number; maxQueued?: number } = {},
  ) {}

  start() {
    this.timer = setInterval(() => void this.flush(), this.options.intervalMs ?? 1000);
    this.timer.unref?.();
  }

  record(row: UsageRecord) {
    this.queue.push(row);
    const max = this.options.maxQueued ?? 50_000;
    if (this.queue.length > max) {
      this.dropped += this.queue.length - max;
      this.queue.splice(0, this.queue.length - max);
    }
    if (this.queue.length >= (this.options.batchSize ?? 500)) void this.flush();
  }

  /** Writes what is queued; one flush at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    const batch = this.queue;
    this.queue = [];
    this.flushing = this.sink.insertUsage(batch)
      .catch(error => {
        this.options.logger?.warn(`Writing ${batch.length} gateway usage rows failed; will retry: ${error}`);
        this.queue = batch.concat(this.queue);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    await this.flush();
  }
}
