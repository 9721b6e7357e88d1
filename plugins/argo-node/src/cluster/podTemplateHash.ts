/**
 * A pod template's hash, computed the way Kubernetes' ComputeHash encodes it
 * (FNV-1a 32 over the template, plus the collision count, then
 * SafeEncodeString of its decimal form), so names and labels look like the
 * `pod-template-hash` and `rollouts-pod-template-hash` values users know.
 * The input is canonical JSON rather than Go's object dump, so values differ
 * from a real controller's for the same template.
 */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** JSON with object keys sorted: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map(k => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const bytes = Buffer.from(text, 'utf8');
  for (const b of bytes) {
    hash ^= b;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function computePodTemplateHash(template: unknown, collisionCount?: number): string {
  const input = canonicalJson(template) + (collisionCount ? String(collisionCount) : '');
  const digits = String(fnv1a32(input));
  let out = '';
  for (let i = 0; i < digits.length; i++) out += SAFE_ALPHABET[digits.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}
