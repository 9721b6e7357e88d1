import type { LoggerService } from '@backstage/backend-plugin-api';
import type { EventsService } from '@backstage/plugin-events-node';
import type { NotificationService } from '@backstage/plugin-notifications-node';
import type { ClaimedMessage, GatewayOutboxStore } from '../database/OutboxStore';

/** Messages a claim takes at a time: sent one after another, each within SEND_TIMEOUT_MS, well inside the lease. */
const BATCH = 5;
/** How long one send may take before it counts as failed (and is tried again later). */
export const SEND_TIMEOUT_MS = 10_000;
/** How long a claim holds the messages it is delivering: after it, a deliverer that died is taken over. */
const LEASE_MS = 60_000;
/** After a failed attempt: 30 s, doubling, at most an hour; given up after the tenth (about three hours in all). */
const FIRST_RETRY_MS = 30_000;
const LAST_RETRY_MS = 3_600_000;
const MAX_ATTEMPTS = 10;

export const retryDelayMs = (attempts: number) => Math.min(FIRST_RETRY_MS * 2 ** (attempts - 1), LAST_RETRY_MS);

/**
 * A refusal no retry changes: the notifications backend answered 400 (it
 * will not take this notification) or 404 (no notifications backend in this
 * portal). Its client says so only in its message: "Request failed with
 * status 404".
 */
const refusedForGood = (error: unknown) => /\bstatus (400|404)\b/.test(String(error));

/**
 * Delivers the outbox (database/OutboxStore.ts): right after each change
 * commits (`flush`, awaited by the route, so a subscriber hears of a change
 * by the time its author has the answer), and every few seconds for what a
 * crash or a failed send left (the plugin's `gateway-outbox` task). Events
 * carry the message's id as `eventId`, the same on every attempt, for
 * subscribers to drop a repeat: delivery is at least once.
 */
export class OutboxDelivery {
  private running?: Promise<void>;
  private again = false;

  constructor(
    private readonly store: GatewayOutboxStore,
    private readonly targets: { events: EventsService; notifications?: NotificationService },
    private readonly logger: LoggerService,
    private readonly now: () => Date = () => new Date(),
    private readonly sendTimeoutMs = SEND_TIMEOUT_MS,
  ) {}

  /**
   * Delivers every message due now. Never throws: what is not delivered
   * stays for the next flush. A flush asked for while one runs is run after
   * it, and both callers wait for that one (it sees their messages).
   */
  flush(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      try {
        do {
          this.again = false;
          await this.deliverDue();
        } while (this.again);
      } catch (error) {
        this.logger.warn(`Could not read the gateway's outbox; its messages wait for the next try: ${error}`);
      } finally {
        this.running = undefined;
      }
    })();
    this.running = run;
    return run;
  }

  private async deliverDue() {
    for (;;) {
      const at = this.now();
      const { claim, messages } = await this.store.claimDue(at, new Date(at.getTime() + LEASE_MS), BATCH);
      const done: number[] = [];
      for (const claimed of messages) {
        try {
          await this.deliver(claimed);
          done.push(claimed.seq);
        } catch (error) {
          const what = describe(claimed);
          if (claimed.attempts >= MAX_ATTEMPTS || refusedForGood(error)) {
            this.logger.error(`Gave up on ${what} after ${claimed.attempts} attempt${claimed.attempts === 1 ? '' : 's'}: ${error}`);
            done.push(claimed.seq);
          } else {
            const next = new Date(this.now().getTime() + retryDelayMs(claimed.attempts));
            this.logger.warn(`Could not send ${what} (attempt ${claimed.attempts}); trying again at ${next.toISOString()}: ${error}`);
            await this.store.retryAt(claim, claimed.seq, next);
          }
        }
      }
      await this.store.remove(claim, done);
      if (messages.length < BATCH) return;
    }
  }

  /**
   * One send, within SEND_TIMEOUT_MS: a notifications backend or an event
   * subscriber that hangs must neither hold the messages behind it nor keep
   * the batch past its lease (another deliverer would send it again).
   */
  private async deliver({ id, message }: ClaimedMessage) {
    const send = message.kind === 'event'
      ? this.targets.events.publish({ topic: message.topic, eventPayload: { ...message.payload, eventId: id } })
      : this.targets.notifications?.send(message.notification);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.sendTimeoutMs / 1000} s`)), this.sendTimeoutMs);
    });
    try {
      await Promise.race([send, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A message as a log line names it: never its content beyond its type or title (no reason a user typed, no secret). */
function describe({ id, message }: ClaimedMessage) {
  return message.kind === 'event'
    ? `the event ${String(message.payload.type)} (${id})`
    : `the notification "${message.notification.payload.title}" (${id})`;
}
