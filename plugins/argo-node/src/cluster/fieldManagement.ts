import { ApplyConflictError, type FieldConflict } from './errors';
import type { FieldsV1, KubeObject, ManagedFieldsEntry } from './types';

/**
 * Server-side apply's field ownership, for the local driver: which manager
 * owns which fields, conflicts, and removal of fields a manager stops
 * applying. Maps merge key by key; lists are atomic (a CRD's default, and the
 * simplification the local driver makes for built-in kinds too).
 *
 * Fields are leaf paths such as `.spec.replicas` or `.data.key`; on objects
 * they are stored in the API server's FieldsV1 encoding.
 */

type Json = unknown;
type Obj = Record<string, Json>;

/** Top-level fields no manager owns: identity and bookkeeping. */
const UNTRACKED_TOP = new Set(['apiVersion', 'kind', 'status']);
const UNTRACKED_METADATA = new Set([
  'name', 'namespace', 'generateName', 'uid', 'resourceVersion', 'generation',
  'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink',
]);

const isObj = (v: Json): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function escapeKey(key: string): string {
  return key.replace(/~/g, '~0').replace(/\./g, '~1');
}
function unescapeKey(key: string): string {
  return key.replace(/~1/g, '.').replace(/~0/g, '~');
}
export function splitPath(path: string): string[] {
  return path.split('.').slice(1).map(unescapeKey);
}

function collectLeaves(value: Json, prefix: string, out: Set<string>) {
  if (isObj(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) collectLeaves(v, `${prefix}.${escapeKey(k)}`, out);
  } else {
    out.add(prefix);
  }
}

/**
 * The fields an object (or applied configuration) sets, for the spec-like
 * part (`subresource` undefined) or the status subresource.
 */
export function fieldsOf(object: Obj, subresource?: 'status'): Set<string> {
  const out = new Set<string>();
  if (subresource === 'status') {
    if (object.status !== undefined) collectLeaves(object.status, '.status', out);
    return out;
  }
  for (const [k, v] of Object.entries(object)) {
    if (UNTRACKED_TOP.has(k)) continue;
    if (k === 'metadata' && isObj(v)) {
      for (const [mk, mv] of Object.entries(v)) {
        if (UNTRACKED_METADATA.has(mk)) continue;
        collectLeaves(mv, `.metadata.${escapeKey(mk)}`, out);
      }
      continue;
    }
    collectLeaves(v, `.${escapeKey(k)}`, out);
  }
  return out;
}

export function getPath(object: Json, path: string): Json {
  let cur: Json = object;
  for (const part of splitPath(path)) {
    if (!isObj(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function deletePath(object: Obj, path: string) {
  const parts = splitPath(path);
  const parents: Obj[] = [];
  let cur: Json = object;
  for (const part of parts.slice(0, -1)) {
    if (!isObj(cur)) return;
    parents.push(cur);
    cur = cur[part];
  }
  if (!isObj(cur)) return;
  delete cur[parts[parts.length - 1]];
  // Prune maps the removal left empty, as the API server does for applied maps.
  for (let i = parts.length - 2; i >= 0; i--) {
    const parent = parents[i];
    const child = parent[parts[i]];
    if (isObj(child) && Object.keys(child).length === 0 && i > 0) delete parent[parts[i]];
    else break;
  }
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Merges applied into live: maps key by key, everything else replaced. */
export function mergeApplied(live: Json, applied: Json): Json {
  if (!isObj(live) || !isObj(applied)) return structuredClone(applied);
  const out: Obj = { ...live };
  for (const [k, v] of Object.entries(applied)) {
    out[k] = k in live ? mergeApplied(live[k], v) : structuredClone(v);
  }
  return out;
}

export function toFieldsV1(fields: Set<string>): FieldsV1 {
  const root: FieldsV1 = {};
  for (const path of [...fields].sort()) {
    let node = root;
    for (const part of splitPath(path)) {
      const key = `f:${part}`;
      node[key] ??= {};
      node = node[key];
    }
  }
  return root;
}

export function fromFieldsV1(fieldsV1: FieldsV1 | undefined): Set<string> {
  const out = new Set<string>();
  const walk = (node: FieldsV1, prefix: string) => {
    const children = Object.keys(node).filter(k => k.startsWith('f:'));
    if (children.length === 0 && prefix) out.add(prefix);
    for (const k of children) walk(node[k], `${prefix}.${escapeKey(k.slice(2))}`);
  };
  walk(fieldsV1 ?? {}, '');
  return out;
}

/** Whether path a is b, or one contains the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

interface Entry {
  manager: string;
  operation: 'Apply' | 'Update';
  subresource?: string;
  apiVersion: string;
  time?: string;
  fields: Set<string>;
}

function entriesOf(object: KubeObject): Entry[] {
  return (object.metadata.managedFields ?? []).map(e => ({
    manager: e.manager,
    operation: e.operation,
    subresource: e.subresource,
    apiVersion: e.apiVersion,
    time: e.time,
    fields: fromFieldsV1(e.fieldsV1),
  }));
}

function writeEntries(object: KubeObject, entries: Entry[]) {
  const kept = entries.filter(e => e.fields.size > 0);
  if (kept.length === 0) {
    delete object.metadata.managedFields;
    return;
  }
  object.metadata.managedFields = kept.map(
    (e): ManagedFieldsEntry => ({
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      time: e.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(e.fields),
      ...(e.subresource ? { subresource: e.subresource } : {}),
    }),
  );
}

const sameSubresource = (e: Entry, subresource?: string) => (e.subresource ?? '') === (subresource ?? '');

export interface ApplyInput {
  live: KubeObject | undefined;
  applied: KubeObject;
  manager: string;
  force: boolean;
  subresource?: 'status';
  now: string;
}

/**
 * Server-side apply: returns the merged object with updated managedFields,
 * or throws ApplyConflictError listing fields other managers own with other
 * values. Identity and bookkeeping metadata are left to the caller.
 */
export function serverSideApply(input: ApplyInput): KubeObject {
  const { live, applied, manager, force, subresource, now } = input;
  const appliedFields = fieldsOf(applied as Obj, subresource);
  const entries = live ? entriesOf(live) : [];
  const mine = entries.find(e => e.manager === manager && e.operation === 'Apply' && sameSubresource(e, subresource));
  const previous = mine?.fields ?? new Set<string>();

  const conflicts: FieldConflict[] = [];
  for (const other of entries) {
    if (other === mine || !sameSubresource(other, subresource)) continue;
    for (const field of appliedFields) {
      for (const owned of other.fields) {
        if (!overlaps(field, owned)) continue;
        const same = live !== undefined && deepEqual(getPath(applied, field), getPath(live, field));
        if (same) continue;
        if (force) other.fields.delete(owned);
        else conflicts.push({ manager: other.manager, field: owned.length > field.length ? owned : field });
      }
    }
  }
  if (conflicts.length > 0) {
    const unique = [...new Map(conflicts.map(c => [`${c.manager}${c.field}`, c])).values()];
    throw new ApplyConflictError(unique);
  }

  const base: Obj = live ? structuredClone(live) : {};
  const part = subresource === 'status'
    ? { status: (applied as Obj).status }
    : Object.fromEntries(Object.entries(applied).filter(([k]) => k !== 'status'));
  const merged = mergeApplied(base, part) as KubeObject;

  // Fields this manager applied before and no longer applies are removed,
  // unless another manager still owns them.
  for (const field of previous) {
    if ([...appliedFields].some(f => overlaps(f, field))) continue;
    const ownedElsewhere = entries.some(e => e !== mine && sameSubresource(e, subresource) && [...e.fields].some(f => overlaps(f, field)));
    if (!ownedElsewhere) deletePath(merged as Obj, field);
  }

  const next = entries.filter(e => e !== mine);
  next.push({
    manager,
    operation: 'Apply',
    subresource,
    apiVersion: applied.apiVersion,
    time: now,
    fields: appliedFields,
  });
  writeEntries(merged, next);
  return merged;
}

function changedFields(before: Obj | undefined, after: Obj, subresource?: 'status'): Set<string> {
  const afterFields = fieldsOf(after, subresource);
  const changed = new Set<string>();
  for (const f of afterFields) {
    if (!before || !deepEqual(getPath(before, f), getPath(after, f))) changed.add(f);
  }
  return changed;
}

/**
 * Records a non-apply write (create, update, patch) by `manager`: the fields
 * whose value it changed become its own, and leave other managers.
 */
export function recordUpdate(
  before: KubeObject | undefined,
  after: KubeObject,
  manager: string,
  now: string,
  subresource?: 'status',
): void {
  const changed = changedFields(before as Obj | undefined, after as Obj, subresource);
  const entries = before ? entriesOf(before) : [];
  // Fields the write removed are owned by no one any more.
  const present = fieldsOf(after as Obj, subresource);
  for (const e of entries) {
    if (!sameSubresource(e, subresource)) continue;
    for (const f of [...e.fields]) {
      if ([...changed].some(c => overlaps(c, f)) || ![...present].some(p => overlaps(p, f))) e.fields.delete(f);
    }
  }
  if (changed.size > 0) {
    let entry = entries.find(e => e.manager === manager && e.operation === 'Update' && sameSubresource(e, subresource));
    if (!entry) {
      entry = { manager, operation: 'Update', subresource, apiVersion: after.apiVersion, fields: new Set() };
      entries.push(entry);
    }
    for (const f of changed) entry.fields.add(f);
    entry.time = now;
  }
  writeEntries(after, entries);
}
