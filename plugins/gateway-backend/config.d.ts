export interface Config {
  gateway?: {
    /**
     * The server secret gateway keys are hashed with (HMAC-SHA-256), at least
     * 32 characters. Changing it invalidates every issued key.
     * @visibility secret
     */
    keySecret: string;
    /** Where the data plane listens: 127.0.0.1:7008 unless set. */
    listen?: {
      host?: string;
      port?: number;
    };
    /**
     * Hosts a product's upstreams may point at (exact, or `*.example.com`),
     * on any port, or `host:port` for that port only; a product naming any
     * other is refused, and the data plane checks again before each call.
     */
    allowedUpstreamHosts?: string[];
    /** How long a key request waits for review before it expires: more than 0, at most 3650. Default 7. */
    keyRequestTtlDays?: number;
    /**
     * Groups or users (full entity references, such as
     * group:default/platform-admins) told of every key request and of its
     * outcome, beside each API's owners: platform admins who review requests
     * across APIs. Default none.
     */
    keyRequestWatchers?: string[];
    /** How many days before a key expires its component's owners are told, once. 0 tells no one. Default 7. */
    keyExpiryWarningDays?: number;
    /**
     * Days a revoked or expired key stays in the gateway's memory, so that a
     * call with it is told the key was revoked or has expired; after that it
     * is answered as an unknown key (a 401 either way). Its row stays in the
     * database for the pages and the audit. Default 30.
     */
    deadKeyRetentionDays?: number;
    /**
     * Keep request limits, token buckets and budgets in Redis, shared by every
     * replica (one Lua script per call). In memory when unset.
     */
    redis?: {
      /**
       * e.g. redis://127.0.0.1:6379 (it may carry a password)
       * @visibility secret
       */
      url: string;
    };
    /** Days raw calls are kept (they serve short windows such as rollout analysis), 1 or more; the current UTC month is always kept (budgets are rebuilt from it). Default 30. */
    usageRetentionDays?: number;
    /** Days the hourly and daily usage rollups are kept (usage pages), 1 or more. Default 400. */
    usageRollupRetentionDays?: number;
    /**
     * Forward streamed events with the native relay (native/sse_relay.c,
     * compiled with the machine's `cc` at first start and cached under
     * ~/.cache/quarterdeck). Default true; without a compiler, or when false,
     * streams are forwarded in JavaScript.
     */
    nativeStreamRelay?: boolean;
    /**
     * Run the data plane's garbage collector on its JavaScript thread only
     * (V8's --single-threaded-gc). Default true: V8's helper threads would
     * otherwise take the cores that requests, the native relay and the
     * upstreams wait for, which is the first byte's tail on a machine with
     * few cores (docs/gateway.md). Set false where cores are plentiful.
     */
    singleThreadedGc?: boolean;
    /** YAML files of example products (`{ id, entityRef, spec }`), created at start when missing. */
    products?: string[];
  };
}
