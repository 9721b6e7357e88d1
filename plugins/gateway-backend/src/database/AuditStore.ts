import type { GatewayAuditEvent } from '@quarterdeck/plugin-gateway-common';
import type { Knex } from 'knex';

export type { GatewayAuditEvent };

type Row = {
  id: string | number;
  created_at: Date | string | number;
  actor: string;
  action: string;
  entity_ref: string | null;
  target: string;
  reason: string | null;
  details: string | null;
};

export type NewGatewayAuditEvent = Omit<GatewayAuditEvent, 'id' | 'createdAt'> & { createdAt?: Date };

/**
 * Writes audit rows with the caller's transaction, so a change and its audit
 * commit together: a failed audit write leaves no unaudited change behind.
 */
export async function insertAuditEvents(tx: Knex | Knex.Transaction, events: NewGatewayAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  // One instant for the change's rows (an action on both the API and the component): the trail reads them as one action.
  const now = new Date();
  await tx('audit_events').insert(events.map(event => ({
    created_at: event.createdAt ?? now,
    actor: event.actor,
    action: event.action,
    entity_ref: event.entityRef ?? null,
    target: event.target,
    reason: event.reason ?? null,
    details: event.details ? JSON.stringify(event.details) : null,
  })));
}

/**
 * The audit trail of mutating gateway actions (table `audit_events`), read
 * side: each change writes its rows with `insertAuditEvents` in its own
 * transaction (GatewayStore).
 */
export class GatewayAuditStore {
  constructor(private readonly db: Knex) {}

  /** Newest first, for one entity or one target. */
  async list(query: { entityRef?: string; target?: string; limit?: number }): Promise<GatewayAuditEvent[]> {
    const q = this.db<Row>('audit_events');
    if (query.entityRef) q.where('entity_ref', query.entityRef);
    if (query.target) q.where('target', query.target);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.min(Math.max(query.limit ?? 100, 1), 500));
    return rows.map(row => ({
      id: String(row.id),
      createdAt: new Date(row.created_at).toISOString(),
      actor: row.actor,
      action: row.action,
      entityRef: row.entity_ref ?? undefined,
      target: row.target,
      reason: row.reason ?? undefined,
      details: row.details ? JSON.parse(row.details) : undefined,
    }));
  }
}
