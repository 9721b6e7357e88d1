/**
 * `gateway.keyRequestWatchers` as notification recipients: each a group or a
 * user by a full reference, `group:platform-admins` or
 * `group:default/platform-admins` (a name alone would leave its kind to a
 * guess), written as the catalog writes refs (kind and namespace in lower
 * case). Throws an error naming the first that is not one; the portal's
 * preflight and the plugin's start both ask it. It parses refs itself
 * rather than with @backstage/catalog-model, which the preflight, run
 * before the backend loads, would otherwise load first.
 */
export function keyRequestWatchers(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`gateway.keyRequestWatchers: must be a list of group or user references (got ${JSON.stringify(value)})`);
  return value.map(keyRequestWatcher);
}

/** One item of `gateway.keyRequestWatchers`, the `index`-th, as keyRequestWatchers takes it. */
export function keyRequestWatcher(ref: unknown, index: number): string {
  const parts = typeof ref === 'string' ? /^([^:/]+):(?:([^:/]+)\/)?([^:/]+)$/.exec(ref) : null;
  const kind = parts?.[1].toLocaleLowerCase('en-US');
  if (!parts || (kind !== 'group' && kind !== 'user')) {
    throw new Error(`gateway.keyRequestWatchers[${index}]: ${JSON.stringify(ref)} is not a group or user reference, such as group:default/platform-admins`);
  }
  return `${kind}:${(parts[2] ?? 'default').toLocaleLowerCase('en-US')}/${parts[3]}`;
}
