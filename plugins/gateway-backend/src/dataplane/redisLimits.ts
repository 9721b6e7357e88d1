import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayPlan } from '@quarterdeck/plugin-gateway-common';
import { createClient } from '@redis/client';
import { GCRA_TOLERANCE_MS, nanos, periods, refusal, type Admission, type Charge, type LimitName, type Limits } from './limits';
import { DeadlineExceeded, withDeadline } from './deadline';

/**
 * The same limits as MemoryLimits, kept in Redis so every replica of the
 * gateway draws on one allowance: each check-and-charge is one Lua script
 * (atomic, one round trip). Per key, a hash with the GCRA arrival time and
 * the token bucket, and one hash per budget day and month (expiring), with
 * tokens and nano-dollars as integers. Numbers are stored with every digit
 * (`%.17g`; Lua's tostring keeps 14, a tenth of a millisecond at today's
 * epoch) so that a burst is admitted exactly as in memory.
 *
 * When Redis cannot be reached or does not answer within a second, a check
 * fails (the data plane answers 503) rather than admitting the call
 * unlimited: the budgets are spend caps, and a gateway that stops counting
 * while its store is away could spend past them on every replica at once.
 */

/** How long a check or a settlement may wait for Redis. */
const REDIS_ANSWER_MS = 1000;
/** How long the first connection, handshake included, may take before the start fails. */
const REDIS_CONNECT_MS = 5000;

const ADMIT = `
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local askT = tonumber(ARGV[4])
local askC = tonumber(ARGV[5])
local dT = tonumber(ARGV[6])
local mT = tonumber(ARGV[7])
local dC = tonumber(ARGV[8])
local mC = tonumber(ARGV[9])
local dayEnds = tonumber(ARGV[10])
local monthEnds = tonumber(ARGV[11])
local st = redis.call('HMGET', KEYS[1], 'tat', 'bucket', 'bucketAt', 'tatFrac')
-- GCRA's arrival time as a whole part and a fraction below one (limits.ts, GCRA_TOLERANCE_MS).
local tat = tonumber(st[1])
local tatFrac = tonumber(st[4]) or 0
if rpm > 0 then
  local interval = 60000 / rpm
  if tat == nil or tat + tatFrac < now then
    tat = math.floor(now)
    tatFrac = now - tat
  end
  local early = (tat - now) + tatFrac - (60000 - interval)
  if early > tonumber(ARGV[12]) then return {0, 'requests', string.format('%.17g', early)} end
  tatFrac = tatFrac + interval
  local carry = math.floor(tatFrac)
  tat = tat + carry
  tatFrac = tatFrac - carry
end
local bucket = tonumber(st[2])
local bucketAt = tonumber(st[3]) or now
if tpm > 0 then
  local rate = tpm / 60000
  if bucket == nil then bucket = tpm end
  -- Each replica's clock: one behind the last writer's refills nothing rather than draining the bucket.
  bucket = math.min(tpm, bucket + math.max(0, now - bucketAt) * rate)
  if askT > tpm then return {0, 'tokens', '60000'} end
  if bucket < askT then return {0, 'tokens', tostring((askT - bucket) / rate)} end
  bucket = bucket - askT
end
local day = redis.call('HMGET', KEYS[2], 'tokens', 'cost')
local month = redis.call('HMGET', KEYS[3], 'tokens', 'cost')
local dayT, dayC = tonumber(day[1]) or 0, tonumber(day[2]) or 0
local monT, monC = tonumber(month[1]) or 0, tonumber(month[2]) or 0
if mT >= 0 and monT + askT > mT then return {0, 'monthly-tokens', tostring(monthEnds - now)} end
if mC >= 0 and monC + askC > mC then return {0, 'monthly-cost', tostring(monthEnds - now)} end
if dT >= 0 and dayT + askT > dT then return {0, 'daily-tokens', tostring(dayEnds - now)} end
if dC >= 0 and dayC + askC > dC then return {0, 'daily-cost', tostring(dayEnds - now)} end
if rpm > 0 then redis.call('HSET', KEYS[1], 'tat', string.format('%.17g', tat), 'tatFrac', string.format('%.17g', tatFrac)) end
if tpm > 0 then redis.call('HSET', KEYS[1], 'bucket', string.format('%.17g', bucket), 'bucketAt', string.format('%.17g', math.max(bucketAt, now))) end
redis.call('PEXPIRE', KEYS[1], 180000)
redis.call('HINCRBY', KEYS[2], 'tokens', askT)
redis.call('HINCRBY', KEYS[2], 'cost', askC)
redis.call('PEXPIRE', KEYS[2], 2 * 86400000)
redis.call('HINCRBY', KEYS[3], 'tokens', askT)
redis.call('HINCRBY', KEYS[3], 'cost', askC)
redis.call('PEXPIRE', KEYS[3], 32 * 86400000)
return {1}
`;

// KEYS[2], KEYS[3]: the budget hashes of the day and month the call was admitted in.
const SETTLE = `
local tpm = tonumber(ARGV[1])
local dT = tonumber(ARGV[2])
local dC = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if tpm > 0 then
  local st = redis.call('HMGET', KEYS[1], 'bucket', 'bucketAt')
  local bucket = tonumber(st[1])
  -- Expired meanwhile (a call longer than the hash's life): full at the end of the call, less what it used beyond its reservation.
  if bucket == nil then
    bucket = tpm
    redis.call('HSET', KEYS[1], 'bucketAt', tostring(now))
  end
  bucket = math.min(tpm, bucket - dT)
  redis.call('HSET', KEYS[1], 'bucket', string.format('%.17g', bucket))
  -- A debt is kept until it is paid back, as memory keeps it, however long that takes.
  local life = 180000
  if bucket < 0 then life = math.max(life, math.ceil(-bucket / (tpm / 60000)) + 60000) end
  if redis.call('PTTL', KEYS[1]) < life then redis.call('PEXPIRE', KEYS[1], life) end
end
for i = 2, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('HINCRBY', KEYS[i], 'tokens', dT) < 0 then redis.call('HSET', KEYS[i], 'tokens', 0) end
    if redis.call('HINCRBY', KEYS[i], 'cost', dC) < 0 then redis.call('HSET', KEYS[i], 'cost', 0) end
  end
end
return 1
`;

type Client = ReturnType<typeof createClient>;

function answered<T>(call: Promise<T>, what: string, ms = REDIS_ANSWER_MS): Promise<T> {
  return withDeadline(call, ms, `Redis did not answer the ${what} within ${ms} ms`);
}

export class RedisLimits implements Limits {
  /** Settlements lost since Redis was last reachable (told once when it is back). */
  private unsettled = 0;
  private down = false;
  private toldUnsettledAt = -Infinity;
  private toldRefusedAt = -Infinity;

  private constructor(private readonly client: Client, private readonly prefix: string, private readonly logger: LoggerService) {}

  static async connect(url: string, logger: LoggerService, prefix = 'quarterdeck:gateway:'): Promise<RedisLimits> {
    let connected = false;
    const client = createClient({
      url,
      // No offline queue: while the connection is down a check fails at once instead of waiting for it.
      disableOfflineQueue: true,
      // The first connection fails the start (the supervisor says why and tries again); a later loss is reconnected.
      socket: { reconnectStrategy: (retries: number) => (connected ? Math.min(retries * 50, 500) : false) },
    });
    const limits = new RedisLimits(client, prefix, logger);
    // Without a listener a dropped connection's 'error' would end the process.
    client.on('error', (error: Error) => limits.lost(error));
    client.on('ready', () => limits.back());
    // The client times the TCP connect only, not the handshake after it: a Redis (or a proxy in front
    // of one) that takes the connection and never answers would hold the start for ever.
    try {
      await answered(client.connect(), 'connection', REDIS_CONNECT_MS);
    } catch (error) {
      if (error instanceof DeadlineExceeded) client.disconnect().catch(() => undefined);
      throw error;
    }
    connected = true;
    return limits;
  }

  private lost(error: Error) {
    if (this.down) return;
    this.down = true;
    this.logger.warn(`Gateway limits: Redis is unreachable (${error.message}); calls are refused with 503 until it is back`);
  }

  private back() {
    if (!this.down) return;
    this.down = false;
    const unsettled = this.unsettled;
    this.unsettled = 0;
    this.logger.info(`Gateway limits: Redis is reachable again${unsettled ? `; ${unsettled} calls' reservations were not settled meanwhile (their tokens come back as the bucket refills, their budgets hold them until the period ends)` : ''}`);
  }

  /** True at most once a minute per kind of warning, so a steady failure is one line a minute, not one a call. */
  private firstThisMinute(kind: 'toldUnsettledAt' | 'toldRefusedAt'): boolean {
    const now = Date.now();
    if (now - this[kind] < 60_000) return false;
    this[kind] = now;
    return true;
  }

  private keys(keyId: string, now: number) {
    const { day, month } = periods(now);
    // One hash tag per key, so a Redis Cluster keeps a key's state on one node.
    const base = `${this.prefix}{${keyId}}`;
    return [base, `${base}:d:${day}`, `${base}:m:${month}`];
  }

  async admit(keyId: string, plan: GatewayPlan, ask: Charge, now: number): Promise<Admission> {
    const p = periods(now);
    const none = (v: number | undefined) => String(v ?? -1);
    const call = this.client.eval(ADMIT, {
      keys: this.keys(keyId, now),
      arguments: [
        String(now), String(plan.requestsPerMinute ?? 0), String(plan.tokensPerMinute ?? 0), String(ask.tokens), String(nanos(ask.cost)),
        none(plan.dailyTokens), none(plan.monthlyTokens), none(plan.dailyCost === undefined ? undefined : nanos(plan.dailyCost)), none(plan.monthlyCost === undefined ? undefined : nanos(plan.monthlyCost)), String(p.dayEnds), String(p.monthEnds),
        String(GCRA_TOLERANCE_MS),
      ],
    }) as Promise<[number, string?, string?]>;
    let reply: [number, string?, string?];
    try {
      reply = await answered(call, 'limits check');
    } catch (error) {
      // A check that admitted the call after it was given up gives its reservation back.
      if (error instanceof DeadlineExceeded) {
        call.then(late => (late[0] === 1 ? this.settle(keyId, plan, ask, { tokens: 0, cost: 0 }, now) : undefined), () => undefined);
      } else if (!this.down && this.firstThisMinute('toldRefusedAt')) {
        // Connected, yet refused (out of memory, a key of another type under our prefix, a script
        // error): the 503s that follow would otherwise have no cause anywhere an operator looks.
        this.logger.warn(`Gateway limits: Redis refused a limits check (${(error as Error).message}); such calls are refused with 503`);
      }
      throw error;
    }
    if (reply[0] === 1) return { ok: true };
    return refusal(reply[1] as LimitName, plan, Number(reply[2]), ask);
  }

  /** Never fails the call it settles: a settlement Redis did not take is counted and told when Redis is back. */
  async settle(keyId: string, plan: GatewayPlan, reserved: Charge, used: Charge, admittedAt: number): Promise<void> {
    try {
      await answered(this.client.eval(SETTLE, {
        keys: this.keys(keyId, admittedAt),
        arguments: [String(plan.tokensPerMinute ?? 0), String(used.tokens - reserved.tokens), String(nanos(used.cost) - nanos(reserved.cost)), String(Date.now())],
      }), 'settlement');
    } catch (error) {
      this.unsettled++;
      // While Redis is down this is told when it is back; otherwise (slow, or refusing) once a minute at most.
      if (!this.down && this.firstThisMinute('toldUnsettledAt')) {
        this.logger.warn(`Gateway limits: a reservation was not settled in Redis (${(error as Error).message})`);
      }
    }
  }

  async close() {
    await this.client.quit();
  }
}
