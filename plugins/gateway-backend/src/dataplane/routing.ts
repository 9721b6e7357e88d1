import type { GatewayModel, GatewayPlan, GatewayProduct, GatewayUpstream } from '@quarterdeck/plugin-gateway-common';

/** One place a call can go: a model on its upstream. */
export interface Target {
  model: GatewayModel;
  upstream: GatewayUpstream;
}

export type Resolution =
  | { ok: true; attempts: Target[]; route?: string; largerContext?: Target }
  | { ok: false; status: 403 | 404; message: string; code: string };


/**
 * A product's models by name, each with its upstream as a Target, built once
 * per version of it (each version is a new object): a call is then given
 * the same Target objects as every other, not new ones to keep for as long
 * as its stream lasts.
 */
const indexes = new WeakMap<GatewayProduct, Map<string, Target>>();

function targetsOf(product: GatewayProduct): Map<string, Target> {
  let targets = indexes.get(product);
  if (!targets) {
    const upstreams = new Map(product.upstreams.map(u => [u.name, u]));
    targets = new Map((product.models ?? []).map(model => [model.name, { model, upstream: upstreams.get(model.upstream)! }]));
    indexes.set(product, targets);
  }
  return targets;
}

/**
 * Where a call for `requested` goes: a model, or a route's weighted pick
 * followed by its fallbacks in order. `random` is in [0, 1).
 */
export function resolveModel(product: GatewayProduct, plan: GatewayPlan, requested: string, random: number): Resolution {
  const targets = targetsOf(product);
  const target = (name: string): Target => targets.get(name)!;
  const route = (product.routes ?? []).find(r => r.name === requested);
  if (!route && !targets.has(requested)) {
    return { ok: false, status: 404, code: 'model_not_found', message: `The model \`${requested}\` does not exist or you do not have access to it.` };
  }
  if (plan.models && !plan.models.includes(requested)) {
    return { ok: false, status: 403, code: 'model_not_allowed', message: `The model \`${requested}\` is not in plan "${plan.name}" (it allows ${plan.models.join(', ')}).` };
  }
  if (!route) return { ok: true, attempts: [target(requested)] };
  let point = random * route.targets.reduce((n, t) => n + t.weight, 0);
  let chosen = route.targets[route.targets.length - 1].model;
  for (const t of route.targets) {
    if (point < t.weight) {
      chosen = t.model;
      break;
    }
    point -= t.weight;
  }
  // Each model once: one listed twice would be called twice, its timeout waited twice.
  const order = [...new Set([chosen, ...(route.fallbacks ?? [])])];
  return { ok: true, attempts: order.map(target), route: route.name, ...(route.largerContextModel ? { largerContext: target(route.largerContextModel) } : {}) };
}
