import { formatBucket, formatCost, formatLatencyBucket } from './format';

describe('formatBucket', () => {
  it("labels a day's bucket by its UTC date and an hour's by its time", () => {
    // jest runs in UTC, where the reader's own date is the same: that no local getter is asked is what shows it.
    const local = [jest.spyOn(Date.prototype, 'getDate'), jest.spyOn(Date.prototype, 'getMonth'), jest.spyOn(Date.prototype, 'toLocaleDateString')];
    expect(formatBucket('2026-12-06T00:00:00.000Z', true, 86_400_000)).toBe('06 Dec');
    expect(formatBucket('2026-01-31T00:00:00.000Z', false, 86_400_000)).toBe('31 Jan');
    for (const spy of local) {
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
    }
    expect(formatBucket('2026-12-06T14:00:00.000Z', false, 3_600_000)).toMatch(/^\d\d:00$/);
    expect(formatBucket('2026-12-06T14:00:00.000Z', true, 3_600_000)).toMatch(/^\d\d \w{3} \d\d:00$/);
  });
});

describe('formatLatencyBucket', () => {
  const bounds = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
  it('shows a histogram quantile as the bucket it stands for', () => {
    expect(formatLatencyBucket(5, bounds)).toBe('≤ 5 ms');
    expect(formatLatencyBucket(1000, bounds)).toBe('500–1000 ms');
    expect(formatLatencyBucket(10000, bounds)).toBe('5–10 s');
    // Past the last bound: only its lower edge is sure.
    expect(formatLatencyBucket(10001, bounds)).toBe('> 10.0 s');
    // A number that is not a bound is shown as it is.
    expect(formatLatencyBucket(42, bounds)).toBe('42 ms');
  });
});

describe('formatCost', () => {
  it('says a cost too small for six decimals is under a millionth of a dollar, not "$0."', () => {
    expect(formatCost(1e-7)).toBe('< $0.000001');
    expect(formatCost(4.9e-7)).toBe('< $0.000001');
    expect(formatCost(5e-7)).toBe('< $0.000001');
    expect(formatCost(-1e-7)).toBe('> $-0.000001');
    // What six decimals show, as before.
    expect(formatCost(0.0000015)).toBe('$0.000002');
    expect(formatCost(0.0015)).toBe('$0.0015');
    expect(formatCost(-0.005)).toBe('$-0.005');
    expect(formatCost(0)).toBe('$0');
    expect(formatCost(-0)).toBe('$0');
    expect(formatCost(12.345)).toBe('$12.35');
  });
});
