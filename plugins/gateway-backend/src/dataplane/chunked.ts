import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import type net from 'node:net';
import { descriptorOf, stopSocketTimer, type RelayUsage } from './nativeRelay';
import { ClientClosed, type Abortable } from './streamClient';

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
  /** What the native relay may do with the usage event and the body's end; RelayUsage.HandBack when absent. */
  readonly relayUsage?: RelayUsage;
  /** The data (JSON) of a usage event the native relay read. */
  usedByRelay?(usage: Buffer): void;
  /** The native relay wrote the body's last chunk, or left it in `out` (framed) with what the client's socket could not take yet. */
  endedByRelay?(out: Buffer): void;
}

/** Where a streamed body goes once its head is out: the client's socket, and how the body ends. */
export interface BodySink extends Required<Pick<StreamSink, 'write' | 'onDrain' | 'directFd' | 'writeFramed' | 'endedByRelay'>> {
  /** The body is whole: `rest` (unframed) and the last chunk, unless the relay wrote it, are written. */
  finish(rest: Buffer): void;
  /** The call failed after the head: the client sees a cut body, not a false end. */
  destroy(): void;
}

const CRLF = 0x0a0d; // "\r\n" as a little-endian uint16
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** Ends a chunked response whose last chunk is not Node's to write (it went to the socket by other means, or will). */
function endWithoutLastChunk(res: ServerResponse) {
  (res as ServerResponse & { chunkedEncoding?: boolean }).chunkedEncoding = false;
  res.end();
}

/** One HTTP/1.1 chunk: size line, data and CRLF in one buffer. */
function frameOf(chunk: Buffer): Buffer {
  const size = chunk.length.toString(16);
  const frame = Buffer.allocUnsafe(size.length + chunk.length + 4);
  frame.write(size, 0, 'latin1');
  frame.writeUInt16LE(CRLF, size.length);
  chunk.copy(frame, size.length + 2);
  frame.writeUInt16LE(CRLF, frame.length - 2);
  return frame;
}

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
export function chunkedSink(res: ServerResponse): BodySink {
  const chunked = (res as ServerResponse & { chunkedEncoding?: boolean }).chunkedEncoding === true;
  // Which of the two a full buffer's 'drain' will come from.
  let waitOn: { once(event: 'drain', listener: () => void): unknown } = res;
  let lastChunkSent = false;
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
      return socket.write(framed ?? frameOf(chunk));
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
    endedByRelay(out) {
      lastChunkSent = true;
      if (out.length > 0) this.writeFramed(out);
    },
    finish(rest) {
      if (rest.length > 0) res.write(rest);
      if (lastChunkSent) endWithoutLastChunk(res);
      else res.end();
    },
    destroy() {
      res.destroy();
    },
  };
}

/** A head's bytes up to the content type's value, and the lines after it without the date and framing. */
interface HeadParts {
  before: Buffer;
  after: string;
  /** `after` with the date of `second` and the framing, as bytes. */
  dated?: Buffer;
  second: number;
}

/** Built once per frozen headers object. */
const headParts = new WeakMap<Record<string, string>, HeadParts>();
const CHUNKED = 'Transfer-Encoding: chunked\r\n\r\n';

/** The lines Node would write for these headers, split at the content type's value; undefined for a header Node would refuse. */
function partsOf(statusMessage: string, headers: Record<string, string>): HeadParts | undefined {
  let before = `HTTP/1.1 200 ${statusMessage}\r\n`;
  let after = '';
  let split = false;
  try {
    for (const name of Object.keys(headers)) {
      validateHeaderName(name);
      if (name === 'content-type') {
        before += 'content-type: ';
        after = '\r\n';
        split = true;
        continue;
      }
      const value = headers[name];
      validateHeaderValue(name, value);
      const line = `${name}: ${value}\r\n`;
      if (split) after += line;
      else before += line;
    }
  } catch {
    return undefined;
  }
  return { before: Buffer.from(before, 'latin1'), after, second: -1 };
}

/** The rest of the head as Node adds it: the date (sendDate; to the second, as Node's own cache of it), then the framing. */
function datedAfter(parts: HeadParts): Buffer {
  const second = Math.floor(Date.now() / 1000);
  if (!parts.dated || parts.second !== second) {
    parts.dated = Buffer.from(`${parts.after}Date: ${new Date(second * 1000).toUTCString()}\r\n${CHUNKED}`, 'latin1');
    parts.second = second;
  }
  return parts.dated;
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
 * For a frozen `headers` object the bytes are built once and the date line
 * once a second: building them per stream (validating each header, two
 * strings and two buffers) was about 6 % of what a stream start allocated.
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
  // A frozen headers object, the default status line and a date: the bytes are kept by the object.
  const usual = !res.statusMessage && res.sendDate && Object.isFrozen(headers);
  let parts = usual ? headParts.get(headers) : undefined;
  if (!parts) {
    parts = partsOf(res.statusMessage || 'OK', headers);
    if (!parts) return undefined;
    if (usual) headParts.set(headers, parts);
  }
  return { fd, before: parts.before, after: res.sendDate ? datedAfter(parts) : Buffer.from(`${parts.after}${CHUNKED}`, 'latin1') };
}

/** The headers Node's response reads for its framing and keep-alive (matchHeader, node:_http_outgoing); any other is only bytes to it. */
const STEERING = new Set(['connection', 'transfer-encoding', 'content-length', 'date', 'expect', 'trailer', 'keep-alive']);

/**
 * The native relay wrote the head of relayableHead: Node's response is given
 * the state that head implies (chunked, kept alive or not) and marked as
 * sent, so its next write or end does not send it again. Only the headers
 * that steer that state are given to `writeHead`: the head's bytes are out
 * already, and building them all again was ~5 % of a stream start's
 * allocation. `_headerSent` is the flag Node's own first write sets; Node has
 * no public way to say a head went out by other means.
 */
export function committedByRelay(res: ServerResponse, headers: Record<string, string>) {
  let steering: Record<string, string> | undefined;
  for (const name in headers) if (STEERING.has(name.toLowerCase())) (steering ??= {})[name] = headers[name];
  res.writeHead(200, steering);
  (res as ServerResponse & { _headerSent: boolean })._headerSent = true;
}

/** What of a socket's libuv handle releasedByRelay uses (net.js keeps `reading` in step with readStart/readStop itself). */
interface StreamHandle {
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

/** The stream a client's socket carries for releasedByRelay, if any; one 'close' listener per socket, for all its streams. */
const RELEASED = Symbol('quarterdeck.released');

type ReleasedSocket = net.Socket & { [RELEASED]?: ReleasedResponse | null };

function releasedSocketClosed(this: ReleasedSocket) {
  const released = this[RELEASED];
  this[RELEASED] = null;
  released?.call.abort(new ClientClosed('the client closed the connection'));
}

/**
 * releasedByRelay's stream: one object with its methods on the prototype,
 * and no closure or listener of its own, as it lives as long as the stream.
 */
class ReleasedResponse implements BodySink {
  private waitingDrain = false;
  private lastChunkSent = false;

  constructor(private readonly socket: ReleasedSocket, private readonly handle: StreamHandle, private readonly keepAliveMs: number, readonly call: Abortable) {
    if (socket[RELEASED] === undefined) socket.on('close', releasedSocketClosed);
    socket[RELEASED] = this;
  }

  write(chunk: Buffer, framed?: Buffer) {
    return chunk.length === 0 || this.socket.destroyed ? true : this.socket.write(framed ?? frameOf(chunk));
  }

  writeFramed(framed: Buffer) {
    return this.socket.destroyed ? true : this.socket.write(framed);
  }

  onDrain(resume: () => void) {
    this.waitingDrain = true;
    this.socket.once('drain', () => {
      this.waitingDrain = false;
      resume();
    });
  }

  directFd() {
    const socket = this.socket;
    return socket.destroyed || this.waitingDrain || socket.writableLength > 0 ? undefined : descriptorOf(socket);
  }

  endedByRelay(out: Buffer) {
    this.lastChunkSent = true;
    if (out.length > 0) this.writeFramed(out);
  }

  /** The body is whole (Node then reads the connection's next request). */
  finish(rest: Buffer) {
    const socket = this.socket;
    socket[RELEASED] = null;
    if (socket.destroyed) return;
    if (rest.length > 0) socket.write(frameOf(rest));
    if (!this.lastChunkSent) socket.write(LAST_CHUNK);
    socket.setTimeout(this.keepAliveMs);
    this.handle.reading = true;
    this.handle.readStart();
  }

  destroy() {
    this.socket[RELEASED] = null;
    this.socket.destroy();
  }
}

/**
 * The native relay sent the head of relayableHead: rather than keep Node's
 * response open for the stream's whole life, it is ended from Node's point
 * of view at once (nothing more is written through it) and the body goes to
 * the socket directly, framed here or by the relay.
 *
 * Why: a response, its request and the calls that wait on them outlive the
 * young generation's collections when a stream lasts seconds, and at 1,000
 * streams copying them was most of each collection's pause, the pause every
 * new request waits behind (docs/gateway.md, Decisions).
 *
 * While the stream runs, the connection is not read (a pipelined request
 * waits in the kernel until the body is whole, as HTTP/1.1 orders it) and
 * Node's keep-alive timer is off (the stream is not idle). `call` is aborted
 * if the socket closes before the end. Undefined when Node would close the
 * connection after this response anyway, or it cannot be held: the response
 * is then committed (committedByRelay) and stays open as before.
 */
export function releasedByRelay(res: ServerResponse, headers: Record<string, string>, keepAliveMs: number, call: Abortable): BodySink | undefined {
  const socket = res.socket;
  const handle = (socket as (net.Socket & { _handle?: StreamHandle }) | null)?._handle;
  committedByRelay(res, headers);
  if (!socket || !handle || typeof handle.readStop !== 'function') return undefined;
  const internals = res as ServerResponse & { _last?: boolean; chunkedEncoding?: boolean };
  if (internals._last || internals.chunkedEncoding !== true) return undefined;
  // Ended with no last chunk (the body is this socket's business now): Node writes nothing, and its 'finish' frees the request and response.
  endWithoutLastChunk(res);
  handle.reading = false;
  handle.readStop();
  const released = new ReleasedResponse(socket, handle, keepAliveMs, call);
  // Node's own 'finish' listener (which runs first) has set the keep-alive timer: off until the body is
  // whole, unless it already is (a body the relay ended at once): then the connection is idle, and timed.
  res.once('finish', () => {
    if ((socket as ReleasedSocket)[RELEASED] === released) stopSocketTimer(socket);
  });
  return released;
}
