// node --test examples/model-server/server.test.js examples/payments-rest/server.test.js
'use strict';

const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startModelServer, countTokens, splitTokens } = require('./server');

let v1;
let v2;

before(async () => {
  v1 = await startModelServer({ port: 0, version: 'v1' });
  v2 = await startModelServer({ port: 0, version: 'v2' });
});

after(async () => {
  await Promise.all([v1.close(), v2.close()]);
});

const hello = {
  model: 'chat-small',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Where is the harbor, please?' },
  ],
};

async function post(server, path, body, headers = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json')
    ? JSON.parse(text)
    : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

function events(text) {
  assert.ok(text.endsWith('data: [DONE]\n\n'), 'the stream ends with [DONE]');
  const blocks = text.split('\n\n').filter(Boolean);
  for (const block of blocks) assert.match(block, /^data: /);
  return blocks.slice(0, -1).map(block => JSON.parse(block.slice(6)));
}

describe('tokenizer', () => {
  test('words, punctuation and long runs', () => {
    assert.equal(countTokens(''), 0);
    assert.equal(countTokens('Hello, world!'), 4);
    assert.equal(countTokens('  spaced   out  '), 2);
    assert.equal(countTokens('a'.repeat(33)), 3);
    assert.equal(countTokens('snake_case x2'), 2);
    assert.deepEqual(splitTokens('Hi, you there.'), [
      'Hi',
      ',',
      ' you',
      ' there',
      '.',
    ]);
    assert.equal(splitTokens(' lead and trail ').join(''), ' lead and trail ');
  });
});

describe('GET /v1/models and /healthz', () => {
  test('lists the models', async () => {
    const res = await fetch(`${v1.url}/v1/models`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, 'list');
    const ids = body.data.map(m => m.id);
    assert.deepEqual(ids, [
      'chat-small',
      'chat-large',
      'sentiment-small',
      'embed-small',
    ]);
    for (const m of body.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(m.owned_by, 'quarterdeck-example');
    }
    assert.equal(body.data[0].context_window, 8192);
    assert.equal(body.data[1].context_window, 32768);
    const one = await fetch(`${v1.url}/v1/models/chat-large`);
    assert.equal((await one.json()).id, 'chat-large');
    const none = await fetch(`${v1.url}/v1/models/nope`);
    assert.equal(none.status, 404);
  });

  test('healthz', async () => {
    const res = await fetch(`${v1.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, 'ok');
  });
});

describe('POST /v1/chat/completions', () => {
  test('answers in the OpenAI shape, deterministically', async () => {
    const a = await post(v1, '/v1/chat/completions', hello);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('x-model-version'), 'v1');
    const body = a.json;
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.object, 'chat.completion');
    assert.equal(typeof body.created, 'number');
    assert.equal(body.model, 'chat-small');
    assert.equal(body.system_fingerprint, 'fp_quarterdeck_v1');
    assert.equal(body.choices.length, 1);
    const [choice] = body.choices;
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(choice.message.content.length > 0);
    assert.equal(choice.finish_reason, 'stop');

    const b = await post(v1, '/v1/chat/completions', hello);
    assert.equal(b.json.choices[0].message.content, choice.message.content);
    assert.notEqual(b.json.id, body.id);

    const other = await post(v1, '/v1/chat/completions', {
      ...hello,
      messages: [{ role: 'user', content: 'Something else entirely' }],
    });
    assert.notEqual(
      other.json.choices[0].message.content,
      choice.message.content,
    );
  });

  test('counts usage with the documented tokenizer', async () => {
    const { json } = await post(v1, '/v1/chat/completions', hello);
    // 3 priming + per message 3 + its tokens: "You are terse ." and
    // "Where is the harbor , please ?"
    const expectedPrompt =
      3 +
      (3 + countTokens('You are terse.')) +
      (3 + countTokens('Where is the harbor, please?'));
    assert.equal(expectedPrompt, 3 + 3 + 4 + 3 + 7);
    assert.equal(json.usage.prompt_tokens, expectedPrompt);
    assert.equal(
      json.usage.completion_tokens,
      countTokens(json.choices[0].message.content),
    );
    assert.equal(
      json.usage.total_tokens,
      json.usage.prompt_tokens + json.usage.completion_tokens,
    );
  });

  test('max_tokens bounds the answer and finishes with length', async () => {
    const { json } = await post(v1, '/v1/chat/completions', {
      ...hello,
      max_tokens: 5,
    });
    assert.equal(json.usage.completion_tokens, 5);
    assert.equal(countTokens(json.choices[0].message.content), 5);
    assert.equal(json.choices[0].finish_reason, 'length');
    const full = await post(v1, '/v1/chat/completions', hello);
    assert.ok(
      full.json.choices[0].message.content.startsWith(
        json.choices[0].message.content,
      ),
    );
    const newer = await post(v1, '/v1/chat/completions', {
      ...hello,
      max_completion_tokens: 3,
    });
    assert.equal(newer.json.usage.completion_tokens, 3);
  });

  test('n choices, content parts', async () => {
    const { json } = await post(v1, '/v1/chat/completions', {
      model: 'chat-large',
      n: 2,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
    assert.equal(json.choices.length, 2);
    assert.deepEqual(
      json.choices.map(c => c.index),
      [0, 1],
    );
    assert.notEqual(
      json.choices[0].message.content,
      json.choices[1].message.content,
    );
    const string = await post(v1, '/v1/chat/completions', {
      model: 'chat-large',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.equal(
      string.json.choices[0].message.content,
      json.choices[0].message.content,
    );
  });

  test('v1 and v2 answer differently', async () => {
    const a = await post(v1, '/v1/chat/completions', hello);
    const b = await post(v2, '/v1/chat/completions', hello);
    assert.equal(b.headers.get('x-model-version'), 'v2');
    assert.equal(b.json.system_fingerprint, 'fp_quarterdeck_v2');
    assert.notEqual(
      a.json.choices[0].message.content,
      b.json.choices[0].message.content,
    );
    const again = await post(v2, '/v1/chat/completions', hello);
    assert.equal(
      again.json.choices[0].message.content,
      b.json.choices[0].message.content,
    );
  });

  test('sentiment-small labels the last user message', async () => {
    const ask = (server, content) =>
      post(server, '/v1/chat/completions', {
        model: 'sentiment-small',
        messages: [{ role: 'user', content }],
      });
    assert.equal(
      (await ask(v1, 'I love this, it is great')).json.choices[0].message
        .content,
      'positive',
    );
    assert.equal(
      (await ask(v1, 'Terrible and slow')).json.choices[0].message.content,
      'negative',
    );
    assert.equal(
      (await ask(v1, 'It is a table')).json.choices[0].message.content,
      'neutral',
    );
    assert.match(
      (await ask(v2, 'I love this')).json.choices[0].message.content,
      /^positive \(confidence 0\.\d\d\)$/,
    );
  });
});

describe('validation', () => {
  const expectError = async (body, status, param, code) => {
    const res = await post(v1, '/v1/chat/completions', body);
    assert.equal(res.status, status, res.text);
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.equal(typeof res.json.error.message, 'string');
    assert.equal(res.json.error.param, param);
    assert.equal(res.json.error.code, code);
  };

  test('model', async () => {
    await expectError(
      { messages: hello.messages },
      400,
      'model',
      'missing_required_parameter',
    );
    await expectError({ ...hello, model: 42 }, 400, 'model', 'invalid_type');
    await expectError(
      { ...hello, model: 'gpt-9' },
      404,
      'model',
      'model_not_found',
    );
  });

  test('messages', async () => {
    await expectError(
      { model: 'chat-small' },
      400,
      'messages',
      'missing_required_parameter',
    );
    await expectError(
      { model: 'chat-small', messages: 'hi' },
      400,
      'messages',
      'invalid_type',
    );
    await expectError(
      { model: 'chat-small', messages: [] },
      400,
      'messages',
      'empty_array',
    );
    await expectError(
      { model: 'chat-small', messages: [{ role: 'robot', content: 'x' }] },
      400,
      'messages[0].role',
      'invalid_value',
    );
    await expectError(
      { model: 'chat-small', messages: [{ content: 'x' }] },
      400,
      'messages[0].role',
      'missing_required_parameter',
    );
    await expectError(
      {
        model: 'chat-small',
        messages: [{ role: 'system', content: 'x' }, { role: 'user' }],
      },
      400,
      'messages[1].content',
      'missing_required_parameter',
    );
    await expectError(
      { model: 'chat-small', messages: [{ role: 'user', content: 5 }] },
      400,
      'messages[0].content',
      'invalid_type',
    );
  });

  test('other parameters', async () => {
    await expectError(
      { ...hello, max_tokens: 0 },
      400,
      'max_tokens',
      'integer_below_min_value',
    );
    await expectError(
      { ...hello, max_tokens: 'ten' },
      400,
      'max_tokens',
      'invalid_type',
    );
    await expectError(
      { ...hello, temperature: 3 },
      400,
      'temperature',
      'decimal_above_max_value',
    );
    await expectError(
      { ...hello, stream: 'yes' },
      400,
      'stream',
      'invalid_type',
    );
    await expectError(
      { ...hello, stream_options: { include_usage: true } },
      400,
      'stream_options',
      null,
    );
    await expectError(
      { ...hello, max_tokens: 9000 },
      400,
      'messages',
      'context_length_exceeded',
    );
  });

  test('body that is not JSON, unknown routes, wrong methods', async () => {
    const bad = await post(v1, '/v1/chat/completions', '{nope');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.type, 'invalid_request_error');
    const array = await post(v1, '/v1/chat/completions', '[]');
    assert.equal(array.status, 400);
    const unknown = await post(v1, '/v1/nothing', {});
    assert.equal(unknown.status, 404);
    const get = await fetch(`${v1.url}/v1/chat/completions`);
    assert.equal(get.status, 405);
  });
});

describe('streaming', () => {
  test('role, content pieces, finish_reason, usage chunk, [DONE]', async () => {
    const plain = await post(v1, '/v1/chat/completions', hello);
    const res = await post(v1, '/v1/chat/completions', {
      ...hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(res.headers.get('x-model-version'), 'v1');
    const chunks = events(res.text);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0].id);
      assert.equal(c.model, 'chat-small');
      assert.equal(c.system_fingerprint, 'fp_quarterdeck_v1');
    }
    const [first, ...rest] = chunks;
    assert.deepEqual(first.choices[0].delta, {
      role: 'assistant',
      content: '',
      refusal: null,
    });
    assert.equal(first.choices[0].finish_reason, null);
    const usageChunk = rest.pop();
    const finish = rest.pop();
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(usageChunk.usage, plain.json.usage);
    assert.deepEqual(finish.choices[0].delta, {});
    assert.equal(finish.choices[0].finish_reason, 'stop');
    for (const c of [first, finish, ...rest]) assert.equal(c.usage, null);
    const content = rest.map(c => c.choices[0].delta.content).join('');
    assert.equal(content, plain.json.choices[0].message.content);
    assert.equal(rest.length, plain.json.usage.completion_tokens);
  });

  test('without include_usage: no usage chunk, no usage field', async () => {
    const res = await post(v1, '/v1/chat/completions', {
      ...hello,
      stream: true,
      max_tokens: 2,
    });
    const chunks = events(res.text);
    assert.equal(chunks.length, 1 + 2 + 1);
    assert.equal(chunks[3].choices[0].finish_reason, 'length');
    for (const c of chunks) assert.equal('usage' in c, false);
  });

  /** A streamed call's reads (ms from the response's start) and its events, each with when it arrived. */
  function timedStream(server, body) {
    return new Promise((resolve, reject) => {
      const req = http.request(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('error', reject);
      req.on('response', res => {
        const reads = [];
        const events = [];
        const t0 = Date.now();
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', text => {
          const at = Date.now() - t0;
          reads.push(at);
          const parts = (buffered + text).split('\n\n');
          buffered = parts.pop();
          for (const part of parts)
            events.push({ data: part.slice('data: '.length), at });
        });
        res.on('end', () => resolve({ reads, events }));
      });
      req.end(JSON.stringify({ ...hello, stream: true, ...body }));
    });
  }

  test('a token delay flushes each chunk as it is written', async () => {
    const slow = await startModelServer({
      port: 0,
      version: 'v1',
      tokenDelayMs: 30,
    });
    try {
      const { reads } = await timedStream(slow, { max_tokens: 4 });
      // role, 4 pieces, finish (+ [DONE]): several reads spread over time
      assert.ok(reads.length >= 5, `${reads.length} reads`);
      assert.ok(reads[reads.length - 1] - reads[0] >= 100);
    } finally {
      await slow.close();
    }
  });

  test('the usage chunk follows the finish chunk at once, not a token delay later', async () => {
    const slow = await startModelServer({ port: 0, tokenDelayMs: 150 });
    try {
      const { events } = await timedStream(slow, {
        max_tokens: 2,
        stream_options: { include_usage: true },
      });
      const done = events.pop();
      const usage = events.pop();
      const finish = events.pop();
      assert.equal(done.data, '[DONE]');
      assert.ok(JSON.parse(usage.data).usage.completion_tokens > 0);
      assert.equal(JSON.parse(finish.data).choices[0].finish_reason, 'length');
      // role, 2 pieces and finish are a token delay apart; usage and [DONE] come with finish.
      assert.ok(
        finish.at - events[0].at >= 3 * 150 - 20,
        `finish at ${finish.at} ms`,
      );
      assert.ok(
        usage.at - finish.at < 75,
        `usage ${usage.at - finish.at} ms after finish`,
      );
    } finally {
      await slow.close();
    }
  });

  test('a client leaving mid-stream does not break the server', async () => {
    const slow = await startModelServer({ port: 0, tokenDelayMs: 20 });
    try {
      await new Promise(resolve => {
        const req = http.request(`${slow.url}/v1/chat/completions`, {
          method: 'POST',
        });
        req.on('error', () => resolve());
        req.on('response', res => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.end(JSON.stringify({ ...hello, stream: true }));
      });
      await new Promise(resolve => setTimeout(resolve, 60));
      const res = await post(slow, '/v1/chat/completions', {
        ...hello,
        max_tokens: 1,
      });
      assert.equal(res.status, 200);
    } finally {
      await slow.close();
    }
  });
});

describe('POST /v1/completions', () => {
  test('legacy prompt, default 16 tokens, streaming', async () => {
    const { status, json } = await post(v1, '/v1/completions', {
      model: 'chat-small',
      prompt: 'Say hello',
    });
    assert.equal(status, 200);
    assert.equal(json.object, 'text_completion');
    assert.equal(json.choices[0].index, 0);
    assert.equal(typeof json.choices[0].text, 'string');
    assert.ok(json.usage.completion_tokens <= 16);
    assert.equal(json.usage.prompt_tokens, 2);
    assert.equal(
      countTokens(json.choices[0].text),
      json.usage.completion_tokens,
    );

    const stream = await post(v1, '/v1/completions', {
      model: 'chat-small',
      prompt: 'Say hello',
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = events(stream.text);
    const usageChunk = chunks.pop();
    assert.deepEqual(usageChunk.usage, json.usage);
    const finish = chunks.pop();
    assert.equal(
      finish.choices[0].finish_reason,
      json.choices[0].finish_reason,
    );
    assert.equal(
      chunks.map(c => c.choices[0].text).join(''),
      json.choices[0].text,
    );

    const missingPrompt = await post(v1, '/v1/completions', {
      model: 'chat-small',
    });
    assert.equal(missingPrompt.status, 400);
    assert.equal(missingPrompt.json.error.param, 'prompt');
  });
});

describe('POST /v1/embeddings', () => {
  test('deterministic unit vectors of a fixed dimension', async () => {
    const { status, json } = await post(v1, '/v1/embeddings', {
      model: 'embed-small',
      input: ['first text', 'second text'],
    });
    assert.equal(status, 200);
    assert.equal(json.object, 'list');
    assert.equal(json.model, 'embed-small');
    assert.equal(json.data.length, 2);
    for (const [i, d] of json.data.entries()) {
      assert.equal(d.object, 'embedding');
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 256);
      const norm = Math.sqrt(d.embedding.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-4);
    }
    assert.notDeepEqual(json.data[0].embedding, json.data[1].embedding);
    assert.deepEqual(json.usage, { prompt_tokens: 4, total_tokens: 4 });

    const again = await post(v1, '/v1/embeddings', {
      model: 'embed-small',
      input: 'first text',
    });
    assert.deepEqual(again.json.data[0].embedding, json.data[0].embedding);

    const short = await post(v1, '/v1/embeddings', {
      model: 'embed-small',
      input: 'first text',
      dimensions: 8,
      encoding_format: 'base64',
    });
    const bytes = new Uint8Array(
      Buffer.from(short.json.data[0].embedding, 'base64'),
    );
    const floats = new Float32Array(bytes.buffer);
    assert.equal(floats.length, 8);

    const missingInput = await post(v1, '/v1/embeddings', {
      model: 'embed-small',
    });
    assert.equal(missingInput.status, 400);
    assert.equal(missingInput.json.error.param, 'input');
    const v2res = await post(v2, '/v1/embeddings', {
      model: 'embed-small',
      input: 'first text',
    });
    assert.notDeepEqual(v2res.json.data[0].embedding, json.data[0].embedding);
  });
});

describe('failure injection', () => {
  test('x-example-fail: 500 and 429 in the OpenAI error shape', async () => {
    const e500 = await post(v1, '/v1/chat/completions', hello, {
      'x-example-fail': '500',
    });
    assert.equal(e500.status, 500);
    assert.equal(e500.json.error.type, 'server_error');
    const e429 = await post(v1, '/v1/chat/completions', hello, {
      'x-example-fail': '429',
    });
    assert.equal(e429.status, 429);
    assert.equal(e429.json.error.code, 'rate_limit_exceeded');
    assert.equal(e429.headers.get('retry-after'), '1');
    // the connection stays usable
    assert.equal((await post(v1, '/v1/chat/completions', hello)).status, 200);
  });

  test('x-example-fail: timeout never answers; reset drops the connection', async () => {
    const started = Date.now();
    await assert.rejects(
      fetch(`${v1.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'x-example-fail': 'timeout' },
        body: JSON.stringify(hello),
        signal: AbortSignal.timeout(150),
      }),
      err => err.name === 'TimeoutError',
    );
    assert.ok(Date.now() - started >= 140);
    await assert.rejects(
      fetch(`${v1.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'x-example-fail': 'reset' },
        body: JSON.stringify(hello),
      }),
    );
  });

  test('--fail-rate fails a deterministic share of requests', async () => {
    const flaky = await startModelServer({ port: 0, failRate: 0.25 });
    try {
      const statuses = [];
      for (let i = 0; i < 8; i++) {
        statuses.push(
          (await post(flaky, '/v1/chat/completions', hello)).status,
        );
      }
      assert.deepEqual(statuses, [200, 200, 200, 500, 200, 200, 200, 500]);
    } finally {
      await flaky.close();
    }
    const limited = await startModelServer({
      port: 0,
      failRate: 0.5,
      failStatus: 429,
    });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          (
            await post(limited, '/v1/embeddings', {
              model: 'embed-small',
              input: 'x',
            })
          ).status,
        );
      }
      assert.deepEqual(statuses, [200, 429, 200, 429]);
    } finally {
      await limited.close();
    }
  });

  test('latency is applied before the response starts', async () => {
    const slow = await startModelServer({ port: 0, latencyMs: 50 });
    try {
      const t0 = Date.now();
      await post(slow, '/v1/chat/completions', hello);
      assert.ok(Date.now() - t0 >= 45);
      const t1 = Date.now();
      await post(slow, '/v1/chat/completions', hello, {
        'x-example-latency-ms': '0',
      });
      assert.ok(Date.now() - t1 < 45);
    } finally {
      await slow.close();
    }
  });

  test('--api-key requires the bearer token', async () => {
    const keyed = await startModelServer({ port: 0, apiKey: 'sk-test' });
    try {
      const no = await post(keyed, '/v1/chat/completions', hello);
      assert.equal(no.status, 401);
      assert.equal(no.json.error.code, 'invalid_api_key');
      const yes = await post(keyed, '/v1/chat/completions', hello, {
        authorization: 'Bearer sk-test',
      });
      assert.equal(yes.status, 200);
    } finally {
      await keyed.close();
    }
  });
});
