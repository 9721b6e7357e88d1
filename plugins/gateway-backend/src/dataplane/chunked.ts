import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import { descriptorOf } from './nativeRelay';

/** Where a streamed response's body goes: `write` says false when the client's socket is full. */
export interface StreamSink {
  /**
   * `framed`, when given, is `chunk` as the upstream framed it: one whole
   * HTTP/1.1 chunk, size line to CRLF, which the sink may write on as it is.
   */
  write(chunk: Buffer, framed?: Buffer): boolean;
  onDrain(resume: () => void): void;
  /**
   * The client socket's descriptor while bytes already framed may be written
   * to it directly (by the native relay): headers sent, chunked, nothing
   * queued in front of them. Undefined otherwise.
   */
  directFd?(): number | undefined;
  /** Bytes already filtered and framed, written as they are. */
  writeFramed?(framed: Buffer): boolean;
  /** Events the native relay forwarded past `write`, for what the sink keeps of them. */
  forwarded?(events: Buffer): void;
}

const CRLF = 0x0a0d; // "\r\n" as a little-endian uint16

/**
 * The body of a streamed response whose headers are sent, written to the
 * client's socket one HTTP/1.1 chunk per buffer (size line, data and CRLF
 * framed together).
 *
 * Why not `res.write`: it sends each chunk as four writes (size, CRLF, data,
 * CRLF), corked and flushed on the next tick. At 18,000 server-sent events a
 * second the stream machinery of those writes made a third of the data
 * plane's garbage. One framed buffer per event is one socket write.
 *
 * Only while the response owns its socket and is chunked: a pipelined
 * request's response waiting its turn (no socket yet) or an HTTP/1.0 client
 * (no chunked encoding) goes through `res.write`. `res.end()` still writes
 * the last chunk.
 */
export function chunkedSink(res: ServerResponse): Required<Omit<StreamSink, 'forwarded'>> {
  const chunked = (res as ServerResponse & { chunkedEncoding?: boolean }).chunkedEncoding === true;
  // Which of the two a full buffer's 'drain' will come from.
  let waitOn: { once(event: 'drain', listener: () => void): unknown } = res;
  return {
    write(chunk, framed) {
      if (chunk.length === 0) return true;
      const socket = res.socket;
      if (!chunked || !socket || !res.headersSent) {
        waitOn = res;
        return res.write(chunk);
      }
      // A client that has gone is the close handler's business; nothing to write to.
      if (socket.destroyed) return true;
      waitOn = socket;
      if (framed) return socket.write(framed);
      const size = chunk.length.toString(16);
      const frame = Buffer.allocUnsafe(size.length + chunk.length + 4);
      frame.write(size, 0, 'latin1');
      frame.writeUInt16LE(CRLF, size.length);
      chunk.copy(frame, size.length + 2);
      frame.writeUInt16LE(CRLF, frame.length - 2);
      return socket.write(frame);
    },
    onDrain(resume) {
      waitOn.once('drain', resume);
    },
    directFd() {
      const socket = res.socket;
      if (!chunked || !socket || !res.headersSent || socket.destroyed || socket.writableLength > 0) return undefined;
      return descriptorOf(socket);
    },
    writeFramed(framed) {
      const socket = res.socket;
      if (!socket || socket.destroyed) return true;
      waitOn = socket;
      return socket.write(framed);
    },
  };
}

/**
 * What Node would write for `res.writeHead(200, headers)` on this response,
 * as bytes for the native relay to answer with (Call.relayFromHead), split
 * where the value of `headers['content-type']` goes (the upstream's is only
 * known when its head comes), with the client socket's descriptor.
 * Undefined where Node would write something else or the socket is not
 * free: an HTTP/1.0 client (no chunked encoding), headers set beforehand,
 * bytes still queued, a header Node would refuse.
 *
 * The response must then be told its head is out: committedByRelay.
 */
export function relayableHead(res: ServerResponse, headers: Record<string, string>): { fd: number; before: Buffer; after: Buffer } | undefined {
  const socket = res.socket;
  const req = res.req as ServerResponse['req'] | undefined;
  if (!socket || socket.destroyed || socket.writableLength > 0 || res.headersSent || !req || req.httpVersion !== '1.1') return undefined;
  // Node answers chunked only by default, and only with nothing set on the response before.
  if (!(res as ServerResponse & { useChunkedEncodingByDefault?: boolean }).useChunkedEncodingByDefault || res.getHeaderNames().length > 0) return undefined;
  const fd = descriptorOf(socket);
  if (fd === undefined || !('content-type' in headers)) return undefined;
  let before = `HTTP/1.1 200 ${res.statusMessage || 'OK'}\r\n`;
  let after = '';
  let split = false;
  try {
    for (const [name, value] of Object.entries(headers)) {
      validateHeaderName(name);
      if (name === 'content-type') {
        before += 'content-type: ';
        after = '\r\n';
        split = true;
        continue;
      }
      validateHeaderValue(name, value);
      const line = `${name}: ${value}\r\n`;
      if (split) after += line;
      else before += line;
    }
  } catch {
    return undefined;
  }
  // As Node adds them: the date (sendDate), then the framing.
  if (res.sendDate) after += `Date: ${new Date().toUTCString()}\r\n`;
  after += 'Transfer-Encoding: chunked\r\n\r\n';
  return { fd, before: Buffer.from(before, 'latin1'), after: Buffer.from(after, 'latin1') };
}

/**
 * The native relay wrote the head of relayableHead: Node's response is given
 * the same head (its state, chunked and kept alive, follows from it) and
 * marked as sent, so its next write or end does not send it again.
 * `_headerSent` is the flag Node's own first write sets; Node has no public
 * way to say a head went out by other means.
 */
export function committedByRelay(res: ServerResponse, headers: Record<string, string>) {
  res.writeHead(200, headers);
  (res as ServerResponse & { _headerSent: boolean })._headerSent = true;
}
