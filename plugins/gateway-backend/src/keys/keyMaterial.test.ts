import { generateKey, hashSecret, maskKey, parseKey, secretMatches } from './keyMaterial';

const SERVER_SECRET = 'a-server-secret-of-at-least-32-characters!';

describe('gateway key material', () => {
  it('issues qdk_<public id>_<256-bit secret> and stores only the HMAC of the secret', () => {
    const key = generateKey(SERVER_SECRET);
    expect(key.full).toMatch(/^qdk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.secret, 'base64url')).toHaveLength(32);
    expect(key.hash).toBe(hashSecret(SERVER_SECRET, key.secret));
    expect(key.hash).not.toContain(key.secret);
    expect(key.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('parses what it issued and nothing else', () => {
    const key = generateKey(SERVER_SECRET);
    expect(parseKey(key.full)).toEqual({ publicId: key.publicId, secret: key.secret });
    expect(parseKey(`${key.full}x`)).toBeUndefined();
    expect(parseKey(key.full.replace('qdk_', 'sk-_'))).toBeUndefined();
    expect(parseKey('Bearer something')).toBeUndefined();
    expect(parseKey('')).toBeUndefined();
  });

  it('verifies the secret against the stored hash, and another server secret does not', () => {
    const key = generateKey(SERVER_SECRET);
    expect(secretMatches(SERVER_SECRET, key.secret, key.hash)).toBe(true);
    expect(secretMatches(SERVER_SECRET, generateKey(SERVER_SECRET).secret, key.hash)).toBe(false);
    expect(secretMatches('another-server-secret-of-32-characters!!', key.secret, key.hash)).toBe(false);
  });

  it('never issues the same key twice', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => generateKey(SERVER_SECRET).publicId));
    expect(ids.size).toBe(2000);
    expect(maskKey('abcdefghijkl')).toBe('qdk_abcdefghijkl_…');
  });
});
