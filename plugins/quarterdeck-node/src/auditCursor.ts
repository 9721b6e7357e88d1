/**
 * Where a page of an audit trail ended: its last entry's instant and id. The
 * trails are read newest first by `(created_at, id)`, so a page read back
 * from a cursor is not shifted by entries recorded meanwhile, as an offset
 * would be. Entries are written with a JavaScript `Date` (whole
 * milliseconds), which the cursor's milliseconds match exactly.
 */
export type AuditCursor = { createdAt: Date; id: string };

/** The `next` of a page, as the APIs hand it out: `<ms since the epoch>-<id>`. */
export function formatAuditCursor(last: { createdAt: Date | string; id: string }): string {
  return `${new Date(last.createdAt).getTime()}-${last.id}`;
}

/** A `before` from an earlier page; undefined when it is not one. */
export function parseAuditCursor(text: string): AuditCursor | undefined {
  const match = /^(\d{1,15})-(\d{1,18})$/.exec(text);
  return match ? { createdAt: new Date(Number(match[1])), id: match[2] } : undefined;
}
