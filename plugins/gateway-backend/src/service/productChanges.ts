import type { GatewayProductSpec } from '@quarterdeck/plugin-gateway-common';
import { isDeepStrictEqual } from 'node:util';

/** The named parts of a product, each said as the audit trail says it ("plan batch added"). */
const PARTS = [
  ['upstreams', 'upstream'],
  ['models', 'model'],
  ['routes', 'route'],
  ['templates', 'template'],
  ['plans', 'plan'],
] as const;

/** At most this many changes are listed in one audit event; the rest are counted. */
const MAX_LISTED = 12;

/**
 * What a product write changed, for its audit event: each upstream, model,
 * route, template or plan added, removed or changed, by name, and the kind
 * or title. Empty when nothing changed.
 */
export function productChanges(before: GatewayProductSpec, after: GatewayProductSpec): string[] {
  const changes: string[] = [];
  if (before.kind !== after.kind) changes.push(`kind ${before.kind} → ${after.kind}`);
  if ((before.title ?? '') !== (after.title ?? '')) changes.push('title changed');
  for (const [field, noun] of PARTS) {
    const old = new Map<string, unknown>((before[field] ?? []).map(item => [item.name, item]));
    const now = new Map<string, unknown>((after[field] ?? []).map(item => [item.name, item]));
    for (const [name, item] of now) {
      if (!old.has(name)) changes.push(`${noun} ${name} added`);
      else if (!isDeepStrictEqual(old.get(name), item)) changes.push(`${noun} ${name} changed`);
    }
    for (const name of old.keys()) if (!now.has(name)) changes.push(`${noun} ${name} removed`);
  }
  return changes.length > MAX_LISTED ? [...changes.slice(0, MAX_LISTED), `${changes.length - MAX_LISTED} more`] : changes;
}
