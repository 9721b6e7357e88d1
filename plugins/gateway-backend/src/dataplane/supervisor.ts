import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import { fork, type ChildProcess } from 'node:child_process';
import type { StoredKey } from '../database/GatewayStore';
import type { FromDataPlane, PolicyChange, SpendSoFar, ToDataPlane } from './ipc';
import type { PolicyFeed, PolicyListener } from './policyFeed';
import type { UsageWriter } from './usageWriter';

export interface DataPlaneProcessOptions {
  host: string;
  port: number;
  keySecret: string;
  redisUrl?: string;
  logger: LoggerService;
  /** What the process starts from (every key and product) and is kept current by. */
  feed: PolicyFeed;
  /** What each key spent so far (unused with Redis, which keeps it). */
  spend(): Promise<SpendSoFar[]>;
  /** Where the process's usage batches go. */
  usage: UsageWriter;
  /** How long a policy change waits for the process to confirm it. */
  ackTimeoutMs?: number;
}

/** The child's entry; run through Backstage's TypeScript transform when it is a source file. */
function childCommand() {
  const entry = require.resolve('./child');
  const execArgv = /\.tsx?$/.test(entry) ? ['--require', require.resolve('@backstage/cli/config/nodeTransform.cjs')] : [];
  return { entry, execArgv };
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
  url?: string;

  constructor(private readonly options: DataPlaneProcessOptions) {
    options.feed.connect(this);
  }

  get pid() {
    return this.child?.pid;
  }

  /** Starts the process; rejects with the reason if it cannot listen. */
  async start(): Promise<string> {
    const { entry, execArgv } = childCommand();
    const child = fork(entry, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.ready = false;
    const started = Date.now();
    const listening = new Promise<string>((resolve, reject) => {
      child.on('message', (message: FromDataPlane) => {
        switch (message.type) {
          case 'listening':
            this.ready = true;
            this.url = message.url;
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
            break;
          case 'log':
            this.options.logger[message.level](message.message);
            break;
          default:
        }
      });
      child.once('exit', (code, signal) => {
        reject(new Error(`The gateway data plane exited while starting (code ${code}, signal ${signal})`));
        this.exited(child, code, signal, Date.now() - started);
      });
    });
    const { feed } = this.options;
    const version = feed.version;
    const { keys, products } = feed.snapshot();
    const spend = this.options.redisUrl ? [] : await this.options.spend();
    this.post({ type: 'start', host: this.options.host, port: this.options.port, keySecret: this.options.keySecret, redisUrl: this.options.redisUrl, keys, products, spend });
    const url = await listening;
    // Changes made while the process was starting were in no snapshot it got, and were not sent to it.
    if (feed.version !== version) {
      const current = feed.snapshot();
      await Promise.all([this.keys(current.keys), this.products(current.products)]);
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
    if (livedMs > 60_000) this.restartDelayMs = 500;
    this.options.logger.error(`The gateway data plane exited (code ${code}, signal ${signal}); starting it again in ${this.restartDelayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.start().catch(error => this.options.logger.error(String(error)));
    }, this.restartDelayMs);
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, 30_000);
  }

  private post(message: ToDataPlane) {
    this.child?.send(message);
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
      this.acks.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ ...message, id });
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
      if (child.connected) this.post({ type: 'stop' });
      else child.kill('SIGTERM');
    });
  }
}
