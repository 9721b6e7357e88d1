import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayPlan, GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import type { StoredKey } from '../database/GatewayStore';
import { chunkedSink, relayableHead, releasedByRelay, type BodySink, type StreamSink } from './chunked';
import { trimConversation } from './context';
import { DataPlaneMetrics } from './metrics';
import type { Admission, Charge, Limits } from './limits';
import { grantOf, type KeyCache } from './keyCache';
import { KEY_ERRORS, sendError } from './openaiErrors';
import { CLIENT_CLOSED_STATUS, modelsInPlan } from '@quarterdeck/plugin-gateway-common';
import { resolveModel, type Target } from './routing';
import { SseUsageFilter } from './sse';
import { RelayUsage, type NativeRelay } from './nativeRelay';
import { ClientClosed, StreamClient, UpstreamTimeout, type Abortable, type ClientHead, type StreamEndListener, type StreamedResponse, type StreamTo } from './streamClient';
import { upstreamBody } from './upstreamBody';
import { upstreamAllowed } from './upstreamHosts';
import { renderTemplate } from './templates';
import { chatUpperBound, contentText, countApart, countChat, countPrompt, countText, isPromptInput, LONG_TEXT, promptsIn, promptTexts, reportedUsage, textOnly, toolDefinitionsText, type ChatMessage } from './tokens';
import type { UsageWriter } from './usageWriter';

/** The products the data plane serves, by id (kept current by the plugin). */
export interface ProductSource {
  get(id: string): GatewayProduct | undefined;
}

export interface DataPlaneOptions {
  host: string;
  port: number;
  keys: KeyCache;
  products: ProductSource;
  limits: Limits;
  usage: UsageWriter;
  logger?: LoggerService;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
  random?: () => number;
  /** Forwards the steady part of each stream natively (nativeRelay.ts); JavaScript does it all without. */
  nativeRelay?: NativeRelay;
  /**
   * `gateway.allowedUpstreamHosts`, checked again here: a product written while the list took its
   * host is not called once the list no longer does. Unchecked when not given.
   */
  allowedUpstreamHosts?: readonly string[];
}

export interface RunningDataPlane {
  url: string;
  close(): Promise<void>;
}

const OPENAI_PATHS: Record<string, 'chat' | 'completions' | 'embeddings'> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
};

/** How long a client's connection may stay idle between requests. */
const KEEP_ALIVE_MS = 65_000;
/** How long a stop waits for the calls its closed connections cut short to be recorded. */
const STOP_WAIT_MS = 5_000;

/** A call the client closed before its response was whole: nginx's 499, so that it is not counted as the upstream's error. */
const CLIENT_CLOSED = CLIENT_CLOSED_STATUS;
/** How a call that failed once under way is recorded: the client's leaving, or the upstream's failure. */
function failedStatus(error: unknown): number {
  return error instanceof ClientClosed ? CLIENT_CLOSED : 502;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * The fields a message's own `Connection` header names: hop-by-hop too, so a proxy removes them
 * (RFC 9110 §7.6.1). Undefined for the usual message, which names none but keep-alive or close.
 */
function namedByConnection(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  const names = (Array.isArray(connection) ? connection.join(',') : connection).split(',').map(n => n.trim().toLowerCase()).filter(n => n && n !== 'close' && n !== 'keep-alive');
  return names.length ? new Set(names) : undefined;
}

class BadRequest extends Error {
  constructor(message: string, readonly param: string | null, readonly status = 400) {
    super(message);
  }
}

/**
 * Why a REST product's path may not go upstream, if it may not: a `.` or `..`
 * segment (as sent, or percent-encoded) would climb out of the product's base
 * path once the upstream resolved it, and an encoded slash or a backslash is
 * a separator to some servers. Node passes the path as the client sent it.
 */
function restPathProblem(path: string): string | undefined {
  if (/%2f|%5c|\\/i.test(path)) return 'an encoded slash or a backslash is not passed upstream';
  for (const segment of path.split('/')) {
    // A segment's `;parameters` are not part of its name to Java servers (`/..;/` is `..` to Tomcat).
    const name = segment.split(';')[0];
    if (name === '' || name.length > 6) continue;
    const decoded = name.replace(/%2e/gi, '.');
    if (decoded === '.' || decoded === '..') return 'a "." or ".." segment is not passed upstream';
  }
  return undefined;
}

/**
 * Request headers a REST product's caller may not set for its upstream: who
 * the caller is, as an authenticating proxy or this gateway would say it
 * (`x-forwarded-email` is a signed-in user to an oauth2-proxy-fronted
 * service, the portal included), and the gateway's own. The gateway says
 * who calls in `x-quarterdeck-consumer`, and from where in `x-forwarded-for`.
 */
function callerMayNotSet(name: string): boolean {
  return name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-forwarded-') || name.startsWith('x-auth-request-')
    || name.startsWith('x-oauth2-proxy-') || name.startsWith('x-quarterdeck-');
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        // Stop reading, answer, then close (the 413 says `connection: close`): destroying the
        // socket here would reset the connection before the client is told why.
        req.removeAllListeners('data');
        req.pause();
        reject(new BadRequest(`Request body is larger than ${max} bytes`, null, 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The request body's fields the gateway reads; the rest passes through untouched. */
interface OpenAiBody {
  model?: unknown;
  messages?: unknown;
  prompt?: unknown;
  input?: unknown;
  stream?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  stream_options?: { include_usage?: unknown };
  n?: unknown;
  best_of?: unknown;
  tools?: unknown;
  functions?: unknown;
  [field: string]: unknown;
}

function validate(kind: 'chat' | 'completions' | 'embeddings', body: OpenAiBody) {
  // OpenAI's own words for a missing model; ours for one that is not a name.
  if (body.model === undefined) throw new BadRequest('you must provide a model parameter', 'model');
  if (typeof body.model !== 'string' || body.model.length === 0) throw new BadRequest('model: must be the name of a model', 'model');
  if (kind === 'chat') {
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new BadRequest('messages: must be a non-empty array', 'messages');
    for (const [i, m] of (body.messages as unknown[]).entries()) {
      const msg = m as { role?: unknown; name?: unknown } | null;
      if (!msg || typeof msg !== 'object' || typeof msg.role !== 'string') throw new BadRequest(`messages[${i}].role: required`, `messages[${i}].role`);
      if (msg.name !== undefined && msg.name !== null && typeof msg.name !== 'string') throw new BadRequest(`messages[${i}].name: must be a string`, `messages[${i}].name`);
    }
  }
  if (kind === 'completions' && body.prompt === undefined) throw new BadRequest('prompt: required', 'prompt');
  if (kind === 'embeddings' && body.input === undefined) throw new BadRequest('input: required', 'input');
  // What is counted for the limits is what the upstream will read: a shape it takes, or a 400 here.
  if (kind !== 'chat') {
    const prompt = kind === 'completions' ? 'prompt' : 'input';
    if (!isPromptInput(body[prompt])) throw new BadRequest(`${prompt}: must be a string, an array of strings, an array of token ids or an array of arrays of token ids`, prompt);
  }
  if (kind === 'embeddings' && (body.input === '' || (Array.isArray(body.input) && body.input.length === 0))) throw new BadRequest('input: must not be empty', 'input');
  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw new BadRequest('stream: must be a boolean', 'stream');
  streamOptionsProblem(body);
  // What the reservation is made of (null, as some clients send, is leaving it out).
  for (const field of ['max_tokens', 'max_completion_tokens', 'n', 'best_of'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && (!Number.isSafeInteger(value) || (value as number) < 1)) throw new BadRequest(`${field}: must be a positive integer`, field);
  }
}

/** stream_options is merged with the usage request (an object), and a template call's user passed on as OpenAI takes it (a string). */
function streamOptionsProblem(body: OpenAiBody) {
  const options = body.stream_options;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) throw new BadRequest('stream_options: must be an object', 'stream_options');
  if (body.user !== undefined && typeof body.user !== 'string') throw new BadRequest('user: must be a string', 'user');
}

/** How many completions one call asks for: each may be max_tokens long. */
function choicesAsked(body: OpenAiBody): number {
  return Math.max((body.n as number | null | undefined) ?? 1, (body.best_of as number | null | undefined) ?? 1);
}

/** A failed attempt that a fallback may retry: connection errors, timeouts, 429 and 5xx (`status`, as the upstream answered). */
class UpstreamFailure extends Error {
  constructor(message: string, readonly timeout: boolean, readonly status?: number, readonly retryAfter?: string) {
    super(message);
  }
}

/** A `Retry-After` worth passing on: whole seconds, or an HTTP date. */
const RETRY_AFTER = /^(\d{1,9}|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)$/;

/** An attempt not made: the upstream's host is no longer in the allowlist. A fallback may still be. */
class UpstreamNotAllowed extends UpstreamFailure {
  constructor(host: string) {
    super(`host "${host}" is not in gateway.allowedUpstreamHosts`, false);
  }
}

/** The response header of a conversation that lost its oldest turns to fit a window. */
function trimmedHeader(dropped: number, window: number): Record<string, string> {
  return { 'x-quarterdeck-context-trimmed': `${dropped} older message${dropped === 1 ? '' : 's'} dropped to fit ${window} tokens` };
}

/** The prompt's tokens counted here (when the upstream reports none). */
/** Whether a plan limits tokens or cost: then every call's prompt is counted before it. */
function planCountsTokens(plan: GatewayPlan): boolean {
  return Boolean(plan.tokensPerMinute || plan.dailyTokens || plan.monthlyTokens || plan.dailyCost !== undefined || plan.monthlyCost !== undefined);
}

/** Whether a chat fits the smallest window of the product's models by its byte upper bound: then it is never counted for its window. */
function fitsEveryWindow(product: GatewayProduct, body: OpenAiBody): boolean {
  const smallest = Math.min(...(product.models ?? []).map(m => m.contextWindow));
  const reply = Math.max((body.max_tokens as number | null | undefined) ?? 0, (body.max_completion_tokens as number | null | undefined) ?? 0);
  return chatUpperBound(body.messages as ChatMessage[]) + reply <= smallest;
}

function promptCount(kind: 'chat' | 'completions' | 'embeddings', body: OpenAiBody, messages: ChatMessage[] | undefined): number {
  return messages ? countChat(messages) : countPrompt(kind === 'completions' ? body.prompt : body.input);
}

/**
 * The headers of a completion's response: the upstream's content type, which
 * model and upstream answered, what the call adds, and for a stream the
 * event-stream ones. Built by assignment: the spreads this replaced were the
 * data plane's busiest function of its own at 1,000 streams.
 */
function responseHeaders(target: Target, contentType: string | undefined, extraHeaders: Record<string, string> | undefined, stream: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': contentType ?? (stream ? 'text/event-stream' : 'application/json'),
    'x-quarterdeck-model': target.model.name,
    'x-quarterdeck-upstream': target.upstream.name,
  };
  if (target.upstream.version) headers['x-quarterdeck-upstream-version'] = target.upstream.version;
  if (extraHeaders) Object.assign(headers, extraHeaders);
  if (stream) {
    headers['cache-control'] = 'no-cache';
    headers.connection = 'keep-alive';
  }
  return headers;
}

/** A target's stream headers for the native relay's head, one frozen object per target (relayableHead keeps their bytes by it). */
const relayHeads = new WeakMap<Target, Record<string, string>>();

function relayHeadersOf(target: Target): Record<string, string> {
  let headers = relayHeads.get(target);
  if (!headers) {
    headers = Object.freeze(responseHeaders(target, undefined, undefined, true));
    relayHeads.set(target, headers);
  }
  return headers;
}

/** What the native relay does with a stream's usage event: as the filter would (and it then ends the body itself). */
function relayUsageFor(filter: SseUsageFilter): RelayUsage {
  return filter.dropUsageEvent ? RelayUsage.Drop : RelayUsage.Forward;
}

/** A stream's events through the usage filter, then to the client's sink (a class: it lives as long as the stream). */
class FilteredSink implements StreamSink {
  constructor(private readonly filter: SseUsageFilter, private readonly sink: BodySink) {}

  get relayUsage() {
    return relayUsageFor(this.filter);
  }

  write(chunk: Buffer, framed?: Buffer) {
    const events = this.filter.push(chunk);
    // Forwarded as the upstream framed it when the filter left the chunk as it was.
    return this.sink.write(events, events === chunk ? framed : undefined);
  }

  onDrain(resume: () => void) {
    this.sink.onDrain(resume);
  }

  directFd() {
    return this.filter.idle ? this.sink.directFd() : undefined;
  }

  writeFramed(framed: Buffer) {
    return this.sink.writeFramed(framed);
  }

  forwarded(events: Buffer) {
    this.filter.forwarded(events);
  }

  usedByRelay(usage: Buffer) {
    this.filter.usageFrom(usage);
  }

  endedByRelay(out: Buffer) {
    this.sink.endedByRelay(out);
  }
}

/** What a stream's end needs of the data plane: one for all its streams. */
interface StreamRecorder {
  record(key: StoredKey, product: GatewayProduct, target: Target, status: number, started: number,
    usage: { prompt_tokens?: number; completion_tokens?: number } | undefined, estimated: boolean, route?: string): Charge;
  settle(key: StoredKey, plan: GatewayPlan, ask: Charge, used: Charge, admittedAt: number): void;
  /** The stream's row is written: a stop need not wait for it. */
  ended(): void;
}

/** The call a stream's end records and settles. */
interface StreamedCall {
  key: StoredKey;
  product: GatewayProduct;
  plan: GatewayPlan;
  target: Target;
  started: number;
  route?: string;
  /** The reservation to settle, when the plan counts tokens, and when it was made (its budget periods). */
  ask?: Charge;
  admittedAt: number;
  kind: 'chat' | 'completions' | 'embeddings';
  /** The prompt's tokens when they were counted before the call. */
  promptTokens?: number;
  /** Else the messages sent, when trimmed; else the request (its bytes, parsed again only then). */
  trimmed?: ChatMessage[];
  request: Buffer | OpenAiBody;
  /** The request parsed: a large chat request is kept as its text (textOnly), not its bytes. */
  body: OpenAiBody;
}

/** A chat request larger than this is kept for a stream's estimate as its text only (images are most of such bodies). */
const KEPT_REQUEST_BYTES = 16 * 1024;

/**
 * A stream whose body is under way: when it ends its usage is recorded and
 * its reservation settled. One object per stream, its fields copied from the
 * call and its methods on the prototype: only this is held meanwhile, never
 * the call's frames or closures or the client's request objects (kept for a
 * stream's seconds, such objects are what each young collection copies at
 * 1,000 streams: docs/gateway.md, Decisions).
 */
class StreamEnding implements StreamEndListener {
  private readonly key: StoredKey;
  private readonly product: GatewayProduct;
  private readonly plan: GatewayPlan;
  private readonly target: Target;
  private readonly started: number;
  private readonly route?: string;
  private readonly ask?: Charge;
  private readonly admittedAt: number;
  private readonly kind: 'chat' | 'completions' | 'embeddings';
  private readonly promptTokens?: number;
  private readonly trimmed?: ChatMessage[];
  /** The image parts' tokens of `trimmed`, when it was made text only. */
  private readonly imageTokens: number = 0;
  private readonly request?: Buffer | OpenAiBody;

  constructor(private readonly recorder: StreamRecorder, private readonly filter: SseUsageFilter, private readonly ending: Pick<BodySink, 'finish' | 'destroy'>, call: StreamedCall) {
    this.key = call.key;
    this.product = call.product;
    this.plan = call.plan;
    this.target = call.target;
    this.started = call.started;
    this.route = call.route;
    this.ask = call.ask;
    this.admittedAt = call.admittedAt;
    this.kind = call.kind;
    this.promptTokens = call.promptTokens;
    // Only what promptEstimate may read. The request's bytes are copied: a copy under 4 KiB is a view
    // of Node's shared pool, one object, where the original is three (view, ArrayBuffer, its memory).
    this.trimmed = call.promptTokens === undefined ? call.trimmed : undefined;
    const request = call.promptTokens === undefined && !call.trimmed ? call.request : undefined;
    if (Buffer.isBuffer(request) && request.length > KEPT_REQUEST_BYTES && call.kind === 'chat') {
      // Not a stream's length of a vision request's megabytes: its text, and its images' tokens counted now.
      ({ messages: this.trimmed, imageTokens: this.imageTokens } = textOnly(call.body.messages as ChatMessage[]));
    } else {
      this.request = Buffer.isBuffer(request) ? Buffer.from(request) : request;
    }
  }

  streamEnded(error?: Error) {
    if (error) this.ending.destroy();
    else this.ending.finish(this.filter.end());
    // A stream cut short, by the client or the upstream, is charged what was generated before: the prompt and the
    // events the client was sent (the upstream's own count when its usage event came). Charged nothing, a client
    // that hangs up before the end would never reach its budget.
    let usage = this.filter.usage;
    let estimated = false;
    if (usage?.prompt_tokens === undefined || usage.completion_tokens === undefined) {
      estimated = true;
      usage = {
        prompt_tokens: usage?.prompt_tokens ?? this.promptEstimate(),
        completion_tokens: usage?.completion_tokens ?? countText(this.filter.text),
      };
    }
    const used = this.recorder.record(this.key, this.product, this.target, error ? failedStatus(error) : 200, this.started, usage, estimated, this.route);
    if (this.ask) this.recorder.settle(this.key, this.plan, this.ask, used, this.admittedAt);
    this.recorder.ended();
  }

  /** The prompt's tokens, the upstream having reported none: as counted before the call, else counted now. */
  private promptEstimate(): number {
    if (this.promptTokens !== undefined) return this.promptTokens;
    if (this.trimmed) return countChat(this.trimmed) + this.imageTokens;
    const body = Buffer.isBuffer(this.request) ? (JSON.parse(this.request.toString('utf8')) as OpenAiBody) : this.request!;
    return promptCount(this.kind, body, this.kind === 'chat' ? (body.messages as ChatMessage[]) : undefined);
  }
}

/**
 * The gateway's data plane: a plain node:http server (no middleware chain),
 * keys checked from memory, limits in memory, upstreams over pooled
 * keep-alive connections, bodies passed through unchanged unless the model
 * name or the usage request must change, streams forwarded event by event,
 * usage written in batches.
 */
export async function startDataPlane(options: DataPlaneOptions): Promise<RunningDataPlane> {
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string) => {
    let pool = pools.get(origin);
    if (!pool) {
      // No cap on connections: a cap queues long streams behind each other (first bytes waited seconds at 1,000 streams).
      pool = new Pool(origin, { keepAliveTimeout: 30_000, pipelining: 1 });
      pools.set(origin, pool);
    }
    return pool;
  };
  // An upstream's origin and base path, parsed once per product version rather than per call.
  const endpoints = new WeakMap<object, { url: URL; origin: string; base: string; allowed: boolean }>();
  const allowlist = options.allowedUpstreamHosts;
  const endpointOf = (upstream: { url: string }) => {
    let endpoint = endpoints.get(upstream);
    if (!endpoint) {
      const url = new URL(upstream.url);
      endpoint = { url, origin: url.origin, base: url.pathname.replace(/\/$/, ''), allowed: !allowlist || upstreamAllowed(url, allowlist) };
      endpoints.set(upstream, endpoint);
    }
    return endpoint;
  };
  const streams = new StreamClient(undefined, options.nativeRelay);
  const random = options.random ?? Math.random;
  const metrics = new DataPlaneMetrics();
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;

  const authenticate = (req: IncomingMessage, res: ServerResponse): { key: StoredKey; product: GatewayProduct; plan: GatewayPlan } | undefined => {
    const header = req.headers.authorization;
    // The scheme is case-insensitive (RFC 9110).
    const presented = header && /^bearer /i.test(header) ? header.slice(7).trim() : (req.headers['x-api-key'] as string | undefined);
    const check = options.keys.check(presented);
    if (!check.ok) {
      metrics.refused('', `key-${check.reason}`);
      sendError(res, 401, KEY_ERRORS[check.reason], { code: 'invalid_api_key' });
      return undefined;
    }
    const product = options.products.get(check.key.productId);
    const plan = product?.plans.find(p => p.name === check.key.plan);
    if (!product || !plan) {
      sendError(res, 403, `The product or plan of this key (${check.key.productId}/${check.key.plan}) no longer exists.`, { type: 'permission_error', code: 'plan_not_found' });
      return undefined;
    }
    return { key: check.key, product, plan };
  };

  /** Checks and reserves the plan's limits; false after answering 429. */
  const admitted = async (res: ServerResponse, key: StoredKey, plan: GatewayPlan, ask: Charge, now = Date.now()): Promise<boolean> => {
    let admission: Admission;
    try {
      admission = await options.limits.admit(grantOf(key), plan, ask, now);
    } catch {
      // The limits' store (Redis) is unreachable or slow: refused, not let through uncounted (redisLimits.ts).
      metrics.refused(key.productId, 'limits-unavailable');
      sendError(res, 503, 'The gateway cannot check the limits of this key right now. Try again in 1s.', {
        code: 'limits_unavailable', headers: { 'retry-after': '1' },
      });
      return false;
    }
    if (admission.ok) return true;
    metrics.refused(key.productId, admission.limit);
    const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const budget = !['requests', 'tokens'].includes(admission.limit);
    sendError(res, 429, `${admission.message} Try again in ${seconds}s.`, {
      type: budget ? 'insufficient_quota' : admission.limit,
      code: budget ? 'budget_exceeded' : 'rate_limit_exceeded',
      headers: { 'retry-after': String(seconds) },
    });
    return false;
  };

  type Auth = NonNullable<ReturnType<typeof authenticate>>;

  /** The key's product, if it is OpenAI-compatible; answers 403 otherwise. */
  const openaiProduct = (res: ServerResponse, auth: Auth) => {
    if (auth.product.kind === 'openai') return true;
    sendError(res, 403, `Product ${auth.product.id} is a REST product; call it under /p/${auth.product.id}/`, { type: 'permission_error', code: 'wrong_product_kind' });
    return false;
  };

  async function readJson(req: IncomingMessage): Promise<{ raw: Buffer; body: OpenAiBody }> {
    const raw = await readBody(req, maxBody);
    let body: OpenAiBody;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new BadRequest('We could not parse the JSON body of your request.', null);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('The body must be a JSON object.', null);
    return { raw, body };
  }

  async function openai(req: IncomingMessage, res: ServerResponse, kind: 'chat' | 'completions' | 'embeddings') {
    const auth = authenticate(req, res);
    if (!auth || !openaiProduct(res, auth)) return;
    const { raw, body } = await readJson(req);
    validate(kind, body);
    await complete(res, auth, kind, body, raw, req.url!.split('?')[0]);
  }

  /** `POST /v1/templates/<name>`: a published prompt, its typed variables filled in, run as a chat completion. */
  async function template(req: IncomingMessage, res: ServerResponse, name: string) {
    const auth = authenticate(req, res);
    if (!auth || !openaiProduct(res, auth)) return;
    const found = (auth.product.templates ?? []).find(t => t.name === name);
    if (!found) {
      sendError(res, 404, `Product ${auth.product.id} has no prompt template "${name}".`, { code: 'template_not_found' });
      return;
    }
    const { body } = await readJson(req);
    const unknown = Object.keys(body).find(k => !['variables', 'stream', 'stream_options', 'user'].includes(k));
    if (unknown) throw new BadRequest(`${unknown}: not a field of a template call (send variables, and stream if you like)`, unknown);
    if (body.stream !== undefined && typeof body.stream !== 'boolean') throw new BadRequest('stream: must be a boolean', 'stream');
    streamOptionsProblem(body);
    const rendered = renderTemplate(found, body.variables);
    if (!rendered.ok) throw new BadRequest(rendered.message, rendered.field);
    const chat: OpenAiBody = {
      model: found.model,
      messages: rendered.messages,
      ...(found.maxTokens ? { max_tokens: found.maxTokens } : {}),
      ...(found.temperature !== undefined ? { temperature: found.temperature } : {}),
      ...(body.stream !== undefined ? { stream: body.stream } : {}),
      ...(body.stream_options ? { stream_options: body.stream_options } : {}),
      ...(body.user !== undefined ? { user: body.user } : {}),
    };
    await complete(res, auth, 'chat', chat, undefined, '/v1/chat/completions');
  }

  /*
   * Requests being handled, and streams not yet ended: a stop waits for them (a few seconds at
   * most), so that the usage writer's last flush holds their rows — the calls its closed
   * connections cut short are recorded as they end, a moment after the close.
   */
  let underWay = 0;
  let whenIdle: (() => void) | undefined;
  const callEnded = () => {
    if (--underWay === 0) whenIdle?.();
  };

  /** What every stream's end records through (StreamEnding). */
  const streamRecorder: StreamRecorder = {
    record,
    ended: callEnded,
    settle(key, plan, ask, used, admittedAt) {
      options.limits.settle(grantOf(key), plan, ask, used, admittedAt)
        .catch(settleError => options.logger?.warn(`Gateway limits: a stream's reservation was not settled: ${settleError}`));
    },
  };

  /**
   * One OpenAI-compatible call. A large prompt that will be counted (the
   * plan counts tokens, or a conversation may not fit the smallest window)
   * is counted first, apart, a slice at a time (countApart), so that the
   * counting below finds it done rather than holds the event loop.
   */
  async function complete(res: ServerResponse, auth: Auth, kind: 'chat' | 'completions' | 'embeddings', body: OpenAiBody, raw: Buffer | undefined, upstreamPath: string) {
    const texts = raw && raw.length >= LONG_TEXT ? promptTexts(kind, body) : [];
    const counted = texts.length > 0 && (planCountsTokens(auth.plan) || (kind === 'chat' && !fitsEveryWindow(auth.product, body)))
      ? await countApart(texts)
      : undefined;
    try {
      await completeCall(res, auth, kind, body, raw, upstreamPath);
    } finally {
      counted?.();
    }
  }

  /**
   * One OpenAI-compatible call: model resolution, context window, limits,
   * then the attempts in order (a route's pick, then its fallbacks). `raw`
   * is forwarded as is when nothing in the body must change.
   */
  async function completeCall(res: ServerResponse, auth: Auth, kind: 'chat' | 'completions' | 'embeddings', body: OpenAiBody, raw: Buffer | undefined, upstreamPath: string) {
    const { key, product, plan } = auth;
    if (key.models && !key.models.includes(body.model as string)) {
      sendError(res, 403, `This key may only use ${key.models.join(', ')}, not \`${body.model}\`.`, { type: 'permission_error', param: 'model', code: 'model_not_allowed' });
      return;
    }
    const resolution = resolveModel(product, plan, body.model as string, random());
    if (!resolution.ok) {
      sendError(res, resolution.status, resolution.message, { param: 'model', code: resolution.code, type: resolution.status === 403 ? 'permission_error' : 'invalid_request_error' });
      return;
    }
    const stream = body.stream === true;
    const clientWantsUsage = body.stream_options?.include_usage === true;
    // The larger of the two when both are sent: upstreams differ in which one they obey (OpenAI's own
    // server, vLLM and the example model server read max_completion_tokens first).
    const maxTokens = Math.max((body.max_tokens as number | null | undefined) ?? 0, (body.max_completion_tokens as number | null | undefined) ?? 0) || undefined;
    let attempts = resolution.attempts;
    /** Response headers this call adds (the context window's decisions); none on most calls. */
    let extraHeaders: Record<string, string> | undefined;

    // Context window: an upper bound from byte counts first, the tokenizer only when it might not fit.
    let messages = kind === 'chat' ? (body.messages as ChatMessage[]) : undefined;
    let promptTokens: number | undefined;
    /** The window the conversation was fitted to: the first attempt's (or the larger-context model's). */
    let fittedWindow = attempts[0].model.contextWindow;
    if (messages) {
      const window = fittedWindow;
      const reply = maxTokens ?? 0;
      if (chatUpperBound(messages) + reply > window) promptTokens = countChat(messages);
      if (promptTokens !== undefined && promptTokens + reply > window) {
        const larger = resolution.largerContext;
        if (larger && promptTokens + reply <= larger.model.contextWindow) {
          attempts = [larger];
          fittedWindow = larger.model.contextWindow;
          extraHeaders = { 'x-quarterdeck-context-routed': larger.model.name };
        } else {
          const trim = trimConversation(messages, window - reply);
          if (!trim.fits) {
            // What must stay (the system prompt, the last user turn) fits without the reply: max_tokens is what to lower.
            const lower = trim.minimum < window;
            // The field the reply's length came from, as the client named it.
            const replyField = maxTokens === body.max_tokens ? 'max_tokens' : 'max_completion_tokens';
            const advice = lower ? `Lower ${replyField} to at most ${window - trim.minimum}.` : 'Shorten the system prompt or the last message.';
            sendError(res, 400, `This model's maximum context length is ${window} tokens. However, you requested ${trim.minimum + reply} tokens (${trim.minimum} in the messages that cannot be dropped, ${reply} in the completion). ${advice}`,
              { param: lower ? replyField : 'messages', code: 'context_length_exceeded' });
            return;
          }
          messages = trim.messages;
          promptTokens = trim.promptTokens;
          extraHeaders = trimmedHeader(trim.dropped, window);
        }
      }
    }

    // Tokens are counted before the call only when the plan limits tokens or cost.
    const countsTokens = planCountsTokens(plan);
    let ask: Charge = { tokens: 0, cost: 0 };
    if (countsTokens) {
      const inPrice = Math.max(...attempts.map(a => a.model.inputPricePerMillion));
      const outPrice = Math.max(...attempts.map(a => a.model.outputPricePerMillion));
      promptTokens ??= promptCount(kind, body, messages);
      // Tool definitions are prompt tokens too, but not the conversation's: they are reserved, not trimmed.
      const tools = kind === 'chat' ? toolDefinitionsText(body) : '';
      const prompt = promptTokens + (tools ? countText(tools) : 0);
      // Without max_tokens a reply may fill the window of whichever attempt answers (a fallback's may be larger).
      const largestWindow = Math.max(...attempts.map(a => a.model.contextWindow));
      const reply = kind === 'embeddings' ? 0 : (maxTokens ?? Math.max(0, largestWindow - promptTokens)) * choicesAsked(body) * (kind === 'completions' ? promptsIn(body.prompt) : 1);
      ask = { tokens: prompt + reply, cost: (prompt * inPrice + reply * outPrice) / 1e6 };
    }
    const admittedAt = Date.now();
    if (!(await admitted(res, key, plan, ask, admittedAt))) return;

    let lastStatus = 502;
    let lastFailure: UpstreamFailure | undefined;
    let timedOut = false;
    let notAllowed = false;
    let used: Charge = { tokens: 0, cost: 0 };
    /** A stream under way settles its reservation when it ends (StreamEnding). */
    let settledAtEnd = false;
    try {
      for (const target of attempts) {
        // A fallback whose window is smaller than the one the conversation was fitted to gets it
        // fitted to its own (from the client's whole conversation), or is passed over when even
        // what must stay does not fit it.
        let sent = messages;
        let sentPromptTokens = promptTokens;
        let headers = extraHeaders;
        if (messages && target !== attempts[0] && target.model.contextWindow < fittedWindow) {
          const fit = trimConversation(body.messages as ChatMessage[], target.model.contextWindow - (maxTokens ?? 0));
          if (!fit.fits) continue;
          sent = fit.messages;
          sentPromptTokens = fit.promptTokens;
          headers = fit.dropped ? { ...extraHeaders, ...trimmedHeader(fit.dropped, target.model.contextWindow) } : extraHeaders;
        }
        // The client's bytes go upstream with the model renamed and usage asked
        // for in place (upstreamBody.ts); serialised anew when the messages
        // were trimmed or the bytes could be read two ways.
        const upstreamModel = target.model.upstreamModel ?? target.model.name;
        const payload = (raw && sent === body.messages
          ? upstreamBody(raw, { model: upstreamModel !== body.model ? upstreamModel : undefined, includeUsage: stream && !clientWantsUsage })
          : undefined)
          ?? Buffer.from(JSON.stringify({
            ...body,
            model: upstreamModel,
            ...(sent ? { messages: sent } : {}),
            ...(stream ? { stream_options: { ...(body.stream_options ?? {}), include_usage: true } } : {}),
          }));
        // Each attempt's row and histogram sample is timed from its own start: a version's latency is
        // its own, not the time an earlier version took to fail before it (rollout analysis reads it).
        const attemptStarted = performance.now();
        try {
          const outcome = await forward(res, target, upstreamPath, payload, stream, clientWantsUsage, headers);
          if (outcome.streaming) {
            settledAtEnd = true;
            const { ended, filter, ending } = outcome.streaming;
            underWay++;
            ended.onEnd(new StreamEnding(streamRecorder, filter, ending, {
              key, product, plan, target, started: attemptStarted, route: resolution.route,
              ask: countsTokens ? ask : undefined,
              admittedAt,
              kind, promptTokens: sentPromptTokens,
              trimmed: sent !== body.messages ? sent : undefined,
              request: raw && sent === body.messages ? raw : body,
              body,
            }));
            return;
          }
          let usage = outcome.usage;
          let estimated = false;
          if (outcome.status === 200 && (usage?.prompt_tokens === undefined || (kind !== 'embeddings' && usage.completion_tokens === undefined))) {
            // No usage from the upstream: counted here, and marked as estimated.
            estimated = true;
            usage = {
              prompt_tokens: usage?.prompt_tokens ?? sentPromptTokens ?? promptCount(kind, body, sent),
              completion_tokens: usage?.completion_tokens ?? countText(outcome.text()),
            };
          }
          used = record(key, product, target, outcome.status, attemptStarted, usage, estimated, resolution.route);
          return;
        } catch (error) {
          if (!(error instanceof UpstreamFailure) || res.headersSent) {
            // A client that left before any answer is charged the prompt the upstream was given, as one that leaves a
            // stream is charged what it was sent: else a client that hangs up just before each answer is never charged.
            // Counted here only when small: a large prompt on a plan that counts nothing is not counted on the event loop for a row.
            const left = error instanceof ClientClosed;
            const promptUsed = sentPromptTokens ?? (raw && raw.length >= LONG_TEXT ? undefined : promptCount(kind, body, sent));
            const charged = record(key, product, target, failedStatus(error), attemptStarted,
              left ? { prompt_tokens: promptUsed, completion_tokens: 0 } : undefined, left && promptUsed !== undefined, resolution.route);
            if (left) used = charged;
            if (!res.headersSent) sendError(res, 502, 'The upstream failed.', { code: 'upstream_error' });
            else res.destroy();
            return;
          }
          timedOut = error.timeout;
          lastStatus = error.timeout ? 504 : 502;
          lastFailure = error;
          // What the client is told is the last attempt's failure: a fallback's 503 is not "not allowed".
          notAllowed = error instanceof UpstreamNotAllowed;
          // The row says what the version answered (a 429, a 503), so its figures tell a rate limit from an outage.
          record(key, product, target, error.status ?? lastStatus, attemptStarted, undefined, false, resolution.route);
          options.logger?.debug?.(`Upstream ${target.upstream.name} failed for ${target.model.name}: ${error.message}`);
        }
      }
      if (lastFailure?.status === 429) {
        // The last upstream is rate limiting: the client is told so, and when to come back, as it would be by that upstream.
        sendError(res, 429, `The upstream is rate limiting \`${body.model}\`, and no fallback succeeded.`, {
          type: 'rate_limit_error', code: 'upstream_rate_limited',
          headers: { 'retry-after': lastFailure.retryAfter && RETRY_AFTER.test(lastFailure.retryAfter) ? lastFailure.retryAfter : '1' },
        });
        return;
      }
      if (notAllowed && !timedOut) {
        sendError(res, 502, `The upstream of \`${body.model}\` is not called: its host is not in gateway.allowedUpstreamHosts, and no fallback succeeded.`, { code: 'upstream_not_allowed' });
        return;
      }
      sendError(res, lastStatus, timedOut
        ? `The upstream did not answer in time for \`${body.model}\`, and no fallback succeeded.`
        : `The upstream failed for \`${body.model}\`, and no fallback succeeded.`, { code: timedOut ? 'upstream_timeout' : 'upstream_error' });
    } finally {
      // The reservation becomes what the call used (nothing, if it failed).
      if (countsTokens && !settledAtEnd) await options.limits.settle(grantOf(key), plan, ask, used, admittedAt);
    }
  }

  /**
   * One POST to an upstream through undici's dispatcher API, its response
   * buffered: no body stream object and no promise per chunk. (Streamed
   * calls go through `streams`, the StreamClient.) A client that leaves
   * stops it: the upstream's generation is not paid for nobody, and no
   * fallback is tried for a client that is gone.
   */
  function post(origin: string, path: string, payload: Buffer, timeout: number, res: ServerResponse): Promise<StreamedResponse> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let statusCode = 0;
      let contentType: string | undefined;
      let retryAfter: string | undefined;
      let clientLeft: (() => void) | undefined;
      const done = () => {
        if (clientLeft) res.off('close', clientLeft);
      };
      poolFor(origin).dispatch({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(payload.length) },
        body: payload,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      }, {
        onConnect(abort) {
          if (clientLeft) res.off('close', clientLeft);
          clientLeft = () => {
            if (!res.writableFinished) abort(new ClientClosed('the client closed the connection'));
          };
          if (res.destroyed) clientLeft();
          else res.once('close', clientLeft);
        },
        onHeaders(status, rawHeaders) {
          statusCode = status;
          // Raw headers come as [name, value, name, value, …].
          for (let i = 0; i < rawHeaders.length; i += 2) {
            const length = rawHeaders[i].length;
            if (length === 12 && rawHeaders[i].toString('latin1').toLowerCase() === 'content-type') contentType = rawHeaders[i + 1].toString('latin1');
            else if (length === 11 && rawHeaders[i].toString('latin1').toLowerCase() === 'retry-after') retryAfter = rawHeaders[i + 1].toString('latin1').trim();
          }
          return true;
        },
        onData(chunk) {
          chunks.push(chunk);
          return true;
        },
        onComplete() {
          done();
          resolve({ statusCode, contentType, retryAfter, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
        },
        onError(error) {
          done();
          reject(error);
        },
      });
    });
  }

  /** One attempt at one upstream; throws UpstreamFailure while nothing was sent to the client. */
  async function forward(res: ServerResponse, target: Target, path: string, payload: Buffer, stream: boolean, clientWantsUsage: boolean, extraHeaders: Record<string, string> | undefined) {
    const { url, origin, base, allowed } = endpointOf(target.upstream);
    if (!allowed) throw new UpstreamNotAllowed(url.hostname);
    const filter = stream ? new SseUsageFilter(!clientWantsUsage) : undefined;
    let watched: Abortable | undefined;
    /**
     * A client that goes away stops the upstream's generation too: the call's latest attempt (after a retry),
     * watched from its start, as a client may leave before the upstream's head comes.
     */
    const watchClient = filter && ((call: Abortable) => {
      if (res.destroyed) {
        call.abort(new ClientClosed('the client closed the connection'));
        return;
      }
      if (!watched) {
        res.once('close', () => {
          if (!res.writableFinished) watched!.abort(new ClientClosed('the client closed the connection'));
        });
      }
      watched = call;
    });
    const clientHead: ClientHead | undefined = filter && options.nativeRelay && (() => {
      const head = relayableHead(res, extraHeaders ? responseHeaders(target, undefined, extraHeaders, true) : relayHeadersOf(target));
      if (!head) return undefined;
      return { fd: head.fd, before: head.before, after: head.after, usage: relayUsageFor(filter) };
    });
    /** How the streamed body ends: set when its head goes to the client. */
    let ending: Pick<BodySink, 'finish' | 'destroy'> | undefined;
    const streamTo: StreamTo | undefined = filter && ((contentType, call, headSent) => {
      if (headSent) {
        const released = releasedByRelay(res, responseHeaders(target, contentType, extraHeaders, true), KEEP_ALIVE_MS, call);
        if (released) {
          ending = released;
          return new FilteredSink(filter, released);
        }
      } else {
        res.writeHead(200, responseHeaders(target, contentType, extraHeaders, true));
        res.flushHeaders();
      }
      const body = chunkedSink(res);
      ending = body;
      return new FilteredSink(filter, body);
    });
    const timeout = target.upstream.timeoutMs ?? 30_000;
    let response;
    try {
      response = streamTo
        ? await streams.post(url, `${base}${path}`, payload, timeout, streamTo, clientHead, watchClient)
        : await post(origin, `${base}${path}`, payload, timeout, res);
    } catch (error) {
      // Once the client has the headers, or has gone (Node may not know yet: the native relay's write failed), a failure
      // cannot fall back: the caller ends the response, and records a client's leaving as such (499).
      if (res.headersSent || res.destroyed || error instanceof ClientClosed) throw error;
      const code = (error as { code?: string }).code ?? '';
      throw new UpstreamFailure((error as Error).message, error instanceof UpstreamTimeout || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT');
    }
    if (response.ended && filter && ending) return { status: 200, streaming: { ended: response.ended, filter, ending } };
    if (response.statusCode === 429 || response.statusCode >= 500) {
      throw new UpstreamFailure(`status ${response.statusCode}`, false, response.statusCode, response.retryAfter);
    }
    const text = response.body;
    let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    let answer = '';
    if (response.statusCode === 200) {
      try {
        const parsed = JSON.parse(text.toString('utf8')) as { usage?: unknown; choices?: Array<{ message?: { content?: unknown }; text?: unknown }> };
        usage = reportedUsage(parsed.usage);
        if (!usage?.completion_tokens) answer = (parsed.choices ?? []).map(c => contentText(c.message?.content) || (typeof c.text === 'string' ? c.text : '')).join('');
      } catch {
        usage = undefined;
      }
    }
    const headers = responseHeaders(target, response.contentType, extraHeaders, false);
    headers['content-length'] = String(text.length);
    res.writeHead(response.statusCode, headers);
    res.end(text);
    return { status: response.statusCode, usage, text: () => answer };
  }

  /** Writes the call's usage row; returns what it used, for the limits. */
  function record(key: StoredKey, product: GatewayProduct, target: Target, status: number, started: number,
    usage: { prompt_tokens?: number; completion_tokens?: number } | undefined, estimated: boolean, route?: string): Charge {
    const prompt = usage?.prompt_tokens ?? 0;
    const completion = usage?.completion_tokens ?? 0;
    const cost = (prompt * target.model.inputPricePerMillion + completion * target.model.outputPricePerMillion) / 1e6;
    const latencyMs = performance.now() - started;
    metrics.call({ product: product.id, model: target.model.name, route, version: target.upstream.version, status, seconds: latencyMs / 1000, promptTokens: prompt, completionTokens: completion });
    options.usage.record({
      at: new Date(),
      keyId: key.id,
      consumerRef: key.componentRef,
      productId: product.id,
      model: target.model.name,
      upstream: target.upstream.version ? `${target.upstream.name}@${target.upstream.version}` : target.upstream.name,
      status,
      latencyMs,
      promptTokens: prompt,
      completionTokens: completion,
      estimated,
      cost,
    });
    return { tokens: prompt + completion, cost };
  }

  /** `/p/<product>/…`: a REST product, passed through (body and response streamed). */
  async function restProduct(req: IncomingMessage, res: ServerResponse, productId: string, subPath: string, started: number) {
    const auth = authenticate(req, res);
    if (!auth) return;
    const { key, product, plan } = auth;
    if (product.id !== productId) {
      sendError(res, 403, `This key is for product ${product.id}, not ${productId}.`, { type: 'permission_error', code: 'wrong_product' });
      return;
    }
    // An OpenAI-compatible product is called where its models, token limits and budgets apply.
    if (product.kind !== 'rest') {
      sendError(res, 403, `Product ${product.id} is OpenAI-compatible; call it under /v1/ (chat/completions, completions, embeddings, models)`, { type: 'permission_error', code: 'wrong_product_kind' });
      return;
    }
    if (!(await admitted(res, key, plan, { tokens: 0, cost: 0 }))) return;
    const upstream = product.upstreams[0];
    const { origin, base, allowed } = endpointOf(upstream);
    const headers: Record<string, string> = {};
    const hopByHop = namedByConnection(req.headers.connection);
    for (const [name, value] of Object.entries(req.headers)) {
      // `expect: 100-continue` was answered by Node already, and undici refuses to send it.
      if (value === undefined || HOP_BY_HOP.has(name) || hopByHop?.has(name) || name === 'expect' || name === 'authorization' || name === 'x-api-key' || name === 'host' || callerMayNotSet(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    headers['x-quarterdeck-consumer'] = key.componentRef;
    if (req.socket.remoteAddress) headers['x-forwarded-for'] = req.socket.remoteAddress;
    const target: Target = { model: { name: '', upstream: upstream.name, contextWindow: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 }, upstream };
    if (!allowed) {
      recordRest(key, product, target, 502, started);
      sendError(res, 502, `${product.id} is not called: its host is not in gateway.allowedUpstreamHosts.`, { code: 'upstream_not_allowed' });
      return;
    }
    // A client that leaves stops the upstream's call, whether its head has come or not.
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });
    let response;
    try {
      response = await poolFor(origin).request({
        path: `${base}${subPath}`,
        method: req.method as 'GET',
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req,
        headersTimeout: upstream.timeoutMs ?? 30_000,
        bodyTimeout: upstream.timeoutMs ?? 30_000,
        signal: clientGone.signal,
      });
    } catch (error) {
      if (clientGone.signal.aborted) {
        recordRest(key, product, target, CLIENT_CLOSED, started);
        return;
      }
      const code = (error as { code?: string }).code ?? '';
      const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
      recordRest(key, product, target, timeout ? 504 : 502, started);
      sendError(res, timeout ? 504 : 502, timeout ? `${product.id} did not answer in time.` : `${product.id} could not be reached.`, { code: timeout ? 'upstream_timeout' : 'upstream_error' });
      return;
    }
    const out: Record<string, string | string[]> = {};
    const upstreamHopByHop = namedByConnection(response.headers.connection);
    for (const [name, value] of Object.entries(response.headers)) if (value !== undefined && !HOP_BY_HOP.has(name) && !upstreamHopByHop?.has(name)) out[name] = value;
    res.writeHead(response.statusCode, out);
    let status = response.statusCode;
    try {
      // The body at the pace the client reads it (pipeline waits for the client to drain), never gathered here.
      await pipeline(response.body, res);
    } catch {
      // Cut short, by the client or by the upstream: the client's connection cannot say so but by closing.
      status = clientGone.signal.aborted ? CLIENT_CLOSED : 502;
      res.destroy();
    } finally {
      recordRest(key, product, target, status, started);
    }
  }

  function recordRest(key: StoredKey, product: GatewayProduct, target: Target, status: number, started: number) {
    metrics.call({ product: product.id, model: '', version: target.upstream.version, status, seconds: (performance.now() - started) / 1000, promptTokens: 0, completionTokens: 0 });
    options.usage.record({
      at: new Date(), keyId: key.id, consumerRef: key.componentRef, productId: product.id,
      upstream: target.upstream.version ? `${target.upstream.name}@${target.upstream.version}` : target.upstream.name,
      status, latencyMs: performance.now() - started, promptTokens: 0, completionTokens: 0, estimated: false, cost: 0,
    });
  }

  function models(req: IncomingMessage, res: ServerResponse) {
    const auth = authenticate(req, res);
    if (!auth || !openaiProduct(res, auth)) return;
    const body = JSON.stringify({
      object: 'list',
      data: modelsInPlan(auth.product, auth.plan).filter(id => !auth.key.models || auth.key.models.includes(id)).map(id => ({ id, object: 'model', created: 0, owned_by: auth.product.id })),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  const server = http.createServer((req, res) => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const handle = async () => {
      underWay++;
      try {
        if (path === '/metrics' && req.method === 'GET') {
          const text = metrics.metrics();
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(text);
          return;
        }
        if (path === '/healthz') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('ok');
          return;
        }
        if (path === '/v1/models') {
          if (req.method !== 'GET' && req.method !== 'HEAD') {
            sendError(res, 405, `Use GET for ${path}`, { headers: { allow: 'GET, HEAD' } });
            return;
          }
          models(req, res);
          return;
        }
        const templateMatch = /^\/v1\/templates\/([A-Za-z0-9._-]+)$/.exec(path);
        if (templateMatch) {
          if (req.method !== 'POST') {
            sendError(res, 405, `Use POST for ${path}`, { headers: { allow: 'POST' } });
            return;
          }
          await template(req, res, templateMatch[1]);
          return;
        }
        const restMatch = /^\/p\/([a-z0-9-]+)(\/.*)?$/.exec(path);
        if (restMatch) {
          const problem = restPathProblem(restMatch[2] ?? '/');
          if (problem) throw new BadRequest(`path: ${problem}`, null);
          await restProduct(req, res, restMatch[1], `${restMatch[2] ?? '/'}${(req.url ?? '').slice(path.length)}`, started);
          return;
        }
        const kind = OPENAI_PATHS[path];
        if (kind) {
          if (req.method !== 'POST') {
            sendError(res, 405, `Use POST for ${path}`, { headers: { allow: 'POST' } });
            return;
          }
          await openai(req, res, kind);
          return;
        }
        sendError(res, 404, `Unknown path ${path}`, { code: 'unknown_url' });
      } finally {
        callEnded();
      }
    };
    handle().catch(error => {
      if (error instanceof BadRequest) {
        metrics.refused('', 'validation');
        sendError(res, error.status, error.message, { param: error.param, ...(error.status === 413 ? { code: 'request_too_large', headers: { connection: 'close' } } : {}) });
        return;
      }
      options.logger?.error(`Gateway data plane error on ${path}: ${error}`);
      sendError(res, 500, 'The gateway failed to handle the request.', { code: 'internal_error' });
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${address.port}`,
    async close() {
      await new Promise<void>(resolve => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      streams.close();
      await Promise.all([...pools.values()].map(p => p.close()));
      if (underWay > 0) {
        await new Promise<void>(resolve => {
          whenIdle = resolve;
          setTimeout(resolve, STOP_WAIT_MS).unref();
        });
      }
    },
  };
}
