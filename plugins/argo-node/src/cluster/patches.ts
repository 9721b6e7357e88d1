import { InvalidObjectError } from './errors';
import type { JsonPatchOperation } from './types';

/** RFC 7386 JSON merge patch: objects merge, `null` removes, everything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    return structuredClone(patch);
  }
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The RFC 7386 merge patch that turns `before` into `after` (the inverse of
 * applyMergePatch): objects diffed member by member at every depth, a member
 * gone (or undefined) written as `null`, anything else replaced whole;
 * undefined when they are the same. A patch of only the top level would
 * leave a nested member the new value no longer has in place.
 */
export function createMergePatch(before: unknown, after: unknown): unknown {
  if (isPlainObject(before) && isPlainObject(after)) {
    const patch: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(after)) {
      if (value === undefined) continue;
      const member = createMergePatch(before[key], value);
      if (member !== undefined) patch[key] = member;
    }
    for (const key of Object.keys(before)) if (before[key] !== undefined && after[key] === undefined) patch[key] = null;
    return Object.keys(patch).length > 0 ? patch : undefined;
  }
  return JSON.stringify(before) === JSON.stringify(after) ? undefined : after;
}

/** Two JSON values equal member by member, whatever the order of an object's keys. */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every(key => key in b && sameJson(a[key], b[key]));
  }
  return a === b;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new InvalidObjectError(`invalid JSON pointer "${pointer}"`);
  return pointer.slice(1).split('/').map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function locate(doc: unknown, tokens: string[], path: string): { parent: any; key: string } {
  let cur: any = doc;
  for (const t of tokens.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object' || !(t in cur)) {
      throw new InvalidObjectError(`json patch: path ${path} does not exist`);
    }
    cur = cur[t];
  }
  if (cur === null || typeof cur !== 'object') throw new InvalidObjectError(`json patch: path ${path} does not exist`);
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function get(doc: unknown, path: string): unknown {
  let cur: any = doc;
  for (const t of parsePointer(path)) {
    if (cur === null || typeof cur !== 'object' || !(t in cur)) {
      throw new InvalidObjectError(`json patch: path ${path} does not exist`);
    }
    cur = cur[t];
  }
  return cur;
}

function remove(doc: unknown, path: string): unknown {
  const { parent, key } = locate(doc, parsePointer(path), path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw new InvalidObjectError(`json patch: index ${key} out of range at ${path}`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw new InvalidObjectError(`json patch: path ${path} does not exist`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function add(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return structuredClone(value);
  const { parent, key } = locate(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length) || (replace && i >= parent.length)) {
      throw new InvalidObjectError(`json patch: index ${key} out of range at ${path}`);
    }
    if (replace) parent[i] = structuredClone(value);
    else parent.splice(i, 0, structuredClone(value));
  } else {
    if (replace && !(key in parent)) throw new InvalidObjectError(`json patch: path ${path} does not exist`);
    parent[key] = structuredClone(value);
  }
  return doc;
}

/** RFC 6902 JSON patch; a failed `test` or a missing path is an InvalidObjectError. */
export function applyJsonPatch(target: unknown, ops: JsonPatchOperation[]): unknown {
  if (!Array.isArray(ops)) throw new InvalidObjectError('json patch must be an array of operations');
  let doc = structuredClone(target);
  for (const op of ops) {
    switch (op.op) {
      case 'add': doc = add(doc, op.path, op.value, false); break;
      case 'replace': doc = add(doc, op.path, op.value, true); break;
      case 'remove': remove(doc, op.path); break;
      case 'test':
        // Compared as values, as the API server compares them: members in any order.
        if (!sameJson(get(doc, op.path), op.value)) {
          throw new InvalidObjectError(`json patch: test failed at ${op.path}`);
        }
        break;
      case 'move': doc = add(doc, op.path, remove(doc, op.from!), false); break;
      case 'copy': doc = add(doc, op.path, get(doc, op.from!), false); break;
      default:
        throw new InvalidObjectError(`json patch: unknown operation "${(op as { op: string }).op}"`);
    }
  }
  return doc;
}
