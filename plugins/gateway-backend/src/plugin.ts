import { coreServices, createBackendPlugin } from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { gatewayPermissions, keyRequestWatchers } from '@quarterdeck/plugin-gateway-common';
import { GatewayAuditStore } from './database/AuditStore';
import { KnexGatewayStore } from './database/GatewayStore';
import { GatewayOutboxStore } from './database/OutboxStore';
import { applyDatabaseMigrations } from './database/migrations';
import { periods } from './dataplane/limits';
import { PolicyFeed } from './dataplane/policyFeed';
import { DataPlaneProcess } from './dataplane/supervisor';
import { upstreamsOutsideAllowlist } from './dataplane/upstreamHosts';
import { UsageWriter } from './dataplane/usageWriter';
import { expireKeyRequests, warnOfExpiringKeys } from './service/notifications';
import { OutboxDelivery } from './service/outbox';
import { createRouter } from './service/router';
import { DAY_MS } from './usage/rollup';
import { spendSoFar } from './usage/spend';
import { dailyRepairSince, rawUsageBefore } from './usage/summary';
import { seedProducts } from './service/seed';

/** The data plane's default port (`gateway.listen.port`). */
export const DEFAULT_DATA_PLANE_PORT = 7008;

/** The longest a key request may wait for review (`gateway.keyRequestTtlDays`); the preflight checks the same. */
const MAX_KEY_REQUEST_TTL_DAYS = 3650;

/**
 * The `gateway` backend plugin: the control plane under `/api/gateway`
 * (products, key requests, keys, audit) and the data plane on its own port
 * (`gateway.listen`) in a process of its own, fed keys and products by
 * this one and sending usage back (dataplane/supervisor.ts).
 */
export const gatewayPlugin = createBackendPlugin({
  pluginId: 'gateway',
  register(env) {
    env.registerInit({
      deps: {
        logger: coreServices.logger,
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        lifecycle: coreServices.lifecycle,
        scheduler: coreServices.scheduler,
        catalog: catalogServiceRef,
        events: eventsServiceRef,
        notifications: notificationService,
      },
      async init({ logger, config, database, httpRouter, httpAuth, permissions, permissionsRegistry, lifecycle, scheduler, catalog, events, notifications }) {
        const db = await applyDatabaseMigrations(database);
        permissionsRegistry.addPermissions(gatewayPermissions);
        const keySecret = config.getString('gateway.keySecret');
        if (keySecret.length < 32) throw new Error('gateway.keySecret must be at least 32 characters');
        const warningDays = config.getOptionalNumber('gateway.keyExpiryWarningDays') ?? 7;
        if (!(warningDays >= 0)) throw new Error('gateway.keyExpiryWarningDays must be a number of days, 0 or more');
        // Not 0 or less (every request would be born expired), nor past ten years (a request's expiry past what a date
        // holds would fail every request).
        const requestTtlDays = config.getOptionalNumber('gateway.keyRequestTtlDays') ?? 7;
        if (!(requestTtlDays > 0 && requestTtlDays <= MAX_KEY_REQUEST_TTL_DAYS)) {
          throw new Error(`gateway.keyRequestTtlDays must be a number of days, more than 0 and at most ${MAX_KEY_REQUEST_TTL_DAYS}`);
        }
        const settings = {
          keySecret,
          keyRequestWatchers: keyRequestWatchers(config.getOptional('gateway.keyRequestWatchers')),
          allowedUpstreamHosts: config.getOptionalStringArray('gateway.allowedUpstreamHosts') ?? [],
          keyRequestTtlMs: requestTtlDays * DAY_MS,
          keyExpiryWarningMs: warningDays * DAY_MS,
        };
        const retentionDays = config.getOptionalNumber('gateway.deadKeyRetentionDays');
        if (retentionDays !== undefined && !(retentionDays >= 0)) throw new Error('gateway.deadKeyRetentionDays must be a number of days, 0 or more');
        const deadKeyRetentionMs = retentionDays === undefined ? undefined : retentionDays * DAY_MS;
        const store = new KnexGatewayStore(db);
        const outbox = new OutboxDelivery(new GatewayOutboxStore(db), { events, notifications }, logger);
        // The portal writes usage; the data plane process only sends it.
        const usage = new UsageWriter(store, { logger });
        const feed = new PolicyFeed(store, { logger, deadKeyRetentionMs });
        const redisUrl = config.getOptionalString('gateway.redis.url');
        const dataPlane = new DataPlaneProcess({
          host: config.getOptionalString('gateway.listen.host') ?? '127.0.0.1',
          port: config.getOptionalNumber('gateway.listen.port') ?? DEFAULT_DATA_PLANE_PORT,
          keySecret,
          deadKeyRetentionMs,
          redisUrl,
          allowedUpstreamHosts: settings.allowedUpstreamHosts,
          nativeStreamRelay: config.getOptionalBoolean('gateway.nativeStreamRelay'),
          singleThreadedGc: config.getOptionalBoolean('gateway.singleThreadedGc'),
          logger,
          feed,
          // One replica keeps budgets in memory: they start from what the usage table says was spent this day and month.
          spend: () => spendSoFar(store),
          usage,
        });

        httpRouter.use(await createRouter({
          logger, db, store, audit: new GatewayAuditStore(db), catalog, permissions, httpAuth, outbox, settings,
          onKeyChange: async keys => void (await feed.applyKeys(keys)),
          onProductChange: product => feed.applyProduct(product),
          onProductRemoved: id => feed.removeProduct(id),
          status: () => {
            const held = feed.snapshot();
            // The Redis URL may carry a password: the page is told only which store counts.
            return {
              dataPlane: dataPlane.status(), limits: redisUrl ? 'redis' : 'memory',
              allowedUpstreamHosts: settings.allowedUpstreamHosts,
              upstreamsOutsideAllowlist: upstreamsOutsideAllowlist(held.products, settings.allowedUpstreamHosts),
              held: { keys: held.keys.length, products: held.products.length }, keyRequestWatchers: settings.keyRequestWatchers,
              usageRows: { waiting: usage.waiting, dropped: usage.dropped + dataPlane.usageRowsDropped },
            };
          },
        }));
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });

        await seedProducts({ store, files: config.getOptionalStringArray('gateway.products') ?? [], allowedHosts: settings.allowedUpstreamHosts, logger });
        // Retention: raw calls serve short windows; the rollups by hour and by day serve the usage pages.
        const rawDays = config.getOptionalNumber('gateway.usageRetentionDays') ?? 30;
        const rollupDays = config.getOptionalNumber('gateway.usageRollupRetentionDays') ?? 400;
        for (const [name, days] of [['usageRetentionDays', rawDays], ['usageRollupRetentionDays', rollupDays]] as const) {
          if (!(days >= 1)) throw new Error(`gateway.${name} must be a number of days, 1 or more`);
        }
        await scheduler.scheduleTask({
          id: 'gateway-usage-retention',
          frequency: { hours: 1 },
          timeout: { minutes: 10 },
          initialDelay: { minutes: 1 },
          fn: async signal => {
            const now = Date.now();
            const removed = await store.deleteUsageBefore(rawUsageBefore(new Date(now), rawDays), new Date(now - rollupDays * DAY_MS), { signal });
            // A day is far past any writer's retries (they last while the database is down).
            await store.deleteUsageBatchIdsBefore(new Date(now - DAY_MS));
            // Budgets read the current month's spend only.
            await store.deleteKeySpendBefore(new Date(`${periods(now).month}-01T00:00:00Z`));
            if (removed.raw + removed.hourly + removed.daily > 0) {
              logger.info(`Gateway usage retention removed ${removed.raw} calls, ${removed.hourly} hourly rows and ${removed.daily} daily rows`);
            }
          },
        });
        // Each batch of calls reaches both rollups in one transaction, but a replica of a version before the daily
        // rollup writes the hourly one only: during a rolling upgrade (or a rollback that lasts), days would be short.
        // Every hour, each day a page can show (the last 31, and today) is set to the sum of its hours where the two disagree;
        // a day the retention has begun to remove is left as it is.
        await scheduler.scheduleTask({
          id: 'gateway-usage-daily-repair',
          frequency: { hours: 1 },
          timeout: { minutes: 10 },
          initialDelay: { minutes: 2 },
          fn: async () => {
            const now = new Date();
            const repaired = await store.repairDailyUsage(dailyRepairSince(now, rollupDays), now);
            if (repaired > 0) logger.info(`Gateway usage: set ${repaired} rows of the daily rollup to the sum of their hours`);
          },
        });
        // Requests also expire when a page looks at them; the sweep ends, and tells of, those no one looks at,
        // and tells the owners of keys that expire soon.
        await scheduler.scheduleTask({
          id: 'gateway-expiry-sweep',
          frequency: { minutes: 5 },
          timeout: { minutes: 1 },
          initialDelay: { seconds: 30 },
          fn: async () => {
            const at = new Date();
            await expireKeyRequests(store, at, settings.keyRequestWatchers);
            if (warningDays > 0) await warnOfExpiringKeys(store, at, warningDays * DAY_MS);
            await outbox.flush();
          },
        });
        // What a change could not tell at once (a crash after its commit, the events or notifications service
        // failing) is told from the outbox; every replica looks, and a message is taken by one at a time.
        await scheduler.scheduleTask({
          id: 'gateway-outbox',
          scope: 'local',
          frequency: { seconds: 10 },
          timeout: { minutes: 5 },
          initialDelay: { seconds: 5 },
          fn: () => outbox.flush(),
        });
        await feed.load();
        // A narrowed allowlist leaves products written before it in the database: their upstreams are refused, and said so.
        for (const outside of upstreamsOutsideAllowlist(feed.snapshot().products, settings.allowedUpstreamHosts)) {
          logger.warn(`Gateway product ${outside.productId}: upstream ${outside.upstream} is not called, its host "${outside.host}" is not in gateway.allowedUpstreamHosts; allow the host again or edit the product`);
        }
        usage.start();
        // Polling from before the data plane starts (seconds, building the relay or waiting for usage to drain): a key
        // revoked on another replica meanwhile is sent to it as it listens, not a poll interval after it took traffic.
        feed.start();
        let url: string;
        try {
          url = await dataPlane.start();
        } catch (error) {
          feed.stop();
          throw error;
        }
        if (redisUrl) logger.info('Gateway limits and budgets are kept in Redis (shared by every replica)');
        logger.info(`Gateway data plane listening on ${url} (process ${dataPlane.pid})`);
        lifecycle.addShutdownHook(async () => {
          feed.stop();
          await dataPlane.stop();
          await usage.stop();
        });
      },
    });
  },
});
