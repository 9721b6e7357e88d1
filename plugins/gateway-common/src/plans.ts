import type { GatewayPlan, GatewayProduct } from './api';

/**
 * The models (and routes) a plan lets a key use, in the product's order: the
 * data plane's rule, and what a reviewer may narrow a key to.
 */
export function modelsInPlan(product: Pick<GatewayProduct, 'models' | 'routes'>, plan: Pick<GatewayPlan, 'models'>): string[] {
  const all = [...(product.models ?? []).map(m => m.name), ...(product.routes ?? []).map(r => r.name)];
  return plan.models ? all.filter(m => plan.models!.includes(m)) : all;
}
