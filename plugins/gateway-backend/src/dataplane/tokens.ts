/**
 * Token counts the gateway needs before a call (limits, budgets, context
 * windows) or when an upstream reports none: OpenAI's o200k/cl100k BPE
 * through gpt-tokenizer, loaded on first use (it takes half a second), so a
 * plan without token limits never pays for it.
 */

import { contentImageTokens } from './imageTokens';

type Tokenizer = { countTokens(text: string, options: { disallowedSpecial: Set<string> }): number };
let tokenizer: Tokenizer | undefined;

function load(): Tokenizer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  tokenizer ??= require('gpt-tokenizer') as Tokenizer;
  return tokenizer;
}

/** Token counts as an upstream reported them. */
export type ReportedUsage = { prompt_tokens?: number; completion_tokens?: number };

/** The largest count a usage row holds (a 32-bit integer column on PostgreSQL). */
const MAX_COUNT = 2_147_483_647;

/**
 * The counts of an upstream's `usage` that can be trusted: each kept only when
 * it is a whole number from 0 up to what a usage row holds, else left out, so
 * the call's count is estimated instead. A string, a fraction, a negative or
 * a huge count would otherwise reach the limits (a NaN budget never refuses)
 * and the usage table (a row the database refuses would hold back the whole
 * batch it came in).
 */
export function reportedUsage(usage: unknown): ReportedUsage | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const { prompt_tokens: prompt, completion_tokens: completion } = usage as Record<string, unknown>;
  const count = (n: unknown) => (Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= MAX_COUNT ? (n as number) : undefined);
  return { prompt_tokens: count(prompt), completion_tokens: count(completion) };
}

/** The text of a message's content: a string, or the text parts of an array. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map(part => (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : '')).join('');
  }
  return '';
}

/** Per message, as OpenAI counts chat prompts: a few tokens of framing beside the content. */
const MESSAGE_OVERHEAD = 4;
const REPLY_PRIMING = 3;

/**
 * A caller's text is text: `<|endoftext|>` in it is counted as the
 * characters it is, as OpenAI's API takes it, not refused (gpt-tokenizer
 * throws on special tokens unless told otherwise).
 */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * The longest piece handed to the tokenizer. Its byte-pair merge is
 * quadratic in a piece's length, and a run without a break (100,000
 * underscores, spaces or CJK characters) is one piece: seconds of the event
 * loop for one prompt. Longer runs are counted in slices of this length,
 * which can only add a token or so at each cut.
 */
const MAX_RUN = 128;

/**
 * Whitespace as the tokenizer's split pattern reads it (JavaScript's `\s`,
 * Unicode's spaces included): where its pieces break. A run of breaks, or of
 * anything else, is cut by length.
 */
const isBreak = (code: number) =>
  code === 32 || (code >= 9 && code <= 13) || (code >= 0xa0 && (code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a)
    || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff));

/**
 * Whether a run of breaks, or of anything else, is MAX_RUN long or longer.
 * Every such run holds a position that is a multiple of MAX_RUN / 2, so only
 * the runs through those are measured: a tenth of the characters of a prompt
 * in words are read (a pass over all of them added a fifth to its count).
 */
function hasLongRun(text: string): boolean {
  const half = MAX_RUN / 2;
  for (let at = half - 1; at < text.length; at += half) {
    const kind = isBreak(text.charCodeAt(at));
    let start = at;
    while (start > 0 && at - start < MAX_RUN && isBreak(text.charCodeAt(start - 1)) === kind) start--;
    let end = at + 1;
    while (end < text.length && end - start < MAX_RUN && isBreak(text.charCodeAt(end)) === kind) end++;
    if (end - start >= MAX_RUN) return true;
  }
  return false;
}

/** Texts at least this long are counted apart (countApart), a slice at a time, rather than at once where they are needed. */
export const LONG_TEXT = 32 * 1024;
/** The slice counted between two turns of the event loop: milliseconds of work, not seconds. */
const SLICE = 8 * 1024;
/** Counts countApart made, for countText to find; at most this many characters of text are held. */
const MAX_COUNTED_CHARS = 16 * 1024 * 1024;
/** Each long text's count (once made) and how many calls hold it: calls with the same text share one count. */
const counted = new Map<string, { tokens?: number; counting: Promise<number>; holders: number }>();
let countedChars = 0;

export function countText(text: string): number {
  if (text.length === 0) return 0;
  if (text.length >= LONG_TEXT) {
    const known = counted.get(text)?.tokens;
    if (known !== undefined) return known;
  }
  const { countTokens } = load();
  if (!hasLongRun(text)) return countTokens(text, AS_TEXT);
  let tokens = 0;
  let from = 0;
  let runStart = 0;
  let runOfBreaks = isBreak(text.charCodeAt(0));
  for (let i = 1; i < text.length; i++) {
    const breaks = isBreak(text.charCodeAt(i));
    if (breaks !== runOfBreaks) {
      runOfBreaks = breaks;
      runStart = i;
    } else if (i - runStart === MAX_RUN) {
      // Not between the two halves of a surrogate pair.
      const cut = (text.charCodeAt(i) & 0xfc00) === 0xdc00 ? i - 1 : i;
      tokens += countTokens(text.slice(from, cut), AS_TEXT);
      from = cut;
      runStart = cut;
    }
  }
  return tokens + countTokens(text.slice(from), AS_TEXT);
}

/**
 * Counts long texts a slice at a time, yielding to the event loop between
 * slices, and keeps the counts for countText until `release` is called: a
 * call's prompt counted where it is needed, all at once, held the event loop
 * — every stream and call on the data plane — for as long as it took (about a
 * second per megabyte of base64). Slices are cut where a run of non-breaking
 * characters ends, which is where the tokenizer's own pieces end, so the sum
 * is the count of the whole.
 */
export async function countApart(texts: Iterable<string>): Promise<() => void> {
  const held: string[] = [];
  const release = () => {
    for (const text of held) {
      const entry = counted.get(text);
      if (entry && --entry.holders === 0) {
        counted.delete(text);
        countedChars -= text.length;
      }
    }
  };
  try {
    for (const text of new Set(texts)) {
      if (text.length < LONG_TEXT) continue;
      let entry = counted.get(text);
      if (!entry) {
        // Room first, from counts no call holds any more (a text larger than the room is counted where it is needed).
        for (const [old, { holders }] of counted) {
          if (countedChars + text.length <= MAX_COUNTED_CHARS) break;
          if (holders > 0) continue;
          counted.delete(old);
          countedChars -= old.length;
        }
        if (countedChars + text.length > MAX_COUNTED_CHARS) continue;
        const made: { tokens?: number; counting: Promise<number>; holders: number } = { counting: countSliceBySlice(text), holders: 0 };
        made.counting.then(tokens => {
          made.tokens = tokens;
        }, () => undefined);
        counted.set(text, made);
        countedChars += text.length;
        entry = made;
      }
      entry.holders++;
      held.push(text);
      await entry.counting;
    }
  } catch (error) {
    release();
    throw error;
  }
  return release;
}

/** A text's count, a slice at a time between turns of the event loop (countApart). */
async function countSliceBySlice(text: string): Promise<number> {
  let tokens = 0;
  for (let from = 0; from < text.length;) {
    let to = Math.min(from + SLICE, text.length);
    // To the next break after a character that is not one: a whole piece of the tokenizer's.
    while (to < text.length && to < from + 4 * SLICE && !(isBreak(text.charCodeAt(to)) && !isBreak(text.charCodeAt(to - 1)))) to++;
    tokens += countText(text.slice(from, to));
    from = to;
    await new Promise<void>(resolve => setImmediate(resolve));
  }
  return tokens;
}

/** The texts countText is asked to count for a call's prompt: its messages' contents, names and tool calls, its tools, or its prompt or input. */
export function promptTexts(kind: 'chat' | 'completions' | 'embeddings', body: { messages?: unknown; prompt?: unknown; input?: unknown; tools?: unknown; functions?: unknown }): string[] {
  if (kind !== 'chat') {
    const prompt = kind === 'completions' ? body.prompt : body.input;
    const texts = Array.isArray(prompt) ? prompt.filter((p): p is string => typeof p === 'string') : [prompt];
    return texts.filter((text): text is string => typeof text === 'string' && text.length >= LONG_TEXT);
  }
  const texts = [toolDefinitionsText(body)];
  for (const message of Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : []) {
    texts.push(contentText(message.content), toolCallsText(message));
    if (typeof message.name === 'string') texts.push(message.name);
  }
  return texts.filter(text => text.length >= LONG_TEXT);
}

export interface ChatMessage {
  role: string;
  content?: unknown;
  name?: string;
  tool_calls?: unknown;
  /** The legacy form of one tool call (`functions`, before `tools`). */
  function_call?: unknown;
}

/** The names and arguments of an assistant turn's tool calls (or legacy function call): prompt tokens like its content. */
function toolCallsText(message: ChatMessage): string {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls as Array<{ function?: unknown } | null> : [];
  let text = '';
  for (const fn of [...calls.map(call => call?.function), message.function_call]) {
    if (!fn || typeof fn !== 'object') continue;
    const { name, arguments: args } = fn as { name?: unknown; arguments?: unknown };
    if (typeof name === 'string') text += name;
    if (typeof args === 'string') text += args;
  }
  return text;
}

export function countMessage(message: ChatMessage): number {
  return MESSAGE_OVERHEAD + countText(contentText(message.content)) + contentImageTokens(message.content)
    + (message.name ? countText(message.name) : 0) + (message.tool_calls || message.function_call ? countText(toolCallsText(message)) : 0);
}

/** A chat call's tool (or legacy function) definitions, as the prompt carries them: '' when there are none. */
export function toolDefinitionsText(body: { tools?: unknown; functions?: unknown }): string {
  const definitions = body.tools ?? body.functions;
  return definitions === undefined || definitions === null ? '' : JSON.stringify(definitions);
}

/**
 * A conversation as countChat reads it, without what it does not need to
 * read again: each content's text only, and the image parts' tokens counted
 * once (a stream keeps this for an estimate at its end, not the images'
 * megabytes of base64). countChat(messages) + imageTokens is the count of
 * the conversation it was made from.
 */
export function textOnly(messages: ChatMessage[]): { messages: ChatMessage[]; imageTokens: number } {
  let imageTokens = 0;
  const texts = messages.map(message => {
    imageTokens += contentImageTokens(message.content);
    return { ...message, content: contentText(message.content) };
  });
  return { messages: texts, imageTokens };
}

export function countChat(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + countMessage(m), REPLY_PRIMING);
}

/**
 * An upper bound without tokenizing: a token is at least one byte of UTF-8,
 * so the bytes (plus framing) can only overcount. When even this fits, the
 * exact count is not needed.
 */
export function chatUpperBound(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + MESSAGE_OVERHEAD + Buffer.byteLength(contentText(m.content)) + contentImageTokens(m.content)
    + Buffer.byteLength(m.name ?? '') + (m.tool_calls || m.function_call ? Buffer.byteLength(toolCallsText(m)) : 0), REPLY_PRIMING);
}

/**
 * A completion's prompt or an embedding's input, as OpenAI takes it: a
 * string, a list of strings (a batch), a list of token ids, or a list of
 * token-id lists (a batch); undefined for anything else.
 */
export type PromptInput = string | Array<string | number | number[]>;

const isTokenIds = (value: unknown): value is number[] => Array.isArray(value) && value.every(t => Number.isSafeInteger(t) && (t as number) >= 0);

/** Whether a prompt or input has one of the shapes OpenAI takes. */
export function isPromptInput(value: unknown): value is PromptInput {
  if (typeof value === 'string') return true;
  if (!Array.isArray(value)) return false;
  return value.every(p => typeof p === 'string') || isTokenIds(value) || value.every(isTokenIds);
}

/** A prompt's tokens: each text counted by the tokenizer, each list of token ids by its length. */
export function countPrompt(prompt: unknown): number {
  if (typeof prompt === 'string') return countText(prompt);
  if (!Array.isArray(prompt)) return 0;
  if (isTokenIds(prompt)) return prompt.length;
  let tokens = 0;
  for (const part of prompt) tokens += typeof part === 'string' ? countText(part) : (part as number[]).length;
  return tokens;
}

/** How many prompts a batch holds: each is completed on its own, so each may be max_tokens long. */
export function promptsIn(prompt: unknown): number {
  if (!Array.isArray(prompt) || prompt.length === 0 || isTokenIds(prompt)) return 1;
  return prompt.length;
}
