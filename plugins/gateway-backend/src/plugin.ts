import { coreServices, createBackendPlugin } from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { gatewayPermissions } from '@quarterdeck/plugin-gateway-common';
import { GatewayAuditStore } from './database/AuditStore';
import { KnexGatewayStore } from './database/GatewayStore';
import { applyDatabaseMigrations } from './database/migrations';
import { MemoryLimits, periods, type Limits } from './dataplane/limits';
import { RedisLimits } from './dataplane/redisLimits';
import { KeyCache } from './dataplane/keyCache';
import { ProductCache } from './dataplane/productCache';
import { startDataPlane } from './dataplane/server';
import { UsageWriter } from './dataplane/usageWriter';
import { createRouter } from './service/router';
import { seedProducts } from './service/seed';

/** The data plane's default port (`gateway.listen.port`). */
export const DEFAULT_DATA_PLANE_PORT = 7008;

/**
 * The `gateway` backend plugin: the control plane under `/api/gateway`
 * (products, key requests, keys, audit) and the data plane on its own port
 * (`gateway.listen`), sharing this process's key and product caches.
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
      },
      async init({ logger, config, database, httpRouter, httpAuth, permissions, permissionsRegistry, lifecycle, scheduler, catalog, events }) {
        const db = await applyDatabaseMigrations(database);
        permissionsRegistry.addPermissions(gatewayPermissions);
        const keySecret = config.getString('gateway.keySecret');
        if (keySecret.length < 32) throw new Error('gateway.keySecret must be at least 32 characters');
        const settings = {
          keySecret,
          allowedUpstreamHosts: config.getOptionalStringArray('gateway.allowedUpstreamHosts') ?? [],
          keyRequestTtlMs: (config.getOptionalNumber('gateway.keyRequestTtlDays') ?? 7) * 86_400_000,
        };
        const store = new KnexGatewayStore(db);
        const keys = new KeyCache(store, { keySecret, logger });
        const products = new ProductCache(store, { logger });
        const usage = new UsageWriter(store, { logger });

        httpRouter.use(await createRouter({
          logger, db, store, audit: new GatewayAuditStore(db), catalog, permissions, httpAuth, events, settings,
          onKeyChange: key => keys.apply(key),
          onProductChange: product => products.apply(product),
        }));
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });

        await seedProducts({ store, files: config.getOptionalStringArray('gateway.products') ?? [], allowedHosts: settings.allowedUpstreamHosts, logger });
        await Promise.all([keys.start(), products.start()]);
        usage.start();
        // Retention: raw calls serve short windows; the hourly rollup serves the usage pages.
        const rawDays = config.getOptionalNumber('gateway.usageRetentionDays') ?? 30;
        const hourlyDays = config.getOptionalNumber('gateway.usageRollupRetentionDays') ?? 400;
        await scheduler.scheduleTask({
          id: 'gateway-usage-retention',
          frequency: { hours: 1 },
          timeout: { minutes: 10 },
          initialDelay: { minutes: 1 },
          fn: async () => {
            const now = Date.now();
            const removed = await store.deleteUsageBefore(new Date(now - rawDays * 86_400_000), new Date(now - hourlyDays * 86_400_000));
            if (removed.raw + removed.hourly > 0) logger.info(`Gateway usage retention removed ${removed.raw} calls and ${removed.hourly} hourly rows`);
          },
        });
        const host = config.getOptionalString('gateway.listen.host') ?? '127.0.0.1';
        const port = config.getOptionalNumber('gateway.listen.port') ?? DEFAULT_DATA_PLANE_PORT;
        const redisUrl = config.getOptionalString('gateway.redis.url');
        let limits: Limits;
        if (redisUrl) {
          limits = await RedisLimits.connect(redisUrl);
          logger.info('Gateway limits and budgets are kept in Redis (shared by every replica)');
        } else {
          // One replica: budgets start from what the usage table says was spent this day and month.
          const memory = new MemoryLimits();
          const now = Date.now();
          const { day, month } = periods(now);
          for (const spent of await store.spendByKey(new Date(`${month}-01T00:00:00Z`), new Date(`${day}T00:00:00Z`))) memory.seed(spent.keyId, spent, now);
          limits = memory;
        }
        const dataPlane = await startDataPlane({ host, port, keys, products, limits, usage, logger });
        logger.info(`Gateway data plane listening on ${dataPlane.url}`);
        lifecycle.addShutdownHook(async () => {
          keys.stop();
          products.stop();
          await dataPlane.close();
          await usage.stop();
          await limits.close?.();
        });
      },
    });
  },
});
