import type { HttpAuthService, LoggerService, PermissionsService } from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import { ConflictError, InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { AuthorizeResult, type ResourcePermission } from '@backstage/plugin-permission-common';
import {
  GATEWAY_AUDIT_ACTIONS,
  gatewayAdminPermission,
  gatewayKeyManagePermission,
  gatewayKeyRequestCreatePermission,
  gatewayKeyRequestReviewPermission,
  gatewayProductManagePermission,
  gatewayReadPermission,
  modelsInPlan,
  type GatewayAuditPage,
  type GatewayKeyRequest,
  type GatewayKeyList,
  type GatewayKeyView,
  type GatewayProduct,
  type GatewayStatus,
  type IssuedKey,
} from '@quarterdeck/plugin-gateway-common';
import crypto from 'node:crypto';
import express from 'express';
import Router from 'express-promise-router';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { GatewayAuditStore } from '../database/AuditStore';
import { formatAuditCursor, jsonBodies, parseAuditCursor, refuseOtherMethods } from '@quarterdeck/plugin-quarterdeck-node';
import { planGone, type GatewayStore, type KeyQuery, type StoredKey } from '../database/GatewayStore';
import type { OutboxMessage } from '../database/OutboxStore';
import { generateKey, maskKey } from '../keys/keyMaterial';
import { bucketFor, MAX_USAGE_HOURS, summarizeGatewayUsage, summarizeUsage, type StoredHourlyRow } from '../usage/summary';
import { asMessages, expireKeyRequests as expireAndTell, keyRequestDecided, keyRequested, keyRevoked, keyRotated } from './notifications';
import type { OutboxDelivery } from './outbox';
import { productChanges } from './productChanges';
import { describeZodIssue, productIdProblem, validateProductSpec } from './productSchema';

/** Backstage events topic of key lifecycle events. */
export const GATEWAY_EVENTS_TOPIC = 'quarterdeck.gateway';

export interface GatewaySettings {
  /** HMAC key for stored key hashes. */
  keySecret: string;
  allowedUpstreamHosts: string[];
  /** How long a key request waits for review. */
  keyRequestTtlMs: number;
  /**
   * How long before its expiry a key's owners are warned (0: never). A key
   * approved with less time than this left is not warned about: the approval
   * itself tells its expiry.
   */
  keyExpiryWarningMs?: number;
  /** Groups or users (entity refs) told of every key request and its outcome, beside the API's owners. */
  keyRequestWatchers?: string[];
}

export interface RouterOptions {
  logger: LoggerService;
  db: Knex;
  store: GatewayStore;
  audit: GatewayAuditStore;
  catalog: CatalogService;
  permissions: PermissionsService;
  httpAuth: HttpAuthService;
  /**
   * Delivers what each key change tells others, queued in its transaction:
   * its event on Backstage's events service and the notifications to the
   * owners it concerns (service/notifications.ts).
   */
  outbox: OutboxDelivery;
  settings: GatewaySettings;
  /** Told about every key change at once; resolves when this replica's data plane holds it. */
  onKeyChange?: (keys: StoredKey[]) => Promise<void>;
  /** Told about every product change at once; resolves when this replica's data plane holds it. */
  onProductChange?: (product: GatewayProduct) => Promise<void>;
  /** Told when a product is removed; resolves when this replica's data plane no longer serves it. */
  onProductRemoved?: (id: string) => Promise<void>;
  /** This replica's data plane and the policy it serves, for the admin page. */
  status?: () => GatewayStatus;
  now?: () => Date;
}

const MAX_GRACE_SECONDS = 30 * 24 * 3600;
/** How long a change's answer waits for its events and notifications to be sent (they go on after it). */
const TELL_WAIT_MS = 2000;

const productBody = z.object({
  entityRef: z.string().min(1, 'entityRef: required'),
  spec: z.unknown(),
  /** The product's updatedAt as the writer read it (null: the product must be new); absent, the last writer wins. */
  expectedUpdatedAt: z.string().datetime({ offset: true, message: 'must be an instant, as updatedAt gives it' }).nullable().optional(),
}).strict();
const deleteProductBody = z.object({
  /** The product's updatedAt as the remover read it; absent, whatever version is there goes. */
  expectedUpdatedAt: z.string().datetime({ offset: true, message: 'must be an instant, as updatedAt gives it' }).optional(),
  reason: z.string().max(2000).optional(),
}).strict();
const keyRequestBody = z.object({
  componentRef: z.string().min(1),
  productId: z.string().min(1),
  plan: z.string().min(1),
  justification: z.string().trim().min(10, 'must say why, in at least 10 characters').max(2000),
}).strict();
const approveBody = z.object({
  reason: z.string().max(2000).optional(),
  expiresInDays: z.number().int('must be a whole number').positive().max(3650).optional(),
  /** Narrows the key to some of the plan's models (or routes). */
  models: z.array(z.string().min(1)).min(1).optional(),
}).strict();
const denyBody = z.object({ reason: z.string().trim().min(1, 'say why the request is denied').max(2000) }).strict();
const rotateBody = z.object({ graceSeconds: z.number().int('must be a whole number').min(0).max(MAX_GRACE_SECONDS).optional() }).strict();
const revokeBody = z.object({ reason: z.string().max(2000).optional() }).strict();
const routeWeightsBody = z.object({
  weights: z.record(z.number().int('must be a whole number').min(0).max(100)),
  reason: z.string().max(2000).optional(),
  rollout: z.string().max(400).optional(),
}).strict();

/** The one plugin that sets route weights as itself: argo, for a Rollout's canary. */
const ROLLOUTS_PLUGIN = 'plugin:argo';


function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw new InputError(describeZodIssue(parsed.error));
  return parsed.data;
}

/**
 * An entity reference given in a query (`entityRef`, `consumerRef`),
 * normalised as the store keeps them; a 400 naming the parameter when it is
 * not one. Without `defaultKind` the reference must name its kind.
 */
function queryRef(value: unknown, name: string, defaultKind?: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new InputError(`${name}: must be given once`);
  try {
    return stringifyEntityRef(parseEntityRef(value, { defaultKind, defaultNamespace: 'default' }));
  } catch {
    throw new InputError(`${name}: "${value}" is not an entity reference${defaultKind ? '' : ' with a kind, such as api:default/llm-chat'}`);
  }
}

/** A list's `offset` query parameter: how many of the newest to skip, 0 when absent; a 400 naming it otherwise. */
function listOffset(value: unknown): number {
  if (value === undefined || value === '') return 0;
  if (typeof value === 'string' && /^\d{1,9}$/.test(value)) return Number(value);
  throw new InputError(`offset: a whole number from 0 to 999999999${typeof value === 'string' ? `, not "${value}"` : ''}`);
}

/** A yes-or-no query parameter: `true` or `false`, undefined when absent; a 400 naming it otherwise. */
function queryFlag(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new InputError(`${name}: true or false${typeof value === 'string' ? `, not "${value}"` : ''}`);
}

/** A query parameter given at most once, undefined when absent or empty. */
function queryText(value: unknown, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new InputError(`${name}: must be given once`);
  return value;
}

/** A list's `limit` query parameter: 0 (only the counts) to 500, 500 when absent; a 400 naming it otherwise. */
function listLimit(value: unknown): number {
  if (value === undefined || value === '') return 500;
  const limit = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (!(limit <= 500)) throw new InputError(`limit: a whole number from 0 to 500${typeof value === 'string' ? `, not "${value}"` : ''}`);
  return limit;
}

/** A pending request as its review stores it (GatewayStore.reviewKeyRequest), for the reviewer's answer. */
function decidedRequest(request: GatewayKeyRequest, review: { status: 'approved' | 'denied'; actor: string; at: Date; reason?: string; keyId?: string }): GatewayKeyRequest {
  return {
    ...request,
    status: review.status,
    reviewedBy: review.actor,
    reviewedAt: review.at.toISOString(),
    reviewReason: review.reason,
    keyId: review.keyId,
  };
}

/** The view of a stored key lists show: masked, with an expiry-derived status. */
export function keyView(key: StoredKey, now: Date): GatewayKeyView {
  const expired = key.status === 'active' && key.expiresAt !== undefined && Date.parse(key.expiresAt) <= now.getTime();
  return {
    id: key.id,
    publicId: key.publicId,
    masked: maskKey(key.publicId),
    componentRef: key.componentRef,
    productId: key.productId,
    plan: key.plan,
    ...(key.models ? { models: key.models } : {}),
    status: expired ? 'expired' : key.status,
    createdAt: key.createdAt,
    createdBy: key.createdBy,
    ...(key.expiresAt ? { expiresAt: key.expiresAt } : {}),
    ...(key.revokedAt ? { revokedAt: key.revokedAt, revokedBy: key.revokedBy } : {}),
    ...(key.replacedBy ? { replacedBy: key.replacedBy } : {}),
  };
}

export async function createRouter(options: RouterOptions): Promise<express.Router> {
  const { db, store, audit, catalog, permissions, httpAuth, settings, logger } = options;
  const now = () => options.now?.() ?? new Date();
  const router = Router();
  router.use(...jsonBodies({ limit: '1mb' }));

  // Open to unauthenticated callers (see plugin.ts) so probes can use it; it
  // tells only that the plugin is up and its database answers.
  router.get('/health', async (_req, res) => {
    await db.raw('select 1');
    res.json({ status: 'ok' });
  });

  const userOf = async (req: express.Request) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    return { credentials, actor: credentials.principal.userEntityRef };
  };
  const anyCredentials = (req: express.Request) => httpAuth.credentials(req);
  const principalType = (credentials: Awaited<ReturnType<HttpAuthService['credentials']>>) => (credentials.principal as { type?: string }).type;
  /** A user, or another plugin (argo drives route weights during a rollout). */
  const callerOf = async (req: express.Request) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const principal = credentials.principal as { type?: string; userEntityRef?: string; subject?: string };
    return { credentials, actor: principal.userEntityRef ?? principal.subject ?? 'unknown' };
  };
  const authorizeOn = async (
    permission: ResourcePermission<'catalog-entity'>,
    entityRef: string,
    credentials: Awaited<ReturnType<HttpAuthService['credentials']>>,
    doing: string,
  ) => {
    const [decision] = await permissions.authorize([{ permission, resourceRef: entityRef }], { credentials });
    if (decision.result !== AuthorizeResult.ALLOW) throw new NotAllowedError(`You may not ${doing} (permission ${permission.name} on ${entityRef})`);
  };
  /** The gateway-wide views (every API's requests, the whole audit trail) are the admin page's. */
  const authorizeAdmin = async (credentials: Awaited<ReturnType<HttpAuthService['credentials']>>, doing: string) => {
    const [decision] = await permissions.authorize([{ permission: gatewayAdminPermission }], { credentials });
    if (decision.result !== AuthorizeResult.ALLOW) throw new NotAllowedError(`You may not ${doing} (permission ${gatewayAdminPermission.name})`);
  };
  const entity = async (ref: string, kind: string, credentials: Awaited<ReturnType<HttpAuthService['credentials']>>, field: string): Promise<Entity> => {
    let normalized: string;
    try {
      normalized = stringifyEntityRef(parseEntityRef(ref, { defaultKind: kind, defaultNamespace: 'default' }));
    } catch {
      throw new InputError(`${field}: "${ref}" is not an entity reference`);
    }
    const found = await catalog.getEntityByRef(normalized, { credentials });
    if (!found) throw new NotFoundError(`${field}: no ${kind} ${normalized} in the catalog`);
    if (found.kind.toLowerCase() !== kind.toLowerCase()) throw new InputError(`${field}: ${normalized} is a ${found.kind}, not a ${kind}`);
    return found;
  };
  /**
   * Hands changed keys to this replica's data plane at once. After the change has committed, a
   * failure here must not fail the answer (an approval's or rotation's one-time secret would be
   * lost): the data plane is given every key again when it restarts, and other replicas read
   * changes from the database each second.
   */
  const pushKeys = async (keys: StoredKey[]) => {
    try {
      await options.onKeyChange?.(keys);
    } catch (error) {
      logger.warn(`Could not hand ${keys.map(k => k.publicId).join(', ')} to the data plane now: ${error}`);
    }
  };
  const watchers = settings.keyRequestWatchers ?? [];
  const { outbox } = options;
  /**
   * Sends what a committed change queued. Its author's answer waits for that
   * (a subscriber or a notification has the news when the page does), but
   * for TELL_WAIT_MS at most: a notifications backend that hangs must not
   * hold back an approval's one-time secret. The rest goes on meanwhile.
   */
  const tellNow = async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([outbox.flush(), new Promise(resolve => { timer = setTimeout(resolve, TELL_WAIT_MS); })]);
    clearTimeout(timer);
  };
  const expireKeyRequests = async () => {
    if ((await expireAndTell(store, now(), watchers)).length > 0) await tellNow();
  };
  /** A key event for Backstage's events service, queued with its change. */
  const event = (type: string, payload: Record<string, unknown>): OutboxMessage => ({ kind: 'event', topic: GATEWAY_EVENTS_TOPIC, payload: { type, ...payload } });

  // This replica's data plane, for the admin page.
  router.get('/status', async (req, res) => {
    await authorizeAdmin(await anyCredentials(req), "read the gateway's status");
    if (!options.status) throw new NotFoundError('This portal runs no gateway data plane');
    res.json(options.status());
  });

  // Products ---------------------------------------------------------------

  router.get('/products', async (req, res) => {
    const credentials = await anyCredentials(req);
    const entityRef = queryRef(req.query.entityRef, 'entityRef');
    if (entityRef) {
      await authorizeOn(gatewayReadPermission, entityRef, credentials, `read the gateway products of ${entityRef}`);
      const product = await store.getProductByEntity(entityRef);
      res.json({ items: product ? [product] : [] });
      return;
    }
    const all = await store.listProducts();
    const decisions = all.length === 0 ? [] : await permissions.authorize(
      all.map(p => ({ permission: gatewayReadPermission, resourceRef: p.entityRef })), { credentials });
    res.json({ items: all.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW) });
  });

  router.get('/products/:id', async (req, res) => {
    const credentials = await anyCredentials(req);
    const product = await store.getProduct(req.params.id);
    if (!product) throw new NotFoundError(`No gateway product ${req.params.id}`);
    await authorizeOn(gatewayReadPermission, product.entityRef, credentials, `read gateway product ${product.id}`);
    res.json(product);
  });

  router.put('/products/:id', async (req, res) => {
    const { credentials, actor } = await userOf(req);
    const id = req.params.id;
    const idProblem = productIdProblem(id);
    if (idProblem) throw new InputError(idProblem);
    const body = parse(productBody, req.body);
    const api = await entity(body.entityRef, 'API', credentials, 'entityRef');
    const apiRef = stringifyEntityRef(api);
    await authorizeOn(gatewayProductManagePermission, apiRef, credentials, `define the gateway product of ${apiRef}`);
    const existing = await store.getProductByEntity(apiRef);
    if (existing && existing.id !== id) throw new ConflictError(`${apiRef} already has the gateway product ${existing.id} (changed by ${existing.updatedBy} at ${existing.updatedAt}); read it and edit that`);
    const validated = validateProductSpec(body.spec, settings.allowedUpstreamHosts);
    if (!validated.ok) throw new InputError(validated.message);
    const previous = await store.getProduct(id);
    if (previous && previous.entityRef !== apiRef) throw new ConflictError(`Gateway product ${id} belongs to ${previous.entityRef}`);
    if (!previous) {
      // An id is an API's for good: the usage recorded under it stays after a removal, and would show as another API's.
      const removal = await store.lastRemoval(id);
      if (removal?.entityRef && removal.entityRef !== apiRef) {
        throw new ConflictError(`Gateway product id ${id} was ${removal.entityRef}'s until ${removal.at}, and its usage is kept under that id; give this product another id`);
      }
    }
    const expected = body.expectedUpdatedAt;
    if (expected === null && previous) {
      throw new ConflictError(`Gateway product ${id} was created meanwhile (by ${previous.updatedBy} at ${previous.updatedAt}); read it and edit that`);
    }
    if (typeof expected === 'string') {
      if (!previous) throw new ConflictError(`Gateway product ${id} does not exist; create it with expectedUpdatedAt: null`);
      if (Date.parse(previous.updatedAt) !== Date.parse(expected)) {
        throw new ConflictError(`Gateway product ${id} was changed by ${previous.updatedBy} at ${previous.updatedAt}, after the version you edited (${expected}); read it again and redo your edit`);
      }
    }
    const product = await store.putProduct({
      id, entityRef: apiRef, spec: validated.spec, actor, now: now(),
      expect: previous ? { exists: true, ...(typeof expected === 'string' ? { updatedAt: expected } : {}) } : { exists: false },
      audit: replaced => [{
        actor, action: replaced ? 'product.updated' : 'product.created', entityRef: apiRef, target: id,
        ...(replaced ? { details: { changes: productChanges(replaced, validated.spec) } } : {}),
      }],
    });
    await options.onProductChange?.(product);
    res.status(previous ? 200 : 201).json(product);
  });

  /**
   * Takes an API out of the gateway: only once nothing uses the product (no
   * key works, no request waits), so no consumer is cut off by surprise. The
   * body, optional: `expectedUpdatedAt`, the version the caller read (a 409
   * if it changed since), and `reason`, for the trail.
   */
  router.delete('/products/:id', async (req, res) => {
    const { credentials, actor } = await userOf(req);
    const body = parse(deleteProductBody, req.body);
    const product = await store.getProduct(req.params.id);
    if (!product) throw new NotFoundError(`No gateway product ${req.params.id}`);
    await authorizeOn(gatewayProductManagePermission, product.entityRef, credentials, `remove gateway product ${product.id}`);
    // Requests past their expiry end first, told and audited as any other, rather than vanish with the product.
    await expireKeyRequests();
    const removed = await store.deleteProduct({
      id: product.id, now: now(), expectedUpdatedAt: body.expectedUpdatedAt,
      audit: gone => [{ actor, action: 'product.deleted', entityRef: gone.entityRef, target: gone.id, reason: body.reason, details: { plans: gone.plans.map(p => p.name) } }],
    });
    if (!removed) throw new NotFoundError(`No gateway product ${req.params.id}`);
    await options.onProductRemoved?.(product.id);
    res.status(204).end();
  });

  /**
   * A route's weights alone: what a Rollout's canary sets through the
   * `quarterdeck.io/gateway` traffic router. Idempotent; only a change is
   * stored and audited.
   */
  router.put('/products/:id/routes/:route/weights', async (req, res) => {
    const { credentials, actor } = await callerOf(req);
    const body = parse(routeWeightsBody, req.body);
    const product = await store.getProduct(req.params.id);
    if (!product) throw new NotFoundError(`No gateway product ${req.params.id}`);
    const route = (product.routes ?? []).find(r => r.name === req.params.route);
    if (principalType(credentials) === 'service') {
      // A plugin acts for a Rollout, and only for the one the API's owners named on the route: the
      // permission framework allows any plugin anything, and any team's Rollout could name this product.
      if (actor !== ROLLOUTS_PLUGIN) throw new NotAllowedError(`Only ${ROLLOUTS_PLUGIN} sets route weights as a plugin, not ${actor}`);
      if (route && (!body.rollout || route.rollout !== body.rollout)) {
        throw new NotAllowedError(route.rollout
          ? `Route ${route.name} of ${product.id} is driven by Rollout ${route.rollout}, not ${body.rollout ?? 'an unnamed one'}`
          : `Route ${route.name} of ${product.id} names no Rollout that may set its weights (its \`rollout\`, set by the API's owners)`);
      }
    } else {
      await authorizeOn(gatewayProductManagePermission, product.entityRef, credentials, `change the routes of gateway product ${product.id}`);
    }
    if (!route) throw new NotFoundError(`Gateway product ${product.id} has no route ${req.params.route}`);
    const targets = route.targets.map(t => t.model);
    const unknown = Object.keys(body.weights).find(m => !targets.includes(m));
    if (unknown) throw new InputError(`weights.${unknown}: not a target of route ${route.name} (its targets are ${targets.join(', ')})`);
    const next = route.targets.map(t => ({ model: t.model, weight: body.weights[t.model] ?? 0 }));
    if (next.reduce((n, t) => n + t.weight, 0) !== 100) throw new InputError('weights: must add up to 100');
    if (next.every((t, i) => t.weight === route.targets[i].weight)) {
      res.json(product);
      return;
    }
    const { id: _id, entityRef: _ref, updatedAt: _at, updatedBy: _by, ...spec } = product;
    // Only over the version read here: a product PUT meanwhile is not undone (409; the caller reads again).
    const updated = await store.putProduct({
      id: product.id,
      entityRef: product.entityRef,
      spec: { ...spec, routes: (product.routes ?? []).map(r => (r.name === route.name ? { ...r, targets: next } : r)) },
      actor,
      now: now(),
      expect: { exists: true, updatedAt: product.updatedAt },
      audit: () => [{ actor, action: 'route.weights', entityRef: product.entityRef, target: product.id, reason: body.reason, details: { route: route.name, weights: body.weights, ...(body.rollout ? { rollout: body.rollout } : {}) } }],
    });
    await options.onProductChange?.(updated);
    res.json(updated);
  });

  /**
   * A model's calls over a recent window — requests, error rate, p50/p99
   * latency — for a Rollout's analysis (`quarterdeck.io/gateway` metric).
   */
  router.get('/metrics/models', async (req, res) => {
    const { credentials } = await callerOf(req);
    const productId = queryText(req.query.productId, 'productId');
    const model = queryText(req.query.model, 'model');
    const windowSeconds = req.query.windowSeconds === undefined ? 300 : Number(req.query.windowSeconds);
    if (!productId || !model) throw new InputError('productId and model: required');
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 86_400) throw new InputError('windowSeconds: a whole number from 1 to 86400');
    const product = await store.getProduct(productId);
    if (!product) throw new NotFoundError(`No gateway product ${productId}`);
    await authorizeOn(gatewayReadPermission, product.entityRef, credentials, `read the metrics of gateway product ${productId}`);
    // Usage is recorded per model a call reached. Zeros for a name that has none would read as a
    // healthy canary to an analysis with a typo in it: say what the name is instead.
    const models = (product.models ?? []).map(m => m.name);
    if (!models.includes(model)) {
      const route = (product.routes ?? []).find(r => r.name === model);
      if (route) throw new InputError(`model: ${model} is a route of ${productId}; its figures are per model it routes to: ${route.targets.map(t => t.model).join(', ')}`);
      throw new NotFoundError(`model: ${productId} has no model ${model} (it has ${models.join(', ') || 'none'})`);
    }
    const figures = await store.modelFiguresSince({ productId, model, since: new Date(now().getTime() - windowSeconds * 1000) });
    // No calls, no rate and no latency (null), as Prometheus answers an empty vector: a quiet canary is unmeasured, not healthy.
    res.json({ productId, model, windowSeconds, ...figures, errorRate: figures.requests === 0 ? null : figures.errors / figures.requests });
  });

  // Key requests -----------------------------------------------------------

  router.get('/key-requests', async (req, res) => {
    const credentials = await anyCredentials(req);
    const entityRef = queryRef(req.query.entityRef, 'entityRef');
    const status = queryText(req.query.status, 'status');
    if (status && !['pending', 'approved', 'denied', 'expired'].includes(status)) throw new InputError(`status: "${status}" is not pending, approved, denied or expired`);
    if (entityRef) await authorizeOn(gatewayReadPermission, entityRef, credentials, `read the key requests of ${entityRef}`);
    else await authorizeAdmin(credentials, "read every API's key requests; give an entityRef to see one API's or component's");
    await expireKeyRequests();
    const query: Parameters<GatewayStore['listKeyRequests']>[0] = status ? { status: status as 'pending' } : {};
    if (entityRef && parseEntityRef(entityRef).kind.toLowerCase() === 'api') query.apiRef = entityRef;
    else if (entityRef) query.componentRef = entityRef;
    // Pending requests are a review queue (an API's, or every API's on the admin page): the next to expire on top.
    if (status === 'pending') query.oldestFirst = true;
    const items = await store.listKeyRequests(query);
    res.json({ items });
  });

  router.post('/key-requests', async (req, res) => {
    const { credentials, actor } = await userOf(req);
    const body = parse(keyRequestBody, req.body);
    const component = await entity(body.componentRef, 'Component', credentials, 'componentRef');
    const componentRef = stringifyEntityRef(component);
    await authorizeOn(gatewayKeyRequestCreatePermission, componentRef, credentials, `request gateway keys for ${componentRef}`);
    const product = await store.getProduct(body.productId);
    if (!product) throw new NotFoundError(`productId: no gateway product ${body.productId}`);
    if (!product.plans.some(p => p.name === body.plan)) {
      throw new InputError(`plan: product ${product.id} has no plan "${body.plan}" (it has ${product.plans.map(p => p.name).join(', ')})`);
    }
    const consumes = (component.relations ?? []).some(r => r.type === 'consumesApi' && r.targetRef === product.entityRef);
    if (!consumes) throw new InputError(`componentRef: ${componentRef} does not list ${product.entityRef} in consumesApis`);
    // Expired first, so an expired request does not count as pending (the store's unique index enforces one pending).
    await expireKeyRequests();
    const at = now();
    const id = crypto.randomUUID();
    const created: GatewayKeyRequest = {
      id,
      productId: product.id,
      plan: body.plan,
      apiRef: product.entityRef,
      componentRef,
      justification: body.justification,
      status: 'pending',
      requestedBy: actor,
      requestedAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + settings.keyRequestTtlMs).toISOString(),
    };
    const request = await store.createKeyRequest(created, [
      { actor, action: 'key-request.created', entityRef: componentRef, target: id, reason: body.justification, details: { productId: product.id, plan: body.plan } },
      { actor, action: 'key-request.created', entityRef: product.entityRef, target: id, reason: body.justification, details: { componentRef, plan: body.plan } },
    ], [
      event('key.requested', { requestId: id, productId: product.id, apiRef: product.entityRef, componentRef, plan: body.plan, actor }),
      ...asMessages([keyRequested(created, watchers)]),
    ]);
    await tellNow();
    res.status(201).json(request);
  });

  const reviewable = async (req: express.Request) => {
    const { credentials, actor } = await userOf(req);
    const request = await store.getKeyRequest(req.params.id);
    if (!request) throw new NotFoundError(`No key request ${req.params.id}`);
    await authorizeOn(gatewayKeyRequestReviewPermission, request.apiRef, credentials, `review key requests for ${request.apiRef}`);
    if (request.status !== 'pending') throw new ConflictError(`Key request ${request.id} is ${request.status}, not pending`);
    if (Date.parse(request.expiresAt) <= now().getTime()) {
      await expireKeyRequests();
      throw new ConflictError(`Key request ${request.id} expired at ${request.expiresAt}`);
    }
    return { request, actor };
  };

  router.post('/key-requests/:id/approve', async (req, res) => {
    const { request, actor } = await reviewable(req);
    const body = parse(approveBody, req.body);
    const at = now();
    // The product may have changed since the request: a key for a plan it no longer has could never be used.
    const product = await store.getProduct(request.productId);
    const plan = product?.plans.find(p => p.name === request.plan);
    if (!product || !plan) {
      throw new ConflictError(planGone(request.productId, request.plan));
    }
    if (body.models) {
      const allowed = modelsInPlan(product, plan);
      const outside = body.models.find(m => !allowed.includes(m));
      if (outside) throw new InputError(`models: "${outside}" is not a model of plan ${request.plan} (it has ${allowed.length ? allowed.join(', ') : 'no models'})`);
    }
    const material = generateKey(settings.keySecret);
    const expiresAt = body.expiresInDays ? new Date(at.getTime() + body.expiresInDays * 86_400_000).toISOString() : undefined;
    const key: StoredKey = {
      id: crypto.randomUUID(),
      publicId: material.publicId,
      secretHash: material.hash,
      componentRef: request.componentRef,
      productId: request.productId,
      plan: request.plan,
      ...(body.models ? { models: body.models } : {}),
      status: 'active',
      createdAt: at.toISOString(),
      createdBy: actor,
      ...(expiresAt ? { expiresAt } : {}),
      ...(expiresAt && Date.parse(expiresAt) - at.getTime() <= (settings.keyExpiryWarningMs ?? 0) ? { expiryWarnedAt: at.toISOString() } : {}),
      updatedAt: at.toISOString(),
      requestId: request.id,
    };
    const approved = [request.apiRef, request.componentRef].map(entityRef => (
      { actor, action: 'key-request.approved', entityRef, target: request.id, reason: body.reason, details: { keyId: key.id, publicId: key.publicId } }));
    // The request as the review stores it, from what is known here: a read that failed after the commit would lose the
    // one-time secret for good (the key is issued; a retry is answered 409).
    const decided = decidedRequest(request, { status: 'approved', actor, at, reason: body.reason, keyId: key.id });
    const tell = [
      event('key.approved', { requestId: request.id, keyId: key.id, productId: request.productId, componentRef: request.componentRef, actor }),
      ...asMessages(keyRequestDecided(decided, { actor, publicId: key.publicId, expiresAt }, watchers)),
    ];
    if (!(await store.reviewKeyRequest({ id: request.id, status: 'approved', reviewer: actor, reason: body.reason, at, key }, approved, tell))) {
      throw new ConflictError(`Key request ${request.id} was decided or expired meanwhile`);
    }
    await pushKeys([key]);
    await tellNow();
    const issued: IssuedKey = { key: keyView(key, at), secret: material.full };
    // Shown once: kept by no cache, the browser's or a proxy's.
    res.set('cache-control', 'no-store').status(201).json({ request: decided, issued });
  });

  router.post('/key-requests/:id/deny', async (req, res) => {
    const { request, actor } = await reviewable(req);
    const body = parse(denyBody, req.body);
    const denied = [request.apiRef, request.componentRef].map(entityRef => ({ actor, action: 'key-request.denied', entityRef, target: request.id, reason: body.reason }));
    const at = now();
    // As an approval's: the decision is committed, and a retry would be answered 409.
    const decided = decidedRequest(request, { status: 'denied', actor, at, reason: body.reason });
    const tell = [
      event('key.denied', { requestId: request.id, productId: request.productId, componentRef: request.componentRef, actor, reason: body.reason }),
      ...asMessages(keyRequestDecided(decided, { actor }, watchers)),
    ];
    if (!(await store.reviewKeyRequest({ id: request.id, status: 'denied', reviewer: actor, reason: body.reason, at }, denied, tell))) {
      throw new ConflictError(`Key request ${request.id} was decided or expired meanwhile`);
    }
    await tellNow();
    res.json(decided);
  });

  // Keys -------------------------------------------------------------------

  router.get('/keys', async (req, res) => {
    const credentials = await anyCredentials(req);
    const entityRef = queryRef(req.query.entityRef, 'entityRef');
    if (!entityRef) {
      // Every product's counts, for the admin page: one grouped count. No list: that would be a sort of every key.
      const extra = ['offset', 'productId', 'accepted'].find(name => req.query[name] !== undefined);
      if (extra) throw new InputError(`${extra}: only with an entityRef`);
      if (listLimit(req.query.limit) !== 0) {
        throw new InputError("entityRef: required to list keys (an API or a component); without it, limit=0 counts every product's keys");
      }
      await authorizeAdmin(credentials, "count every product's keys; give an entityRef to see one API's or component's");
      const counts = await store.countKeysByProduct({}, now());
      const list: GatewayKeyList = { items: [], totalItems: 0, activeItems: 0, byProduct: {} };
      for (const [id, c] of Object.entries(counts)) {
        list.totalItems += c.total;
        list.activeItems += c.active;
        list.byProduct![id] = { totalItems: c.total, activeItems: c.active };
      }
      res.json(list);
      return;
    }
    await authorizeOn(gatewayReadPermission, entityRef, credentials, `read the gateway keys of ${entityRef}`);
    const limit = listLimit(req.query.limit);
    const offset = listOffset(req.query.offset);
    const accepted = queryFlag(req.query.accepted, 'accepted');
    const productId = queryText(req.query.productId, 'productId');
    let whose: KeyQuery | undefined;
    if (parseEntityRef(entityRef).kind.toLowerCase() === 'api') {
      if (productId) throw new InputError(`productId: only with a component's entityRef (the keys of ${entityRef} are its product's)`);
      const product = await store.getProductByEntity(entityRef);
      whose = product && { productId: product.id };
    } else {
      whose = { componentRef: entityRef, productId };
    }
    const at = now();
    const list: GatewayKeyList = { items: [], totalItems: 0, activeItems: 0 };
    if (whose) {
      const page = { ...whose, limit, offset, accepted: accepted === undefined ? undefined : { at, now: accepted } };
      // A component's whole list counts per product too (its page shows each API's keys apart); the sums are its counts.
      const perProduct = Boolean(whose.componentRef && !whose.productId);
      const [keys, counts] = await Promise.all([
        store.listKeys(page),
        perProduct ? store.countKeysByProduct(whose, at) : store.countKeys(whose, at).then(c => ({ all: c })),
      ]);
      list.items = keys.map(k => keyView(k, at));
      for (const c of Object.values(counts)) {
        list.totalItems += c.total;
        list.activeItems += c.active;
      }
      if (perProduct) {
        list.byProduct = Object.fromEntries(Object.entries(counts).map(([id, c]) => [id, { totalItems: c.total, activeItems: c.active }]));
      }
    }
    res.json(list);
  });

  /**
   * A key to act on, and the entities its audit rows go on: the component
   * that owns it and the API it calls, so the API's owners see what happens
   * to the keys they granted. Rotation is the component's owners' (the new
   * secret is theirs to hold); revocation is theirs too, and also the API's
   * reviewers' — those who grant a key can take it back (a leak reported to
   * them, a consumer that misbehaves) without waiting for its owners.
   */
  const manageable = async (req: express.Request, action: 'rotate' | 'revoke') => {
    const { credentials, actor } = await userOf(req);
    const key = await store.getKey(req.params.id);
    if (!key) throw new NotFoundError(`No gateway key ${req.params.id}`);
    const product = await store.getProduct(key.productId);
    // Removed a moment ago: its keys went with it (only once none of them worked).
    if (!product) throw new NotFoundError(`No gateway key ${req.params.id}`);
    const apiRef = product.entityRef;
    const asked = [{ permission: gatewayKeyManagePermission, resourceRef: key.componentRef }];
    if (action === 'revoke') asked.push({ permission: gatewayKeyRequestReviewPermission, resourceRef: apiRef });
    const decisions = await permissions.authorize(asked, { credentials });
    if (!decisions.some(d => d.result === AuthorizeResult.ALLOW)) {
      const needed = asked.map(a => `${a.permission.name} on ${a.resourceRef}`).join(', or ');
      throw new NotAllowedError(`You may not ${action} the gateway keys of ${key.componentRef} (permission ${needed})`);
    }
    if (key.status !== 'active') throw new ConflictError(`Key ${key.publicId} is revoked`);
    return { key, actor, apiRef, entityRefs: [key.componentRef, apiRef] };
  };

  router.post('/keys/:id/rotate', async (req, res) => {
    const { key, actor, apiRef, entityRefs } = await manageable(req, 'rotate');
    const body = parse(rotateBody, req.body);
    if (key.replacedBy) throw new ConflictError(`Key ${key.publicId} was already rotated to ${key.replacedBy}`);
    const at = now();
    if (key.expiresAt && Date.parse(key.expiresAt) <= at.getTime()) throw new ConflictError(`Key ${key.publicId} expired at ${key.expiresAt}`);
    const graceSeconds = body.graceSeconds ?? 86_400;
    const material = generateKey(settings.keySecret);
    const next: StoredKey = {
      ...key,
      id: crypto.randomUUID(),
      publicId: material.publicId,
      secretHash: material.hash,
      createdAt: at.toISOString(),
      createdBy: actor,
      updatedAt: at.toISOString(),
      replacedBy: undefined,
      revokedAt: undefined,
      revokedBy: undefined,
    };
    // The grace period shortens the old key's life, never lengthens it past the expiry it was approved with.
    const graceUntil = new Date(Math.min(at.getTime() + graceSeconds * 1000, key.expiresAt ? Date.parse(key.expiresAt) : Infinity));
    const rotated = entityRefs.map(entityRef => ({ actor, action: 'key.rotated', entityRef, target: key.id, details: { publicId: key.publicId, newKeyId: next.id, graceSeconds, graceUntil: graceUntil.toISOString() } }));
    const tell = [
      event('key.rotated', { keyId: key.id, newKeyId: next.id, componentRef: key.componentRef, productId: key.productId, graceUntil: graceUntil.toISOString(), actor }),
      ...asMessages([keyRotated({ ...key, apiRef }, { actor, newPublicId: next.publicId, graceUntil: graceUntil.toISOString() })]),
    ];
    if (!(await store.rotateKey({ previous: key, next, graceUntil, at }, rotated, tell))) throw new ConflictError(`Key ${key.publicId} changed meanwhile`);
    await pushKeys([{ ...key, replacedBy: next.id, expiresAt: graceUntil.toISOString(), updatedAt: at.toISOString() }, next]);
    await tellNow();
    const issued: IssuedKey = { key: keyView(next, at), secret: material.full };
    res.set('cache-control', 'no-store').status(201).json(issued);
  });

  router.post('/keys/:id/revoke', async (req, res) => {
    const { key, actor, apiRef, entityRefs } = await manageable(req, 'revoke');
    const body = parse(revokeBody, req.body);
    const at = now();
    const revocation = entityRefs.map(entityRef => ({ actor, action: 'key.revoked', entityRef, target: key.id, reason: body.reason, details: { publicId: key.publicId } }));
    const tell = [
      event('key.revoked', { keyId: key.id, componentRef: key.componentRef, productId: key.productId, actor, reason: body.reason }),
      ...asMessages([keyRevoked({ ...key, apiRef }, { actor, reason: body.reason })]),
    ];
    if (!(await store.revokeKey({ id: key.id, actor, at }, revocation, tell))) throw new ConflictError(`Key ${key.publicId} changed meanwhile`);
    // As revokeKey stored it, not read back: the revocation has committed, and a retry would be answered 409.
    const revoked: StoredKey = { ...key, status: 'revoked', revokedAt: at.toISOString(), revokedBy: actor, updatedAt: at.toISOString() };
    await pushKeys([revoked]);
    await tellNow();
    res.json(keyView(revoked, at));
  });

  // Usage ------------------------------------------------------------------

  router.get('/usage', async (req, res) => {
    const credentials = await anyCredentials(req);
    const entityRef = queryRef(req.query.entityRef, 'entityRef');
    const hours = req.query.hours === undefined ? 24 : Number(req.query.hours);
    if (!Number.isInteger(hours) || hours < 1 || hours > MAX_USAGE_HOURS) throw new InputError(`hours: a whole number from 1 to ${MAX_USAGE_HOURS}`);
    const isApi = entityRef !== undefined && parseEntityRef(entityRef).kind.toLowerCase() === 'api';
    const consumerRef = queryRef(req.query.consumerRef, 'consumerRef', 'component');
    if (consumerRef && !isApi) {
      throw new InputError(`consumerRef: only with an API's entityRef (${entityRef ? "a component's usage is its own calls" : "the whole gateway's usage is not narrowed to one consumer"})`);
    }
    if (entityRef) await authorizeOn(gatewayReadPermission, entityRef, credentials, `read the gateway usage of ${entityRef}`);
    else await authorizeAdmin(credentials, "read the whole gateway's usage; give an entityRef to see one API's or component's");
    const to = now();
    const from = new Date(to.getTime() - hours * 3_600_000);
    // From the start of the first bucket (an hour, or a UTC day past a week), so that bucket is whole.
    const bucketMs = bucketFor(hours);
    const since = new Date(Math.floor(from.getTime() / bucketMs) * bucketMs);
    if (!entityRef) {
      // Summed by the database, a dimension at a time: a row per hour, product, consumer or version, not per series.
      const [byTime, byProduct, byConsumer, byModel] = await Promise.all((['time', 'product', 'consumer', 'model'] as const)
        .map(by => store.usageTotalsSince({ since, bucketMs, by })));
      res.json(summarizeGatewayUsage({ byTime, byProduct, byConsumer, byModel }, await store.listProducts(), from, to, bucketMs));
      return;
    }
    let rows: StoredHourlyRow[] = [];
    if (isApi) {
      // A removed product's usage stays the API's: its page still shows the calls made before.
      const productIds = await store.productIdsOfApi(entityRef);
      if (productIds.length > 0) rows = await store.usageRollupSince({ productIds, since, bucketMs });
    } else {
      rows = await store.usageRollupSince({ consumerRef: entityRef, since, bucketMs });
    }
    res.json(summarizeUsage(rows, from, to, consumerRef, bucketMs));
  });

  router.get('/audit', async (req, res) => {
    const credentials = await anyCredentials(req);
    const entityRef = queryRef(req.query.entityRef, 'entityRef');
    if (entityRef) await authorizeOn(gatewayReadPermission, entityRef, credentials, `read the gateway audit trail of ${entityRef}`);
    else await authorizeAdmin(credentials, "read the whole gateway's audit trail; give an entityRef to see one entity's");
    const action = queryText(req.query.action, 'action');
    if (action && !(GATEWAY_AUDIT_ACTIONS as readonly string[]).includes(action)) {
      throw new InputError(`action: one of ${GATEWAY_AUDIT_ACTIONS.join(', ')}, not "${action}"`);
    }
    const beforeText = queryText(req.query.before, 'before');
    const before = beforeText === undefined ? undefined : parseAuditCursor(beforeText);
    if (beforeText !== undefined && !before) throw new InputError(`before: "${beforeText}" is not the next of an earlier page`);
    const limitText = queryText(req.query.limit, 'limit');
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!/^\d{1,3}$/.test(limitText ?? '1') || limit < 1 || limit > 500) throw new InputError(`limit: a whole number from 1 to 500, not "${limitText}"`);
    const page = await audit.page({ entityRef, action, before, limit });
    const answer: GatewayAuditPage = { items: page.items, ...(page.next ? { next: formatAuditCursor(page.next) } : {}) };
    res.json(answer);
  });

  refuseOtherMethods(router);
  return router;
}
