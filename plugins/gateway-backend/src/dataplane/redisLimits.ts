import type { GatewayPlan } from '@quarterdeck/plugin-gateway-common';
import { createClient } from '@redis/client';
import { nanos, periods, refusal, type Admission, type Charge, type LimitName, type Limits } from './limits';

/**
 * The same limits as MemoryLimits, kept in Redis so every replica of the
 * gateway draws on one allowance: each check-and-charge is one Lua script
 * (atomic, one round trip). Per key, a hash with the GCRA arrival time and
 * the token bucket, and one hash per budget day and month (expiring), with
 * tokens and nano-dollars as integers.
 */

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
local st = redis.call('HMGET', KEYS[1], 'tat', 'bucket', 'bucketAt')
local tat = tonumber(st[1]) or now
if rpm > 0 then
  local interval = 60000 / rpm
  tat = math.max(tat, now)
  local allowAt = tat - (60000 - interval)
  if now < allowAt then return {0, 'requests', tostring(allowAt - now)} end
  tat = tat + interval
end
local bucket = tonumber(st[2])
local bucketAt = tonumber(st[3]) or now
if tpm > 0 then
  local rate = tpm / 60000
  if bucket == nil then bucket = tpm end
  bucket = math.min(tpm, bucket + (now - bucketAt) * rate)
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
redis.call('HSET', KEYS[1], 'tat', tostring(tat))
if tpm > 0 then redis.call('HSET', KEYS[1], 'bucket', tostring(bucket), 'bucketAt', tostring(now)) end
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
  redis.call('HSET', KEYS[1], 'bucket', tostring(bucket))
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

export class RedisLimits implements Limits {
  private constructor(private readonly client: Client, private readonly prefix: string) {}

  static async connect(url: string, prefix = 'quarterdeck:gateway:'): Promise<RedisLimits> {
    const client = createClient({ url });
    await client.connect();
    return new RedisLimits(client, prefix);
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
    const reply = (await this.client.eval(ADMIT, {
      keys: this.keys(keyId, now),
      arguments: [
        String(now), String(plan.requestsPerMinute ?? 0), String(plan.tokensPerMinute ?? 0), String(ask.tokens), String(nanos(ask.cost)),
        none(plan.dailyTokens), none(plan.monthlyTokens), none(plan.dailyCost === undefined ? undefined : nanos(plan.dailyCost)), none(plan.monthlyCost === undefined ? undefined : nanos(plan.monthlyCost)), String(p.dayEnds), String(p.monthEnds),
      ],
    })) as [number, string?, string?];
    if (reply[0] === 1) return { ok: true };
    return refusal(reply[1] as LimitName, plan, Number(reply[2]), ask);
  }

  async settle(keyId: string, plan: GatewayPlan, reserved: Charge, used: Charge, admittedAt: number): Promise<void> {
    await this.client.eval(SETTLE, {
      keys: this.keys(keyId, admittedAt),
      arguments: [String(plan.tokensPerMinute ?? 0), String(used.tokens - reserved.tokens), String(nanos(used.cost) - nanos(reserved.cost)), String(Date.now())],
    });
  }

  async close() {
    await this.client.quit();
  }
}
