#!/usr/bin/env node
/* eslint-disable no-console */
// bench/gateway/streams.js: N concurrent `stream: true` chat completions held
// open for a while (each of N workers starts its next stream when the last
// one ends), measuring for every stream the time from sending the request to
// the first byte of the body (the first server-sent event) and to the end.
// Runs in its own process so its event loop is shared with nothing else.
//
//   node bench/gateway/streams.js '{"url":"http://127.0.0.1:7101/v1/chat/completions",
//     "headers":{}, "body":{...}, "concurrency":1000, "rampMs":1000, "warmupMs":4000, "durationMs":20000}'
//
// Prints one JSON line: { ttfb: {p50,p90,p99,max,count}, total: {...}, errors, events, started }.
'use strict';

const { Pool } = require('undici');

const options = JSON.parse(process.argv[2]);
const { url, headers = {}, body, concurrency = 1000, rampMs = 1000, warmupMs = 4000, durationMs = 20000 } = options;

const percentiles = xs => {
  const s = Float64Array.from(xs).sort();
  const at = p => (s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN);
  return { p50: at(50), p90: at(90), p99: at(99), max: s.length ? s[s.length - 1] : NaN, count: s.length };
};

async function main() {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const payload = Buffer.from(JSON.stringify(body));
  const requestHeaders = { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length) };
  const ttfb = [];
  const total = [];
  let errors = 0;
  let measured = 0;
  let events = 0;
  let started = 0;
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const stopAt = t0 + warmupMs + durationMs;
  const errorSamples = [];

  const DATA = Buffer.from('data: ');
  // Read through undici's dispatcher: no async iterator, promise or string per
  // chunk. The client is the instrument and shares the two cores with what it
  // measures; the lighter it is, the less it perturbs the figure.
  function stream() {
    return new Promise(resolve => {
      let status = 0;
      let first;
      let events = 0;
      let text = '';
      let last = Buffer.alloc(0);
      pool.dispatch({ path: target.pathname, method: 'POST', headers: requestHeaders, body: payload }, {
        onConnect() {},
        onHeaders(statusCode) {
          status = statusCode;
          return true;
        },
        onData(chunk) {
          if (first === undefined) first = performance.now();
          for (let i = chunk.indexOf(DATA); i !== -1; i = chunk.indexOf(DATA, i + 6)) events++;
          if (status !== 200 && text.length < 300) text += chunk.toString('utf8');
          // The end of the body, to see that its last event, [DONE], came.
          last = Buffer.concat([last, chunk]).subarray(-64);
          return true;
        },
        onComplete() {
          resolve({ status, first, events, text, done: last.includes('data: [DONE]') });
        },
        onError(error) {
          resolve({ status, first, events, text, error });
        },
      });
    });
  }

  async function one() {
    const begin = performance.now();
    const counts = begin >= measureFrom;
    started++;
    const r = await stream();
    // A stream counts only when whole: a 200 cut short, or carrying an error, is a failure.
    const ok = !r.error && r.status === 200 && r.first !== undefined && r.done;
    if (!ok && errorSamples.length < 3) errorSamples.push(r.error ? String(r.error) : r.status === 200 ? 'the stream ended without data: [DONE]' : `${r.status} ${r.text.slice(0, 200)}`);
    if (!counts) return;
    measured++;
    events += r.events;
    if (!ok) errors++;
    else {
      ttfb.push(r.first - begin);
      total.push(performance.now() - begin);
    }
  }

  // Workers start evenly over rampMs, then each runs streams back to back.
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => {
    await new Promise(resolve => setTimeout(resolve, (i * rampMs) / concurrency));
    while (performance.now() < stopAt) await one();
  }));
  await pool.close();
  process.stdout.write(`${JSON.stringify({
    ttfb: percentiles(ttfb),
    total: percentiles(total),
    measured,
    errors,
    events,
    started,
    streamsPerSecond: measured / (durationMs / 1000),
    errorSamples,
  })}\n`);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
