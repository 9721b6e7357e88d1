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

/** The audit trail of mutating gateway actions (table `audit_events`). */
export class GatewayAuditStore {
  constructor(private readonly db: Knex) {}

  async record(event: Omit<GatewayAuditEvent, 'id' | 'createdAt'> & { createdAt?: Date }): Promise<void> {
    await this.db('audit_events').insert({
      created_at: event.createdAt ?? new Date(),
      actor: event.actor,
      action: event.action,
      entity_ref: event.entityRef ?? null,
      target: event.target,
      reason: event.reason ?? null,
      details: event.details ? JSON.stringify(event.details) : null,
    });
  }

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
