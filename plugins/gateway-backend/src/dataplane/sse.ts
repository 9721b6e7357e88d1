import { reportedUsage, type ReportedUsage } from './tokens';

/** The most of a stream kept to estimate tokens when the upstream reports no usage. */
const MAX_KEPT = 1 << 20;
const EMPTY = Buffer.alloc(0);

/** Where the last complete event in `data` ends (0 when there is none): after "\n\n" or "\r\n\r\n". */
function lastEventEnd(data: Buffer): number {
  // Nearly every chunk is whole events, so it ends with the blank line: no search.
  const n = data.length;
  if (n >= 2 && data[n - 1] === 0x0a && (data[n - 2] === 0x0a || (n >= 4 && data[n - 2] === 0x0d && data[n - 3] === 0x0a && data[n - 4] === 0x0d))) return n;
  const lf = data.lastIndexOf('\n\n');
  const crlf = data.lastIndexOf('\r\n\r\n');
  return Math.max(lf < 0 ? 0 : lf + 2, crlf < 0 ? 0 : crlf + 4);
}

const USAGE = Buffer.from('"usage":');

/**
 * Whether the events carry a usage object. With `include_usage`, OpenAI (and
 * the example model server) put `"usage":null` in every chunk and the counts
 * only in the last one, so the test is for an object, not for the field.
 */
function hasUsageObject(events: Buffer): boolean {
  for (let at = events.indexOf(USAGE); at >= 0; at = events.indexOf(USAGE, at + USAGE.length)) {
    let next = at + USAGE.length;
    while (events[next] === 0x20) next++;
    if (events[next] === 0x7b /* { */) return true;
  }
  return false;
}

/**
 * Passes an upstream's server-sent events through event by event, and
 * reads the usage the upstream reports. The gateway always asks upstreams
 * for `stream_options.include_usage`; when the client did not ask for it,
 * the extra event carrying only usage (`"choices":[]`) is removed, so the
 * client sees exactly what it asked for.
 *
 * Bytes stay bytes: a chunk of whole events without usage in it (nearly
 * every one) is forwarded as the very buffer the upstream's socket gave,
 * with no decoding, copying or string kept on the heap — at 1,000
 * concurrent streams the young generation's collections grew with every
 * event string a stream held.
 */
export class SseUsageFilter {
  /** The start of an event whose end has not arrived yet. */
  private pending?: Buffer;
  usage?: ReportedUsage;
  /**
   * A copy of the events as forwarded (up to a bound), kept only to estimate
   * tokens if the upstream reports no usage; decoded at the end, and only
   * then, since nearly every upstream does report it. Copied into one
   * growing buffer rather than holding on to the chunks: a chunk held for
   * the whole stream outlives two young-generation collections and is
   * promoted, and at 1,000 streams those chunks were most of what the
   * collector copied and most of the old generation's growth.
   */
  private kept = EMPTY;
  private keptBytes = 0;

  constructor(readonly dropUsageEvent: boolean) {}

  /** Complete events from this chunk, as bytes to forward now (empty while an event is incomplete). */
  push(chunk: Buffer): Buffer {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = lastEventEnd(data);
    this.pending = end === data.length ? undefined : data.subarray(end);
    return end === 0 ? EMPTY : this.filter(end === data.length ? data : data.subarray(0, end));
  }

  /** No event is half-read: what follows may be forwarded without this filter (the native relay). */
  get idle(): boolean {
    return this.pending === undefined;
  }

  /** Events forwarded without this filter (whole, without a usage object): kept for an estimate. */
  forwarded(events: Buffer) {
    this.keep(events);
  }

  /** The data (JSON) of a usage event read past this filter (the native relay), taken as filter takes it. */
  usageFrom(data: Buffer) {
    try {
      this.take(JSON.parse(data.toString('utf8')) as { usage?: unknown });
    } catch {
      // The relay passes on only what JSON.parse reads.
    }
  }

  /** Whatever is left when the upstream ends. */
  end(): Buffer {
    const rest = this.pending;
    this.pending = undefined;
    return rest ? this.filter(rest) : EMPTY;
  }

  /** The streamed text, for estimating tokens when an upstream reports no usage. */
  get text(): string {
    let text = '';
    for (const match of this.kept.toString('utf8', 0, this.keptBytes).matchAll(/"(?:content|text)":"((?:[^"\\]|\\.)*)"/g)) {
      try {
        text += JSON.parse(`"${match[1]}"`);
      } catch {
        // not a JSON string: skip
      }
    }
    return text;
  }

  private keep(events: Buffer) {
    const room = MAX_KEPT - this.keptBytes;
    if (room <= 0) return;
    const taken = Math.min(events.length, room);
    if (this.keptBytes + taken > this.kept.length) {
      const grown = Buffer.allocUnsafeSlow(Math.min(MAX_KEPT, Math.max(4096, this.kept.length * 2, this.keptBytes + taken)));
      grown.set(this.kept.subarray(0, this.keptBytes));
      this.kept = grown;
    }
    // TypedArray#set rather than Buffer#copy: no call into C++ per event.
    this.kept.set(taken === events.length ? events : events.subarray(0, taken), this.keptBytes);
    this.keptBytes += taken;
  }

  /** A usage event's counts: the last event that has them wins. */
  private take(parsed: { usage?: unknown }) {
    const usage = reportedUsage(parsed.usage);
    if (usage) this.usage = usage;
  }

  private filter(events: Buffer): Buffer {
    this.keep(events);
    // Cheap check first (a byte search): all chunks but the last carry no usage.
    if (!hasUsageObject(events)) return events;
    let out = '';
    let dropped = false;
    for (const event of events.toString('utf8').split(/(?<=\r\n\r\n|\n\n)/)) {
      const data = event.startsWith('data:') ? event.slice(5).trim() : '';
      if (data.startsWith('{') && data.includes('"usage"')) {
        try {
          const parsed = JSON.parse(data) as { usage?: unknown; choices?: unknown[] };
          this.take(parsed);
          if (this.dropUsageEvent && Array.isArray(parsed.choices) && parsed.choices.length === 0) {
            dropped = true;
            continue;
          }
        } catch {
          // Not JSON: forward as is.
        }
      }
      out += event;
    }
    return dropped ? Buffer.from(out) : events;
  }
}
