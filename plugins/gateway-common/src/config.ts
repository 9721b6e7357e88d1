import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';

/**
 * `gateway.keyRequestWatchers` as notification recipients: each a group or a
 * user by a full reference (a name alone would leave its kind to a guess),
 * written the catalog's way. Throws an error naming the first that is not
 * one; the portal's preflight and the plugin's start both ask it.
 */
export function keyRequestWatchers(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`gateway.keyRequestWatchers: must be a list of group or user references (got ${JSON.stringify(value)})`);
  return value.map((ref: unknown, i) => {
    let parsed: ReturnType<typeof parseEntityRef> | undefined;
    try {
      parsed = typeof ref === 'string' ? parseEntityRef(ref) : undefined;
    } catch {
      parsed = undefined;
    }
    const kind = parsed?.kind.toLowerCase();
    if (!parsed || (kind !== 'group' && kind !== 'user')) {
      throw new Error(`gateway.keyRequestWatchers[${i}]: ${JSON.stringify(ref)} is not a group or user reference, such as group:default/platform-admins`);
    }
    return stringifyEntityRef({ ...parsed, kind });
  });
}
