import type { StoredKey } from '../database/GatewayStore';
import { generateKey } from '../keys/keyMaterial';
import { KeyCache, spendByGrant } from './keyCache';

const SECRET = 'server-secret-for-tests';

describe('KeyCache', () => {
  let now = Date.parse('2026-12-02T12:00:00Z');
  const stored = (material: ReturnType<typeof generateKey>, extra: Partial<StoredKey> = {}): StoredKey => ({
    id: `id-${material.publicId}`, publicId: material.publicId, secretHash: material.hash, componentRef: 'component:default/app',
    productId: 'llm', plan: 'p', status: 'active', createdAt: '', createdBy: '', updatedAt: '', ...extra,
  });

  it('accepts a key again and again, and never a wrong secret for its public id', () => {
    const cache = new KeyCache({ keySecret: SECRET, now: () => now });
    const key = generateKey(SECRET);
    cache.apply(stored(key));
    for (let i = 0; i < 3; i++) expect(cache.check(key.full)).toMatchObject({ ok: true, key: { publicId: key.publicId } });
    const forged = `${key.full.slice(0, -1)}${key.full.endsWith('A') ? 'B' : 'A'}`;
    expect(cache.check(forged)).toEqual({ ok: false, reason: 'unknown' });
    expect(cache.check(key.full).ok).toBe(true);
    expect(cache.check('qdk_short')).toEqual({ ok: false, reason: 'malformed' });
    expect(cache.check(undefined)).toEqual({ ok: false, reason: 'missing' });
  });

  it('acts on a revocation, a new secret or an expiry at the next call after a key was accepted', () => {
    const cache = new KeyCache({ keySecret: SECRET, now: () => now });
    const key = generateKey(SECRET);
    cache.apply(stored(key));
    expect(cache.check(key.full).ok).toBe(true);

    cache.apply(stored(key, { status: 'revoked' }));
    expect(cache.check(key.full)).toEqual({ ok: false, reason: 'revoked' });

    // The same public id with another secret: the old one no longer opens it.
    const replaced = generateKey(SECRET);
    cache.apply(stored(key, { secretHash: replaced.hash }));
    expect(cache.check(key.full)).toEqual({ ok: false, reason: 'unknown' });

    const other = generateKey(SECRET);
    cache.apply(stored(other, { expiresAt: new Date(now + 60_000).toISOString() }));
    expect(cache.check(other.full).ok).toBe(true);
    now += 61_000;
    expect(cache.check(other.full)).toEqual({ ok: false, reason: 'expired' });
  });

  it('forgets a key revoked or expired longer ago than the retention, and then answers it as unknown', () => {
    const day = 86_400_000;
    const cache = new KeyCache({ keySecret: SECRET, now: () => now, deadKeyRetentionMs: 2 * day });
    const live = generateKey(SECRET);
    const revoked = generateKey(SECRET);
    const rotatedOut = generateKey(SECRET);
    cache.apply(stored(live));
    cache.apply(stored(revoked, { status: 'revoked', revokedAt: new Date(now).toISOString() }));
    cache.apply(stored(rotatedOut, { expiresAt: new Date(now + day).toISOString() }));
    expect(cache.check(revoked.full)).toEqual({ ok: false, reason: 'revoked' });
    expect(cache.check(rotatedOut.full).ok).toBe(true);

    now += 2 * day + 1;
    expect(cache.forgetDead()).toEqual([`id-${revoked.publicId}`]);
    expect(cache.check(revoked.full)).toEqual({ ok: false, reason: 'unknown' });
    expect(cache.check(rotatedOut.full)).toEqual({ ok: false, reason: 'expired' });

    now += day;
    expect(cache.forgetDead()).toEqual([`id-${rotatedOut.publicId}`]);
    expect(cache.check(rotatedOut.full)).toEqual({ ok: false, reason: 'unknown' });
    expect(cache.check(live.full).ok).toBe(true);
    expect(cache.size).toBe(1);

    // A change to a key already past its retention (another replica's late write) does not bring it back.
    cache.apply(stored(revoked, { status: 'revoked', revokedAt: new Date(now - 3 * day).toISOString() }));
    expect(cache.size).toBe(1);
    expect(cache.forgetDead()).toEqual([]);
  });

  it('with a retention of 0, forgets a key revoked in the same millisecond as it hears of it', () => {
    const cache = new KeyCache({ keySecret: SECRET, now: () => now, deadKeyRetentionMs: 0 });
    const revoked = generateKey(SECRET);
    expect(cache.apply(stored(revoked))).toBe(false);
    // Dropped as it arrives: the data plane then drops the key's limits state too (the sweep never sees it).
    expect(cache.apply(stored(revoked, { status: 'revoked', revokedAt: new Date(now).toISOString() }))).toBe(true);
    expect(cache.check(revoked.full)).toEqual({ ok: false, reason: 'unknown' });
    expect(cache.size).toBe(0);
  });

  it("starts a grant's budgets from what all its keys spent, a key and its rotations together", () => {
    const first = { ...stored(generateKey(SECRET)), id: 'k1', requestId: 'req-1' };
    const rotated = { ...stored(generateKey(SECRET)), id: 'k2', requestId: 'req-1' };
    const unrequested = { ...stored(generateKey(SECRET)), id: 'k3' };
    const spent = (keyId: string, tokens: number) => ({ keyId, day: '2026-12-07', month: '2026-12', dayTokens: tokens, dayCost: tokens / 1000, monthTokens: tokens * 2, monthCost: tokens / 500 });
    const sums = spendByGrant([first, rotated, unrequested], [spent('k1', 100), spent('k2', 50), spent('k3', 7), spent('forgotten', 1000)]);
    expect([...sums.keys()].sort()).toEqual(['k3', 'req-1']);
    expect(sums.get('req-1')).toMatchObject({ dayTokens: 150, monthTokens: 300, day: '2026-12-07', month: '2026-12' });
    expect(sums.get('req-1')!.dayCost).toBeCloseTo(0.15);
    expect(sums.get('k3')).toMatchObject({ dayTokens: 7 });
  });

  it("lets a grant's limits go only when none of its keys is held: a rotated-out key forgotten before its successor keeps them", () => {
    const cache = new KeyCache({ keySecret: SECRET, deadKeyRetentionMs: 0 });
    const successor = { ...stored(generateKey(SECRET)), id: 'k2', requestId: 'req-1' };
    cache.apply(successor);
    const rotatedOut = { ...stored(generateKey(SECRET)), id: 'k1', requestId: 'req-1', status: 'revoked' as const, revokedAt: new Date(Date.now() - 1000).toISOString() };
    expect(cache.apply(rotatedOut)).toBe(true);
    expect(cache.grantsLetGo([rotatedOut])).toEqual([]);
    const revokedToo = { ...successor, status: 'revoked' as const, revokedAt: new Date(Date.now() - 1000).toISOString() };
    expect(cache.apply(revokedToo)).toBe(true);
    expect(cache.grantsLetGo([revokedToo])).toEqual(['req-1']);
  });
});
