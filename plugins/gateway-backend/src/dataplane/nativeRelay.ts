import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** Why the relay gave a stream back (the numbers of native/sse_relay.c). */
export enum RelayBack {
  /** Bytes it does not forward as they are (`rest`): the JavaScript path carries on with them. */
  Data = 0,
  /** The upstream sent nothing for the call's timeout. */
  Timeout = 1,
  /** A write to the client failed (`errno`). */
  ClientFailed = 2,
  /** The client's socket is full: `out` is what it could not take yet, already framed. */
  ClientFull = 3,
  /** Not a hand-back: the relay answered the client with its head and goes on (`rest` is the upstream's head). */
  Head = 4,
  /**
   * The body is whole: the relay wrote its last chunk to the client (or left
   * it in `out`, with what the client's socket could not take yet). Only with
   * a usage mode other than HandBack.
   */
  End = 5,
  /**
   * The answer to a cancel that came while the relay was reading or writing
   * for the stream (RelayCancel.later): what it held (`kept`, `usage`), once
   * that read or write is done. A body that read or write ended comes as End.
   */
  Cancelled = 6,
}

/**
 * What the relay does with the chunk that carries the usage event, and then
 * with the body's last chunk (the numbers of native/sse_relay.c).
 */
export enum RelayUsage {
  /** Hands the stream back at the usage event: JavaScript reads the rest. */
  HandBack = 0,
  /** Forwards the usage event (the client asked for usage), gives its data in `usage`, and ends the body itself. */
  Forward = 1,
  /** As Forward, but the usage-only event is removed, as SseUsageFilter removes it when the client did not ask. */
  Drop = 2,
}

export interface RelayHandback {
  reason: RelayBack;
  errno: number;
  /** Framed bytes still to write to the client, before anything in `rest`. */
  out: Buffer;
  /** Upstream bytes the relay read and did not forward. */
  rest: Buffer;
  /** The events it forwarded (their data, up to 1 MiB), for a token estimate; empty at End or Cancelled when `usage` has both counts. */
  kept: Buffer;
  /** The data of the last usage event it read (JSON, for SseUsageFilter.usageFrom), or empty. */
  usage: Buffer;
}

/** What a cancel found (NativeRelay.cancel). */
export interface RelayCancel {
  /** The client has the relay's head (or a write of it was under way), whether or not its notice has come. */
  headSent: boolean;
  /**
   * The relay's message for the stream is still to come, to its owner: it had
   * already handed the stream back (that hand-back, End with the body whole
   * among them, and any head notice before it, are on their way), or it was
   * reading or writing (Cancelled, or End). `kept` and `usage` are then empty:
   * they come with the message.
   */
  later: boolean;
  /** As RelayHandback's: the events the relay forwarded (empty when its usage has both counts) and the usage event it read. */
  kept: Buffer;
  usage: Buffer;
}

/**
 * The client's response head for the relay to answer a plain upstream `200`
 * with, split where the upstream's content type goes.
 */
export interface RelayHead {
  before: Buffer;
  after: Buffer;
}

/**
 * Whom the relay tells about a stream it has: an object with methods rather
 * than callbacks, as it is held for the stream's whole length and a closure
 * would be one more object for every young collection to copy.
 */
export interface RelayOwner {
  /** The relay gave the stream back, or ended it (RelayBack). */
  relayedBack(handback: RelayHandback): void;
  /** Started with a head: the relay wrote it (and maybe events after it); `upstreamHead` is the upstream's, for what JavaScript reads of it. */
  relayedHead?(upstreamHead: Buffer): void;
}

/**
 * The native event path for streamed calls (native/sse_relay.c): given a
 * plain upstream socket that JavaScript has stopped reading and the client's
 * socket, it forwards every chunk the JavaScript path would forward as it
 * came, and hands the stream back for anything else. Given a `head`, it
 * starts before the upstream's response head and answers the client itself
 * when that head is a plain 200 (anything else comes back unanswered).
 */
export interface NativeRelay {
  /** Takes over a stream; undefined when it cannot (the JavaScript path goes on). */
  start(upstreamFd: number, clientFd: number, timeoutMs: number, usage: RelayUsage, owner: RelayOwner, head?: RelayHead): number | undefined;
  /**
   * Takes a stream back at once; after it returns the relay writes nothing
   * more to its client (but a write already under way). What the relay held
   * for the stream comes back, now or (`later`) to the owner's relayedBack:
   * the events it forwarded and the usage event it read are the stream's to
   * count, whatever ended it.
   */
  cancel(id: number): RelayCancel;
}

/** A socket's descriptor: Node has no public accessor; `_handle.fd` is what it has had for years. */
export function descriptorOf(socket: net.Socket): number | undefined {
  const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Node's own key for a socket's idle timer (`kTimeout` in net.js), found on first use. */
let timerKey: symbol | undefined | null;

/**
 * Stops a socket's idle timer and lets go of it. `setTimeout(0)` clears the
 * timer but the socket keeps the Timeout (and the function bound for it)
 * until the next `setTimeout`; a relayed stream's socket would keep it for
 * the stream's whole length, two more objects for each young collection to
 * copy. Node's sockets start with `null` there, and every use of it checks.
 */
export function stopSocketTimer(socket: net.Socket) {
  socket.setTimeout(0);
  if (timerKey === undefined) timerKey = Object.getOwnPropertySymbols(socket).find(key => key.description === 'timeout') ?? null;
  if (timerKey) (socket as unknown as Record<symbol, unknown>)[timerKey] = null;
}

const EMPTY = Buffer.alloc(0);

interface Addon {
  /** The parts of a message that are empty come as undefined. */
  init(callback: (id: number, reason: number, errno: number, out?: Buffer, rest?: Buffer, kept?: Buffer, usage?: Buffer) => void): void;
  start(upstreamFd: number, clientFd: number, timeoutMs: number, usage: RelayUsage, headBefore?: Buffer, headAfter?: Buffer): number;
  /**
   * Bits (CANCEL_*): 0, no longer had it (its message is on the way); 1, had it; 2, and the client has the relay's head;
   * 4, it was reading or writing (its message comes after). With what it held, released at once: [bits, kept, usage].
   */
  cancel(id: number): number | [number, Buffer | undefined, Buffer | undefined];
}

const CANCEL_HEAD_SENT = 2;
const CANCEL_LATER = 4;

/** Loads a built relay (buildNativeRelay) into this process and starts its thread. */
export function loadNativeRelay(file: string): NativeRelay {
  const addon = require(file) as Addon;
  const owners = new Map<number, RelayOwner>();
  addon.init((id, reason, errno, out = EMPTY, rest = EMPTY, kept = EMPTY, usage = EMPTY) => {
    const owner = owners.get(id);
    // A stream cancelled with nothing more to come (a head notice that was on its way): its owner knew of the head from cancel.
    if (!owner) return;
    if (reason === RelayBack.Head) {
      owner.relayedHead?.(rest);
      return;
    }
    owners.delete(id);
    owner.relayedBack({ reason, errno, out, rest, kept, usage });
  });
  return {
    start(upstreamFd, clientFd, timeoutMs, usage, owner, head) {
      const id = head ? addon.start(upstreamFd, clientFd, timeoutMs, usage, head.before, head.after) : addon.start(upstreamFd, clientFd, timeoutMs, usage);
      if (id === 0) return undefined;
      owners.set(id, owner);
      return id;
    },
    cancel(id) {
      const result = addon.cancel(id);
      const [bits, kept = EMPTY, usage = EMPTY] = typeof result === 'number' ? [result] : result;
      // Had it, or not: when its message is still to come (a hand-back on its way, or a read or write under way), the owner is told.
      const later = bits === 0 || (bits & CANCEL_LATER) !== 0;
      if (!later) owners.delete(id);
      return { headSent: (bits & CANCEL_HEAD_SENT) !== 0, later, kept, usage };
    },
  };
}

const SOURCE = 'sse_relay.c';

/**
 * Compiles native/sse_relay.c with the machine's C compiler (`cc`, or `CC`)
 * against Node-API's headers, once per source: the result is cached under
 * ~/.cache/quarterdeck/native/<hash of source and platform>/. Node-API is
 * stable across Node versions, so one build serves every Node this machine
 * runs. Resolves to undefined, with the reason, where there is no compiler
 * or the build fails: the data plane then forwards streams in JavaScript.
 * `defines` (tests only: `SSE_RELAY_TEST_HOOKS`) are part of the cache key.
 */
export async function buildNativeRelay(defines: readonly string[] = []): Promise<{ file?: string; reason?: string }> {
  if (process.platform !== 'linux') return { reason: `the native relay uses epoll (Linux); this is ${process.platform}` };
  try {
    const source = path.join(path.dirname(require.resolve('@quarterdeck/plugin-gateway-backend/package.json')), 'native', SOURCE);
    const includeDir = (require('node-api-headers') as { include_dir: string }).include_dir;
    const code = fs.readFileSync(source);
    const hash = createHash('sha256').update(code).update(`${process.platform}-${process.arch}`).update(defines.map(d => ` -D${d}`).join('')).digest('hex').slice(0, 16);
    const dir = path.join(os.homedir(), '.cache', 'quarterdeck', 'native', hash);
    const file = path.join(dir, 'sse_relay.node');
    if (fs.existsSync(file)) return { file };
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Built beside its final name and renamed: a process that finds the file finds it whole.
    const partial = `${file}.${process.pid}.tmp`;
    await promisify(execFile)(process.env.CC || 'cc', ['-O2', '-fPIC', '-shared', '-pthread', ...defines.map(d => `-D${d}`), '-I', includeDir, '-o', partial, source], { timeout: 60_000 });
    fs.renameSync(partial, file);
    return { file };
  } catch (error) {
    const message = (error as { code?: string }).code === 'ENOENT' ? 'no C compiler (cc) on this machine' : String((error as Error).message ?? error).split('\n')[0];
    return { reason: message };
  }
}
