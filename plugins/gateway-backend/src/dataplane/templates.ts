import type { GatewayPromptTemplate } from '@quarterdeck/plugin-gateway-common';

/**
 * Prompt templates published as REST endpoints: `POST /v1/templates/<name>`
 * with `{ "variables": { … } }`. Variables are typed and checked; the
 * messages are rendered by plain substitution of `{{name}}` (no expressions,
 * nothing evaluated), then sent as a chat completion.
 */

export type Rendered = { ok: true; messages: Array<{ role: string; content: string }> } | { ok: false; field: string; message: string };

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The variables a template's messages use. */
export function placeholders(template: Pick<GatewayPromptTemplate, 'messages'>): string[] {
  const names = new Set<string>();
  for (const m of template.messages) for (const match of m.content.matchAll(PLACEHOLDER)) names.add(match[1]);
  return [...names];
}

/** What is wrong with a value for a variable (given in a call, or as the variable's default), if anything. */
export function valueProblem(variable: GatewayPromptTemplate['variables'][number], value: unknown): string | undefined {
  switch (variable.type) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string';
      if (variable.maxLength !== undefined && value.length > variable.maxLength) return `at most ${variable.maxLength} characters`;
      return undefined;
    case 'number':
      return typeof value !== 'number' || !Number.isFinite(value) ? 'must be a number' : undefined;
    case 'boolean':
      return typeof value !== 'boolean' ? 'must be true or false' : undefined;
    case 'enum':
      return typeof value !== 'string' || !(variable.values ?? []).includes(value) ? `must be one of ${(variable.values ?? []).join(', ')}` : undefined;
    default:
      return 'unknown type';
  }
}

export function renderTemplate(template: GatewayPromptTemplate, input: unknown): Rendered {
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    return { ok: false, field: 'variables', message: 'variables: must be an object' };
  }
  const given = (input ?? {}) as Record<string, unknown>;
  const values = new Map<string, string>();
  for (const name of Object.keys(given)) {
    if (!template.variables.some(v => v.name === name)) return { ok: false, field: `variables.${name}`, message: `variables.${name}: template ${template.name} has no such variable` };
  }
  for (const variable of template.variables) {
    const field = `variables.${variable.name}`;
    // Own members only: a variable named `constructor` is not Object.prototype's.
    let value = Object.hasOwn(given, variable.name) ? given[variable.name] : undefined;
    if (value === undefined) {
      if (variable.default !== undefined) value = variable.default;
      else if (variable.required === false) {
        // Left out, and optional: the placeholder renders empty, whatever its type.
        values.set(variable.name, '');
        continue;
      } else return { ok: false, field, message: `${field}: required` };
    }
    const problem = valueProblem(variable, value);
    if (problem) return { ok: false, field, message: `${field}: ${problem}` };
    values.set(variable.name, String(value));
  }
  return {
    ok: true,
    messages: template.messages.map(m => ({ role: m.role, content: m.content.replace(PLACEHOLDER, (_, name: string) => values.get(name) ?? '') })),
  };
}
