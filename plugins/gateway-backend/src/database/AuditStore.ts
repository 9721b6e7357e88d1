import type { AuditCursor } from '@quarterdeck/plugin-quarterdeck-node';
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

export type AuditQuery = {
  entityRef?: string;
  target?: string;
  action?: string;
  /** Only entries older than this one (the page before ended there). */
  before?: AuditCursor;
  /** 1 to 500; 100 when absent. */
  limit?: number;
};

/** More than any change writes (today two: the API's row and the component's). */
const MAX_ROWS_PER_CHANGE = 8;

/** The rows one change wrote (an action on the API and on the component) share these. */
const sameChange = (a: GatewayAuditEvent, b: GatewayAuditEvent) =>
  a.createdAt === b.createdAt && a.actor === b.actor && a.action === b.action && a.target === b.target;

/**
 * The audit trail of mutating gateway actions (table `audit_events`), read
 * side: each change writes its rows with `insertAuditEvents` in its own
 * transaction (GatewayStore).
 */
export class GatewayAuditStore {
  constructor(private readonly db: Knex) {}

  /**
   * Newest first, a page at a time from a cursor: a trail is read backwards
   * while new entries arrive at its top, which would shift every page of an
   * offset. A page never ends inside a change: the rows one change wrote
   * (at most one per entity it touched) stay on one page.
   */
  async page(query: AuditQuery): Promise<{ items: GatewayAuditEvent[]; next?: AuditCursor }> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 500);
    // A few rows past the limit: those of the last change, and one to tell whether more follow.
    const rows = await this.list({ ...query, limit: limit + MAX_ROWS_PER_CHANGE });
    let end = Math.min(limit, rows.length);
    while (end < rows.length && sameChange(rows[end - 1], rows[end])) end += 1;
    const items = rows.slice(0, end);
    const last = items[items.length - 1];
    return { items, next: end < rows.length ? { createdAt: new Date(last.createdAt), id: last.id } : undefined };
  }

  /** Newest first, for one entity, one target or one action, at most `limit` (100 when absent, 508 at most). */
  async list(query: AuditQuery): Promise<GatewayAuditEvent[]> {
    const q = this.db<Row>('audit_events');
    if (query.entityRef) q.where('entity_ref', query.entityRef);
    if (query.target) q.where('target', query.target);
    if (query.action) q.where('action', query.action);
    const before = query.before;
    if (before) {
      q.where(older => older.where('created_at', '<', before.createdAt)
        .orWhere(same => same.where('created_at', '=', before.createdAt).andWhere('id', '<', before.id)));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.min(Math.max(query.limit ?? 100, 1), 500 + MAX_ROWS_PER_CHANGE));
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
