/**
 * The shapes the gateway's control plane (`/api/gateway`) reads and writes.
 * A product is one declarative document per catalog API entity, validated
 * and stored whole, like a Kubernetes object.
 */

/** Where requests go: an OpenAI-compatible server or a REST service. */
export interface GatewayUpstream {
  name: string;
  /** Base URL; `/v1/...` (openai) or the product's sub-path (rest) is appended. */
  url: string;
  /** A version label (`v1`, `v2`): usage and metrics carry it, so a rollout can compare versions. */
  version?: string;
  /** Per-attempt timeout; a timeout counts for fallbacks. Default 30 s. */
  timeoutMs?: number;
}

export interface GatewayModel {
  /** The name clients send in `model`. */
  name: string;
  upstream: string;
  /** The name the upstream knows it by, if different. */
  upstreamModel?: string;
  /** Context window in tokens. */
  contextWindow: number;
  /** USD per million input (prompt) tokens. */
  inputPricePerMillion: number;
  /** USD per million output (completion) tokens. */
  outputPricePerMillion: number;
}

/**
 * A model alias: a weighted split across models (versions or upstreams),
 * fallbacks tried in order on error or timeout, and a larger-context model
 * for conversations that do not fit.
 */
export interface GatewayModelRoute {
  name: string;
  targets: Array<{ model: string; weight: number }>;
  fallbacks?: string[];
  largerContextModel?: string;
  /**
   * The Rollout, as `cluster/namespace/name`, whose canary may set this
   * route's weights through the argo plugin. The API's owners name it: no
   * other Rollout moves their traffic.
   */
  rollout?: string;
}

export interface GatewayPlan {
  name: string;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  dailyTokens?: number;
  monthlyTokens?: number;
  /** USD. */
  dailyCost?: number;
  /** USD. */
  monthlyCost?: number;
  /** Models (or route names) this plan may use; all when absent. */
  models?: string[];
}

export interface GatewayProductSpec {
  kind: 'openai' | 'rest';
  title?: string;
  upstreams: GatewayUpstream[];
  models?: GatewayModel[];
  routes?: GatewayModelRoute[];
  plans: GatewayPlan[];
  /** Prompt templates published as REST endpoints (openai products). */
  templates?: GatewayPromptTemplate[];
}

export interface GatewayProduct extends GatewayProductSpec {
  /** The product name, as in `/p/<product>/…` and `quarterdeck.io/gateway-product`. */
  id: string;
  /** The API entity it belongs to. */
  entityRef: string;
  updatedAt: string;
  updatedBy: string;
}

export type KeyRequestStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface GatewayKeyRequest {
  id: string;
  productId: string;
  plan: string;
  apiRef: string;
  componentRef: string;
  justification: string;
  status: KeyRequestStatus;
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  reviewedBy?: string;
  reviewedAt?: string;
  reviewReason?: string;
  keyId?: string;
}

/** A key as lists show it: never the secret, nor its hash. */
export interface GatewayKeyView {
  id: string;
  /** The key's public part; the full key is `qdk_<publicId>_<secret>`. */
  publicId: string;
  /** `qdk_<publicId>_…` */
  masked: string;
  componentRef: string;
  productId: string;
  plan: string;
  models?: string[];
  status: 'active' | 'revoked' | 'expired';
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  /** Set on a rotated key: the key that replaces it. */
  replacedBy?: string;
}

/**
 * `GET /keys`: the newest keys (at most `limit`, 500 at most) and how many
 * there are in all, so that a list cut short says so and an overview can
 * count without reading every key.
 */
export interface GatewayKeyList {
  items: GatewayKeyView[];
  /** Every key of the component or product, whatever its state. */
  totalItems: number;
  /** Those still accepted now: active and not expired (a rotated key in its grace period counts). */
  activeItems: number;
  /**
   * A component's list without `productId`, or every product's counts (no
   * entityRef, limit 0): the same counts for each product that has keys.
   */
  byProduct?: Record<string, { totalItems: number; activeItems: number }>;
}

/** The answer to an approval or a rotation: the only time the full key is shown. */
export interface IssuedKey {
  key: GatewayKeyView;
  /** The full key. Shown once; only its HMAC is stored. */
  secret: string;
}

/**
 * The status a call is recorded with when the client closed it before its
 * response was whole (nginx's 499): the client's doing, counted neither as
 * the upstream's error nor as an error on the usage pages.
 */
export const CLIENT_CLOSED_STATUS = 499;

/** Totals of a group of calls. */
export interface UsageTotals {
  requests: number;
  /** Calls answered with a 4xx or 5xx (not those the client closed: CLIENT_CLOSED_STATUS). */
  errors: number;
  promptTokens: number;
  completionTokens: number;
  /** USD. */
  cost: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * `GET /usage?entityRef=…&hours=…[&consumerRef=…]`: an API's or a
 * component's calls over a window; an API's narrowed to one consumer with
 * `consumerRef`.
 */
export interface GatewayUsageSummary {
  /** Where the series starts: the start of the bucket the window's start falls in, so the first bucket is whole. */
  from: string;
  to: string;
  /** The consumer the summary is narrowed to: `series` and `byModel` are its calls; `byConsumer` still lists every consumer. */
  consumerRef?: string;
  /** Each series bucket's length: an hour, or a UTC day for a window past a week. */
  bucketMs: number;
  /**
   * Upper bounds (ms) of the rollup's latency histogram, ascending. Each
   * `p50Ms` and `p99Ms` is one of them: the bound of the bucket its quantile
   * falls in; or the last bound + 1 when it is slower than the last bound.
   * 0 where there were no calls.
   */
  latencyBoundsMs: number[];
  /** One entry per bucket (hour), oldest first, empty buckets included. */
  series: Array<UsageTotals & { start: string }>;
  byConsumer: Array<UsageTotals & { consumerRef: string }>;
  /** By model and upstream (`name@version`), which is how versions compare. */
  byModel: Array<UsageTotals & { model: string; upstream: string }>;
  /**
   * The whole gateway's usage only (no entityRef): by product id, a removed
   * product's included. `entityRef` and `title` are those of a product still
   * offered; a removed product has neither.
   */
  byProduct?: Array<UsageTotals & { productId: string; entityRef?: string; title?: string }>;
}

/** A typed variable of a prompt template. */
export interface GatewayTemplateVariable {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'enum';
  /** For `enum`. */
  values?: string[];
  /** Default true. */
  required?: boolean;
  default?: string | number | boolean;
  /** For `string`. */
  maxLength?: number;
  description?: string;
}

/** A prompt published as `POST /v1/templates/<name>` on the data plane. */
export interface GatewayPromptTemplate {
  name: string;
  description?: string;
  /** A model or route of the product. */
  model: string;
  /** Message contents may use `{{variable}}`. */
  messages: Array<{ role: 'system' | 'user' | 'assistant' | 'developer'; content: string }>;
  variables: GatewayTemplateVariable[];
  maxTokens?: number;
  temperature?: number;
}

/** `GET /audit?entityRef=…`: one mutating gateway action, newest first. */
export interface GatewayAuditEvent {
  id: string;
  createdAt: string;
  /** The acting user's (or service's) entity ref. */
  actor: string;
  /** e.g. `product.updated`, `key-request.approved`, `key.revoked`. */
  action: string;
  /** The catalog entity concerned (the API, or the consuming component). */
  entityRef?: string;
  /** The product, request or key id. */
  target: string;
  reason?: string;
  details?: Record<string, unknown>;
}

/** Every action the gateway's audit trail records, for `GET /audit?action=`. */
export const GATEWAY_AUDIT_ACTIONS = [
  'product.created',
  'product.updated',
  'product.deleted',
  'route.weights',
  'key-request.created',
  'key-request.approved',
  'key-request.denied',
  'key-request.expired',
  'key.rotated',
  'key.revoked',
] as const;
export type GatewayAuditAction = (typeof GATEWAY_AUDIT_ACTIONS)[number];

/**
 * `GET /audit`: a page of the trail, newest first. `next` is the `before` to
 * ask for the page of older entries, absent on the last page.
 */
export interface GatewayAuditPage {
  items: GatewayAuditEvent[];
  next?: string;
}

/** `GET /status` (gateway.admin): this replica's data plane and the policy it serves. Holds no secret. */
export interface GatewayStatus {
  dataPlane: {
    /** Serving now; false while it starts, or starts again after dying. */
    running: boolean;
    /** The replica's host name: behind a load balancer each answer may come from another replica. */
    host: string;
    url?: string;
    pid?: number;
    /** When the process serving now started serving. */
    since?: string;
    /** Times it died and was started again since the portal started. */
    restarts: number;
    lastExit?: { at: string; code: number | null; signal: string | null };
    /** Who forwards streamed events, and why not the native relay when it does not. */
    streams: { relay: 'native' | 'javascript'; reason?: string };
  };
  /** Where limits and budgets are counted: this replica's memory, or Redis shared by every replica. */
  limits: 'memory' | 'redis';
  /** Hosts a product's upstreams may point at (`gateway.allowedUpstreamHosts`). */
  allowedUpstreamHosts: string[];
  /**
   * Upstreams of stored products whose host the allowlist no longer takes (narrowed after they
   * were written): the data plane does not call them. Absent from a replica older than this field.
   */
  upstreamsOutsideAllowlist?: Array<{ productId: string; upstream: string; host: string }>;
  /** What the data plane holds: keys (live, and dead within the retention) and products. */
  held: { keys: number; products: number };
  /** Groups and users told of every key request beside each API's owners (`gateway.keyRequestWatchers`). */
  keyRequestWatchers: string[];
  /**
   * This replica's usage rows not yet in the database (a backlog that grows means the database
   * does not keep up with the calls), and those dropped since the portal started (the portal's
   * backlog past its bound, rows the database refused, or rows its data plane process dropped when
   * the portal did not take them fast enough). Absent from a replica older than this field.
   */
  usageRows?: { waiting: number; dropped: number };
}
