/**
 * The body a call sends upstream, made from the bytes the client sent
 * whenever that is safe: JSON.stringify of a whole conversation was most of
 * a streamed call's own CPU in the data plane, for what is nearly always a
 * different model name and one added member.
 *
 * Safe means every JSON parser reads those bytes as the gateway did. A body
 * with a top-level member twice, or a member name written with escapes, may
 * not be: `{"model":"small","model":"large"}` is "large" to JSON.parse and
 * "small" to a parser where the first one wins, and forwarding it would let
 * a client past the plan's model check or its token reservation
 * (`max_tokens`). Such a body is always serialised from what the gateway
 * parsed.
 */

export interface UpstreamChange {
  /** The upstream's name for the model, when it is not the one the client sent. */
  model?: string;
  /** Add `"stream_options":{"include_usage":true}` (the body has no `stream_options`). */
  includeUsage?: boolean;
}

/** Where a top-level member's value lies in the body. */
interface Span {
  start: number;
  end: number;
}

interface TopLevel {
  members: Map<string, Span>;
  /** The index of the closing brace. */
  close: number;
}

const INCLUDE_USAGE = Buffer.from('"stream_options":{"include_usage":true}');
const COMMA = Buffer.from(',');
const NOTHING = Buffer.alloc(0);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

function skipSpace(raw: Buffer, from: number): number {
  let at = from;
  while (at < raw.length && isSpace(raw[at])) at++;
  return at;
}

/** The index after the string that starts at `at` (a quote), or -1. */
function skipString(raw: Buffer, at: number): number {
  for (let i = at + 1; i < raw.length; i++) {
    if (raw[i] === BACKSLASH) i++;
    else if (raw[i] === QUOTE) return i + 1;
  }
  return -1;
}

/** The index after the value that starts at `at`, or -1. */
function skipValue(raw: Buffer, at: number): number {
  const first = raw[at];
  if (first === QUOTE) return skipString(raw, at);
  if (first === 0x7b || first === 0x5b) {
    let depth = 0;
    for (let i = at; i < raw.length; i++) {
      const byte = raw[i];
      if (byte === QUOTE) {
        i = skipString(raw, i) - 1;
        if (i < 0) return -1;
      } else if (byte === 0x7b || byte === 0x5b) depth++;
      else if (byte === 0x7d || byte === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at;
  while (i < raw.length && raw[i] !== 0x2c && raw[i] !== 0x7d && raw[i] !== 0x5d && !isSpace(raw[i])) i++;
  return i > at ? i : -1;
}

/**
 * The top-level members of a body JSON.parse accepted as an object; undefined
 * when a name repeats or has an escape in it (or the bytes are not as
 * expected), and then the body is not forwarded as sent.
 */
function topLevel(raw: Buffer): TopLevel | undefined {
  const members = new Map<string, Span>();
  let at = skipSpace(raw, 0);
  if (raw[at] !== 0x7b) return undefined;
  at = skipSpace(raw, at + 1);
  if (raw[at] === 0x7d) return skipSpace(raw, at + 1) === raw.length ? { members, close: at } : undefined;
  for (;;) {
    if (raw[at] !== QUOTE) return undefined;
    // A name without escapes ends at the next quote; a backslash before it is an escape.
    let closingQuote = at + 1;
    while (closingQuote < raw.length && raw[closingQuote] !== QUOTE && raw[closingQuote] !== BACKSLASH) closingQuote++;
    if (raw[closingQuote] !== QUOTE) return undefined;
    const name = raw.toString('utf8', at + 1, closingQuote);
    if (members.has(name)) return undefined;
    at = skipSpace(raw, closingQuote + 1);
    if (raw[at] !== 0x3a) return undefined;
    const start = skipSpace(raw, at + 1);
    const end = skipValue(raw, start);
    if (end < 0) return undefined;
    members.set(name, { start, end });
    at = skipSpace(raw, end);
    if (raw[at] === 0x2c) {
      at = skipSpace(raw, at + 1);
      continue;
    }
    if (raw[at] !== 0x7d || skipSpace(raw, at + 1) !== raw.length) return undefined;
    return { members, close: at };
  }
}

/**
 * The client's bytes with `change` made to them, or undefined when they
 * cannot be used (see above) and the caller serialises the parsed body.
 */
export function upstreamBody(raw: Buffer, change: UpstreamChange): Buffer | undefined {
  const body = topLevel(raw);
  if (!body) return undefined;
  const model = change.model === undefined ? undefined : body.members.get('model');
  if (change.model !== undefined && !model) return undefined;
  if (change.includeUsage && body.members.has('stream_options')) return undefined;
  if (!model && !change.includeUsage) return raw;
  const parts: Buffer[] = [];
  let from = 0;
  if (model) {
    parts.push(raw.subarray(0, model.start), Buffer.from(JSON.stringify(change.model)));
    from = model.end;
  }
  if (change.includeUsage) {
    parts.push(raw.subarray(from, body.close), body.members.size > 0 ? COMMA : NOTHING, INCLUDE_USAGE);
    from = body.close;
  }
  parts.push(raw.subarray(from));
  return Buffer.concat(parts);
}
