import crypto from 'node:crypto';

/**
 * Gateway keys: `qdk_<publicId>_<secret>`. The public id (12 characters)
 * finds the key and may be shown; the secret is 256 random bits, shown once
 * and stored only as HMAC-SHA-256 with the server's secret, so a leaked
 * database does not yield usable keys.
 */

export const KEY_PREFIX = 'qdk';
const PUBLIC_ID = /^[a-z0-9]{12}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface KeyMaterial {
  publicId: string;
  secret: string;
  /** What the client sends. */
  full: string;
  /** What is stored. */
  hash: string;
}

export function hashSecret(serverSecret: string, secret: string): string {
  return crypto.createHmac('sha256', serverSecret).update(secret).digest('hex');
}

export function generateKey(serverSecret: string): KeyMaterial {
  const bytes = crypto.randomBytes(12);
  const publicId = Array.from(bytes, b => ALPHABET[b % ALPHABET.length]).join('');
  const secret = crypto.randomBytes(32).toString('base64url');
  return { publicId, secret, full: `${KEY_PREFIX}_${publicId}_${secret}`, hash: hashSecret(serverSecret, secret) };
}

/** The parts of a presented key, or undefined if it is not shaped like one. */
export function parseKey(presented: string): { publicId: string; secret: string } | undefined {
  if (presented.length !== KEY_PREFIX.length + 1 + 12 + 1 + 43 || !presented.startsWith(`${KEY_PREFIX}_`)) return undefined;
  const publicId = presented.slice(KEY_PREFIX.length + 1, KEY_PREFIX.length + 13);
  const secret = presented.slice(KEY_PREFIX.length + 14);
  if (presented[KEY_PREFIX.length + 13] !== '_' || !PUBLIC_ID.test(publicId) || !SECRET.test(secret)) return undefined;
  return { publicId, secret };
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(serverSecret: string, secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(serverSecret, secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && crypto.timingSafeEqual(presented, stored);
}

export const maskKey = (publicId: string) => `${KEY_PREFIX}_${publicId}_…`;
