import type { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import type { Knex } from 'knex';
import crypto from 'node:crypto';

/**
 * What a change tells others once it has committed: an event on Backstage's
 * events service, or a notification. Written with the change, in its
 * transaction (`insertOutboxMessages`), and delivered from the table
 * `gateway_outbox` (service/outbox.ts), so a crash or a failed send after the
 * commit delays it and never loses it.
 */
export type OutboxMessage =
  | { kind: 'event'; topic: string; payload: Record<string, unknown> }
  | { kind: 'notification'; notification: NotificationSendOptions };

/** A message a deliverer took: `attempts` counts this one. */
export interface ClaimedMessage {
  seq: number;
  /** The message's own id: an event's `eventId`, the same at every attempt. */
  id: string;
  attempts: number;
  message: OutboxMessage;
}

type Row = {
  seq: number | string;
  id: string;
  kind: string;
  message: string;
  created_at: Date | string;
  attempts: number;
  next_attempt_at: Date | string;
  claim: string | null;
};

/** Writes a change's messages with the caller's transaction: they commit, or vanish, with it. */
export async function insertOutboxMessages(tx: Knex | Knex.Transaction, messages: readonly OutboxMessage[], at = new Date()): Promise<void> {
  if (messages.length === 0) return;
  await tx('gateway_outbox').insert(messages.map(message => ({
    id: crypto.randomUUID(),
    kind: message.kind,
    message: JSON.stringify(message),
    created_at: at,
    attempts: 0,
    next_attempt_at: at,
  })));
}

/**
 * The outbox's read and claim side. Several deliverers (replicas, and in one
 * replica a flush after each change and the periodic one) may look at once: a
 * message is taken by one claim at a time, for a lease, and one whose
 * deliverer died is taken again when the lease ends. So each is delivered at
 * least once, in practice once.
 */
export class GatewayOutboxStore {
  constructor(private readonly db: Knex) {}

  /**
   * Takes up to `limit` messages that are due at `now`, oldest first, until
   * `leaseUntil`. Each is claimed only if still due when the update reaches
   * it: of two deliverers that read the same rows, one gets each.
   */
  async claimDue(now: Date, leaseUntil: Date, limit: number): Promise<{ claim: string; messages: ClaimedMessage[] }> {
    const claim = crypto.randomUUID();
    const due = this.db('gateway_outbox').where('next_attempt_at', '<=', now).orderBy('seq').limit(limit).select('seq');
    await this.db('gateway_outbox')
      .whereIn('seq', due)
      .andWhere('next_attempt_at', '<=', now)
      .update({ claim, next_attempt_at: leaseUntil, attempts: this.db.raw('attempts + 1') });
    const rows: Row[] = await this.db<Row>('gateway_outbox').where('claim', claim).orderBy('seq');
    return {
      claim,
      messages: rows.map(row => ({ seq: Number(row.seq), id: row.id, attempts: Number(row.attempts), message: JSON.parse(row.message) as OutboxMessage })),
    };
  }

  /** Removes messages this claim delivered (or gave up on); one taken again after a lease ended stays its new claimant's. */
  async remove(claim: string, seqs: readonly number[]): Promise<void> {
    for (let i = 0; i < seqs.length; i += 500) {
      await this.db('gateway_outbox').where('claim', claim).whereIn('seq', seqs.slice(i, i + 500)).delete();
    }
  }

  /** Lets a message that failed be taken again at `at`. */
  async retryAt(claim: string, seq: number, at: Date): Promise<void> {
    await this.db('gateway_outbox').where({ claim, seq }).update({ claim: null, next_attempt_at: at });
  }
}
