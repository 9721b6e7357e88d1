import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';

/** The products the data plane serves, in memory, fed by the control plane (policyFeed.ts). */
export class ProductCache {
  private byId = new Map<string, GatewayProduct>();

  get(id: string) {
    return this.byId.get(id);
  }

  apply(product: GatewayProduct) {
    this.byId.set(product.id, product);
  }

  replace(products: GatewayProduct[]) {
    this.byId = new Map(products.map(p => [p.id, p]));
  }
}
