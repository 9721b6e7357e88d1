import type { UsageRecord } from '../database/GatewayStore';
import { UsageWriter } from './usageWriter';

const call = (latencyMs: number): UsageRecord => ({
  at: new Date('2026-12-07T09:00:00Z'), productId: 'p', status: 200, latencyMs, promptTokens: 1, completionTokens: 1, estimated: false, cost: 0,
});

/** A store that keeps what it is sent by batch id, and fails the writes it is told to after keeping them (a lost COMMIT reply). */
function flakySink() {
  const written = new Map<string, number[]>();
  const sent: Array<{ id: string; rows: number[] }> = [];
  let failNext = 0;
  return {
    written, sent,
    failAfterWriting(n: number) { failNext = n; },
    async insertUsage(rows: UsageRecord[], id?: string) {
      sent.push({ id: id!, rows: rows.map(r => r.latencyMs) });
      const fresh = !written.has(id!);
      if (fresh) written.set(id!, rows.map(r => r.latencyMs));
      if (failNext > 0) {
        failNext--;
        throw new Error('Connection terminated unexpectedly');
      }
      return { written: fresh ? rows.length : 0, refused: 0 };
    },
  };
}

describe('UsageWriter', () => {
  it('sends a failed batch again under its id, before newer rows, so a write whose reply was lost counts once', async () => {
    const sink = flakySink();
    const writer = new UsageWriter(sink);
    writer.record(call(1));
    writer.record(call(2));
    sink.failAfterWriting(1);
    await writer.flush();
    writer.record(call(3));
    await writer.flush();
    await writer.flush();
    expect(sink.sent.map(s => s.rows)).toEqual([[1, 2], [1, 2], [3]]);
    expect(sink.sent[1].id).toBe(sink.sent[0].id);
    expect(sink.sent[2].id).not.toBe(sink.sent[0].id);
    expect([...sink.written.values()].flat()).toEqual([1, 2, 3]);
  });

  it('keeps its bound while the store is down, dropping the oldest rows first, and drains what is left', async () => {
    const sink = flakySink();
    const writer = new UsageWriter(sink, { maxQueued: 4 });
    writer.record(call(1));
    writer.record(call(2));
    sink.failAfterWriting(1);
    await writer.flush();
    for (const ms of [3, 4, 5]) writer.record(call(ms));
    expect(writer.dropped).toBe(1);
    await writer.drain();
    // The failed batch goes again, shorter by the row dropped, under its id; the rest in a batch of its own.
    expect(sink.sent.map(s => s.rows)).toEqual([[1, 2], [2], [3, 4, 5]]);
    expect(sink.sent[1].id).toBe(sink.sent[0].id);
    expect([...sink.written.values()].flat()).toEqual([1, 2, 3, 4, 5]);
  });

  it('counts the rows being written towards its bound, dropping queued ones (never those in flight)', async () => {
    let finish!: () => void;
    const sent: number[][] = [];
    const writer = new UsageWriter({
      insertUsage: (rows: UsageRecord[]) => {
        sent.push(rows.map(r => r.latencyMs));
        return sent.length === 1 ? new Promise(resolve => { finish = () => resolve({ written: rows.length, refused: 0 }); }) : Promise.resolve({ written: rows.length, refused: 0 });
      },
    }, { maxQueued: 4 });
    for (const ms of [1, 2, 3]) writer.record(call(ms));
    const first = writer.flush();
    for (const ms of [4, 5, 6]) writer.record(call(ms));
    // Three in flight and a bound of four: of the three queued, only the newest fits.
    expect(writer.dropped).toBe(2);
    finish();
    await first;
    await writer.drain();
    expect(sent).toEqual([[1, 2, 3], [6]]);
  });

  it('tells how many rows are not yet written, the batch being written and one to send again included', async () => {
    const sink = flakySink();
    const writer = new UsageWriter(sink);
    writer.record(call(1));
    writer.record(call(2));
    expect(writer.waiting).toBe(2);
    sink.failAfterWriting(1);
    const writing = writer.flush();
    writer.record(call(3));
    expect(writer.waiting).toBe(3);
    await writing;
    expect(writer.waiting).toBe(3);
    await writer.drain();
    expect(writer.waiting).toBe(0);
    expect(writer.dropped).toBe(0);
  });
});
