import type {
  GatewayKeyRequest,
  GatewayPlan,
  GatewayProduct,
  GatewayProductSpec,
  KeyRequestStatus,
} from '@quarterdeck/plugin-gateway-common';
import { modelsInPlan } from '@quarterdeck/plugin-gateway-common';
import { ConflictError, NotFoundError } from '@backstage/errors';
import type { Knex } from 'knex';
import { createHash } from 'node:crypto';
import { insertAuditEvents, type NewGatewayAuditEvent } from './AuditStore';
import { insertOutboxMessages, type OutboxMessage } from './OutboxStore';
import { BUCKET_COLUMNS, DAY_MS, rollUp, type HourlyRow } from '../usage/rollup';
import type { StoredHourlyRow } from '../usage/summary';

/** A model's calls over a window, as a rollout's analysis reads them: the quantiles null when there were none. */
export interface ModelFigures {
  requests: number;
  /** 5xx and 429: what the upstream version failed, not what the client did wrong. */
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** A key as stored: the HMAC of its secret, never the secret. */
export interface StoredKey {
  id: string;
  publicId: string;
  secretHash: string;
  componentRef: string;
  productId: string;
  plan: string;
  models?: string[];
  status: 'active' | 'revoked';
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  /** When its owners were told it expires soon (or, approved with little time left, told its expiry by the approval). */
  expiryWarnedAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  replacedBy?: string;
  updatedAt: string;
  requestId?: string;
}

export interface UsageRecord {
  at: Date;
  keyId?: string;
  consumerRef?: string;
  productId: string;
  model?: string;
  upstream?: string;
  status: number;
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
  cost: number;
}

/** What a usage batch's write did: rows added, and rows the database refused for their data (dropped). */
export interface UsageWrite {
  written: number;
  refused: number;
}

/** A dimension the whole gateway's usage is summed by. */
export type UsageDimension = 'time' | 'product' | 'consumer' | 'model';

/** Whose keys: a component's, a product's, or a component's for one product. */
export type KeyQuery = { componentRef?: string; productId?: string };

/**
 * What a product write expects to find, checked in its transaction: no
 * product (a create), or one (an update), at the version that was read for a
 * read-modify-write. Otherwise the write is a ConflictError.
 */
export type ProductPrecondition = { exists: false } | { exists: true; updatedAt?: string };

/**
 * The gateway's policy, key requests, keys and usage. Each change takes the
 * audit events that record it and writes them in its own transaction.
 */
/**
 * Each change's `audit` rows and what it `tell`s others (its events and
 * notifications, OutboxStore.ts) are written in the change's transaction:
 * they commit with it or not at all.
 */
export interface GatewayStore {
  /**
   * Creates or replaces a product with its plans. `audit` is given the
   * product as it was under the write's lock (undefined for a creation), so
   * the trail's changes are against what this write replaced, not what the
   * caller read before.
   */
  putProduct(product: { id: string; entityRef: string; spec: GatewayProductSpec; actor: string; now: Date; expect: ProductPrecondition; audit: (previous: GatewayProduct | undefined) => NewGatewayAuditEvent[] }): Promise<GatewayProduct>;
  getProduct(id: string): Promise<GatewayProduct | undefined>;
  getProductByEntity(entityRef: string): Promise<GatewayProduct | undefined>;
  listProducts(): Promise<GatewayProduct[]>;
  /**
   * Removes a product with its plans and the keys and requests that ended
   * (the audit trail and the usage rows stay). A ConflictError, leaving it
   * as it was, when it changed after `expectedUpdatedAt` or is in use: keys
   * not yet revoked or expired, requests waiting for review. False when there
   * is none.
   */
  deleteProduct(removal: { id: string; now: Date; expectedUpdatedAt?: string; audit: (removed: GatewayProduct) => NewGatewayAuditEvent[] }): Promise<boolean>;
  /**
   * When a product of this id was last removed through the API, and from which
   * API, if ever: an example product is then not seeded again, and the id is
   * not given to another API (the usage kept under it would show as theirs).
   */
  lastRemoval(id: string): Promise<{ at: string; entityRef?: string } | undefined>;
  /**
   * The ids an API's usage is kept under: its product's and those of its
   * products removed before (the audit trail remembers them), so its usage
   * outlives a removal.
   */
  productIdsOfApi(entityRef: string): Promise<string[]>;

  /** A ConflictError when the component already has a pending request for the product (a unique index says so). */
  createKeyRequest(request: Omit<GatewayKeyRequest, 'reviewedBy' | 'reviewedAt' | 'reviewReason' | 'keyId'>, audit: NewGatewayAuditEvent[], tell?: OutboxMessage[]): Promise<GatewayKeyRequest>;
  getKeyRequest(id: string): Promise<GatewayKeyRequest | undefined>;
  /** Newest first, or oldest first (a review queue: the next to expire on top). */
  listKeyRequests(query: { apiRef?: string; componentRef?: string; status?: KeyRequestStatus; limit?: number; oldestFirst?: boolean }): Promise<GatewayKeyRequest[]>;
  /**
   * Approves or denies a pending request; with a key for an approval, stored
   * in the same transaction. False if it was no longer pending (someone else
   * decided first, or it expired).
   */
  reviewKeyRequest(review: { id: string; status: 'approved' | 'denied'; reviewer: string; reason?: string; at: Date; key?: StoredKey }, audit: NewGatewayAuditEvent[], tell?: OutboxMessage[]): Promise<boolean>;
  /**
   * Marks pending requests past their expiry as expired; returns those this
   * call marked, so of callers at once (replicas, a list and the scheduled
   * sweep) exactly one gets each, and tells of it.
   */
  expireKeyRequests(now: Date, tell?: (expired: GatewayKeyRequest[]) => OutboxMessage[]): Promise<GatewayKeyRequest[]>;

  getKey(id: string): Promise<StoredKey | undefined>;
  /** The keys of these ids that exist, in no order (read in chunks, however many are asked for). */
  getKeys(ids: string[]): Promise<StoredKey[]>;
  /**
   * Keys of a component or product (or both), newest first: `limit` of them
   * (500 at most, the default), skipping the `offset` newest; with `accepted`,
   * only those accepted at `at` (active, not expired) or only the others.
   */
  listKeys(query: KeyQuery & { accepted?: { at: Date; now: boolean }; limit?: number; offset?: number }): Promise<StoredKey[]>;
  /** How many keys a component or product has, and how many of them are still accepted at `at` (active, not expired). */
  countKeys(query: KeyQuery, at: Date): Promise<{ total: number; active: number }>;
  /** The same counts for each product the keys are for (those of one component, say). */
  countKeysByProduct(query: KeyQuery, at: Date): Promise<Record<string, { total: number; active: number }>>;
  /**
   * Keys changed after `since` (every key when undefined), for the data plane's cache;
   * with `deadBefore`, not those revoked or expired at or before it (keyCache.ts, `deadBefore`).
   */
  keysChangedSince(since: string | undefined, options?: { deadBefore?: Date }): Promise<StoredKey[]>;
  /** Issues `next` and limits `previous` to the grace period, in one transaction. */
  rotateKey(rotation: { previous: StoredKey; next: StoredKey; graceUntil: Date; at: Date }, audit: NewGatewayAuditEvent[], tell?: OutboxMessage[]): Promise<boolean>;
  revokeKey(revocation: { id: string; actor: string; at: Date }, audit: NewGatewayAuditEvent[], tell?: OutboxMessage[]): Promise<boolean>;
  /**
   * Active keys, not rotated, that expire after `at` and by `until` and whose
   * owners were not yet told: marked told, and returned to the one caller
   * whose statement marked them, each with its product's API (none when the
   * product went meanwhile).
   */
  claimExpiringKeys(at: Date, until: Date, tell?: (keys: Array<StoredKey & { apiRef?: string }>) => OutboxMessage[]): Promise<Array<StoredKey & { apiRef?: string }>>;

  /**
   * Raw rows and the rollups by hour and by UTC day, in one transaction. With
   * a `batchId`, a batch already written under that id adds nothing (a retry
   * after a COMMIT whose reply was lost: `written` 0). A batch the database
   * refuses for its data is written in parts, and the rows it refuses are
   * counted in `refused`, not retried.
   */
  insertUsage(records: UsageRecord[], batchId?: string): Promise<UsageWrite>;
  /** The rollup by hour, or by UTC day (`bucketMs` DAY_MS; each row's `hour` is then its day's start), since a time. */
  usageRollupSince(query: { productIds?: string[]; consumerRef?: string; since: Date; bucketMs?: number }): Promise<StoredHourlyRow[]>;
  /**
   * The whole gateway's rollup by hour, or by UTC day, since a time, summed by
   * one of its dimensions: the bucket (`hour` then holds its start), the
   * product, the consumer or the model version. A row per group, however many
   * series there are.
   */
  usageTotalsSince(query: { since: Date; bucketMs?: number; by: UsageDimension }): Promise<StoredHourlyRow[]>;
  /**
   * Sets each UTC day's rollup, from the day of `since` to that of `now`, to
   * the sum of its hours where their counts disagree, and returns how many
   * rows it set. They disagree when a replica of a version before the daily
   * rollup (a rolling upgrade's old pods) wrote calls to the hourly rollup
   * only. `since` must be past the rollups' retention: a day whose first
   * hours are deleted would be set short.
   */
  repairDailyUsage(since: Date, now: Date): Promise<number>;
  /** Retention: raw rows before one time, rollups before another. */
  deleteUsageBefore(rawBefore: Date, rollupBefore: Date, options?: { chunk?: number; signal?: AbortSignal }): Promise<{ raw: number; hourly: number; daily: number }>;
  /**
   * Forgets the ids of usage batches written before a time. An id is needed
   * only while its writer may still send the batch again: the seconds or
   * hours a database is down, not the month its calls are kept (one a second
   * under load is millions of rows a month).
   */
  deleteUsageBatchIdsBefore(before: Date): Promise<number>;
  /** Tokens and cost per key this month and this day (budgets survive a restart). */
  /** Each key's spend by day before `before` (a month that has ended: budgets read only the current one). */
  deleteKeySpendBefore(before: Date): Promise<number>;
  /** Each key's tokens and cost since the start of a UTC month and of a UTC day (the days it spent on). */
  spendByKey(monthStart: Date, dayStart: Date): Promise<Array<{ keyId: string; monthTokens: number; monthCost: number; dayTokens: number; dayCost: number }>>;
  /**
   * A product's model's calls since a time: counted and ranked by the
   * database, however many there are (a busy model's five minutes are
   * hundreds of thousands of rows, which the portal would otherwise hold).
   */
  modelFiguresSince(query: { productId: string; model: string; since: Date }): Promise<ModelFigures>;
}

type KeyCountRow = { product_id?: string; total: number | string; active: number | string | null };
/** PostgreSQL answers a count and a sum as strings (bigint), and a sum over no rows as null. */
const counted = (row: KeyCountRow | undefined) => ({ total: Number(row?.total ?? 0), active: Number(row?.active ?? 0) });

type ProductRow = { id: string; entity_ref: string; kind: string; spec: string; created_at: Date | string; updated_at: Date | string; updated_by: string };
type RequestRow = {
  id: string; product_id: string; plan_id: string; api_ref: string; component_ref: string; justification: string; status: KeyRequestStatus;
  requested_by: string; requested_at: Date | string; expires_at: Date | string; reviewed_by: string | null; reviewed_at: Date | string | null;
  review_reason: string | null; key_id: string | null;
};
type KeyRow = {
  id: string; public_id: string; secret_hash: string; component_ref: string; product_id: string; plan_id: string; models: string | null;
  status: 'active' | 'revoked'; created_at: Date | string; created_by: string; expires_at: Date | string | null; expiry_warned_at: Date | string | null; revoked_at: Date | string | null;
  revoked_by: string | null; replaced_by: string | null; updated_at: Date | string; request_id: string | null;
};

const iso = (v: Date | string | number) => new Date(v).toISOString();
const isoOrUndefined = (v: Date | string | number | null | undefined) => (v === null || v === undefined ? undefined : iso(v));
const planId = (productId: string, plan: string) => `${productId}/${plan}`;
const planName = (id: string) => id.slice(id.indexOf('/') + 1);

/** Who the audit trail names for what the gateway does by itself (a request expiring unreviewed). */
export const GATEWAY_ACTOR = 'quarterdeck:gateway';

/** Why a key request for a plan its product no longer has cannot be approved. */
export const planGone = (productId: string, plan: string) =>
  `plan: gateway product ${productId} no longer has the plan "${plan}" this request asks for; deny it, and the component can ask for another plan`;

/** The plans of a product that keys accepted at `now` hold (only those of `planIds`, when given), each as `"gold" (2 keys)`. */
async function plansHeld(tx: Knex.Transaction, productId: string, now: Date, planIds?: string[]) {
  const q = tx('gateway_keys')
    .where('product_id', productId)
    .where('status', 'active')
    .where(live => live.whereNull('expires_at').orWhere('expires_at', '>', now));
  if (planIds) q.whereIn('plan_id', planIds);
  const rows = (await q.select('plan_id').count({ n: '*' }).groupBy('plan_id').orderBy('plan_id')) as unknown as { plan_id: string; n: number | string }[];
  return rows.map(r => `"${planName(r.plan_id)}" (${Number(r.n)} ${Number(r.n) === 1 ? 'key' : 'keys'})`);
}

/** `a`, `a and b`, `a, b and c`. */
const listed = (items: string[]) => (items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`);

/**
 * The plans a product write would remove while keys accepted now hold them,
 * said as the write's refusal; undefined when there are none. Their keys would
 * all be refused at once (403 plan_not_found), so the plan goes only once its
 * keys are revoked or expired.
 */
async function heldPlans(tx: Knex.Transaction, productId: string, spec: GatewayProductSpec, now: Date) {
  // Only the plans this write removes: keys left on a plan removed before this rule must not block every later write.
  const kept = new Set(spec.plans.map(p => planId(productId, p.name)));
  const removed = (await tx('gateway_plans').where('product_id', productId).select('id')).map(r => r.id as string).filter(p => !kept.has(p));
  if (removed.length === 0) return undefined;
  const plans = await plansHeld(tx, productId, now, removed);
  if (plans.length === 0) return undefined;
  return `spec.plans: ${plans.length === 1 ? 'the plan' : 'the plans'} ${listed(plans)} ${plans.length === 1 ? 'is' : 'are'} held by keys that work now; revoke those keys (the API's Issued keys) before removing ${plans.length === 1 ? 'it' : 'them'}`;
}

/**
 * What keeps a product from being removed, said as the refusal: keys not
 * yet revoked or expired (those on a plan removed before the plans were
 * guarded too: deleted, they would stay in the caches as they are), and
 * requests waiting for review (their components would never hear an
 * answer). Undefined when nothing does.
 */
async function productInUse(tx: Knex.Transaction, productId: string, now: Date) {
  const plans = await plansHeld(tx, productId, now);
  const pending = Number((await tx('gateway_key_requests')
    .where({ product_id: productId, status: 'pending' }).andWhere('expires_at', '>', now)
    .count({ n: '*' }).first())?.n ?? 0);
  const uses = [
    ...(plans.length ? [`keys not yet revoked or expired hold ${plans.length === 1 ? 'its plan' : 'its plans'} ${listed(plans)}`] : []),
    ...(pending ? [`${pending} key ${pending === 1 ? 'request waits' : 'requests wait'} for review`] : []),
  ];
  if (uses.length === 0) return undefined;
  const steps = [...(plans.length ? ['revoke those keys'] : []), ...(pending ? [pending === 1 ? 'approve or deny that request' : 'approve or deny those requests'] : [])];
  return `Gateway product ${productId} is in use: ${listed(uses)}; ${listed(steps)} (the API's Gateway tab) before removing it`;
}

function toProduct(row: ProductRow): GatewayProduct {
  const spec = JSON.parse(row.spec) as GatewayProductSpec;
  return { ...spec, id: row.id, entityRef: row.entity_ref, updatedAt: iso(row.updated_at), updatedBy: row.updated_by };
}

/** A batch's calls summed by key and UTC day, in key order (rows locked in one order by every writer). */
function keySpendByDay(records: UsageRecord[]) {
  const sums = new Map<string, { key_id: string; day: Date; tokens: number; cost: number }>();
  for (const r of records) {
    if (!r.keyId) continue;
    const day = Math.floor(r.at.getTime() / DAY_MS) * DAY_MS;
    const id = `${r.keyId}\u0000${day}`;
    let sum = sums.get(id);
    if (!sum) sums.set(id, (sum = { key_id: r.keyId, day: new Date(day), tokens: 0, cost: 0 }));
    sum.tokens += r.promptTokens + r.completionTokens;
    sum.cost += r.cost;
  }
  return [...sums.values()].sort((a, b) => a.key_id.localeCompare(b.key_id) || a.day.getTime() - b.day.getTime());
}

function toRequest(row: RequestRow): GatewayKeyRequest {
  return {
    id: row.id,
    productId: row.product_id,
    plan: planName(row.plan_id),
    apiRef: row.api_ref,
    componentRef: row.component_ref,
    justification: row.justification,
    status: row.status,
    requestedBy: row.requested_by,
    requestedAt: iso(row.requested_at),
    expiresAt: iso(row.expires_at),
    reviewedBy: row.reviewed_by ?? undefined,
    reviewedAt: isoOrUndefined(row.reviewed_at),
    reviewReason: row.review_reason ?? undefined,
    keyId: row.key_id ?? undefined,
  };
}

function toKey(row: KeyRow): StoredKey {
  return {
    id: row.id,
    publicId: row.public_id,
    secretHash: row.secret_hash,
    componentRef: row.component_ref,
    productId: row.product_id,
    plan: planName(row.plan_id),
    models: row.models ? JSON.parse(row.models) : undefined,
    status: row.status,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
    expiresAt: isoOrUndefined(row.expires_at),
    expiryWarnedAt: isoOrUndefined(row.expiry_warned_at),
    revokedAt: isoOrUndefined(row.revoked_at),
    revokedBy: row.revoked_by ?? undefined,
    replacedBy: row.replaced_by ?? undefined,
    updatedAt: iso(row.updated_at),
    requestId: row.request_id ?? undefined,
  };
}

/**
 * A key change's updated_at, read inside its transaction: the instant the
 * caller took (`at`) may be long past by the time a pooled connection was
 * free, and the policy feed reads changes from its cursor less an overlap of
 * 30 s, so a revocation stamped before a longer wait would be missed by every
 * other replica until the full re-read, minutes later.
 */
function writtenAt(at: Date): Date {
  return new Date(Math.max(at.getTime(), Date.now()));
}

function keyRow(key: StoredKey): KeyRow {
  return {
    id: key.id,
    public_id: key.publicId,
    secret_hash: key.secretHash,
    component_ref: key.componentRef,
    product_id: key.productId,
    plan_id: planId(key.productId, key.plan),
    models: key.models ? JSON.stringify(key.models) : null,
    status: key.status,
    created_at: new Date(key.createdAt),
    created_by: key.createdBy,
    expires_at: key.expiresAt ? new Date(key.expiresAt) : null,
    expiry_warned_at: key.expiryWarnedAt ? new Date(key.expiryWarnedAt) : null,
    revoked_at: key.revokedAt ? new Date(key.revokedAt) : null,
    revoked_by: key.revokedBy ?? null,
    replaced_by: key.replacedBy ?? null,
    updated_at: new Date(key.updatedAt),
    request_id: key.requestId ?? null,
  };
}

/**
 * Stores a new key. knex writes a failed statement into its error's message
 * with the values bound to it, and PostgreSQL a duplicate's value into its
 * `detail`: the key's hash and public id would reach the logs and the
 * reviewer's 500. The error is thrown again as its code (and constraint) only.
 */
async function insertKey(tx: Knex.Transaction, key: StoredKey) {
  try {
    await tx('gateway_keys').insert(keyRow(key));
  } catch (error) {
    const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
    const said = [code, constraint].filter((part): part is string => typeof part === 'string');
    throw Object.assign(new Error(`Could not store the key${said.length ? ` (${said.join(', ')})` : ''}`), typeof code === 'string' ? { code } : {});
  }
}

const MAX_LIST = 500;
/** The columns that name a rollup row's series, beside its hour or day, and those that count its calls. */
const SERIES_COLUMNS = ['product_id', 'consumer_ref', 'model', 'upstream'];
const ROLLUP_COUNTS = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cost', ...BUCKET_COLUMNS];

const USAGE_COLUMNS = 'at, key_id, consumer_ref, product_id, model, upstream, status, latency_ms, prompt_tokens, completion_tokens, estimated, cost';
/**
 * The raw usage rows of a batch as one JSON parameter, unpacked by the
 * database: on SQLite and PostgreSQL, a statement per 1,000 rows with one
 * bound value instead of a statement per 200 rows with twelve each. The query
 * builder spent ~6 KB of the portal's heap per row on the bindings and SQL of
 * those statements, and the data plane's usage arrives at its call rate: under
 * gateway load that was most of the portal's garbage (docs/gateway.md).
 * `at` goes as milliseconds since the epoch, `estimated` as 0 or 1.
 */
const USAGE_FROM_JSON: Record<string, string> = {
  sqlite3: `insert into gateway_usage (${USAGE_COLUMNS}) select ${Array.from({ length: 12 }, (_, i) => `json_extract(value, '$[${i}]')`).join(', ')} from json_each(?)`,
  postgresql: `insert into gateway_usage (${USAGE_COLUMNS}) select to_timestamp((r->>0)::double precision / 1000), r->>1, r->>2, r->>3, r->>4, r->>5, ` +
    `(r->>6)::integer, (r->>7)::integer, (r->>8)::integer, (r->>9)::integer, (r->>10)::integer <> 0, (r->>11)::double precision from json_array_elements(?::json) as r`,
};

/** Writes a batch's raw rows (`dialect` picks the statement; the test of the builder's path passes another). */
export async function insertUsageRows(tx: Knex | Knex.Transaction, records: UsageRecord[], dialect: string = tx.client.dialect) {
  const fromJson = USAGE_FROM_JSON[dialect];
  for (let i = 0; i < records.length; i += 1000) {
    const chunk = records.slice(i, i + 1000);
    if (fromJson) {
      const rows = chunk.map(r => [r.at.getTime(), r.keyId ?? null, r.consumerRef ?? null, r.productId, r.model ?? null, r.upstream ?? null,
        r.status, Math.round(r.latencyMs), r.promptTokens, r.completionTokens, r.estimated ? 1 : 0, r.cost]);
      await tx.raw(fromJson, [JSON.stringify(rows)]);
      continue;
    }
    // Any other database: the query builder, in statements under the smallest variable limits.
    for (let j = 0; j < chunk.length; j += 200) {
      await tx('gateway_usage').insert(chunk.slice(j, j + 200).map(r => ({
        at: r.at, key_id: r.keyId ?? null, consumer_ref: r.consumerRef ?? null, product_id: r.productId, model: r.model ?? null,
        upstream: r.upstream ?? null, status: r.status, latency_ms: Math.round(r.latencyMs), prompt_tokens: r.promptTokens,
        completion_tokens: r.completionTokens, estimated: r.estimated, cost: r.cost,
      })));
    }
  }
}

export class KnexGatewayStore implements GatewayStore {
  constructor(private readonly db: Knex) {}

  async putProduct({ id, entityRef, spec, actor, now, expect, audit }: { id: string; entityRef: string; spec: GatewayProductSpec; actor: string; now: Date; expect: ProductPrecondition; audit: (previous: GatewayProduct | undefined) => NewGatewayAuditEvent[] }) {
    return uniqueAsConflict(`Gateway product ${id}, or another product of ${entityRef}, was created meanwhile`, () => this.db.transaction(async tx => {
      const row = { id, entity_ref: entityRef, kind: spec.kind, spec: JSON.stringify(spec), updated_at: now, updated_by: actor };
      let previous: GatewayProduct | undefined;
      if (expect.exists) {
        // The row's lock first, so concurrent writers of one product take turns and each one's trail is against what it replaced.
        const current = await tx<ProductRow>('gateway_products').where('id', id).forUpdate().first();
        if (!current) throw new NotFoundError(`Gateway product ${id} was removed meanwhile`);
        if (expect.updatedAt && Date.parse(expect.updatedAt) !== new Date(current.updated_at).getTime()) {
          throw new ConflictError(`Gateway product ${id} changed meanwhile; read it again`);
        }
        previous = toProduct(current);
        await tx('gateway_products').where('id', id).update(row);
        // Read under the row's lock, which an approval shares (reviewKeyRequest): no key is issued for a plan removed here.
        const held = await heldPlans(tx, id, spec, now);
        if (held) throw new ConflictError(held);
      } else {
        await tx('gateway_products').insert({ ...row, created_at: now });
      }
      // Plans are rows of their own (keys and requests refer to them); replaced with the product.
      await tx('gateway_plans').where('product_id', id).delete();
      if (spec.plans.length > 0) {
        await tx('gateway_plans').insert(spec.plans.map((plan: GatewayPlan) => ({
          id: planId(id, plan.name),
          product_id: id,
          name: plan.name,
          limits: JSON.stringify(plan),
        })));
      }
      await insertAuditEvents(tx, audit(previous));
      // Read in the write's transaction: a removal right after it must not make the writer's answer undefined.
      return toProduct((await tx<ProductRow>('gateway_products').where('id', id).first())!);
    }));
  }

  async getProduct(id: string) {
    const row = await this.db<ProductRow>('gateway_products').where('id', id).first();
    return row ? toProduct(row) : undefined;
  }

  async getProductByEntity(entityRef: string) {
    const row = await this.db<ProductRow>('gateway_products').where('entity_ref', entityRef).first();
    return row ? toProduct(row) : undefined;
  }

  async listProducts() {
    return (await this.db<ProductRow>('gateway_products').orderBy('id')).map(toProduct);
  }

  async deleteProduct({ id, now, expectedUpdatedAt, audit }: { id: string; now: Date; expectedUpdatedAt?: string; audit: (removed: GatewayProduct) => NewGatewayAuditEvent[] }) {
    return this.db.transaction(async tx => {
      // The row's lock first: a request or an approval being made (each takes a share of it) waits, then finds the product gone.
      const row = await tx<ProductRow>('gateway_products').where('id', id).forUpdate().first();
      if (!row) return false;
      if (expectedUpdatedAt !== undefined && Date.parse(expectedUpdatedAt) !== new Date(row.updated_at).getTime()) {
        throw new ConflictError(`Gateway product ${id} was changed by ${row.updated_by} at ${iso(row.updated_at)}, after the version you read (${expectedUpdatedAt}); read it again before removing it`);
      }
      const inUse = await productInUse(tx, id, now);
      if (inUse) throw new ConflictError(inUse);
      // Children first, by hand: SQLite enforces the foreign keys' cascade only where its connection turned them on.
      await tx('gateway_keys').where('product_id', id).delete();
      await tx('gateway_key_requests').where('product_id', id).delete();
      await tx('gateway_plans').where('product_id', id).delete();
      await tx('gateway_products').where('id', id).delete();
      // The trail says what was removed as it was under the lock, not as the caller read it before.
      await insertAuditEvents(tx, audit(toProduct(row)));
      return true;
    });
  }

  async lastRemoval(id: string) {
    const row = await this.db('audit_events').where({ target: id, action: 'product.deleted' }).orderBy('created_at', 'desc').first('created_at', 'entity_ref');
    return row ? { at: iso(row.created_at), ...(row.entity_ref ? { entityRef: row.entity_ref as string } : {}) } : undefined;
  }

  async productIdsOfApi(entityRef: string) {
    const current = this.db('gateway_products').where('entity_ref', entityRef).select({ id: 'id' });
    const removed = this.db('audit_events').where({ entity_ref: entityRef, action: 'product.deleted' }).select({ id: 'target' });
    // union (not union all): an id removed and offered again counts once.
    const rows: Array<{ id: string }> = await current.union(removed);
    return rows.map(row => row.id).sort();
  }

  async createKeyRequest(request: Omit<GatewayKeyRequest, 'reviewedBy' | 'reviewedAt' | 'reviewReason' | 'keyId'>, audit: NewGatewayAuditEvent[], tell: OutboxMessage[] = []) {
    const conflict = `${request.componentRef} already has a pending request for ${request.productId}`;
    await uniqueAsConflict(conflict, () => this.db.transaction(async tx => {
      // A share of the product row's lock, which a removal takes first: a request is never left behind for a product removed meanwhile.
      const product = await tx('gateway_products').where('id', request.productId).forShare().first('spec');
      if (!product) throw new NotFoundError(`productId: no gateway product ${request.productId}`);
      if (!(JSON.parse(product.spec) as GatewayProductSpec).plans.some(p => p.name === request.plan)) {
        throw new ConflictError(`plan: gateway product ${request.productId} no longer has the plan "${request.plan}"; read it again`);
      }
      await tx('gateway_key_requests').insert({
        id: request.id,
        product_id: request.productId,
        plan_id: planId(request.productId, request.plan),
        api_ref: request.apiRef,
        component_ref: request.componentRef,
        justification: request.justification,
        status: request.status,
        requested_by: request.requestedBy,
        requested_at: new Date(request.requestedAt),
        expires_at: new Date(request.expiresAt),
      });
      await insertAuditEvents(tx, audit);
      await insertOutboxMessages(tx, tell);
    }));
    // The request as inserted, not read back: a read that failed after the commit would answer 500 for a
    // request that exists, and its retry 409, with no one told of it.
    const created: GatewayKeyRequest = { ...request };
    return created;
  }

  async getKeyRequest(id: string) {
    const row = await this.db<RequestRow>('gateway_key_requests').where('id', id).first();
    return row ? toRequest(row) : undefined;
  }

  async listKeyRequests(query: { apiRef?: string; componentRef?: string; status?: KeyRequestStatus; limit?: number; oldestFirst?: boolean }) {
    const q = this.db<RequestRow>('gateway_key_requests');
    if (query.apiRef) q.where('api_ref', query.apiRef);
    if (query.componentRef) q.where('component_ref', query.componentRef);
    if (query.status) q.where('status', query.status);
    const rows = await q.orderBy('requested_at', query.oldestFirst ? 'asc' : 'desc').limit(Math.min(query.limit ?? 100, MAX_LIST));
    return rows.map(toRequest);
  }

  async reviewKeyRequest(review: { id: string; status: 'approved' | 'denied'; reviewer: string; reason?: string; at: Date; key?: StoredKey }, audit: NewGatewayAuditEvent[], tell: OutboxMessage[] = []) {
    return this.db.transaction(async tx => {
      if (review.key) {
        // A share of the product row's lock, which a product write takes first: the plan read here is the one that commits.
        const row = await tx<ProductRow>('gateway_products').where('id', review.key.productId).forShare().first();
        const product = row && toProduct(row);
        const plan = product?.plans.find(p => p.name === review.key!.plan);
        if (!product || !plan) throw new ConflictError(planGone(review.key.productId, review.key.plan));
        const outside = review.key.models?.find(m => !modelsInPlan(product, plan).includes(m));
        if (outside) throw new ConflictError(`models: plan ${plan.name} of gateway product ${product.id} no longer has "${outside}" (it changed meanwhile); approve again`);
      }
      // Only a pending, unexpired request can be decided, and only once.
      const changed = await tx('gateway_key_requests')
        .where({ id: review.id, status: 'pending' })
        .andWhere('expires_at', '>', review.at)
        .update({
          status: review.status,
          reviewed_by: review.reviewer,
          reviewed_at: review.at,
          review_reason: review.reason ?? null,
          key_id: review.key?.id ?? null,
        });
      if (changed !== 1) return false;
      if (review.key) await insertKey(tx, { ...review.key, updatedAt: writtenAt(new Date(review.key.updatedAt)).toISOString() });
      await insertAuditEvents(tx, audit);
      await insertOutboxMessages(tx, tell);
      return true;
    });
  }

  async expireKeyRequests(now: Date, tell?: (expired: GatewayKeyRequest[]) => OutboxMessage[]) {
    return this.db.transaction(async tx => {
      // One statement (RETURNING, on SQLite and PostgreSQL alike): a row comes back only to the caller that changed it.
      const expired: RequestRow[] = await tx<RequestRow>('gateway_key_requests')
        .where('status', 'pending').andWhere('expires_at', '<=', now)
        .update({ status: 'expired' }, '*');
      const requests = expired.map(toRequest);
      // Audited on the API and the component, as a decision is, so each trail says how the request ended.
      await insertAuditEvents(tx, requests.flatMap(r => [r.apiRef, r.componentRef].map(entityRef => ({
        actor: GATEWAY_ACTOR, action: 'key-request.expired', entityRef, target: r.id,
        reason: 'not reviewed in time', details: { componentRef: r.componentRef, plan: r.plan },
      }))));
      if (tell) await insertOutboxMessages(tx, tell(requests));
      return requests;
    });
  }

  async getKey(id: string) {
    const row = await this.db<KeyRow>('gateway_keys').where('id', id).first();
    return row ? toKey(row) : undefined;
  }

  async getKeys(ids: string[]) {
    const keys: StoredKey[] = [];
    // SQLite binds at most 999 values a statement in older builds: 500 ids a read.
    for (let i = 0; i < ids.length; i += 500) {
      keys.push(...(await this.db<KeyRow>('gateway_keys').whereIn('id', ids.slice(i, i + 500))).map(toKey));
    }
    return keys;
  }

  async listKeys(query: KeyQuery & { accepted?: { at: Date; now: boolean }; limit?: number; offset?: number }) {
    const limit = Math.min(query.limit ?? MAX_LIST, MAX_LIST);
    if (limit <= 0) return [];
    // The id breaks ties between keys issued in the same millisecond, so pages neither repeat nor skip one.
    const q = this.keysOf(query).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]);
    const { accepted } = query;
    if (accepted?.now) q.where('status', 'active').where(live => live.whereNull('expires_at').orWhere('expires_at', '>', accepted.at));
    else if (accepted) q.where(dead => dead.whereNot('status', 'active').orWhere('expires_at', '<=', accepted.at));
    return (await q.limit(limit).offset(query.offset ?? 0)).map(toKey);
  }

  async countKeys(query: KeyQuery, at: Date) {
    // One pass over the component's or product's index entries, whatever their number.
    const [row] = await this.keyCounts(this.keysOf(query), at);
    return counted(row);
  }

  async countKeysByProduct(query: KeyQuery, at: Date) {
    const rows = await this.keyCounts(this.keysOf(query).select('product_id').groupBy('product_id'), at);
    return Object.fromEntries(rows.map(row => [row.product_id!, counted(row)]));
  }

  private async keyCounts(q: Knex.QueryBuilder, at: Date) {
    return (await q.select(
      this.db.raw('count(*) as total'),
      this.db.raw("sum(case when status = 'active' and (expires_at is null or expires_at > ?) then 1 else 0 end) as active", [at]),
    )) as unknown as KeyCountRow[];
  }

  private keysOf(query: KeyQuery) {
    const q = this.db<KeyRow>('gateway_keys');
    if (query.componentRef) q.where('component_ref', query.componentRef);
    if (query.productId) q.where('product_id', query.productId);
    return q;
  }

  async keysChangedSince(since: string | undefined, options: { deadBefore?: Date } = {}) {
    const q = this.db<KeyRow>('gateway_keys');
    // >= and not >: two changes in the same instant must both be seen; re-applying one is harmless.
    if (since) q.where('updated_at', '>=', new Date(since));
    const { deadBefore } = options;
    if (deadBefore) {
      q.where(alive => alive.whereNot('status', 'revoked').orWhere('revoked_at', '>', deadBefore));
      q.where(alive => alive.whereNull('expires_at').orWhere('expires_at', '>', deadBefore));
    }
    return (await q.orderBy('updated_at')).map(toKey);
  }

  async rotateKey({ previous, next, graceUntil, at }: { previous: StoredKey; next: StoredKey; graceUntil: Date; at: Date }, audit: NewGatewayAuditEvent[], tell: OutboxMessage[] = []) {
    return this.db.transaction(async tx => {
      // A share of the product row's lock, as an approval takes: a removal cannot go between this check and the new key.
      if (!(await tx('gateway_products').where('id', previous.productId).forShare().first('id'))) {
        throw new NotFoundError(`Gateway product ${previous.productId} was removed, with its keys`);
      }
      const changed = await tx('gateway_keys')
        .where({ id: previous.id, status: 'active' })
        .whereNull('replaced_by')
        .update({ replaced_by: next.id, expires_at: graceUntil, updated_at: writtenAt(at) });
      if (changed !== 1) return false;
      await insertKey(tx, { ...next, updatedAt: writtenAt(new Date(next.updatedAt)).toISOString() });
      await insertAuditEvents(tx, audit);
      await insertOutboxMessages(tx, tell);
      return true;
    });
  }

  async claimExpiringKeys(at: Date, until: Date, tell?: (keys: Array<StoredKey & { apiRef?: string }>) => OutboxMessage[]) {
    return this.db.transaction(async tx => {
      // updated_at stays: nothing the data plane holds changed.
      const claimed: KeyRow[] = await tx<KeyRow>('gateway_keys')
        .where('status', 'active').andWhere('expires_at', '>', at).andWhere('expires_at', '<=', until)
        .whereNull('replaced_by').whereNull('expiry_warned_at')
        .update({ expiry_warned_at: at } as Partial<KeyRow>, '*');
      const productIds = [...new Set(claimed.map(row => row.product_id))];
      const apis = new Map<string, string>();
      for (let i = 0; i < productIds.length; i += 500) {
        const rows: Array<{ id: string; entity_ref: string }> = await tx('gateway_products').whereIn('id', productIds.slice(i, i + 500)).select('id', 'entity_ref');
        for (const row of rows) apis.set(row.id, row.entity_ref);
      }
      const keys = claimed.map(row => {
        const apiRef = apis.get(row.product_id);
        return { ...toKey(row), ...(apiRef ? { apiRef } : {}) };
      });
      if (tell) await insertOutboxMessages(tx, tell(keys));
      return keys;
    });
  }

  async revokeKey({ id, actor, at }: { id: string; actor: string; at: Date }, audit: NewGatewayAuditEvent[], tell: OutboxMessage[] = []) {
    return this.db.transaction(async tx => {
      const changed = await tx('gateway_keys')
        .where({ id, status: 'active' })
        .update({ status: 'revoked', revoked_at: at, revoked_by: actor, updated_at: writtenAt(at) });
      if (changed !== 1) return false;
      await insertAuditEvents(tx, audit);
      await insertOutboxMessages(tx, tell);
      return true;
    });
  }

  async insertUsage(records: UsageRecord[], batchId?: string): Promise<UsageWrite> {
    try {
      return { written: (await this.insertUsageBatch(records, batchId)) ? records.length : 0, refused: 0 };
    } catch (error) {
      if (!refusesData(error)) throw error;
      // A row the database will never take (a value out of range) must not hold back every later
      // batch: the halves are written apart, each under an id of its own, down to the row refused.
      // Nothing of this batch was committed (its transaction failed), so the new ids count nothing twice.
      if (records.length === 1) return { written: 0, refused: 1 };
      const half = Math.ceil(records.length / 2);
      const first = await this.insertUsage(records.slice(0, half), batchId && partId(batchId, 0));
      const second = await this.insertUsage(records.slice(half), batchId && partId(batchId, 1));
      return { written: first.written + second.written, refused: first.refused + second.refused };
    }
  }

  /** One transaction: false when the batch id was written before. */
  private async insertUsageBatch(records: UsageRecord[], batchId?: string): Promise<boolean> {
    if (records.length === 0) return true;
    // In key order, so that two replicas writing the same series take their rows' locks in one order (no deadlock).
    const byKey = (a: HourlyRow, b: HourlyRow) => a.hour.getTime() - b.hour.getTime()
      || [a.product_id, a.consumer_ref, a.model, a.upstream].join('\u0000').localeCompare([b.product_id, b.consumer_ref, b.model, b.upstream].join('\u0000'));
    const hourly = rollUp(records).sort(byKey);
    const spend = keySpendByDay(records);
    const daily = rollUp(records, DAY_MS).sort(byKey).map(({ hour, ...row }) => ({ day: hour, ...row }));
    const merge = (table: string) => Object.fromEntries(ROLLUP_COUNTS
      .map(c => [c, this.db.raw('?? + excluded.??', [`${table}.${c}`, c])]));
    return this.db.transaction(async tx => {
      if (batchId !== undefined) {
        if (await tx('gateway_usage_batches').where('id', batchId).first('id')) return false;
        // Two writes of one batch at once (not from one writer, which flushes one at a time): the second fails on the key.
        await tx('gateway_usage_batches').insert({ id: batchId, written_at: new Date(), rows: records.length });
      }
      await insertUsageRows(tx, records);
      // Both rollups in the calls' own transaction: they never disagree with each other or with the calls.
      for (const [table, time, rows] of [['gateway_usage_hourly', 'hour', hourly], ['gateway_usage_daily', 'day', daily]] as const) {
        for (let i = 0; i < rows.length; i += 40) {
          await tx(table).insert(rows.slice(i, i + 40))
            .onConflict([time, ...SERIES_COLUMNS])
            .merge(merge(table));
        }
      }
      // And each key's spend by day, which an in-memory data plane's budgets start from (spendByKey).
      for (let i = 0; i < spend.length; i += 100) {
        await tx('gateway_key_spend_daily').insert(spend.slice(i, i + 100))
          .onConflict(['key_id', 'day'])
          .merge({ tokens: this.db.raw('?? + excluded.tokens', ['gateway_key_spend_daily.tokens']), cost: this.db.raw('?? + excluded.cost', ['gateway_key_spend_daily.cost']) });
      }
      return true;
    });
  }

  async modelFiguresSince(query: { productId: string; model: string; since: Date }): Promise<ModelFigures> {
    const calls = () => this.db('gateway_usage').where({ product_id: query.productId, model: query.model }).andWhere('at', '>=', query.since);
    const counts = await calls()
      .count({ requests: '*' })
      .sum({ errors: this.db.raw('case when status >= 500 or status = 429 then 1 else 0 end') })
      .first() as { requests: number | string; errors: number | string | null } | undefined;
    const requests = Number(counts?.requests ?? 0);
    // Nearest rank, as `quantile` in usage/summary.ts: the ceil(q·n)-th latency in order, counted from
    // whichever end is nearer (a p99 sorts the slowest 1 %, not the whole window).
    const latencyAt = async (q: number) => {
      if (requests === 0) return null;
      const rank = Math.min(requests, Math.max(1, Math.ceil(q * requests)));
      const fromTop = rank > requests / 2;
      const row = await calls().select('latency_ms').orderBy('latency_ms', fromTop ? 'desc' : 'asc')
        .offset(fromTop ? requests - rank : rank - 1).limit(1).first();
      return row ? Number(row.latency_ms) : null;
    };
    return { requests, errors: Number(counts?.errors ?? 0), p50Ms: await latencyAt(0.5), p99Ms: await latencyAt(0.99) };
  }

  async usageRollupSince(query: { productIds?: string[]; consumerRef?: string; since: Date; bucketMs?: number }) {
    const byDay = query.bucketMs === DAY_MS;
    const time = byDay ? 'day' : 'hour';
    const q = this.db(byDay ? 'gateway_usage_daily' : 'gateway_usage_hourly')
      .select({ hour: time }, ...SERIES_COLUMNS, ...ROLLUP_COUNTS)
      .where(time, '>=', query.since);
    if (query.productIds) q.whereIn('product_id', query.productIds);
    if (query.consumerRef) q.where('consumer_ref', query.consumerRef);
    return q.orderBy(time) as unknown as Promise<StoredHourlyRow[]>;
  }

  async usageTotalsSince(query: { since: Date; bucketMs?: number; by: UsageDimension }) {
    const byDay = query.bucketMs === DAY_MS;
    const time = byDay ? 'day' : 'hour';
    const columns = { time: [time], product: ['product_id'], consumer: ['consumer_ref'], model: ['model', 'upstream'] }[query.by];
    return this.db(byDay ? 'gateway_usage_daily' : 'gateway_usage_hourly')
      .select(query.by === 'time' ? { hour: time } : columns)
      .sum(Object.fromEntries(ROLLUP_COUNTS.map(c => [c, c])))
      .where(time, '>=', query.since)
      .groupBy(columns) as unknown as Promise<StoredHourlyRow[]>;
  }

  async repairDailyUsage(since: Date, now: Date) {
    const counts = ROLLUP_COUNTS.filter(c => c !== 'cost');
    // The day's series whose integer counts disagree with the sum of their hours, those sums. A call missing from the
    // day changes `requests`; sums of costs may differ in the last bit however they agree.
    const disagreeing = async (db: Knex, day: Date) => {
      const hours = await db('gateway_usage_hourly')
        .select(...SERIES_COLUMNS)
        .sum(Object.fromEntries(ROLLUP_COUNTS.map(c => [c, c])))
        .where('hour', '>=', day).andWhere('hour', '<', new Date(day.getTime() + DAY_MS))
        .groupBy(SERIES_COLUMNS) as Array<Record<string, string | number>>;
      const days = await db('gateway_usage_daily').select(...SERIES_COLUMNS, ...counts).where('day', day) as Array<Record<string, string | number>>;
      const stored = new Map(days.map(row => [SERIES_COLUMNS.map(c => row[c]).join('\u0000'), row]));
      return hours.filter(sum => {
        const row = stored.get(SERIES_COLUMNS.map(c => sum[c]).join('\u0000'));
        return !row || counts.some(c => Number(row[c]) !== Number(sum[c]));
      });
    };
    let repaired = 0;
    for (let start = Math.floor(since.getTime() / DAY_MS) * DAY_MS; start <= now.getTime(); start += DAY_MS) {
      const day = new Date(start);
      // Read without a lock first: a day that agrees (nearly every day) costs two reads and holds up no writer.
      if ((await disagreeing(this.db, day)).length === 0) continue;
      repaired += await this.db.transaction(async tx => {
        // Writers add a batch to the hourly rollup, then to the daily one, in one transaction. Holding the daily
        // table against writes before reading the hours again means every batch either is in the hours read here
        // or adds to the day after this sets it: never counted twice, never lost. A lock not had in 5 s (a VACUUM
        // FULL, say) fails this run rather than queue every writer behind it; the next run tries again.
        if (tx.client.dialect === 'postgresql') {
          await tx.raw("set local lock_timeout = '5s'");
          await tx.raw('lock table gateway_usage_daily in share row exclusive mode');
        }
        const wrong = await disagreeing(tx, day);
        for (let i = 0; i < wrong.length; i += 40) {
          await tx('gateway_usage_daily')
            .insert(wrong.slice(i, i + 40).map(sum => ({ day, ...Object.fromEntries(Object.entries(sum).map(([c, v]) => [c, SERIES_COLUMNS.includes(c) ? v : Number(v)])) })))
            .onConflict(['day', ...SERIES_COLUMNS])
            .merge(ROLLUP_COUNTS);
        }
        return wrong.length;
      });
    }
    return repaired;
  }

  async deleteUsageBefore(rawBefore: Date, rollupBefore: Date, options: { chunk?: number; signal?: AbortSignal } = {}) {
    // Raw calls in statements of `chunk` rows: a first run over a table grown for months (or a retention
    // shortened) in one statement would hold SQLite's only writer, and every usage batch and page behind it,
    // for minutes. Stops between chunks once the task is aborted.
    const chunk = options.chunk ?? 10_000;
    let raw = 0;
    for (;;) {
      const deleted = await this.db('gateway_usage')
        .whereIn('id', this.db('gateway_usage').select('id').where('at', '<', rawBefore).limit(chunk))
        .delete();
      raw += deleted;
      if (deleted < chunk || options.signal?.aborted) break;
      await new Promise(resolve => setImmediate(resolve));
    }
    const hourly = await this.db('gateway_usage_hourly').where('hour', '<', rollupBefore).delete();
    // A day goes once the whole of it is past the retention, as its hours have.
    const daily = await this.db('gateway_usage_daily').where('day', '<=', new Date(rollupBefore.getTime() - DAY_MS)).delete();
    return { raw, hourly, daily };
  }

  async deleteKeySpendBefore(before: Date) {
    return this.db('gateway_key_spend_daily').where('day', '<', before).delete();
  }

  async deleteUsageBatchIdsBefore(before: Date) {
    return this.db('gateway_usage_batches').where('written_at', '<', before).delete();
  }

  async spendByKey(monthStart: Date, dayStart: Date) {
    // From each key's spend by day (written with the calls), not the month's raw calls: at most 31 rows a key.
    const sums = (since: Date) => this.db('gateway_key_spend_daily')
      .select('key_id')
      .sum({ tokens: 'tokens' })
      .sum({ cost: 'cost' })
      .where('day', '>=', since)
      .groupBy('key_id') as unknown as Promise<Array<{ key_id: string; tokens: number | string; cost: number | string }>>;
    const [month, day] = await Promise.all([sums(monthStart), sums(dayStart)]);
    const today = new Map(day.map(r => [r.key_id, r]));
    return month.map(r => ({
      keyId: r.key_id,
      monthTokens: Number(r.tokens),
      monthCost: Number(r.cost),
      dayTokens: Number(today.get(r.key_id)?.tokens ?? 0),
      dayCost: Number(today.get(r.key_id)?.cost ?? 0),
    }));
  }
}

/**
 * The id of a half of a batch written apart: derived from the batch's id, so
 * a retry of the batch, split the same way, finds the halves it wrote before;
 * and 64 characters however deep the split goes (the id column's size). Ids
 * written as `id.0`, `id.1`, … grew by two characters a level: a batch of
 * ~16,000 rows went past 64, and the database refused the id of every retry.
 */
function partId(batchId: string, half: 0 | 1): string {
  return createHash('sha256').update(`${batchId}.${half}`).digest('hex');
}

/**
 * An error that sending the same rows again would meet again: PostgreSQL's
 * data exceptions and constraint violations (SQLSTATE classes 22 and 23),
 * SQLite's constraint, type and size errors. Not a second write of one batch
 * id at once, which its retry resolves by finding the id.
 */
function refusesData(error: unknown): boolean {
  const { code, constraint, message } = (error ?? {}) as { code?: unknown; constraint?: unknown; message?: unknown };
  if (constraint === 'gateway_usage_batches_pkey' || (typeof message === 'string' && message.includes('gateway_usage_batches'))) return false;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG';
}

/** A unique or primary-key violation (PostgreSQL 23505, SQLite's constraint codes). */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Runs a write; a unique violation (a concurrent writer won) becomes a ConflictError with `message`. */
async function uniqueAsConflict<T>(message: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError(message);
    throw error;
  }
}
