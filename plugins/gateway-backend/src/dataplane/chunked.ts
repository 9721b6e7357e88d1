import type { ServerResponse } from 'node:http';
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
