import { Gcra } from './gcra';

describe('GCRA', () => {
  it('admits a minute\'s allowance at once, then one request per interval, and says when', () => {
    let now = 1_000_000;
    const gcra = new Gcra({ now: () => now });
    for (let i = 0; i < 60; i++) expect(gcra.take('k', 60)).toEqual({ ok: true });
    expect(gcra.take('k', 60)).toEqual({ ok: false, retryAfterMs: 1000 });
    now += 999;
    expect(gcra.take('k', 60).ok).toBe(false);
    now += 1;
    expect(gcra.take('k', 60)).toEqual({ ok: true });
    expect(gcra.take('k', 60)).toEqual({ ok: false, retryAfterMs: 1000 });
  });

  it('keeps keys apart and refills after a quiet minute', () => {
    let now = 0;
    const gcra = new Gcra({ now: () => now });
    for (let i = 0; i < 10; i++) gcra.take('a', 10);
    expect(gcra.take('a', 10).ok).toBe(false);
    expect(gcra.take('b', 10).ok).toBe(true);
    now += 60_000;
    for (let i = 0; i < 10; i++) expect(gcra.take('a', 10).ok).toBe(true);
    expect(gcra.take('a', 10).ok).toBe(false);
  });

  it('holds a sustained rate to the limit over time', () => {
    let now = 0;
    const gcra = new Gcra({ now: () => now });
    let admitted = 0;
    // 10 attempts per second for 5 minutes against 120 per minute.
    for (let t = 0; t < 300_000; t += 100) {
      now = t;
      if (gcra.take('k', 120).ok) admitted++;
    }
    // One burst of 120, then 2 per second: 120 + 2 × 300 = 720 (± one interval).
    expect(admitted).toBeGreaterThanOrEqual(719);
    expect(admitted).toBeLessThanOrEqual(721);
  });
});
