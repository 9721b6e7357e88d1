#!/usr/bin/env node
/* eslint-disable no-console */
// An OpenAI-compatible example model server: deterministic answers, streaming,
// two versions (v1, v2) that answer differently so a traffic split is visible,
// and failure injection for the gateway's fallback tests. Node's standard
// library only (plain node:http, keep-alive).
//
//   node examples/model-server/server.js --port 7101 --version v1
//
// In-process: const { startModelServer } = require('./server');
//             const { url, close } = await startModelServer({ port: 0, version: 'v2' });
//
// Tokens (the `usage` counts): a token is a run of letters, digits, `_` or
// non-ASCII characters, cut every 16 characters, or one ASCII punctuation or
// symbol character; whitespace is not a token. A chat prompt counts 3 tokens
// per message (+1 with `name`) plus 3 for the reply's priming. Every content
// delta of a stream is exactly one token (with the whitespace before it).
'use strict';

const http = require('node:http');

const OWNER = 'quarterdeck-example';
const CREATED = 1735689600; // 2025-01-01, fixed so /v1/models is deterministic

/** The models every server lists. `kind` picks how it answers. */
const MODELS = [
  { id: 'chat-small', kind: 'chat', contextWindow: 8192, lengthFactor: 1 },
  { id: 'chat-large', kind: 'chat', contextWindow: 32768, lengthFactor: 2 },
  { id: 'sentiment-small', kind: 'sentiment', contextWindow: 2048 },
  { id: 'embed-small', kind: 'embedding', contextWindow: 8192 },
];
const EMBEDDING_DIMENSIONS = 256;

// ---------------------------------------------------------------- tokenizer

const MAX_RUN = 16;

function isWordChar(c) {
  return (
    (c >= 48 && c <= 57) ||
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    c === 95 ||
    c > 127
  );
}

function isSpace(c) {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/** Counts tokens without allocating (see the rule at the top). */
function countTokens(text) {
  let n = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isWordChar(c)) {
      if (run === 0 || run === MAX_RUN) {
        n++;
        run = 0;
      }
      run++;
    } else {
      run = 0;
      if (!isSpace(c)) n++;
    }
  }
  return n;
}

/** Splits text into one piece per token, each with the whitespace before it. */
function splitTokens(text) {
  const ends = [];
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isWordChar(c)) {
      if (run === 0 || run === MAX_RUN) {
        ends.push(i + 1);
        run = 0;
      } else {
        ends[ends.length - 1] = i + 1;
      }
      run++;
    } else {
      run = 0;
      if (!isSpace(c)) ends.push(i + 1);
    }
  }
  const pieces = new Array(ends.length);
  let start = 0;
  for (let k = 0; k < ends.length; k++) {
    const end = k === ends.length - 1 ? text.length : ends[k];
    pieces[k] = text.slice(start, end);
    start = end;
  }
  return pieces;
}

// ------------------------------------------------------ deterministic answers

function fnv1a(text, hash = 0x811c9dc5) {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small seeded generator of uint32s. */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function style(words, sentenceWords, minTokens, spread) {
  const cap = w => w[0].toUpperCase() + w.slice(1);
  return {
    first: words.map(cap),
    start: words.map(w => ` ${cap(w)}`),
    middle: words.map(w => ` ${w}`),
    sentenceWords,
    minTokens,
    spread,
  };
}

// v1: short plain sentences from a nautical vocabulary; v2: longer answers,
// shorter sentences, a different vocabulary.
const STYLES = {
  v1: style(
    'anchor harbor signal steady course deck tide lantern chart compass keel rope sail crew bearing north calm wind current beacon port mast hull wave shore buoy route knot voyage captain log watch'.split(
      ' ',
    ),
    9,
    12,
    28,
  ),
  v2: style(
    'indeed certainly consider gradient vector token window context latency shard replica cache stream batch kernel tensor prompt answer model cluster rollout canary metric budget quota router fallback weight split preview'.split(
      ' ',
    ),
    5,
    20,
    40,
  ),
};

function chatPieces(version, model, seed) {
  const s = STYLES[version];
  const next = generator(seed);
  const target = (s.minTokens + (seed % s.spread)) * (model.lengthFactor ?? 1);
  const pieces = [];
  let inSentence = 0;
  while (pieces.length < target) {
    const remaining = target - pieces.length;
    if (inSentence >= s.sentenceWords || (remaining === 1 && inSentence > 0)) {
      pieces.push('.');
      inSentence = 0;
      continue;
    }
    const i = next() % s.middle.length;
    let words = s.middle;
    if (pieces.length === 0) words = s.first;
    else if (inSentence === 0) words = s.start;
    pieces.push(words[i]);
    inSentence++;
  }
  return pieces;
}

const POSITIVE = new Set(
  'good great love like excellent happy nice wonderful best fast amazing thanks awesome fine glad'.split(
    ' ',
  ),
);
const NEGATIVE = new Set(
  'bad terrible hate awful poor slow worst broken sad angry fail failed error wrong ugly'.split(
    ' ',
  ),
);

function sentimentText(version, text) {
  let pos = 0;
  let neg = 0;
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (POSITIVE.has(word)) pos++;
    else if (NEGATIVE.has(word)) neg++;
  }
  let label = 'neutral';
  if (pos > neg) label = 'positive';
  else if (neg > pos) label = 'negative';
  if (version === 'v1') return label;
  const confidence = 0.5 + (0.5 * Math.abs(pos - neg)) / (pos + neg + 1);
  return `${label} (confidence ${confidence.toFixed(2)})`;
}

/**
 * The completion pieces (one per token) and the finish reason for one choice:
 * the whole answer, cut at maxTokens ('length') when it is longer.
 */
function answer(version, model, text, seed, maxTokens) {
  const pieces =
    model.kind === 'sentiment'
      ? splitTokens(sentimentText(version, text))
      : chatPieces(version, model, seed);
  if (pieces.length > maxTokens) {
    return { pieces: pieces.slice(0, maxTokens), finishReason: 'length' };
  }
  return { pieces, finishReason: 'stop' };
}

function embeddingVector(version, key, dimensions) {
  const next = generator(fnv1a(key, fnv1a(version)));
  const vector = new Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    const x = next() / 2147483648 - 1;
    vector[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dimensions; i++) {
    vector[i] = Math.round((vector[i] / norm) * 1e6) / 1e6;
  }
  return vector;
}

// ------------------------------------------------------------------ errors

class ApiError extends Error {
  constructor(status, message, param = null, code = null, type) {
    super(message);
    this.status = status;
    this.param = param;
    this.code = code;
    this.type = type ?? 'invalid_request_error';
  }
}

function typeName(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'an integer' : 'a decimal';
  }
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

const missing = param =>
  new ApiError(
    400,
    `Missing required parameter: '${param}'.`,
    param,
    'missing_required_parameter',
  );

const invalidType = (param, expected, value) =>
  new ApiError(
    400,
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(
      value,
    )} instead.`,
    param,
    'invalid_type',
  );

function checkInteger(body, param, min, max) {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value)) throw invalidType(param, 'an integer', value);
  if (value < min) {
    throw new ApiError(
      400,
      `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`,
      param,
      'integer_below_min_value',
    );
  }
  if (value > max) {
    throw new ApiError(
      400,
      `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`,
      param,
      'integer_above_max_value',
    );
  }
  return value;
}

function checkNumber(body, param, min, max) {
  const value = body[param];
  if (value === undefined || value === null) return;
  if (typeof value !== 'number') throw invalidType(param, 'a number', value);
  if (value < min || value > max) {
    throw new ApiError(
      400,
      `Invalid '${param}': expected a value between ${min} and ${max}, but got ${value} instead.`,
      param,
      value < min ? 'decimal_below_min_value' : 'decimal_above_max_value',
    );
  }
}

function checkModel(body) {
  if (body.model === undefined || body.model === null) throw missing('model');
  if (typeof body.model !== 'string') {
    throw invalidType('model', 'a string', body.model);
  }
  return body.model;
}

function findModel(modelsById, id) {
  const model = modelsById.get(id);
  if (!model) {
    throw new ApiError(
      404,
      `The model \`${id}\` does not exist or you do not have access to it.`,
      'model',
      'model_not_found',
    );
  }
  return model;
}

function checkStream(body) {
  if (body.stream !== undefined && body.stream !== null) {
    if (typeof body.stream !== 'boolean') {
      throw invalidType('stream', 'a boolean', body.stream);
    }
  }
  const stream = body.stream === true;
  const options = body.stream_options;
  if (options !== undefined && options !== null) {
    if (!stream) {
      throw new ApiError(
        400,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        'stream_options',
      );
    }
    if (typeof options !== 'object' || Array.isArray(options)) {
      throw invalidType('stream_options', 'an object', options);
    }
    const include = options.include_usage;
    if (include !== undefined && typeof include !== 'boolean') {
      throw invalidType('stream_options.include_usage', 'a boolean', include);
    }
  }
  return { stream, includeUsage: stream && options?.include_usage === true };
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

/** The text of a message's content (a string or text parts). */
function contentText(content, param) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw invalidType(param, 'one of a string or array of objects', content);
  }
  let text = '';
  for (let i = 0; i < content.length; i++) {
    const part = content[i];
    const partParam = `${param}[${i}]`;
    if (part === null || typeof part !== 'object' || Array.isArray(part)) {
      throw invalidType(partParam, 'an object', part);
    }
    if (part.type === undefined) throw missing(`${partParam}.type`);
    if (part.type === 'text') {
      if (typeof part.text !== 'string') {
        throw invalidType(`${partParam}.text`, 'a string', part.text);
      }
      text += text ? `\n${part.text}` : part.text;
    }
  }
  return text;
}

/** Validates `messages`; returns the prompt token count and the text answered. */
function checkMessages(body) {
  const messages = body.messages;
  if (messages === undefined || messages === null) throw missing('messages');
  if (!Array.isArray(messages)) {
    throw invalidType('messages', 'an array', messages);
  }
  if (messages.length === 0) {
    throw new ApiError(
      400,
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
      'empty_array',
    );
  }
  let promptTokens = 3;
  let lastUser;
  let last = '';
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const param = `messages[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      throw invalidType(param, 'an object', m);
    }
    if (m.role === undefined || m.role === null) throw missing(`${param}.role`);
    if (!ROLES.includes(m.role)) {
      throw new ApiError(
        400,
        `Invalid value: '${m.role}'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.`,
        `${param}.role`,
        'invalid_value',
      );
    }
    let text = '';
    if (m.content === undefined || m.content === null) {
      if (m.role !== 'assistant') throw missing(`${param}.content`);
    } else {
      text = contentText(m.content, `${param}.content`);
    }
    if (m.role === 'tool' && typeof m.tool_call_id !== 'string') {
      throw missing(`${param}.tool_call_id`);
    }
    if (m.name !== undefined && typeof m.name !== 'string') {
      throw invalidType(`${param}.name`, 'a string', m.name);
    }
    promptTokens += 3 + countTokens(text) + (m.name ? 1 : 0);
    if (m.role === 'user') lastUser = text;
    last = text;
  }
  return { promptTokens, text: lastUser ?? last };
}

/** Validates a legacy `prompt`; returns the prompts as strings and their tokens. */
function checkPrompt(body) {
  const prompt = body.prompt;
  if (prompt === undefined || prompt === null) throw missing('prompt');
  if (typeof prompt === 'string') {
    return { prompts: [prompt], promptTokens: countTokens(prompt) };
  }
  if (Array.isArray(prompt) && prompt.length > 0) {
    if (prompt.every(p => typeof p === 'string')) {
      let tokens = 0;
      for (const p of prompt) tokens += countTokens(p);
      return { prompts: prompt, promptTokens: tokens };
    }
    if (prompt.every(Number.isInteger)) {
      return { prompts: [prompt.join(' ')], promptTokens: prompt.length };
    }
    if (prompt.every(p => Array.isArray(p) && p.every(Number.isInteger))) {
      let tokens = 0;
      for (const p of prompt) tokens += p.length;
      return { prompts: prompt.map(p => p.join(' ')), promptTokens: tokens };
    }
  }
  throw invalidType(
    'prompt',
    'a string, an array of strings, or an array of token arrays',
    prompt,
  );
}

function checkContext(model, promptTokens, maxTokens, param) {
  const requested = promptTokens + (maxTokens ?? 0);
  if (requested > model.contextWindow) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${
        model.contextWindow
      } tokens. However, you requested ${requested} tokens (${promptTokens} in the ${param}, ${
        maxTokens ?? 0
      } in the completion). Please reduce the length of the ${param} or completion.`,
      param,
      'context_length_exceeded',
    );
  }
}

// ------------------------------------------------------------------ server

const FAILURES = {
  429: ['Rate limit reached for requests.', 'requests', 'rate_limit_exceeded'],
  500: [
    'The server had an error while processing your request. Sorry about that!',
    'server_error',
    null,
  ],
  502: ['Bad gateway.', 'server_error', null],
  503: [
    'The engine is currently overloaded, please try again later.',
    'server_error',
    'overloaded',
  ],
};

const MAX_BODY = 4 * 1024 * 1024;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Starts a model server. Resolves to `{ url, port, server, close() }`.
 * Options: port (0 picks one), host ('127.0.0.1'), version ('v1' | 'v2'),
 * latencyMs and tokenDelayMs (0), failRate (0..1, deterministic: every
 * 1/failRate-th request), failStatus (500, or 'timeout' | 'reset'), apiKey
 * (when set, `Authorization: Bearer <apiKey>` is required), models (ids to
 * serve; all by default), quiet.
 */
async function startModelServer(options = {}) {
  const {
    port = 7101,
    host = '127.0.0.1',
    version = 'v1',
    latencyMs = 0,
    tokenDelayMs = 0,
    failRate = 0,
    failStatus = 500,
    apiKey,
    models,
  } = options;
  if (!STYLES[version]) {
    throw new Error(`version must be v1 or v2, not ${version}`);
  }
  if (!(failRate >= 0 && failRate <= 1)) {
    throw new Error(`failRate must be between 0 and 1, not ${failRate}`);
  }
  const served = models
    ? MODELS.filter(m => models.includes(m.id))
    : MODELS.slice();
  const modelsById = new Map(served.map(m => [m.id, m]));
  const modelObject = m => ({
    id: m.id,
    object: 'model',
    created: CREATED,
    owned_by: OWNER,
    context_window: m.contextWindow,
  });
  const modelsBody = JSON.stringify({
    object: 'list',
    data: served.map(modelObject),
  });
  const fingerprint = `fp_quarterdeck_${version}`;
  const idTag = `${version}${Math.floor(Date.now() / 1000).toString(36)}`;
  let counter = 0;
  let failCounter = 0;

  const baseHeaders = { 'x-model-version': version };

  function sendJson(res, status, body, extraHeaders) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...baseHeaders,
      ...extraHeaders,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  function sendError(res, err) {
    sendJson(
      res,
      err.status,
      {
        error: {
          message: err.message,
          type: err.type,
          param: err.param,
          code: err.code,
        },
      },
      err.status === 429 ? { 'retry-after': '1' } : undefined,
    );
  }

  /** Applies an injected failure; returns true when the request is handled. */
  function fail(req, res, how) {
    if (how === 'timeout') return true; // never answer; close() ends the socket
    if (how === 'reset') {
      req.socket.destroy();
      return true;
    }
    const status = Number(how);
    if (!Number.isInteger(status) || status < 400 || status > 599) return false;
    const [message, type, code] = FAILURES[status] ?? [
      `Injected failure ${status}.`,
      status >= 500 ? 'server_error' : 'invalid_request_error',
      null,
    ];
    sendError(res, new ApiError(status, message, null, code, type));
    return true;
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', chunk => {
        size += chunk.length;
        if (size > MAX_BODY) {
          reject(new ApiError(413, 'Request body too large.', null, null));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        const text =
          chunks.length === 1
            ? chunks[0].toString('utf8')
            : Buffer.concat(chunks).toString('utf8');
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          reject(
            new ApiError(
              400,
              'We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.',
            ),
          );
          return;
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          reject(
            new ApiError(
              400,
              `Invalid type for the request body: expected an object, but got ${typeName(
                body,
              )} instead.`,
            ),
          );
          return;
        }
        resolve(body);
      });
      req.on('error', reject);
    });
  }

  /**
   * Writes SSE events, one per token delay; stops when the client leaves. The
   * usage chunk (when asked for) follows the last event at once, as OpenAI
   * sends it: it is computed when the completion ends, not generated as a token.
   */
  function writeEvents(res, events, usageEvent) {
    res.writeHead(200, {
      ...baseHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    const end = `${
      usageEvent ? `data: ${usageEvent}\n\n` : ''
    }data: [DONE]\n\n`;
    if (tokenDelayMs <= 0) {
      res.end(`data: ${events.join('\n\ndata: ')}\n\n${end}`);
      return;
    }
    res.flushHeaders();
    let i = 0;
    let timer;
    res.on('close', () => clearTimeout(timer));
    const tick = () => {
      if (res.destroyed) return;
      res.write(`data: ${events[i++]}\n\n`);
      if (i < events.length) timer = setTimeout(tick, tokenDelayMs);
      else res.end(end);
    };
    tick();
  }

  function choicesFor(body, model, texts, maxTokens) {
    const n = checkInteger(body, 'n', 1, 128) ?? 1;
    const extraSeed = Number.isInteger(body.seed) ? body.seed : 0;
    const modelSeed = fnv1a(model.id, fnv1a(version));
    const results = [];
    for (const text of texts) {
      const base = fnv1a(text, modelSeed) ^ extraSeed;
      for (let i = 0; i < n; i++) {
        const seed = i === 0 ? base >>> 0 : fnv1a(String(i), base);
        results.push(answer(version, model, text, seed, maxTokens));
      }
    }
    return results;
  }

  async function chatCompletions(req, res, body) {
    const modelId = checkModel(body);
    const { promptTokens, text } = checkMessages(body);
    const maxTokens =
      checkInteger(body, 'max_completion_tokens', 1, 1e9) ??
      checkInteger(body, 'max_tokens', 1, 1e9);
    checkNumber(body, 'temperature', 0, 2);
    checkNumber(body, 'top_p', 0, 1);
    const { stream, includeUsage } = checkStream(body);
    const model = findModel(modelsById, modelId);
    checkContext(model, promptTokens, maxTokens, 'messages');
    const limit = maxTokens ?? model.contextWindow - promptTokens;
    const choices = choicesFor(body, model, [text], limit);
    let completionTokens = 0;
    for (const c of choices) completionTokens += c.pieces.length;
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const id = `chatcmpl-${idTag}${(++counter).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    await delay(req, stream ? 0 : completionTokens);
    if (res.destroyed) return;

    if (!stream) {
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: model.id,
        system_fingerprint: fingerprint,
        choices: choices.map((c, index) => ({
          index,
          message: {
            role: 'assistant',
            content: c.pieces.join(''),
            refusal: null,
          },
          logprobs: null,
          finish_reason: c.finishReason,
        })),
        usage,
      });
      return;
    }
    const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(
      model.id,
    )},"system_fingerprint":"${fingerprint}","choices":[`;
    const tail = includeUsage ? ']' + ',"usage":null}' : ']}';
    const events = [];
    choices.forEach((c, index) => {
      events.push(
        `${head}{"index":${index},"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}${tail}`,
      );
      for (const piece of c.pieces) {
        events.push(
          `${head}{"index":${index},"delta":{"content":${JSON.stringify(
            piece,
          )}},"logprobs":null,"finish_reason":null}${tail}`,
        );
      }
      events.push(
        `${head}{"index":${index},"delta":{},"logprobs":null,"finish_reason":"${c.finishReason}"}${tail}`,
      );
    });
    writeEvents(
      res,
      events,
      includeUsage ? `${head}],"usage":${JSON.stringify(usage)}}` : undefined,
    );
  }

  async function completions(req, res, body) {
    const modelId = checkModel(body);
    const { prompts, promptTokens } = checkPrompt(body);
    const maxTokens = checkInteger(body, 'max_tokens', 0, 1e9) ?? 16;
    checkNumber(body, 'temperature', 0, 2);
    checkNumber(body, 'top_p', 0, 1);
    if (body.echo !== undefined && typeof body.echo !== 'boolean') {
      throw invalidType('echo', 'a boolean', body.echo);
    }
    const { stream, includeUsage } = checkStream(body);
    const model = findModel(modelsById, modelId);
    checkContext(model, promptTokens, maxTokens, 'prompt');
    const choices =
      maxTokens === 0
        ? prompts.map(() => ({ pieces: [], finishReason: 'length' }))
        : choicesFor(body, model, prompts, maxTokens);
    const n = choices.length / prompts.length;
    let completionTokens = 0;
    for (const c of choices) completionTokens += c.pieces.length;
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const id = `cmpl-${idTag}${(++counter).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const echo = index => (body.echo ? prompts[Math.floor(index / n)] : '');
    await delay(req, stream ? 0 : completionTokens);
    if (res.destroyed) return;

    if (!stream) {
      sendJson(res, 200, {
        id,
        object: 'text_completion',
        created,
        model: model.id,
        system_fingerprint: fingerprint,
        choices: choices.map((c, index) => ({
          text: echo(index) + c.pieces.join(''),
          index,
          logprobs: null,
          finish_reason: c.finishReason,
        })),
        usage,
      });
      return;
    }
    const head = `{"id":"${id}","object":"text_completion","created":${created},"model":${JSON.stringify(
      model.id,
    )},"system_fingerprint":"${fingerprint}","choices":[`;
    const tail = includeUsage ? '],"usage":null}' : ']}';
    const events = [];
    choices.forEach((c, index) => {
      const pieces = body.echo ? [echo(index), ...c.pieces] : c.pieces;
      for (const piece of pieces) {
        events.push(
          `${head}{"text":${JSON.stringify(
            piece,
          )},"index":${index},"logprobs":null,"finish_reason":null}${tail}`,
        );
      }
      events.push(
        `${head}{"text":"","index":${index},"logprobs":null,"finish_reason":"${c.finishReason}"}${tail}`,
      );
    });
    writeEvents(
      res,
      events,
      includeUsage ? `${head}],"usage":${JSON.stringify(usage)}}` : undefined,
    );
  }

  async function embeddings(req, res, body) {
    const modelId = checkModel(body);
    const input = body.input;
    if (input === undefined || input === null) throw missing('input');
    let inputs;
    let promptTokens = 0;
    if (typeof input === 'string') inputs = [input];
    else if (Array.isArray(input) && input.length > 0) inputs = input;
    if (
      !inputs ||
      !(
        inputs.every(x => typeof x === 'string') ||
        inputs.every(Number.isInteger) ||
        inputs.every(x => Array.isArray(x) && x.every(Number.isInteger))
      )
    ) {
      throw invalidType(
        'input',
        'a string, an array of strings, or an array of token arrays',
        input,
      );
    }
    if (inputs.every(Number.isInteger)) inputs = [inputs];
    if (inputs.length > 2048) {
      throw new ApiError(
        400,
        "Invalid 'input': array too long. Expected an array with maximum length 2048.",
        'input',
        'array_above_max_length',
      );
    }
    const keys = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i];
      if (typeof x === 'string') {
        if (x.length === 0) {
          throw new ApiError(
            400,
            "'$.input' is invalid: an input must not be an empty string.",
            'input',
            'invalid_value',
          );
        }
        keys[i] = x;
        promptTokens += countTokens(x);
      } else {
        keys[i] = `\u0000${x.join(',')}`;
        promptTokens += x.length;
      }
    }
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      throw new ApiError(
        400,
        `Invalid value: '${format}'. Supported values are: 'float' and 'base64'.`,
        'encoding_format',
        'invalid_value',
      );
    }
    const dimensions =
      checkInteger(body, 'dimensions', 1, EMBEDDING_DIMENSIONS) ??
      EMBEDDING_DIMENSIONS;
    const model = findModel(modelsById, modelId);
    await delay(req, 0);
    if (res.destroyed) return;
    const data = keys.map((key, index) => {
      const vector = embeddingVector(
        version,
        `${model.id}\u0000${key}`,
        dimensions,
      );
      let embedding = vector;
      if (format === 'base64') {
        embedding = Buffer.from(new Float32Array(vector).buffer).toString(
          'base64',
        );
      }
      return { object: 'embedding', index, embedding };
    });
    sendJson(res, 200, {
      object: 'list',
      data,
      model: model.id,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }

  /** The fixed latency (or the request's override) plus the token delay. */
  function delay(req, tokens) {
    const header = req.headers['x-example-latency-ms'];
    const latency = header !== undefined ? Number(header) || 0 : latencyMs;
    const ms = latency + tokenDelayMs * tokens;
    return ms > 0 ? sleep(ms) : undefined;
  }

  const routes = {
    '/v1/chat/completions': chatCompletions,
    '/v1/completions': completions,
    '/v1/embeddings': embeddings,
  };

  async function handle(req, res) {
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    if (path === '/healthz' || path === '/health') {
      sendJson(res, 200, `{"status":"ok","version":"${version}"}`);
      return;
    }
    if (!path.startsWith('/v1/')) {
      sendError(
        res,
        new ApiError(404, `Invalid URL (${req.method} ${path})`, null, null),
      );
      return;
    }
    if (apiKey !== undefined) {
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        sendError(
          res,
          new ApiError(
            401,
            'Incorrect API key provided.',
            null,
            'invalid_api_key',
          ),
        );
        return;
      }
    }
    const injected = req.headers['x-example-fail'];
    if (injected !== undefined && fail(req, res, injected)) return;

    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (req.method !== 'GET') {
        sendError(
          res,
          new ApiError(405, `Method not allowed (${req.method} ${path})`),
        );
        return;
      }
      if (path === '/v1/models') {
        sendJson(res, 200, modelsBody);
        return;
      }
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      sendJson(res, 200, modelObject(findModel(modelsById, id)));
      return;
    }
    const route = routes[path];
    if (!route) {
      sendError(
        res,
        new ApiError(404, `Invalid URL (${req.method} ${path})`, null, null),
      );
      return;
    }
    if (req.method !== 'POST') {
      sendError(
        res,
        new ApiError(405, `Method not allowed (${req.method} ${path})`),
      );
      return;
    }
    if (failRate > 0) {
      const n = failCounter++;
      if (Math.floor((n + 1) * failRate) > Math.floor(n * failRate)) {
        if (fail(req, res, String(failStatus))) return;
      }
    }
    const body = await readBody(req);
    await route(req, res, body);
  }

  const server = http.createServer(
    { keepAlive: true, noDelay: true },
    (req, res) => {
      handle(req, res).catch(err => {
        if (res.headersSent || res.destroyed) return;
        if (err instanceof ApiError) {
          sendError(res, err);
        } else {
          sendError(
            res,
            new ApiError(
              500,
              String(err?.message ?? err),
              null,
              null,
              'server_error',
            ),
          );
        }
      });
    },
  );
  // Longer than the idle timeout of a proxy's connection pool, so the proxy
  // closes idle connections first and never reuses one being closed here.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const urlHost =
    address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost}:${address.port}`;
  let closing;
  return {
    url,
    port: address.port,
    version,
    server,
    close() {
      closing ??= new Promise(resolve => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

// --------------------------------------------------------------------- CLI

const HELP = `Usage: node examples/model-server/server.js [options]

  --port N              port to listen on (default 7101; 0 picks a free one)
  --host H              address to bind (default 127.0.0.1)
  --version v1|v2       which version answers (default v1)
  --latency-ms N        fixed delay before every completion/embedding response starts (default 0)
  --token-delay-ms N    delay per streamed token, and per token of a non-streamed answer (default 0)
  --fail-rate R         fail this fraction of completion/embedding requests, deterministically
                        (every 1/R-th request; default 0)
  --fail-status S       how those requests fail: an HTTP status, timeout or reset (default 500)
  --api-key K           require Authorization: Bearer K on /v1/*
  --models a,b          serve only these models (default: ${MODELS.map(
    m => m.id,
  ).join(', ')})

Per request: header x-example-fail: 500|429|503|…|timeout|reset, header x-example-latency-ms: N.
`;

function parseArgs(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags[name] = value;
  }
  return flags;
}

function number(flags, name, fallback) {
  if (flags[name] === undefined) return fallback;
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`--${name} must be a non-negative number`);
  }
  return value;
}

async function main() {
  let flags;
  let options;
  try {
    flags = parseArgs(process.argv.slice(2));
    if (flags.help) {
      process.stdout.write(HELP);
      return;
    }
    const known = [
      'port',
      'host',
      'version',
      'latency-ms',
      'token-delay-ms',
      'fail-rate',
      'fail-status',
      'api-key',
      'models',
    ];
    for (const name of Object.keys(flags)) {
      if (!known.includes(name)) throw new Error(`unknown option --${name}`);
    }
    options = {
      port: number(flags, 'port', 7101),
      host: flags.host ?? '127.0.0.1',
      version: flags.version ?? 'v1',
      latencyMs: number(flags, 'latency-ms', 0),
      tokenDelayMs: number(flags, 'token-delay-ms', 0),
      failRate: number(flags, 'fail-rate', 0),
      failStatus: flags['fail-status'] ?? 500,
      apiKey: flags['api-key'],
      models: flags.models?.split(',').map(s => s.trim()),
    };
  } catch (err) {
    console.error(`${err.message}\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  const server = await startModelServer(options);
  console.log(
    `model server ${options.version} listening on ${server.url} (latency ${options.latencyMs} ms, token delay ${options.tokenDelayMs} ms)`,
  );
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      server.close().then(() => process.exit(0));
    });
  }
}

if (require.main === module) {
  main().catch(err => {
    console.error(err.message);
    process.exit(1);
  });
}

module.exports = {
  startModelServer,
  countTokens,
  splitTokens,
  MODELS,
  EMBEDDING_DIMENSIONS,
};
