import { StringDecoder } from 'node:string_decoder';

const MAX_KEPT = 1 << 20;

/**
 * Passes an upstream's server-sent events through event by event, and
 * reads the usage the upstream reports. The gateway always asks upstreams
 * for `stream_options.include_usage`; when the client did not ask for it,
 * the extra event carrying only usage (`"choices":[]`) is removed, so the
 * client sees exactly what it asked for.
 */
export class SseUsageFilter {
  private pending = '';
  // A chunk may end inside a multi-byte character.
  private readonly decoder = new StringDecoder('utf8');
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  /**
   * The events as forwarded, kept (up to a bound) only to estimate tokens if
   * the upstream reports no usage; parsed at the end, and only then, since
   * nearly every upstream does report it.
   */
  private forwarded = '';

  constructor(private readonly dropUsageEvent: boolean) {}

  /** Complete events from this chunk, as bytes to forward now. */
  push(chunk: Buffer): string {
    const text = this.pending + this.decoder.write(chunk);
    const end = text.lastIndexOf('\n\n');
    if (end < 0) {
      this.pending = text;
      return '';
    }
    this.pending = text.slice(end + 2);
    return this.filter(text.slice(0, end + 2));
  }

  /** Whatever is left when the upstream ends. */
  end(): string {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    return rest.length > 0 ? this.filter(rest) : '';
  }

  /** The streamed text, for estimating tokens when an upstream reports no usage. */
  get text(): string {
    let text = '';
    for (const match of this.forwarded.matchAll(/"(?:content|text)":"((?:[^"\\]|\\.)*)"/g)) {
      try {
        text += JSON.parse(`"${match[1]}"`);
      } catch {
        // not a JSON string: skip
      }
    }
    return text;
  }

  private filter(events: string): string {
    if (this.forwarded.length < MAX_KEPT) this.forwarded += events;
    // Cheap check first: most chunks carry no usage.
    if (!events.includes('"usage"')) return events;
    let out = '';
    for (const event of events.split(/(?<=\n\n)/)) {
      const data = event.startsWith('data: ') ? event.slice(6).trim() : '';
      if (data.startsWith('{') && data.includes('"usage"')) {
        try {
          const parsed = JSON.parse(data) as { usage?: SseUsageFilter['usage']; choices?: unknown[] };
          if (parsed.usage) this.usage = parsed.usage;
          if (this.dropUsageEvent && Array.isArray(parsed.choices) && parsed.choices.length === 0) continue;
        } catch {
          // Not JSON: forward as is.
        }
      }
      out += event;
    }
    return out;
  }
}
