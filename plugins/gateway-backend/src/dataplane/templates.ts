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
    let value = given[variable.name];
    if (value === undefined) {
      if (variable.default !== undefined) value = variable.default;
      else if (variable.required === false) value = '';
      else return { ok: false, field, message: `${field}: required` };
    }
    switch (variable.type) {
      case 'string':
        if (typeof value !== 'string') return { ok: false, field, message: `${field}: must be a string` };
        if (variable.maxLength !== undefined && value.length > variable.maxLength) return { ok: false, field, message: `${field}: at most ${variable.maxLength} characters` };
        break;
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, field, message: `${field}: must be a number` };
        break;
      case 'boolean':
        if (typeof value !== 'boolean') return { ok: false, field, message: `${field}: must be true or false` };
        break;
      case 'enum':
        if (typeof value !== 'string' || !(variable.values ?? []).includes(value)) {
          return { ok: false, field, message: `${field}: must be one of ${(variable.values ?? []).join(', ')}` };
        }
        break;
      default:
        return { ok: false, field, message: `${field}: unknown type` };
    }
    values.set(variable.name, String(value));
  }
  return {
    ok: true,
    messages: template.messages.map(m => ({ role: m.role, content: m.content.replace(PLACEHOLDER, (_, name: string) => values.get(name) ?? '') })),
  };
}
