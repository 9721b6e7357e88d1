import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { chunkedSink, relayableHead, releasedByRelay } from './chunked';

/** A server whose /stream answers with `parts` through chunkedSink, and /slow answers "slow" after 50 ms. */
async function serve(parts: string[]) {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      setTimeout(() => res.end('slow'), 50);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    const sink = chunkedSink(res);
    for (const part of parts) sink.write(Buffer.from(part));
    res.end();
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Sends raw bytes and reads until the server closes or `until` matches. */
function raw(port: number, request: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', d => {
      text += d.toString('latin1');
      if (until.test(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('chunkedSink', () => {
  const parts = ['data: {"a":1}\n\n', 'data: héllo\n\n', 'data: [DONE]\n\n'];

  it('frames each write as one HTTP/1.1 chunk that a client reads back whole', async () => {
    const { server, port } = await serve(parts);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/stream`);
      expect(res.headers.get('transfer-encoding')).toBe('chunked');
      expect(await res.text()).toBe(parts.join(''));
      // And on the wire: size in hex (bytes, not characters), data, CRLF; then the last chunk.
      const wire = await raw(port, 'GET /stream HTTP/1.1\r\nhost: x\r\n\r\n', /\r\n0\r\n\r\n$/);
      expect(wire.split('\r\n\r\n').slice(1).join('\r\n\r\n')).toBe(
        `f\r\n${parts[0]}\r\ne\r\n${Buffer.from(parts[1]).toString('latin1')}\r\ne\r\n${parts[2]}\r\n0\r\n\r\n`,
      );
    } finally {
      server.close();
    }
  });

  it('keeps a pipelined response behind the one before it', async () => {
    const { server, port } = await serve(parts);
    try {
      const wire = await raw(port, 'GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /stream HTTP/1.1\r\nhost: x\r\n\r\n', /\r\n0\r\n\r\n$/);
      const slow = wire.indexOf('slow');
      const stream = wire.indexOf('data: {"a":1}');
      expect(slow).toBeGreaterThan(0);
      expect(stream).toBeGreaterThan(slow);
      expect(wire.endsWith(`${parts[2]}\r\n0\r\n\r\n`)).toBe(true);
    } finally {
      server.close();
    }
  });

  it('writes plain bytes to an HTTP/1.0 client, which has no chunked encoding', async () => {
    const { server, port } = await serve(parts);
    try {
      const wire = await raw(port, 'GET /stream HTTP/1.0\r\n\r\n', /\[DONE\]\n\n$/);
      expect(wire.split('\r\n\r\n').slice(1).join('\r\n\r\n')).toBe(Buffer.from(parts.join('')).toString('latin1'));
    } finally {
      server.close();
    }
  });

  it('gives the native relay the very head Node writes for a chunked 200, and none where Node would write another', async () => {
    const headers = { 'content-type': 'text/event-stream', 'x-quarterdeck-model': 'm', 'cache-control': 'no-cache', connection: 'keep-alive' };
    const relayed: Array<string | undefined> = [];
    const server = http.createServer((_req, res) => {
      const head = relayableHead(res, headers);
      relayed.push(head && `${head.before.toString('latin1')}text/event-stream${head.after.toString('latin1')}`);
      res.writeHead(200, headers);
      res.end();
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const withoutDate = (head: string) => head.replace(/\r\nDate: [^\r]+/i, '\r\nDate: -');
    try {
      const wire = await raw(port, 'POST /s HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n', /\r\n0\r\n\r\n$/);
      const nodeHead = wire.slice(0, wire.indexOf('\r\n\r\n') + 4);
      expect(withoutDate(relayed[0]!)).toBe(withoutDate(nodeHead));
      expect(nodeHead).toMatch(/\r\nTransfer-Encoding: chunked\r\n/);
      // HTTP/1.0 has no chunked encoding: Node writes another head, so the relay gets none.
      await raw(port, 'POST /s HTTP/1.0\r\ncontent-length: 0\r\n\r\n', /$^/);
      expect(relayed[1]).toBeUndefined();
    } finally {
      server.close();
    }
  });

  it('gives a frozen headers object\'s head the date of each second, and an object that changed its new head', async () => {
    const frozen = Object.freeze({ 'content-type': 'text/event-stream', 'x-quarterdeck-model': 'm', connection: 'keep-alive' });
    const open: Record<string, string> = { 'content-type': 'text/event-stream', 'x-quarterdeck-model': 'm' };
    const heads: string[] = [];
    const server = http.createServer((req, res) => {
      const headers = req.url === '/frozen' ? frozen : open;
      const head = relayableHead(res, headers);
      heads.push(head ? `${head.before.toString('latin1')}text/event-stream${head.after.toString('latin1')}` : 'none');
      res.writeHead(200, headers);
      res.end();
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const call = (path: string) => raw(port, `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n`, /\r\n0\r\n\r\n$/);
    const dateOf = (head: string) => /\r\nDate: ([^\r]+)/.exec(head)?.[1];
    const later = Date.now() + 5_000;
    try {
      await call('/frozen');
      const inAWhile = jest.spyOn(Date, 'now').mockReturnValue(later);
      await call('/frozen');
      inAWhile.mockRestore();
      expect(heads[1].replace(dateOf(heads[1])!, '-')).toBe(heads[0].replace(dateOf(heads[0])!, '-'));
      expect(dateOf(heads[1])).toBe(new Date(later).toUTCString());
      expect(dateOf(heads[0])).not.toBe(dateOf(heads[1]));
      await call('/open');
      open['x-quarterdeck-model'] = 'n';
      await call('/open');
      expect(heads[2]).toMatch(/\r\nx-quarterdeck-model: m\r\n/);
      expect(heads[3]).toMatch(/\r\nx-quarterdeck-model: n\r\n/);
    } finally {
      server.close();
    }
  });

  it('lets go of a response whose head the relay wrote, and aborts only the stream a closing socket carries', async () => {
    const headers = { 'content-type': 'text/event-stream' };
    const aborted: string[] = [];
    const sockets: net.Socket[] = [];
    const server = http.createServer((req, res) => {
      // As the relay does: the head written to the socket, not through Node.
      const head = relayableHead(res, headers)!;
      const socket = res.socket!;
      socket.write(Buffer.concat([head.before, Buffer.from('text/event-stream'), head.after]));
      const name = req.url!.slice(1);
      const sink = releasedByRelay(res, headers, 65_000, { abort: reason => aborted.push(`${name}: ${reason.message}`) })!;
      sockets.push(socket);
      sink.write(Buffer.from(`data: ${name}\n\n`));
      if (name === 'first') sink.finish(Buffer.alloc(0));
    });
    server.keepAliveTimeout = 65_000; // as the data plane's
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    let wire = '';
    client.on('data', d => {
      wire += d.toString('latin1');
    });
    const until = async (test: () => boolean) => {
      for (let i = 0; i < 200 && !test(); i++) await new Promise(resolve => setTimeout(resolve, 10));
    };
    try {
      client.write('POST /first HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
      await until(() => wire.endsWith('0\r\n\r\n'));
      // The first body is whole (ended before Node's response finished): its last chunk written, and the
      // connection idle under a keep-alive timer (releasedByRelay's or Node's own, whichever came last).
      expect(wire).toMatch(/\r\n\r\nd\r\ndata: first\n\n\r\n0\r\n\r\n$/);
      await new Promise(resolve => setImmediate(resolve));
      expect(sockets[0].timeout).toBeGreaterThanOrEqual(65_000);
      client.write('POST /second HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
      await until(() => wire.includes('data: second'));
      await new Promise(resolve => setImmediate(resolve));
      // The same connection, its second stream under way: no idle timer, and no abort yet.
      expect(sockets[1]).toBe(sockets[0]);
      expect(sockets[1].timeout).toBe(0);
      expect(aborted).toEqual([]);
      sockets[1].destroy();
      await until(() => aborted.length > 0);
      expect(aborted).toEqual(['second: the client closed the connection']);
    } finally {
      client.destroy();
      server.close();
    }
  });
});
