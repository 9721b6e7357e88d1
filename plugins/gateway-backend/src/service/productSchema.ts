import type { GatewayProductSpec } from '@quarterdeck/plugin-gateway-common';
import { z } from 'zod';
import { placeholders, valueProblem } from '../dataplane/templates';
import { upstreamAllowed } from '../dataplane/upstreamHosts';

/**
 * A product document, validated whole: shapes with zod, then the references
 * between its parts (models name upstreams, routes and plans name models)
 * and the upstream allowlist. Every problem names its field.
 */

const name = z.string().regex(/^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/, 'must be 1–63 lowercase letters, digits, "-", "." or "_"');
const positiveInt = z.number().int('must be a whole number').positive('must be positive');
// Finite: YAML's `.inf` (a product file) and JSON's `1e400` (a PUT) read as Infinity, which JSON.stringify stores as
// null; a price or budget of null then bills nothing or refuses every call.
const finite = z.number().finite('must be a finite number');
const nonNegative = finite.nonnegative('must not be negative');
// Model names and upstream versions are answered in response headers (x-quarterdeck-model, …), where Node refuses
// anything but printable characters: one outside them would fail every call to the model.
/** A Rollout as `cluster/namespace/name`: the cluster's name as configured, then two DNS labels. */
export const ROLLOUT_REF = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const headerSafe = (max: number) => z.string().min(1).max(max).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it is sent in response headers)');

export const productSpecSchema = z.object({
  kind: z.enum(['openai', 'rest']),
  title: z.string().max(200).optional(),
  upstreams: z.array(z.object({
    name,
    url: z.string().url('must be a URL'),
    version: headerSafe(63).optional(),
    timeoutMs: positiveInt.max(600_000, 'must be at most 600000').optional(),
  }).strict()).min(1, 'a product needs at least one upstream'),
  models: z.array(z.object({
    name: headerSafe(127),
    upstream: name,
    upstreamModel: z.string().min(1).max(127).optional(),
    contextWindow: positiveInt,
    inputPricePerMillion: nonNegative,
    outputPricePerMillion: nonNegative,
  }).strict()).optional(),
  routes: z.array(z.object({
    name: headerSafe(127),
    targets: z.array(z.object({ model: z.string().min(1), weight: z.number().int('must be a whole number').min(0).max(100) }).strict()).min(1, 'a route needs at least one target'),
    fallbacks: z.array(z.string().min(1)).optional(),
    largerContextModel: z.string().min(1).optional(),
    rollout: z.string().regex(ROLLOUT_REF, 'must be cluster/namespace/name, each a DNS label').optional(),
  }).strict()).optional(),
  templates: z.array(z.object({
    name,
    description: z.string().max(500).optional(),
    model: z.string().min(1),
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant', 'developer']), content: z.string().min(1).max(100_000) }).strict()).min(1, 'a template needs at least one message'),
    variables: z.array(z.object({
      name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a letter or "_" followed by letters, digits or "_"'),
      type: z.enum(['string', 'number', 'boolean', 'enum']),
      values: z.array(z.string()).min(1).optional(),
      required: z.boolean().optional(),
      default: z.union([z.string(), finite, z.boolean()]).optional(),
      maxLength: positiveInt.optional(),
      description: z.string().max(500).optional(),
    }).strict()),
    maxTokens: positiveInt.optional(),
    temperature: z.number().min(0).max(2).optional(),
  }).strict()).optional(),
  plans: z.array(z.object({
    name,
    requestsPerMinute: positiveInt.optional(),
    tokensPerMinute: positiveInt.optional(),
    dailyTokens: positiveInt.optional(),
    monthlyTokens: positiveInt.optional(),
    dailyCost: nonNegative.optional(),
    monthlyCost: nonNegative.optional(),
    models: z.array(z.string().min(1)).optional(),
  }).strict()).min(1, 'a product needs at least one plan'),
}).strict();

/** `a.b[0].c: message` for the first zod issue. */
export function describeZodIssue(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  const path = issue.path.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : `${p}${p ? '.' : ''}${k}`), prefix);
  return `${path || 'body'}: ${issue.message}`;
}

/** What is wrong with a product id, if anything: the API's PUT and the example files take the same ids. */
export function productIdProblem(id: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(id) ? undefined : `id: "${id}" must be 1–63 lowercase letters, digits or "-"`;
}

/** The product spec, or the first problem with it. */
export function validateProductSpec(input: unknown, allowedHosts: string[]): { ok: true; spec: GatewayProductSpec } | { ok: false; message: string } {
  const parsed = productSpecSchema.safeParse(input);
  if (!parsed.success) return { ok: false, message: describeZodIssue(parsed.error, 'spec') };
  const spec = parsed.data as GatewayProductSpec;
  const unique = (items: Array<{ name: string }>, field: string) => {
    const seen = new Set<string>();
    for (const [i, item] of items.entries()) {
      if (seen.has(item.name)) return `spec.${field}[${i}].name: "${item.name}" is used twice`;
      seen.add(item.name);
    }
    return undefined;
  };
  const duplicate = unique(spec.upstreams, 'upstreams') ?? unique(spec.models ?? [], 'models') ?? unique(spec.routes ?? [], 'routes') ?? unique(spec.plans, 'plans');
  if (duplicate) return { ok: false, message: duplicate };
  for (const [i, upstream] of spec.upstreams.entries()) {
    const url = new URL(upstream.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, message: `spec.upstreams[${i}].url: must be http or https` };
    // Every reader of the product sees its upstreams: a secret in the URL would be shown to them.
    if (url.username || url.password) return { ok: false, message: `spec.upstreams[${i}].url: must not carry a user or password` };
    if (!upstreamAllowed(url, allowedHosts)) {
      return { ok: false, message: `spec.upstreams[${i}].url: host "${url.host}" is not in gateway.allowedUpstreamHosts` };
    }
  }
  const upstreams = new Set(spec.upstreams.map(u => u.name));
  const models = new Set((spec.models ?? []).map(m => m.name));
  if (spec.kind === 'openai' && models.size === 0) return { ok: false, message: 'spec.models: an openai product needs at least one model' };
  for (const [i, model] of (spec.models ?? []).entries()) {
    if (!upstreams.has(model.upstream)) return { ok: false, message: `spec.models[${i}].upstream: no upstream named "${model.upstream}"` };
  }
  const routes = new Set((spec.routes ?? []).map(r => r.name));
  for (const [i, route] of (spec.routes ?? []).entries()) {
    if (models.has(route.name)) return { ok: false, message: `spec.routes[${i}].name: "${route.name}" is already a model` };
    for (const [j, target] of route.targets.entries()) {
      if (!models.has(target.model)) return { ok: false, message: `spec.routes[${i}].targets[${j}].model: no model named "${target.model}"` };
      // A weight is set per model (the rollouts' weights route): one model, one target.
      if (route.targets.findIndex(t => t.model === target.model) < j) return { ok: false, message: `spec.routes[${i}].targets[${j}].model: "${target.model}" is a target of this route already` };
    }
    if (route.targets.reduce((n, t) => n + t.weight, 0) !== 100) return { ok: false, message: `spec.routes[${i}].targets: weights must add up to 100` };
    for (const [j, fallback] of (route.fallbacks ?? []).entries()) {
      if (!models.has(fallback)) return { ok: false, message: `spec.routes[${i}].fallbacks[${j}]: no model named "${fallback}"` };
      if (route.fallbacks!.indexOf(fallback) < j) return { ok: false, message: `spec.routes[${i}].fallbacks[${j}]: "${fallback}" is a fallback of this route already` };
    }
    if (route.largerContextModel && !models.has(route.largerContextModel)) {
      return { ok: false, message: `spec.routes[${i}].largerContextModel: no model named "${route.largerContextModel}"` };
    }
  }
  for (const [i, template] of (spec.templates ?? []).entries()) {
    if (!models.has(template.model) && !routes.has(template.model)) return { ok: false, message: `spec.templates[${i}].model: no model or route named "${template.model}"` };
    const declared = new Set(template.variables.map(v => v.name));
    const used = placeholders(template).find(variable => !declared.has(variable));
    if (used) return { ok: false, message: `spec.templates[${i}].messages: {{${used}}} is not a declared variable` };
    const enumWithout = template.variables.findIndex(v => v.type === 'enum' && !v.values);
    if (enumWithout >= 0) return { ok: false, message: `spec.templates[${i}].variables[${enumWithout}].values: required for an enum` };
    for (const [j, variable] of template.variables.entries()) {
      if (template.variables.findIndex(v => v.name === variable.name) < j) return { ok: false, message: `spec.templates[${i}].variables[${j}].name: "${variable.name}" is used twice` };
      const problem = variable.default === undefined ? undefined : valueProblem(variable, variable.default);
      if (problem) return { ok: false, message: `spec.templates[${i}].variables[${j}].default: ${problem}` };
    }
  }
  const templateDuplicate = unique(spec.templates ?? [], 'templates');
  if (templateDuplicate) return { ok: false, message: templateDuplicate };
  for (const [i, plan] of spec.plans.entries()) {
    for (const [j, model] of (plan.models ?? []).entries()) {
      if (!models.has(model) && !routes.has(model)) return { ok: false, message: `spec.plans[${i}].models[${j}]: no model or route named "${model}"` };
    }
  }
  return { ok: true, spec };
}
