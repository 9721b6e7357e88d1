/**
 * Structural OpenAPI v3 schemas, as CustomResourceDefinitions carry them:
 * validation with the API server's messages, pruning of unknown fields, and
 * defaults. The local driver runs every custom resource through the schema
 * of its CRD from `deploy/`, the same schema a real API server enforces.
 */

export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps | boolean;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  anyOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
}

export interface FieldError {
  field: string;
  /** `Required value`, `Invalid value`, `Unsupported value` */
  type: string;
  detail: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (Array.isArray(value)) return '"array"';
  if (isObj(value)) return '"object"';
  return JSON.stringify(value);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(expected: string, value: unknown): boolean {
  const actual = typeOf(value);
  if (expected === 'number') return actual === 'number' || actual === 'integer';
  return actual === expected;
}

/** Validates `value` in place: prunes unknown fields, applies defaults, returns errors. */
export function validateAndPrune(value: unknown, schema: JSONSchemaProps, path: string): FieldError[] {
  const errors: FieldError[] = [];
  walk(value, schema, path, errors);
  return errors;
}

function walk(value: unknown, schema: JSONSchemaProps, path: string, errors: FieldError[]) {
  if (value === null) {
    if (!schema.nullable) errors.push({ field: path, type: 'Invalid value', detail: `"null": ${path} in body must be of type ${schema.type ?? 'object'}: "null"` });
    return;
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !Number.isInteger(value)) {
      errors.push({ field: path, type: 'Invalid value', detail: `${describe(value)}: ${path} in body must be of type int-or-string: ${describe(typeOf(value))}` });
    }
    return;
  }
  if (schema.type && !typeMatches(schema.type, value)) {
    errors.push({ field: path, type: 'Invalid value', detail: `${describe(value)}: ${path} in body must be of type ${schema.type}: "${typeOf(value)}"` });
    return;
  }
  if (schema.enum && !schema.enum.some(e => e === value)) {
    errors.push({ field: path, type: 'Unsupported value', detail: `${describe(value)}: supported values: ${schema.enum.map(e => `"${e}"`).join(', ')}` });
  }
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) {
      errors.push({ field: path, type: 'Invalid value', detail: `"${value}": ${path} in body should match '${schema.pattern}'` });
    }
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      errors.push({ field: path, type: 'Invalid value', detail: `"${value}": ${path} in body should be at least ${schema.minLength} chars long` });
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      errors.push({ field: path, type: 'Too long', detail: `may not be more than ${schema.maxLength} bytes` });
    }
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) {
      errors.push({ field: path, type: 'Invalid value', detail: `${value}: ${path} in body should be greater than or equal to ${schema.minimum}` });
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      errors.push({ field: path, type: 'Invalid value', detail: `${value}: ${path} in body should be less than or equal to ${schema.maximum}` });
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors.push({ field: path, type: 'Invalid value', detail: `${value.length}: ${path} in body should have at least ${schema.minItems} items` });
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      errors.push({ field: path, type: 'Too many', detail: `${value.length}: must have at most ${schema.maxItems} items` });
    }
    if (schema.items) value.forEach((item, i) => walk(item, schema.items!, `${path}[${i}]`, errors));
    return;
  }
  if (isObj(value)) {
    const props = schema.properties ?? {};
    for (const [key, propSchema] of Object.entries(props)) {
      if (value[key] === undefined && propSchema.default !== undefined) {
        value[key] = structuredClone(propSchema.default);
      }
    }
    for (const req of schema.required ?? []) {
      if (value[req] === undefined) errors.push({ field: `${path}.${req}`, type: 'Required value', detail: '' });
    }
    for (const [key, child] of Object.entries(value)) {
      const childPath = `${path}.${key}`;
      if (props[key]) {
        walk(child, props[key], childPath, errors);
      } else if (isObj(schema.additionalProperties)) {
        walk(child, schema.additionalProperties, childPath, errors);
      } else if (schema.additionalProperties === true || schema['x-kubernetes-preserve-unknown-fields']) {
        // kept as it is
      } else if (!schema.type && !schema.properties && schema.additionalProperties === undefined) {
        // an untyped schema accepts anything
      } else {
        delete value[key]; // pruned, as the API server prunes unknown fields
      }
    }
  }
}

/** The API server's one-line form: `Kind.group "name" is invalid: [a: Required value, b: Invalid value: …]`. */
export function formatInvalid(kind: string, group: string, name: string, errors: FieldError[]): string {
  const parts = errors.map(e => (e.detail ? `${e.field}: ${e.type}: ${e.detail}` : `${e.field}: ${e.type}`));
  const what = group ? `${kind}.${group}` : kind;
  return `${what} "${name}" is invalid: ${parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`}`;
}
