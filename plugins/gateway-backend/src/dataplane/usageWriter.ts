import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { UsageRecord } from '../database/GatewayStore';

/**
 * Where batches go: the store in the portal's process (which knows a batch's
 * id once written), the portal over IPC in the data plane's (a channel that
 * does not lose a reply).
 */
export type UsageSink = { insertUsage(records: UsageRecord[], batchId: string): Promise<unknown> };

/**
 * Usage rows, written in batches off the request path: every second, or at
 * once when a batch fills. A batch that fails is sent again as it was, under
 * the id it first had, before any newer rows: if it had been written and only
 * the reply was lost, the store knows the id and counts nothing twice.
 * Memory is bounded: past `maxQueued` rows (the database is down for a long
 * time) the oldest are dropped and counted.
 */
export class UsageWriter {
  private queue: UsageRecord[] = [];
  /** The batch that failed, to be sent again under its id. */
  private failed?: { id: string; rows: UsageRecord[] };
  /** Rows of the batch being written. */
  private inFlight = 0;
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
    // The rows being written count too (they are held until the write ends), but only queued ones can go.
    let over = Math.min(this.inFlight + (this.failed?.rows.length ?? 0) + this.queue.length - max, (this.failed?.rows.length ?? 0) + this.queue.length);
    if (over > 0) {
      this.dropped += over;
      // The oldest first: the failed batch's. Sent again smaller under its id, it still counts nothing twice.
      if (this.failed) {
        const fromFailed = Math.min(over, this.failed.rows.length);
        this.failed.rows.splice(0, fromFailed);
        over -= fromFailed;
        if (this.failed.rows.length === 0) this.failed = undefined;
      }
      this.queue.splice(0, over);
    }
    if (this.queue.length >= (this.options.batchSize ?? 500)) void this.flush();
  }

  /** Writes the failed batch, if any, else what is queued; one flush at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    let batch = this.failed;
    if (!batch) {
      if (this.queue.length === 0) return Promise.resolve();
      batch = { id: randomUUID(), rows: this.queue };
      this.queue = [];
    }
    const sent = batch;
    this.failed = undefined;
    this.inFlight = sent.rows.length;
    this.flushing = this.sink.insertUsage(sent.rows, sent.id)
      .then(result => {
        const refused = (result as { refused?: number } | undefined)?.refused ?? 0;
        if (refused > 0) {
          this.dropped += refused;
          this.options.logger?.warn(`The database refused ${refused} of ${sent.rows.length} gateway usage rows for their values; they are dropped, the rest written`);
        }
      }, error => {
        this.options.logger?.warn(`Writing ${sent.rows.length} gateway usage rows failed; will retry: ${error}`);
        // Rows dropped meanwhile (record's bound) were taken from `sent.rows` itself only while it was `failed`.
        this.failed = sent;
      })
      .finally(() => {
        this.flushing = undefined;
        this.inFlight = 0;
      });
    return this.flushing;
  }

  /** Rows recorded and not yet written: queued, in the batch being written, or in one to send again. */
  get waiting() {
    return this.queue.length + this.inFlight + (this.failed?.rows.length ?? 0);
  }

  /**
   * Writes everything queued: the batch in flight, a failed one, then the
   * rest. Stops at the first write that fails (it stays queued).
   */
  async drain() {
    // Three writes at most (each takes the whole queue): rows that keep arriving do not hold the caller forever.
    for (let i = 0; i < 3; i++) {
      await this.flush();
      if (this.failed || this.queue.length === 0) return;
    }
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    await this.drain();
  }
}
