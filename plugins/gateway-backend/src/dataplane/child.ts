/*
 * The gateway's data plane process, forked by the portal (supervisor.ts).
 * It holds keys, products and limits in memory, answers on its own port and
 * sends usage back in batches; the portal's database is never touched here.
 * Its own process keeps its latency and memory apart from Backstage's (the
 * catalog, the reconcilers and their garbage collections).
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { UsageRecord } from '../database/GatewayStore';
import type { FromDataPlane, ToDataPlane } from './ipc';
import { KEY_SWEEP_MS, KeyCache, spendByGrant } from './keyCache';
import { MemoryLimits, type Limits } from './limits';
import { loadNativeRelay, type NativeRelay } from './nativeRelay';
import { ProductCache } from './productCache';
import { RedisLimits } from './redisLimits';
import { startDataPlane, type RunningDataPlane } from './server';
import { UsageWriter } from './usageWriter';

// V8's own heap growth, not a fixed cap: a cap of 1.5× what survived the last
// full collection (kept here until 2026-12-03) made 1,000 streams, whose calls
// all outlive a young collection, run a full collection every ~0.8 s with
// 10–47 ms pauses, and cost 0.2 of a core (docs/gateway.md, Decisions).

function send(message: FromDataPlane): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send || !process.connected) {
      reject(new Error('the portal is gone'));
      return;
    }
    process.send(message, undefined, undefined, error => (error ? reject(error) : resolve()));
  });
}

const logger: LoggerService = {
  error: message => void send({ type: 'log', level: 'error', message }).catch(() => undefined),
  warn: message => void send({ type: 'log', level: 'warn', message }).catch(() => undefined),
  info: message => void send({ type: 'log', level: 'info', message }).catch(() => undefined),
  debug: message => void send({ type: 'log', level: 'debug', message }).catch(() => undefined),
  child: () => logger,
};

let running: { dataPlane: RunningDataPlane; usage: UsageWriter; limits: Limits } | undefined;
let keys: KeyCache | undefined;
const products = new ProductCache();
let stopping = false;

async function start(message: Extract<ToDataPlane, { type: 'start' }>) {
  const keyCache = new KeyCache({ keySecret: message.keySecret, deadKeyRetentionMs: message.deadKeyRetentionMs });
  keys = keyCache;
  for (const key of message.keys) keyCache.apply(key);
  products.replace(message.products);
  let limits: Limits;
  if (message.redisUrl) {
    limits = await RedisLimits.connect(message.redisUrl, logger);
  } else {
    const memory = new MemoryLimits();
    const now = Date.now();
    // Only for keys the cache holds: a key it has forgotten opens nothing, and its state would never be swept.
    for (const [grant, spent] of spendByGrant(message.keys, message.spend)) memory.seed(grant, spent, now);
    limits = memory;
  }
  // Batches of usage go to the portal, which writes them to the database. Small
  // and frequent: serialising one is then a fraction of a millisecond, never a
  // pause that every call in flight would wait behind.
  const usage: UsageWriter = new UsageWriter(
    { insertUsage: (rows: UsageRecord[]) => send({ type: 'usage', rows: rows.map(row => ({ ...row, at: row.at.getTime() })), dropped: usage.dropped }) },
    { logger, intervalMs: 200, batchSize: 100, maxQueued: message.usageQueueMax },
  );
  usage.start();
  let nativeRelay: NativeRelay | undefined;
  let streams: { relay: 'native' | 'javascript'; reason?: string } = { relay: 'javascript', reason: message.nativeRelayReason ?? 'no native relay was given' };
  if (message.nativeRelay) {
    try {
      nativeRelay = loadNativeRelay(message.nativeRelay);
      streams = { relay: 'native' };
    } catch (error) {
      logger.warn(`Gateway streams: events forwarded in JavaScript, the native relay did not load: ${error}`);
      streams = { relay: 'javascript', reason: `the native relay did not load: ${String((error as Error).message ?? error).split('\n')[0]}` };
    }
  }
  const dataPlane = await startDataPlane({ host: message.host, port: message.port, keys, products, limits, usage, logger, nativeRelay, allowedUpstreamHosts: message.allowedUpstreamHosts });
  running = { dataPlane, usage, limits };
  setInterval(() => limits.forget?.(keyCache.forgetDead()), KEY_SWEEP_MS).unref();
  await send({ type: 'listening', url: dataPlane.url, streams });
}

async function stop() {
  if (stopping) return;
  stopping = true;
  if (running) {
    await running.dataPlane.close();
    await running.usage.stop().catch(() => undefined);
    await running.limits.close?.();
  }
  await send({ type: 'stopped' }).catch(() => undefined);
  process.exit(0);
}

process.on('message', (message: ToDataPlane) => {
  switch (message.type) {
    case 'start':
      start(message).catch(error => {
        send({ type: 'failed', message: String(error?.message ?? error) }).finally(() => process.exit(1));
      });
      break;
    case 'keys': {
      const dropped = message.keys.filter(key => keys?.apply(key));
      if (dropped.length > 0 && keys) running?.limits.forget?.(keys.grantsLetGo(dropped));
      void send({ type: 'ack', id: message.id }).catch(() => undefined);
      break;
    }
    case 'products':
      products.replace(message.products);
      void send({ type: 'ack', id: message.id }).catch(() => undefined);
      break;
    case 'stop':
      void stop();
      break;
    default:
  }
});
// Ctrl-C reaches the whole process group: the portal decides when this process stops.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => void stop());
// The portal went away (a crash, SIGKILL): stop serving rather than serve stale policy.
process.on('disconnect', () => void stop());
