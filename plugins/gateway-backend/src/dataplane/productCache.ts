import type { LoggerService } from '@backstage/backend-plugin-api';
import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';
import type { GatewayStore } from '../database/GatewayStore';

/**
 * The products the data plane serves, in memory: this replica's changes
 * apply at once, other replicas' within the refresh interval.
 */
export class ProductCache {
  private byId = new Map<string, GatewayProduct>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly store: GatewayStore, private readonly options: { logger?: LoggerService; refreshMs?: number } = {}) {}

  get(id: string) {
    return this.byId.get(id);
  }

  apply(product: GatewayProduct) {
    this.byId.set(product.id, product);
  }

  async refresh() {
    this.byId = new Map((await this.store.listProducts()).map(p => [p.id, p]));
  }

  async start() {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch(error => this.options.logger?.warn(`Gateway product refresh failed: ${error}`));
    }, this.options.refreshMs ?? 2000);
    this.timer.unref?.();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }
}
