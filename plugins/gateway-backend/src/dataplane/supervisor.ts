import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayProduct, GatewayStatus } from '@quarterdeck/plugin-gateway-common';
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { StoredKey } from '../database/GatewayStore';
import { bundleChild, writeChildBundle } from './childBundle';
import { DeadlineExceeded, withDeadline } from './deadline';
import { buildNativeRelay } from './nativeRelay';
import type { FromDataPlane, PolicyChange, SpendSoFar, ToDataPlane } from './ipc';
import type { PolicyFeed, PolicyListener } from './policyFeed';
import type { UsageWriter } from './usageWriter';

/** How long a (re)start waits for the portal's queued usage to be written before it reads the spend. */
const DRAIN_BEFORE_START_MS = 5_000;

/**
 * How long a forked process has to listen. Shorter than KEY_POLL_OVERLAP_MS, for which the feed
 * keeps what it drops: a key dropped after the snapshot is then still there for the catch-up.
 */
const START_DEADLINE_MS = 20_000;

export interface DataPlaneProcessOptions {
  host: string;
  port: number;
  keySecret: string;
  /** How long a revoked or expired key is remembered (`gateway.deadKeyRetentionDays`, default 30 days). */
  deadKeyRetentionMs?: number;
  redisUrl?: string;
  /** `gateway.allowedUpstreamHosts`, which the data plane checks again before each call. */
  allowedUpstreamHosts: string[];
  logger: LoggerService;
  /** What the process starts from (every key and product) and is kept current by. */
  feed: PolicyFeed;
  /** What each key spent so far (unused with Redis, which keeps it). */
  spend(): Promise<SpendSoFar[]>;
  /** Where the process's usage batches go. */
  usage: UsageWriter;
  /** How long a policy change waits for the process to confirm it. */
  ackTimeoutMs?: number;
  /** Forward streamed events with the native relay when it can be built (`gateway.nativeStreamRelay`, default true). */
  nativeStreamRelay?: boolean;
  /** Collect garbage on the process's JavaScript thread only (`gateway.singleThreadedGc`, default true). */
  singleThreadedGc?: boolean;
  /** How long a forked process has to listen before it is killed and tried again (START_DEADLINE_MS). */
  startDeadlineMs?: number;
  /** The process's usage queue's bound (UsageWriter's default when absent; tests only). */
  usageQueueMax?: number;
}

let relayBuild: Promise<{ file?: string; reason?: string }> | undefined;

/** The native relay's file, built once per portal process; without one, why (said once). */
function nativeRelayFile(logger: LoggerService): Promise<{ file?: string; reason?: string }> {
  relayBuild ??= buildNativeRelay().then(built => {
    if (built.file) logger.info(`Gateway streams: events forwarded by the native relay (${built.file})`);
    else logger.warn(`Gateway streams: events forwarded in JavaScript, the native relay could not be built: ${built.reason}`);
    return built;
  });
  return relayBuild;
}

/** What the admin page shows of the data plane process (no secret in it). */
export type DataPlaneStatus = GatewayStatus['dataPlane'];

/**
 * How to run the child. From TypeScript sources its code is bundled to one
 * JavaScript file (childBundle.ts says why); should that fail, it runs
 * through Backstage's TypeScript transform, as the backend itself does.
 */
async function childCommand(logger: LoggerService): Promise<{ entry: string; execArgv: string[]; bundle?: Uint8Array }> {
  const entry = require.resolve('./child');
  if (!/\.tsx?$/.test(entry)) return { entry, execArgv: [] };
  try {
    return { entry, execArgv: [], bundle: await bundleChild(entry) };
  } catch (error) {
    logger.warn(`Could not bundle the gateway data plane (${error}); running it through the TypeScript transform instead`);
    return { entry, execArgv: ['--require', require.resolve('@backstage/cli/config/nodeTransform.cjs')] };
  }
}

/**
 * Runs the data plane in a process of its own and keeps it fed: the policy
 * snapshot at start, each change as it happens (acknowledged before the
 * control plane answers, so a revoked key is refused as soon as the revoke
 * returns), usage batches back to the portal's writer. If the process dies
 * it is started again from a fresh snapshot (budgets re-seeded from the
 * usage written so far), after a backoff that grows while it keeps dying.
 */
export class DataPlaneProcess implements PolicyListener {
  private child?: ChildProcess;
  private ready = false;
  private stopping = false;
  private nextId = 1;
  private readonly acks = new Map<number, () => void>();
  private restartDelayMs = 500;
  private restartTimer?: NodeJS.Timeout;
  private since?: Date;
  private restarts = 0;
  private lastExit?: DataPlaneStatus['lastExit'];
  private streams: DataPlaneStatus['streams'] = { relay: 'javascript', reason: 'not started yet' };
  private readonly host = os.hostname();
  /** Usage rows dropped by processes that have ended, and what the one running has said it dropped. */
  private usageDroppedByEnded = 0;
  private usageDroppedByCurrent = () => 0;
  url?: string;

  constructor(private readonly options: DataPlaneProcessOptions) {
    options.feed.connect(this);
  }

  get pid() {
    return this.child?.pid;
  }

  /** The usage rows the data plane processes dropped (their queue full) since the portal started: never written. */
  get usageRowsDropped() {
    return this.usageDroppedByEnded + this.usageDroppedByCurrent();
  }

  status(): DataPlaneStatus {
    const running = Boolean(this.child && this.ready);
    return {
      running,
      host: this.host,
      url: this.url,
      pid: running ? this.child!.pid : undefined,
      since: running ? this.since?.toISOString() : undefined,
      restarts: this.restarts,
      lastExit: this.lastExit,
      streams: this.streams,
    };
  }

  /** Starts the process; rejects with the reason if it cannot listen. */
  async start(): Promise<string> {
    const { entry, execArgv, bundle } = await childCommand(this.options.logger);
    const built = this.options.nativeStreamRelay === false ? { reason: 'turned off (gateway.nativeStreamRelay: false)' } : await nativeRelayFile(this.options.logger);
    const nativeRelay = built.file;
    if (this.stopping) throw new Error('The gateway data plane was stopped while starting');
    // What the process starts from, read before it is forked: a read that fails leaves no process behind.
    const { feed } = this.options;
    // Budgets in memory start from the usage written so far: what the portal still holds is written
    // first, for 5 s at most (a database that does not answer must not keep the gateway's port closed;
    // budgets may then start a batch short). With Redis the budgets are there, and nothing waits.
    let spend: SpendSoFar[] = [];
    if (!this.options.redisUrl) {
      await withDeadline(this.options.usage.drain(), DRAIN_BEFORE_START_MS, 'usage not drained').catch(error => {
        if (!(error instanceof DeadlineExceeded)) throw error;
      });
      spend = await this.options.spend();
    }
    if (this.stopping) throw new Error('The gateway data plane was stopped while starting');
    // The snapshot is taken last, just before the fork: what the feed drops from here on (a key
    // revoked with a retention of 0) is still among its recently forgotten when the process listens.
    const version = feed.version;
    const { keys, products } = feed.snapshot();
    const written = bundle && writeChildBundle(bundle);
    // The old generation grows to at most twice what survived the last full collection (peak RSS
    // under saturation), and V8's GC helper threads would share the machine's few cores with the
    // relay and the upstreams (the first byte's tail): docs/gateway.md, Decisions.
    const v8 = ['--heap-growing-percent=100', ...(this.options.singleThreadedGc === false ? [] : ['--single-threaded-gc'])];
    const child = fork(written ? written.file : entry, [], { execArgv: [...v8, ...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (written) {
      // Its first message comes after its code has loaded: the file is no longer needed.
      child.once('message', written.remove);
      child.once('exit', written.remove);
    }
    this.child = child;
    this.ready = false;
    const started = Date.now();
    // Set when the deadline passed: a 'listening' already on its way from the killed process is not believed.
    let givenUp = false;
    let usageDropped = 0;
    this.usageDroppedByCurrent = () => usageDropped;
    const listening = new Promise<string>((resolve, reject) => {
      child.on('message', (message: FromDataPlane) => {
        switch (message.type) {
          case 'listening':
            if (givenUp) break;
            this.ready = true;
            this.since = new Date();
            this.url = message.url;
            // From the process itself: a relay that was built can still fail to load there.
            this.streams = message.streams;
            resolve(message.url);
            break;
          case 'failed':
            reject(new Error(`The gateway data plane could not start: ${message.message}`));
            break;
          case 'ack':
            this.acks.get(message.id)?.();
            this.acks.delete(message.id);
            break;
          case 'usage':
            for (const row of message.rows) this.options.usage.record({ ...row, at: new Date(row.at) });
            usageDropped = message.dropped;
            break;
          case 'log':
            this.options.logger[message.level](message.message);
            break;
          default:
        }
      });
      child.once('exit', (code, signal) => {
        this.usageDroppedByEnded += usageDropped;
        usageDropped = 0;
        reject(new Error(`The gateway data plane exited while starting (code ${code}, signal ${signal})`));
        this.exited(child, code, signal, Date.now() - started);
      });
    });
    // A process that neither listens nor fails (a Redis that takes the connection and never answers)
    // would hold the port closed with no retry; it is killed, and its exit starts the next attempt.
    const deadlineMs = this.options.startDeadlineMs ?? START_DEADLINE_MS;
    this.post({ type: 'start', host: this.options.host, port: this.options.port, keySecret: this.options.keySecret, deadKeyRetentionMs: this.options.deadKeyRetentionMs, redisUrl: this.options.redisUrl, allowedUpstreamHosts: this.options.allowedUpstreamHosts, nativeRelay, nativeRelayReason: built.reason, keys, products, spend, usageQueueMax: this.options.usageQueueMax });
    const url = await withDeadline(listening, deadlineMs, `The gateway data plane did not start listening within ${deadlineMs} ms`).catch(error => {
      if (error instanceof DeadlineExceeded) {
        givenUp = true;
        child.kill('SIGKILL');
      }
      throw error;
    });
    // Changes made while the process was starting were in no snapshot it got, and were not sent to it.
    if (feed.version !== version) {
      const current = feed.snapshot();
      await Promise.all([this.keys([...current.keys, ...feed.recentlyForgotten()]), this.products(current.products)]);
    }
    return url;
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, livedMs: number) {
    if (this.child !== child) return;
    this.child = undefined;
    this.ready = false;
    for (const ack of this.acks.values()) ack();
    this.acks.clear();
    // Exit code 0 is a stop the process was asked for (the portal, or SIGTERM to it alone).
    if (this.stopping || !this.url || code === 0) return;
    this.restarts++;
    this.lastExit = { at: new Date().toISOString(), code, signal };
    if (livedMs > 60_000) this.restartDelayMs = 500;
    this.options.logger.error(`The gateway data plane exited (code ${code}, signal ${signal}); starting it again in ${this.restartDelayMs} ms`);
    this.restartLater();
  }

  /**
   * Starts the process again after the backoff. An attempt that fails (the usage table cannot be
   * read, the process never listens) is tried again, as a death is: a process it forked is killed,
   * and its exit schedules the next attempt; without one, this does.
   */
  private restartLater() {
    if (this.stopping || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start().catch(error => {
        if (this.stopping) return;
        this.options.logger.error(`${error}; trying again in ${this.restartDelayMs} ms`);
        if (this.child && !this.ready) this.child.kill('SIGKILL');
        else if (!this.child) this.restartLater();
      });
    }, this.restartDelayMs);
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, 30_000);
  }

  /**
   * Sends a message; false if the process is gone. A process that has just
   * died can still be `this.child` until its exit is handled, and sending on
   * its closed channel must not throw: it starts again from the snapshot.
   */
  private post(message: ToDataPlane, failed: () => void = () => undefined) {
    const child = this.child;
    if (!child?.connected) {
      failed();
      return;
    }
    child.send(message, error => {
      if (error) failed();
    });
  }

  /** Sends a change and waits until the process holds it (or it is gone: it will start from the snapshot). */
  private change(message: PolicyChange): Promise<void> {
    if (!this.child || !this.ready) return Promise.resolve();
    const id = this.nextId++;
    return new Promise(resolve => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        this.options.logger.warn(`The gateway data plane did not confirm a ${message.type} change within ${this.options.ackTimeoutMs ?? 5000} ms`);
        resolve();
      }, this.options.ackTimeoutMs ?? 5000);
      const done = () => {
        clearTimeout(timer);
        this.acks.delete(id);
        resolve();
      };
      this.acks.set(id, done);
      this.post({ ...message, id }, done);
    });
  }

  keys(keys: StoredKey[]) {
    return this.change({ type: 'keys', keys });
  }

  products(products: GatewayProduct[]) {
    return this.change({ type: 'products', products });
  }

  /** Stops the process after it has closed its port and sent its last usage. */
  async stop(timeoutMs = 10_000) {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'stop' }, () => child.kill('SIGTERM'));
    });
  }
}
