#!/usr/bin/env node
/* eslint-disable no-console */
// bench/gateway/relay.js: the least a Node.js proxy can do for a stream, as a
// reference point for the streams figure. node:http in front, undici's
// dispatcher to the upstream (pooled keep-alive connections), each upstream
// chunk written to the client's socket as one framed HTTP/1.1 chunk — the
// data plane's own transport, without what makes it a gateway (no key, no
// limits, no usage, no event parsing, no body rewrite). What it adds over
// direct is what the runtime costs on this machine before any gateway logic.
//
// With --bytes it does less still: no HTTP at all, each client connection
// paired with an upstream connection of its own and the bytes copied both
// ways as they come ('data' to write): the floor for any Node.js process
// that forwards a stream.
//
//   node bench/gateway/relay.js --port 7300 --upstream http://127.0.0.1:7201 [--bytes]
'use strict';

const http = require('node:http');
const net = require('node:net');
const { Pool } = require('undici');

const arg = name => {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0 || !process.argv[at + 1]) throw new Error(`--${name} is required`);
  return process.argv[at + 1];
};
const port = Number(arg('port'));
const upstream = new URL(arg('upstream'));
process.on('SIGTERM', () => process.exit(0));

if (process.argv.includes('--bytes')) {
  net.createServer({ noDelay: true }, client => {
    const server = net.connect({ host: upstream.hostname, port: Number(upstream.port), noDelay: true });
    client.on('data', data => server.write(data));
    server.on('data', data => client.write(data));
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    client.on('error', () => undefined);
    server.on('error', () => undefined);
  }).listen(port, '127.0.0.1', () => console.log(`byte relay listening on ${port}`));
} else {
  httpRelay();
}

function httpRelay() {
  const pool = new Pool(upstream.origin, { keepAliveTimeout: 30_000, pipelining: 1 });

  function framed(chunk) {
    const size = chunk.length.toString(16);
    const out = Buffer.allocUnsafe(size.length + chunk.length + 4);
    out.write(`${size}\r\n`, 0, 'latin1');
    chunk.copy(out, size.length + 2);
    out.write('\r\n', out.length - 2, 'latin1');
    return out;
  }

  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const parts = [];
    req.on('data', part => parts.push(part));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      let resume = () => undefined;
      let abort = () => undefined;
      res.once('close', () => {
        if (!res.writableFinished) abort(new Error('the client went away'));
      });
      pool.dispatch({ path: req.url, method: req.method, headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body }, {
        onConnect(abortRequest) {
          abort = abortRequest;
        },
        onHeaders(status, rawHeaders, resumeResponse) {
          resume = resumeResponse;
          let contentType = 'application/json';
          for (let i = 0; i < rawHeaders.length; i += 2) {
            if (rawHeaders[i].toString('latin1').toLowerCase() === 'content-type') contentType = rawHeaders[i + 1].toString('latin1');
          }
          res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-cache' });
          res.flushHeaders();
          return true;
        },
        onData(chunk) {
          const socket = res.socket;
          if (!socket || socket.destroyed) return true;
          if (socket.write(framed(chunk))) return true;
          socket.once('drain', () => resume());
          return false;
        },
        onComplete() {
          res.end();
        },
        onError(error) {
          if (res.headersSent) res.destroy(error);
          else res.writeHead(502, { 'content-type': 'text/plain' }).end(String(error.message));
        },
      });
    });
  });
  server.listen(port, '127.0.0.1', () => console.log(`relay listening on ${port}`));
}
