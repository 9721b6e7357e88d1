import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { delay, until } from '../__testUtils__/waiting';
import type { StreamSink } from './chunked';
import { StreamClient, UpstreamTimeout, type Abortable, type StreamedResponse } from './streamClient';

/**
 * A raw TCP upstream: each request gets `answer(socket, request, n)`, so a
 * test controls every byte and how the bytes are split across writes.
 */
async function upstream(answer: (socket: net.Socket, request: string, n: number) => void) {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer(socket => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', data => {
      pending += data.toString('latin1');
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const request = pending.slice(0, end + 4 + length);
      pending = pending.slice(request.length);
      answer(socket, request, ++requests);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    connections: () => connections,
    close: () => new Promise<void>(resolve => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A sink that collects what it is given, and whether each piece came framed. */
function collector(full = false) {
  const pieces: Array<{ chunk: string; framed?: string }> = [];
  let resume: (() => void) | undefined;
  const sink: StreamSink = {
    write(chunk, framed) {
      pieces.push({ chunk: chunk.toString(), framed: framed?.toString() });
      return !full;
    },
    onDrain(fn) {
      resume = fn;
    },
  };
  return { sink, pieces, drain: () => resume?.() };
}

const frame = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
const sseHead = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';

/** When a streamed body has ended (with what cut it short). */
const ending = (response: StreamedResponse) => new Promise<void>((resolve, reject) => response.ended!.onEnd({ streamEnded: error => (error ? reject(error) : resolve()) }));

/**
 * The client as most tests read it: a call settles when its body is whole
 * (StreamClient itself resolves a 200 as its body starts), `streamed` saying
 * whether the body went to the sink.
 */
class WholeClient extends StreamClient {
  override async post(...args: Parameters<StreamClient['post']>): Promise<StreamedResponse & { streamed: boolean }> {
    const response = await super.post(...args);
    if (response.ended) await ending(response);
    return { ...response, streamed: response.ended !== undefined };
  }
}

describe('StreamClient', () => {
  let client: WholeClient;
  beforeEach(() => {
    client = new WholeClient();
  });
  afterEach(() => client.close());

  it('hands on each chunk with its framing when a read is whole chunks, and reuses the connection', async () => {
    const events = ['data: {"a":1}\n\n', 'data: {"a":2}\n\n'];
    let seen = '';
    const server = await upstream(async (socket, request) => {
      seen = request;
      socket.write(sseHead);
      for (const event of events) {
        await delay(15);
        socket.write(frame(event));
      }
      await delay(15);
      socket.write('0\r\n\r\n');
    });
    try {
      for (let i = 0; i < 2; i++) {
        const { sink, pieces } = collector();
        const response = await client.post(server.url, '/v1/chat/completions', Buffer.from('{"stream":true}'), 5000, contentType => {
          expect(contentType).toBe('text/event-stream');
          return sink;
        });
        expect(response).toMatchObject({ statusCode: 200, streamed: true });
        expect(pieces).toEqual(events.map(event => ({ chunk: event, framed: frame(event) })));
      }
      expect(seen).toMatch(/^POST \/v1\/chat\/completions HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\n/);
      expect(seen.endsWith('\r\n\r\n{"stream":true}')).toBe(true);
      expect(server.connections()).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('resolves a 200 as its body starts, and tells when the body ends or is cut short', async () => {
    let finishBody: (ok: boolean) => void = () => undefined;
    const server = await upstream(socket => {
      socket.write(`${sseHead}${frame('data: one\n\n')}`);
      finishBody = ok => (ok ? socket.write(`${frame('data: two\n\n')}0\r\n\r\n`) : socket.destroy());
    });
    const raw = new StreamClient();
    /** A call resolved at its body's start, whose body then ends well or not: what each callback heard, and the pieces. */
    const streamed = async (ok: boolean) => {
      const { sink, pieces } = collector();
      const response = await raw.post(server.url, '/s', Buffer.from('{}'), 5000, () => sink);
      const atStart = { status: response.statusCode, pieces: pieces.map(p => p.chunk) };
      let outcome = 'not yet';
      const ended = ending(response).then(() => 'whole', (error: Error) => error.message).then(text => (outcome = text));
      await delay(20);
      const beforeEnd = outcome;
      finishBody(ok);
      const end = await ended;
      // A listener given after the end is told at once, with the same outcome.
      const late = await new Promise<Error | undefined>(resolve => response.ended!.onEnd({ streamEnded: resolve }));
      return { atStart, beforeEnd, end, late: late?.message ?? 'whole', pieces: pieces.map(p => p.chunk) };
    };
    try {
      expect(await streamed(true)).toEqual({
        atStart: { status: 200, pieces: ['data: one\n\n'] }, beforeEnd: 'not yet', end: 'whole', late: 'whole', pieces: ['data: one\n\n', 'data: two\n\n'],
      });
      const closed = 'the upstream closed the connection';
      expect(await streamed(false)).toEqual({
        atStart: { status: 200, pieces: ['data: one\n\n'] }, beforeEnd: 'not yet', end: closed, late: closed, pieces: ['data: one\n\n'],
      });
    } finally {
      raw.close();
      await server.close();
    }
  });

  it('reads chunks split anywhere, with extensions and trailers, and hands those on unframed', async () => {
    const wire = `${sseHead}${frame('data: one\n\n')}${frame('data: two\n\n')}6;ext=1\r\ndata: \r\n3\r\nx\n\n\r\n0\r\ntrailer: t\r\n\r\n`;
    const server = await upstream(async socket => {
      // One byte at a time: every state of the parser meets the end of a read.
      for (const byte of wire) {
        socket.write(byte);
        await delay(1);
      }
    });
    try {
      const { sink, pieces } = collector();
      const response = await client.post(server.url, '/s', Buffer.from('{}'), 5000, () => sink);
      expect(response.statusCode).toBe(200);
      expect(pieces.map(p => p.chunk).join('')).toBe('data: one\n\ndata: two\n\ndata: x\n\n');
      expect(pieces.every(p => p.framed === undefined)).toBe(true);
      // The trailers were read to their end, so the connection is reusable.
      const again = collector();
      await client.post(server.url, '/s', Buffer.from('{}'), 5000, () => again.sink);
      expect(server.connections()).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('buffers a response that is not a 200, by content-length or until the upstream closes', async () => {
    const server = await upstream((socket, _request, n) => {
      if (n === 1) socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{"error":"busy"}\n');
      else socket.end('HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\r\n{"error":"slow down"}');
    });
    try {
      const never = () => {
        throw new Error('a non-200 response is not streamed');
      };
      await expect(client.post(server.url, '/s', Buffer.from('{}'), 5000, never)).resolves.toMatchObject({ statusCode: 503, streamed: false, contentType: 'application/json' });
      const second = await client.post(server.url, '/s', Buffer.from('{}'), 5000, never);
      expect(second.statusCode).toBe(429);
      expect(second.body.toString()).toBe('{"error":"slow down"}');
    } finally {
      await server.close();
    }
  });

  it('reads a head as upstreams write it: any case, blanks around names and values, HTTP/1.0, Connection: close', async () => {
    const heads = [
      'HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Type:  text/event-stream; charset=utf-8 \r\nTRANSFER-ENCODING: gzip, chunked\r\nX-Content-Type: no\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: Close\r\n\r\n',
      'HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n',
      'HTTP/2 200\r\ncontent-type: text/event-stream\r\n\r\n',
    ];
    const server = await upstream((socket, _request, n) => {
      const head = heads[n - 1];
      if (head.startsWith('HTTP/1.0') || head.startsWith('HTTP/2')) socket.end(`${head}data: ${n}\n\n`);
      else socket.write(`${head}${frame(`data: ${n}\n\n`)}0\r\n\r\n`);
    });
    try {
      const types: Array<string | undefined> = [];
      const call = (pieces: ReturnType<typeof collector>) => client.post(server.url, '/s', Buffer.from('{}'), 5000, contentType => {
        types.push(contentType);
        return pieces.sink;
      });
      for (let n = 1; n <= 3; n++) {
        const pieces = collector();
        await expect(call(pieces)).resolves.toMatchObject({ statusCode: 200, streamed: true });
        expect(pieces.pieces.map(p => p.chunk).join('')).toBe(`data: ${n}\n\n`);
      }
      expect(types).toEqual(['text/event-stream; charset=utf-8', 'text/event-stream', 'text/event-stream']);
      // The first answer's connection carried the second; after its Connection: Close the third needed a
      // new one, and after HTTP/1.0 (no keep-alive) so did the fourth.
      expect(server.connections()).toBe(2);
      await expect(call(collector())).rejects.toThrow('the upstream sent no HTTP/1.x status line ("HTTP/2 200")');
      expect(server.connections()).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('says when the upstream sends no head in time, and when a stream goes quiet', async () => {
    const server = await upstream((socket, _request, n) => {
      if (n === 1) return; // never answers
      socket.write(`${sseHead}${frame('data: first\n\n')}`); // then nothing
    });
    try {
      const { sink } = collector();
      const headers = await client.post(server.url, '/s', Buffer.from('{}'), 100, () => sink).catch(error => error);
      expect(headers).toBeInstanceOf(UpstreamTimeout);
      expect(headers.phase).toBe('headers');
      const quiet = collector();
      const body = await client.post(server.url, '/s', Buffer.from('{}'), 100, () => quiet.sink).catch(error => error);
      expect(body).toBeInstanceOf(UpstreamTimeout);
      expect(body.phase).toBe('body');
      expect(quiet.pieces.map(p => p.chunk)).toEqual(['data: first\n\n']);
    } finally {
      await server.close();
    }
  });

  it('keeps a connection idle no longer than the upstream says it will (keep-alive: timeout=, less a second)', async () => {
    const server = await upstream((socket, _request, n) => {
      socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nkeep-alive: timeout=${n === 1 ? 1 : 5}\r\n\r\n${frame(`data: ${n}\n\n`)}0\r\n\r\n`);
    });
    try {
      for (let i = 0; i < 3; i++) await client.post(server.url, '/s', Buffer.from('{}'), 5000, () => collector().sink);
      // timeout=1 leaves no time to reuse the first; the second (timeout=5) is reused by the third.
      expect(server.connections()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('retries once on a fresh connection when a kept-alive one is closed under it, and fails a stream cut short', async () => {
    const server = await upstream((socket, _request, n) => {
      if (n === 2) socket.destroy(); // closed as the reused connection's request arrived
      else if (n === 4) {
        socket.write(`${sseHead}${frame('data: cut\n\n')}`);
        setTimeout(() => socket.destroy(), 20);
      } else socket.write(`${sseHead}${frame(`data: ${n}\n\n`)}0\r\n\r\n`);
    });
    try {
      const calls = [collector(), collector(), collector()];
      await client.post(server.url, '/s', Buffer.from('{}'), 5000, () => calls[0].sink);
      await client.post(server.url, '/s', Buffer.from('{}'), 5000, () => calls[1].sink);
      expect(calls[1].pieces.map(p => p.chunk)).toEqual(['data: 3\n\n']);
      expect(server.connections()).toBe(2);
      // Bytes came back before the cut: not retried (they may have reached the client).
      const error = await client.post(server.url, '/s', Buffer.from('{}'), 5000, () => calls[2].sink).catch(e => e);
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toMatch(/closed/);
      expect(calls[2].pieces.map(p => p.chunk)).toEqual(['data: cut\n\n']);
      expect(server.connections()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('stops reading while the client is full, closes the upstream when the client aborts, and gives a client that reads nothing the timeout', async () => {
    let upstreamClosed = false;
    const server = await upstream(async socket => {
      socket.on('close', () => {
        upstreamClosed = true;
      });
      socket.write(sseHead);
      for (let i = 0; i < 50 && !socket.destroyed; i++) {
        socket.write(frame(`data: ${i}\n\n`));
        await delay(5);
      }
    });
    try {
      const full = collector(true);
      let inFlight: Abortable | undefined;
      const call = client.post(server.url, '/s', Buffer.from('{}'), 5000, (_type, started) => {
        inFlight = started;
        return full.sink;
      });
      await delay(150);
      // Paused after the first write said the client was full (a read may hold a few chunks).
      expect(full.pieces.length).toBeLessThan(5);
      inFlight!.abort(new Error('the client closed the connection'));
      await expect(call).rejects.toThrow('the client closed the connection');
      // Closed by the abort (the script itself never closes it); given time on a busy machine.
      await until(() => upstreamClosed);
      expect(upstreamClosed).toBe(true);
      // A client that stays full is given the timeout, as an upstream would be, then the call ends.
      const stuck = collector(true);
      const held = await client.post(server.url, '/s', Buffer.from('{}'), 150, () => stuck.sink).catch(e => e);
      expect(held).not.toBeInstanceOf(UpstreamTimeout);
      expect(held.message).toBe('the client read nothing for 150 ms');
    } finally {
      await server.close();
    }
  });

  it('refuses an https upstream whose certificate it cannot verify (TLS is verified, not just spoken)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qd-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    let handshakes = 0;
    const server = tls.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, socket => {
      handshakes++;
      socket.end(`${sseHead}0\r\n\r\n`);
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(`https://localhost:${(server.address() as AddressInfo).port}`);
      const { sink } = collector();
      const error = await client.post(url, '/s', Buffer.from('{}'), 5000, () => sink).catch(e => e);
      expect(error.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
      expect(handshakes).toBe(0);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
