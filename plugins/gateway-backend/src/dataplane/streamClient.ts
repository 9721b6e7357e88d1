import net from 'node:net';
import tls from 'node:tls';
import type { StreamSink } from './chunked';
import { descriptorOf, RelayBack, RelayUsage, stopSocketTimer, type NativeRelay, type RelayHandback, type RelayOwner } from './nativeRelay';

/** A call in flight, for a client that leaves meanwhile (an object, not a callback: it is held as long as the stream). */
export interface Abortable {
  abort(reason: ClientClosed): void;
}

/**
 * What cuts a call short when the client goes away (closes, fails, or reads
 * nothing for the timeout): the call is recorded as the client's doing, not
 * as the upstream's failure.
 */
export class ClientClosed extends Error {}

/**
 * Where a 200's body goes, once the client's head is written: here (from
 * `contentType`), or already by the native relay when `headSent`.
 */
export type StreamTo = (contentType: string | undefined, call: Abortable, headSent: boolean) => StreamSink;

/**
 * The client's socket and the head it would be answered with, split where
 * the upstream's content type goes, so the native relay can answer a plain
 * 200 itself; undefined where the client cannot be written to directly.
 * `call` is for a client that leaves meanwhile. `usage`: what the relay may
 * do with the usage event and the body's end (as the sink committed to will
 * say, StreamSink.relayUsage).
 */
export type ClientHead = (call: Abortable) => { fd: number; before: Buffer; after: Buffer; usage?: RelayUsage } | undefined;

export interface StreamedResponse {
  statusCode: number;
  contentType?: string;
  /** The upstream's `Retry-After`, as it came: a 429 passed on to the client carries it. */
  retryAfter?: string;
  /** The body when it was not streamed (any status but 200). */
  body: Buffer;
  /**
   * A 200 whose body is being streamed to the sink: the response resolves
   * as soon as the sink has it, and this tells when the body ends.
   */
  ended?: StreamEnd;
}

/** Told when a streamed body ends: with no error when it is whole, else with what cut it short. */
export interface StreamEndListener {
  streamEnded(error?: Error): void;
}

/** The end of a streamed body. */
export interface StreamEnd {
  /**
   * `listener` is told once; at once if the body has ended. One listener:
   * the call's owner (a second, before the end, takes the first one's place).
   */
  onEnd(listener: StreamEndListener): void;
}

const EMPTY = Buffer.alloc(0);
/** What Node refuses in a header value (its own check, _http_common's checkInvalidHeaderChar). */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** The upstream sent no response head, or no byte of the body, for the timeout. */
export class UpstreamTimeout extends Error {
  constructor(readonly phase: 'headers' | 'body', ms: number) {
    super(`the upstream sent no ${phase === 'headers' ? 'response' : 'data'} for ${ms} ms`);
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
/** A plain connection's read slab, and the least room a read is given in it. */
const SLAB = 16 * 1024;
const MIN_READ = 4 * 1024;
/** Idle connections kept per origin: enough for every stream of a busy replica to start on a warm one. */
const MAX_IDLE = 2048;
/**
 * The longest a failing call waits for the native relay's message after a
 * cancel that said it would come (it comes after one read or write): a
 * message lost (the relay had no memory for it) must not hold the call forever.
 */
const RELAY_MESSAGE_WAIT_MS = 5_000;

interface Origin {
  host: string;
  port: number;
  secure: boolean;
  hostHeader: string;
  idle: Connection[];
}

const CRLF = Buffer.from('\r\n');
const STATUS_LINE = Buffer.from('HTTP/1.');
/** The response headers read here, by their index in HEADERS. */
const HEADERS = ['content-type', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'retry-after'];
const [CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, KEEP_ALIVE, RETRY_AFTER] = [0, 1, 2, 3, 4, 5];

function isDigits(data: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (data[i] < 0x30 || data[i] > 0x39) return false;
  return true;
}

/** Which of HEADERS the name in data[from, to) is (any case, blanks around it ignored); -1 for any other. */
function knownHeader(data: Buffer, from: number, to: number): number {
  let start = from;
  let end = to;
  while (start < end && (data[start] === 0x20 || data[start] === 0x09)) start++;
  while (end > start && (data[end - 1] === 0x20 || data[end - 1] === 0x09)) end--;
  return HEADERS.findIndex(name => name.length === end - start && sameName(data, start, name));
}

/** Letters in either case; the hyphen only as itself. */
function sameName(data: Buffer, start: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const want = name.charCodeAt(i);
    const byte = data[start + i];
    if (byte !== want && (want === 0x2d || (byte | 0x20) !== want)) return false;
  }
  return true;
}

/** The value of the hex digits in data[from, to); -1 when anything else is there (a chunk extension, say). */
function parseHex(data: Buffer, from: number, to: number): number {
  if (to - from > 12) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = data[i];
    const lower = c | 0x20; // a letter in lower case
    if (c >= 0x30 && c <= 0x39) value = value * 16 + c - 0x30;
    else if (lower >= 0x61 && lower <= 0x66) value = value * 16 + lower - 0x57;
    else return -1;
  }
  return value;
}

type BodyFraming = 'chunked' | 'length' | 'close' | 'none';

/** One request and its response on a connection: the response's parser. */
class Call implements StreamEnd, RelayOwner, Abortable {
  heardBack = false;
  aborted = false;
  /** Paused because the client's socket is full. */
  private waitingForClient = false;
  private done = false;
  private head?: Buffer;
  private statusCode = 0;
  private contentType?: string;
  private retryAfter?: string;
  private keepAlive = true;
  private framing: BodyFraming = 'none';
  private sink?: StreamSink;
  /** A body that is not streamed (any status but 200), as it comes. */
  private chunks?: Buffer[];
  /** Body bytes still to come: of the current chunk (chunked) or of the body (length). */
  private remaining = 0;
  /** Chunked framing: a size line, the data, the CRLF after it, or the trailers. */
  private chunkState: 'size' | 'data' | 'crlf' | 'trailers' = 'size';
  /** The part of a size line or trailer line that arrived without its end. */
  private line = '';
  /** The native relay's id for this call while it forwards the events (the socket is paused meanwhile). */
  private relayed?: number;
  /** The relay answered the client with its head (relayFromHead). */
  private headSentByRelay = false;
  /**
   * The call failed while the relay's message for it was still to come (a
   * hand-back on its way, or a read or write under way at the cancel): the
   * failure it ends with once that message has given what the relay held.
   */
  private failingAfterRelay?: Error;
  private relayMessageWait?: NodeJS.Timeout;
  /** The response was resolved with the sink's body streaming: the end goes to onEnd's callback. */
  private committed = false;
  private ended?: StreamEndListener;
  private endedWith?: { error?: Error };

  constructor(
    private readonly connection: Connection,
    readonly timeoutMs: number,
    // Dropped once used: a call outlives them by the stream's length, and what they hold (the client's request) is not needed meanwhile.
    private streamTo: StreamTo | undefined,
    private resolve: ((response: StreamedResponse) => void) | undefined,
    private reject: ((error: Error) => void) | undefined,
    private clientHead?: ClientHead,
  ) {}

  onEnd(listener: StreamEndListener) {
    if (this.endedWith) listener.streamEnded(this.endedWith.error);
    else this.ended = listener;
  }

  onData(received: Buffer) {
    this.heardBack = true;
    let data: Buffer | undefined = received;
    if (this.statusCode === 0) {
      data = this.readHead(received);
      if (this.done || data === undefined) return;
    }
    switch (this.framing) {
      case 'chunked':
        this.readChunked(data);
        this.relayIfSteady();
        return;
      case 'length': {
        const take = Math.min(this.remaining, data.length);
        if (take > 0) this.deliver(take === data.length ? data : data.subarray(0, take));
        this.remaining -= take;
        if (this.remaining === 0) this.complete(take === data.length);
        return;
      }
      case 'close':
        if (data.length > 0) this.deliver(data);
        return;
      default:
        // Bytes after a response that has no body: not HTTP we can reuse.
        if (data.length > 0) this.connection.socket.destroy();
    }
  }

  onTimeout() {
    // Held up by a client that reads nothing: that client is given the same time as an upstream.
    if (this.waitingForClient) this.abort(new ClientClosed(`the client read nothing for ${this.timeoutMs} ms`));
    else this.fail(new UpstreamTimeout(this.statusCode === 0 ? 'headers' : 'body', this.timeoutMs));
  }

  fail(error: Error) {
    if (this.done || this.failingAfterRelay) return;
    if (this.takeBackFromRelay()) {
      // What the relay forwarded and read is this call's to count: its end waits for them (relayedBack).
      this.failingAfterRelay = error;
      this.relayMessageWait = setTimeout(() => this.relayMessageLost(), RELAY_MESSAGE_WAIT_MS);
      this.relayMessageWait.unref();
      return;
    }
    // A body delimited by the connection's close is complete when it closes.
    if (this.framing === 'close' && this.statusCode !== 0 && !this.aborted && !(error instanceof UpstreamTimeout) && this.connection.socket.readableEnded) {
      this.complete(false);
      return;
    }
    this.done = true;
    this.connection.finish(false);
    this.settle(undefined, error);
  }

  /** The call is over: its promise, or the end of a body already streaming. */
  private settle(response: StreamedResponse | undefined, error?: Error) {
    if (this.committed) {
      const ended = this.ended;
      this.ended = undefined;
      this.endedWith = { error };
      ended?.streamEnded(error);
      return;
    }
    if (error) this.reject?.(error);
    else this.resolve?.(response!);
    this.resolve = undefined;
    this.reject = undefined;
  }

  /** A 200's body starts streaming to the client: its sink, and the response resolved now rather than at the end. */
  private commit() {
    try {
      this.sink = this.streamTo!(this.contentType, this, this.headSentByRelay);
    } catch (error) {
      // Thrown in the socket's read callback, it would end the process: the call fails instead.
      this.streamTo = undefined;
      this.fail(error as Error);
      return;
    }
    this.streamTo = undefined;
    this.clientHead = undefined;
    this.committed = true;
    const resolve = this.resolve!;
    this.resolve = undefined;
    this.reject = undefined;
    resolve({ statusCode: 200, contentType: this.contentType, body: EMPTY, ended: this });
    // Read; the string (a slice of the whole head's) would otherwise be kept for the stream's length.
    this.contentType = undefined;
  }

  /** Parses the response head; returns what follows it, or undefined while the head is incomplete. */
  private readHead(data: Buffer): Buffer | undefined {
    const buffered = this.head ? Buffer.concat([this.head, data]) : data;
    const end = buffered.indexOf(CRLFCRLF);
    if (end < 0) {
      if (buffered.length > MAX_HEAD) this.fail(new Error('the upstream sent a response head over 64 KiB'));
      else this.head = buffered;
      return undefined;
    }
    this.head = undefined;
    // Read as bytes: only the values of the few headers used here become strings.
    const minor = buffered[7];
    if (!STATUS_LINE.equals(buffered.subarray(0, 7)) || (minor !== 0x30 && minor !== 0x31) || buffered[8] !== 0x20 || !isDigits(buffered, 9, 12)) {
      const first = buffered.toString('latin1', 0, Math.min(40, end)).split('\r\n')[0];
      this.fail(new Error(`the upstream sent no HTTP/1.x status line (${JSON.stringify(first)})`));
      return undefined;
    }
    const http10 = minor === 0x30;
    const code = (buffered[9] - 0x30) * 100 + (buffered[10] - 0x30) * 10 + (buffered[11] - 0x30);
    const rest = buffered.subarray(end + 4);
    // An informational response (100 Continue, 103 Early Hints) comes before the real one.
    if (code >= 100 && code < 200) return rest.length > 0 ? this.readHead(rest) : undefined;
    let chunked = false;
    let length: number | undefined;
    let connectionHeader = http10 ? 'close' : 'keep-alive';
    for (let at = buffered.indexOf(CRLF) + 2; at > 1 && at < end;) {
      let lineEnd = buffered.indexOf(CRLF, at);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      const colon = buffered.indexOf(0x3a, at);
      const header = colon > at && colon < lineEnd ? knownHeader(buffered, at, colon) : -1;
      if (header >= 0) {
        const value = buffered.toString('latin1', colon + 1, lineEnd).trim();
        // A value Node would refuse to write is not passed on (the client gets the default type instead).
        if (header === CONTENT_TYPE) this.contentType = INVALID_HEADER_VALUE.test(value) ? undefined : value;
        else if (header === CONTENT_LENGTH) length = Number(value);
        else if (header === TRANSFER_ENCODING) chunked = /(^|,)\s*chunked\s*$/i.test(value);
        else if (header === CONNECTION) connectionHeader = value.toLowerCase();
        else if (header === RETRY_AFTER) this.retryAfter = value;
        else if (header === KEEP_ALIVE) {
          // keep-alive: the upstream's own idle limit, less a second, so that we never reuse a socket it is closing.
          const seconds = /(?:^|,)\s*timeout=(\d+)/i.exec(value);
          if (seconds) this.connection.idleMs = Number(seconds[1]) * 1000 - 1000;
        }
      }
      at = lineEnd + 2;
    }
    if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0) && !chunked) {
      this.fail(new Error('the upstream sent an invalid content-length'));
      return undefined;
    }
    this.statusCode = code;
    this.keepAlive = connectionHeader.includes('keep-alive') || (!http10 && !connectionHeader.includes('close'));
    if (code === 204 || code === 304) this.framing = 'none';
    else if (chunked) this.framing = 'chunked';
    else if (length !== undefined) this.framing = 'length';
    else this.framing = 'close';
    this.remaining = length ?? 0;
    if (code === 200) {
      this.commit();
      if (this.done) return undefined;
    }
    if (this.framing === 'none' || (this.framing === 'length' && this.remaining === 0)) {
      this.complete(rest.length === 0);
      return undefined;
    }
    return rest;
  }

  private readChunked(data: Buffer) {
    let at = 0;
    // Nearly always a read is whole chunks ("<hex>\r\n<data>\r\n"): each is handed on with its framing.
    while (this.chunkState === 'size' && this.line === '' && at < data.length && !this.done) {
      const lineEnd = data.indexOf(0x0a, at);
      if (lineEnd < at + 2 || data[lineEnd - 1] !== 0x0d) break;
      const size = parseHex(data, at, lineEnd - 1);
      const end = lineEnd + 1 + size + 2;
      if (size <= 0 || end > data.length || data[end - 2] !== 0x0d || data[end - 1] !== 0x0a) break;
      this.deliver(data.subarray(lineEnd + 1, end - 2), at === 0 && end === data.length ? data : data.subarray(at, end));
      at = end;
    }
    while (at < data.length && !this.done) {
      switch (this.chunkState) {
        case 'size':
        case 'trailers': {
          const lineEnd = data.indexOf(0x0a, at);
          if (lineEnd < 0) {
            this.line += data.toString('latin1', at);
            if (this.line.length > 4096) this.fail(new Error('the upstream sent an over-long chunk line'));
            return;
          }
          const line = (this.line + data.toString('latin1', at, lineEnd)).replace(/\r$/, '');
          this.line = '';
          at = lineEnd + 1;
          if (this.chunkState === 'trailers') {
            if (line === '') this.complete(at === data.length);
            continue;
          }
          const digits = line.split(';')[0].trim(); // a chunk extension after ';' is ignored
          if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) {
            this.fail(new Error(`the upstream sent an invalid chunk size line (${JSON.stringify(line.slice(0, 20))})`));
            return;
          }
          const size = Number.parseInt(digits, 16);
          if (size === 0) this.chunkState = 'trailers';
          else {
            this.remaining = size;
            this.chunkState = 'data';
          }
          continue;
        }
        case 'data': {
          const take = Math.min(this.remaining, data.length - at);
          this.deliver(data.subarray(at, at + take));
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) this.chunkState = 'crlf';
          continue;
        }
        case 'crlf':
          // The CRLF after a chunk's data, which may arrive split.
          if (data[at] === 0x0a) this.chunkState = 'size';
          else if (data[at] !== 0x0d) {
            this.fail(new Error('the upstream sent a chunk without its CRLF'));
            return;
          }
          at++;
          continue;
        default:
          return;
      }
    }
  }

  private deliver(chunk: Buffer, framed?: Buffer) {
    const sink = this.sink;
    if (!sink) {
      (this.chunks ??= []).push(chunk);
      return;
    }
    if (!sink.write(chunk, framed)) this.waitForClient();
  }

  /** The client's socket is full: no more reads until it drains. */
  private waitForClient() {
    const socket = this.connection.socket;
    socket.pause();
    this.waitingForClient = true;
    this.sink!.onDrain(() => {
      this.waitingForClient = false;
      if (!this.done && this.relayed === undefined) socket.resume();
    });
  }

  /**
   * Right after the request went up, on a connected plain socket, with a
   * native relay at hand and a client it may answer: the relay waits for the
   * upstream's head and answers a plain 200 itself, with the events that came
   * along, so a stream's first event does not wait for this thread a second
   * time (a busy event loop or a garbage collection in that wait was part of
   * what a first byte added at 1,000 streams; docs/gateway.md, Decisions).
   * Any other head comes back unanswered (relayedBack), and this parser
   * reads it as before: fallbacks and errors are unchanged.
   */
  relayFromHead() {
    const relay = this.connection.client.relay;
    const socket = this.connection.socket;
    if (!relay || !this.clientHead || socket.connecting) return;
    const upstreamFd = this.connection.fd();
    if (upstreamFd === undefined) return;
    const client = this.clientHead(this);
    this.clientHead = undefined;
    if (!client) return;
    socket.pause();
    const id = relay.start(upstreamFd, client.fd, this.timeoutMs, client.usage ?? RelayUsage.HandBack, this, { before: client.before, after: client.after });
    if (id === undefined) {
      socket.resume();
      return;
    }
    this.relayed = id;
    // The relay keeps the upstream's deadline while it has the stream.
    stopSocketTimer(socket);
  }

  /** The relay answered the client: the upstream's head is read here as if it had come on the socket. */
  relayedHead(head: Buffer) {
    // Committed already: a cancel said the client had the relay's head before this notice came.
    if (this.done || this.committed) return;
    this.heardBack = true;
    this.headSentByRelay = true;
    this.readHead(head);
  }

  /**
   * Between two chunks, with the client's socket writable directly and a
   * native relay at hand: the relay forwards what follows until something
   * needs this parser again (relayedBack).
   */
  private relayIfSteady() {
    const relay = this.connection.client.relay;
    if (!relay || this.done || this.waitingForClient || this.chunkState !== 'size' || this.line !== '' || !this.sink?.directFd || !this.sink.writeFramed) return;
    const upstreamFd = this.connection.fd();
    const clientFd = this.sink.directFd();
    if (upstreamFd === undefined || clientFd === undefined) return;
    const socket = this.connection.socket;
    // JavaScript stops reading first (no read can happen before this function returns either way).
    socket.pause();
    const id = relay.start(upstreamFd, clientFd, this.timeoutMs, this.sink.relayUsage ?? RelayUsage.HandBack, this);
    if (id === undefined) {
      socket.resume();
      return;
    }
    this.relayed = id;
    // The relay keeps the upstream's deadline while it reads; the socket's own timer would see no activity.
    stopSocketTimer(socket);
  }

  relayedBack({ reason, errno, out, rest, kept, usage }: RelayHandback) {
    this.relayed = undefined;
    if (this.done) return;
    this.tookFromRelay(kept, usage);
    const failing = this.failingAfterRelay;
    if (failing) {
      // The message a failing call waited for (fail): a body it says is whole has ended; anything else ends with the failure.
      this.failingAfterRelay = undefined;
      clearTimeout(this.relayMessageWait);
      this.relayMessageWait = undefined;
      if (reason === RelayBack.End && this.sink?.endedByRelay) {
        this.sink.endedByRelay(out);
        this.complete(true);
      } else {
        this.fail(failing);
      }
      return;
    }
    if (reason === RelayBack.End) {
      // Only a sink with a usage mode starts the relay so (relayIfSteady, or the ClientHead's for the sink it commits to).
      this.sink!.endedByRelay!(out);
      this.complete(true);
      return;
    }
    // This thread reads the upstream again, and keeps its deadline.
    const socket = this.connection.socket;
    socket.setTimeout(this.timeoutMs);
    if (reason === RelayBack.Timeout) {
      this.onTimeout();
      return;
    }
    if (reason === RelayBack.ClientFailed) {
      this.abort(new ClientClosed(`the client's connection failed (errno ${errno})`));
      return;
    }
    // A sink the relay started with has writeFramed (relayIfSteady).
    if (out.length > 0 && !this.sink!.writeFramed!(out)) this.waitForClient();
    if (rest.length > 0) this.onData(rest);
    if (!this.done && this.relayed === undefined && !this.waitingForClient) socket.resume();
  }

  /**
   * Takes the stream back from the relay, if it has it, with what it held;
   * true when that comes later, with the relay's message (relayedBack): a
   * hand-back already on its way (and any head notice before it), or a read
   * or write under way.
   */
  private takeBackFromRelay(): boolean {
    if (this.relayed === undefined) return false;
    const { headSent, later, kept, usage } = this.connection.client.relay!.cancel(this.relayed);
    this.relayed = undefined;
    // The client has the relay's 200 whose notice has not come: the response is committed (no fallback, no error answer).
    if (headSent && !this.sink) {
      this.heardBack = true;
      this.headSentByRelay = true;
      this.commit();
    }
    this.tookFromRelay(kept, usage);
    return later;
  }

  /** What the relay forwarded (for an estimate) and the usage event it read: counted as if this parser had seen them. */
  private tookFromRelay(kept: Buffer, usage: Buffer) {
    if (kept.length > 0) this.sink?.forwarded?.(kept);
    if (usage.length > 0) this.sink?.usedByRelay?.(usage);
  }

  /** The relay's message a failing call waited for never came: it ends with what it has. */
  private relayMessageLost() {
    const failing = this.failingAfterRelay;
    this.relayMessageWait = undefined;
    if (!failing || this.done) return;
    this.failingAfterRelay = undefined;
    this.fail(failing);
  }

  abort(reason: ClientClosed) {
    this.aborted = true;
    this.fail(reason);
  }

  /** The response is whole; `clean` when nothing followed it on the socket. */
  private complete(clean: boolean) {
    if (this.done) return;
    this.done = true;
    const idleMs = this.connection.idleMs;
    // An upstream head never read here (a cancel said the relay had answered it) may have said `connection: close`.
    this.connection.finish(clean && this.statusCode !== 0 && this.keepAlive && this.framing !== 'close' && (idleMs === undefined || idleMs > 0));
    const chunks = this.chunks ?? [];
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    this.settle({ statusCode: this.statusCode, contentType: this.contentType, retryAfter: this.retryAfter, body });
  }
}

/**
 * Where a plain socket reads into: slices of a 16 KiB slab of the
 * connection's own, each read taking what it filled and the next starting
 * after it (Node's `onread`). Node's own read path allocates 64 KiB per read,
 * shrinks it to what arrived and pushes it through a Readable stream; at
 * 20,000 events a second that machinery was a tenth of the data plane's
 * time. A slice handed on stays valid (the slab is never reused, only
 * replaced), so a write that waits in the client's socket buffer is safe.
 */
class ReadSlab {
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;

  /** Room for the next read. */
  next(): Buffer {
    if (SLAB - this.used < MIN_READ) {
      this.slab = Buffer.allocUnsafe(SLAB);
      this.used = 0;
    }
    return this.slab.subarray(this.used);
  }

  /** The bytes a read put into `room`. */
  took(room: Buffer, n: number): Buffer {
    this.used += n;
    return room.subarray(0, n);
  }
}

/** One socket to an upstream; its listeners are set once and hand events to the call it carries. */
class Connection {
  call?: Call;
  reused = false;
  /** How long it may stay idle, when the upstream said (`keep-alive: timeout=`). */
  idleMs?: number;
  readonly socket: net.Socket;

  constructor(readonly origin: Origin, readonly client: StreamClient) {
    if (origin.secure) {
      this.socket = tls.connect({ host: origin.host, port: origin.port, servername: net.isIP(origin.host) ? undefined : origin.host, ALPNProtocols: ['http/1.1'] });
      this.socket.on('data', (data: Buffer) => this.onData(data));
    } else {
      const slab = new ReadSlab();
      this.socket = net.connect({
        host: origin.host,
        port: origin.port,
        onread: {
          buffer: () => slab.next(),
          callback: (n: number, room: Uint8Array) => {
            this.onData(slab.took(room as Buffer, n));
            return true; // pausing is the call's business (socket.pause)
          },
        },
      });
      // Flowing, so that the end of the stream is still seen ('end', then 'close').
      this.socket.resume();
    }
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('timeout', () => (this.call ? this.call.onTimeout() : socket.destroy()));
    socket.on('error', error => this.call?.fail(error));
    socket.on('close', () => {
      this.call?.fail(new Error('the upstream closed the connection'));
      client.forget(this);
    });
  }

  /** A plain socket's descriptor, for the native relay. */
  fd(): number | undefined {
    return this.origin.secure ? undefined : descriptorOf(this.socket);
  }

  private onData(data: Buffer) {
    if (this.call) this.call.onData(data);
    else this.socket.destroy(); // bytes on an idle connection: not HTTP we can reuse
  }

  start(call: Call, request: Buffer) {
    this.call = call;
    this.socket.setTimeout(call.timeoutMs);
    this.socket.write(request);
    call.relayFromHead();
  }

  /** The call is over: the socket goes back to the pool, or is closed. */
  finish(reusable: boolean) {
    this.call = undefined;
    if (this.socket.isPaused()) this.socket.resume();
    if (reusable) this.client.release(this);
    else this.socket.destroy();
  }
}

/**
 * A client for streamed upstream calls (`stream: true`): HTTP/1.1 over
 * keep-alive sockets of its own, the response head and chunked framing read
 * in a few byte comparisons, and each chunk handed on with the bytes the
 * upstream framed it in, so the sink can forward an event as the very buffer
 * the socket gave, already framed for the client.
 *
 * Why not undici, which every other upstream call uses: at 1,000 concurrent
 * streams (20,000 events a second) the data plane's event loop is at its
 * knee, and per event undici copies the bytes into its WebAssembly parser,
 * runs it, slices the body back out and refreshes its timers, and the sink
 * then allocates and copies a new frame. Here an event costs one read
 * callback (into the connection's ReadSlab, no Readable stream), a size line
 * read and one socket write.
 *
 * Only what a streamed POST needs: no pipelining, no request body streaming,
 * no redirects. A response that is not a 200 is buffered whole, for the
 * fallbacks to read.
 */
export class StreamClient {
  private readonly origins = new Map<string, Origin>();
  private readonly open = new Set<Connection>();

  /**
   * `relay`, when given, forwards the steady part of each stream over a
   * plain connection natively (nativeRelay.ts); the rest is read here.
   */
  constructor(private readonly keepAliveMs = 30_000, readonly relay?: NativeRelay) {}

  /**
   * `clientHead`, with a native relay, lets the relay answer a plain 200 itself (Call.relayFromHead).
   * `started` is given each attempt as it starts, for a client that leaves before the response's head.
   */
  post(url: URL, path: string, payload: Buffer, timeoutMs: number, streamTo: StreamTo, clientHead?: ClientHead, started?: (call: Abortable) => void): Promise<StreamedResponse> {
    const origin = this.originOf(url);
    const head = Buffer.from(`POST ${path} HTTP/1.1\r\nhost: ${origin.hostHeader}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\ncontent-length: ${payload.length}\r\n\r\n`, 'latin1');
    const request = Buffer.concat([head, payload]);
    return new Promise((resolve, reject) => {
      const attempt = (retried: boolean) => {
        const connection = this.take(origin);
        const call = new Call(connection, timeoutMs, streamTo, resolve, error => {
          // A kept-alive socket the upstream closed just as it was reused: once more, on a fresh one.
          if (!retried && connection.reused && !call.heardBack && !(error instanceof UpstreamTimeout) && !call.aborted) attempt(true);
          else reject(error);
        }, clientHead);
        connection.start(call, request);
        started?.(call);
      };
      attempt(false);
    });
  }

  /** Destroys every connection, idle or busy. */
  close() {
    for (const connection of this.open) connection.socket.destroy();
    this.open.clear();
    this.origins.clear();
  }

  /** @internal A connection whose call finished cleanly and may be reused. */
  release(connection: Connection) {
    const idle = connection.origin.idle;
    if (idle.length >= MAX_IDLE || connection.socket.destroyed) {
      connection.socket.destroy();
      return;
    }
    connection.socket.setTimeout(Math.min(this.keepAliveMs, connection.idleMs ?? Infinity));
    idle.push(connection);
  }

  /** @internal */
  forget(connection: Connection) {
    this.open.delete(connection);
    const idle = connection.origin.idle;
    const at = idle.indexOf(connection);
    if (at >= 0) idle.splice(at, 1);
  }

  private take(origin: Origin): Connection {
    for (let connection = origin.idle.pop(); connection; connection = origin.idle.pop()) {
      if (!connection.socket.destroyed) {
        connection.reused = true;
        return connection;
      }
    }
    const connection = new Connection(origin, this);
    this.open.add(connection);
    return connection;
  }

  private originOf(url: URL): Origin {
    let origin = this.origins.get(url.origin);
    if (!origin) {
      const secure = url.protocol === 'https:';
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      origin = { host, port: Number(url.port) || (secure ? 443 : 80), secure, hostHeader: url.host, idle: [] };
      this.origins.set(url.origin, origin);
    }
    return origin;
  }
}
