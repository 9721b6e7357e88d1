import { formatAuditCursor, type AuditCursor } from '@quarterdeck/plugin-quarterdeck-node';
import type { Knex } from 'knex';

/** One row of the audit trail: who did what to which object, and why. */
export interface AuditEvent {
  id: string;
  createdAt: string;
  /** The acting user's entity ref, e.g. `user:default/alice`. */
  actor: string;
  action: string;
  /** The catalog entity the object belongs to, when known. */
  entityRef?: string;
  cluster: string;
  kind: string;
  namespace: string;
  name: string;
  reason?: string;
  details?: Record<string, unknown>;
}

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'createdAt'> & {
  createdAt?: Date;
};

export interface AuditQuery {
  entityRef?: string;
  object?: { cluster: string; kind: string; namespace: string; name: string };
  /** Only entries older than this one (where the page before ended). */
  before?: AuditCursor;
  limit?: number;
}

/** A page of a trail, newest first; `next` reads on from where it ends, when there is more. */
export interface AuditPage {
  items: AuditEvent[];
  next?: string;
}

/** The audit trail of mutating argo actions. */
export interface AuditStore {
  record(event: NewAuditEvent): Promise<AuditEvent>;
  /**
   * Sets the details of an entry recorded before its outcome was known (an
   * action recorded before it is sent, settled once it is): the entry as
   * settled, or undefined when there is no such entry.
   */
  settle(id: string, details: Record<string, unknown>): Promise<AuditEvent | undefined>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Newest first, from a cursor: entries recorded meanwhile do not shift the
   * older pages, as an offset would.
   */
  page(query: AuditQuery & { limit: number }): Promise<AuditPage>;
}

type AuditRow = {
  id: string | number;
  created_at: Date | string | number;
  actor: string;
  action: string;
  entity_ref: string | null;
  cluster: string;
  kind: string;
  namespace: string;
  name: string;
  reason: string | null;
  details: string | null;
};

const MAX_LIMIT = 500;
const MAX_PAGE = 100;

export class KnexAuditStore implements AuditStore {
  constructor(private readonly db: Knex) {}

  async record(event: NewAuditEvent): Promise<AuditEvent> {
    const row = {
      created_at: event.createdAt ?? new Date(),
      actor: event.actor,
      action: event.action,
      entity_ref: event.entityRef ?? null,
      cluster: event.cluster,
      kind: event.kind,
      namespace: event.namespace,
      name: event.name,
      reason: event.reason ?? null,
      details: event.details ? JSON.stringify(event.details) : null,
    };
    const [inserted] = await this.db<AuditRow>('audit_events')
      .insert(row)
      .returning('id');
    const id = typeof inserted === 'object' ? inserted.id : inserted;
    return toEvent({ ...row, id });
  }

  async settle(id: string, details: Record<string, unknown>): Promise<AuditEvent | undefined> {
    const changed = await this.db<AuditRow>('audit_events').where('id', id).update({ details: JSON.stringify(details) });
    if (changed === 0) return undefined;
    const row = await this.db<AuditRow>('audit_events').where('id', id).first();
    return row && toEvent(row);
  }

  async list(query: AuditQuery): Promise<AuditEvent[]> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), MAX_LIMIT);
    const q = this.db<AuditRow>('audit_events');
    if (query.entityRef) q.where('entity_ref', query.entityRef);
    if (query.object) {
      const { cluster, kind, namespace, name } = query.object;
      q.where({ cluster, kind, namespace, name });
    }
    const { before } = query;
    if (before) {
      q.where(older => older.where('created_at', '<', before.createdAt)
        .orWhere(same => same.where('created_at', '=', before.createdAt).andWhere('id', '<', before.id)));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit);
    return rows.map(toEvent);
  }

  async page(query: AuditQuery & { limit: number }): Promise<AuditPage> {
    const limit = Math.min(Math.max(query.limit, 1), MAX_PAGE);
    // One more than asked says whether there is another page.
    const events = await this.list({ ...query, limit: limit + 1 });
    const items = events.slice(0, limit);
    return events.length > limit ? { items, next: formatAuditCursor(items[items.length - 1]) } : { items };
  }
}

function toEvent(row: AuditRow): AuditEvent {
  return {
    id: String(row.id),
    createdAt: new Date(row.created_at).toISOString(),
    actor: row.actor,
    action: row.action,
    entityRef: row.entity_ref ?? undefined,
    cluster: row.cluster,
    kind: row.kind,
    namespace: row.namespace,
    name: row.name,
    reason: row.reason ?? undefined,
    details: row.details ? JSON.parse(row.details) : undefined,
  };
}
