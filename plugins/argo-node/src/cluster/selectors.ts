import { InvalidObjectError } from './errors';
import type { KubeObject } from './types';

/**
 * Label and field selectors with the API server's grammar and checks, so the
 * local driver accepts and refuses exactly what a real cluster does.
 */

type Operator = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A label key: `[prefix/]name`, name ≤ 63 characters, prefix a DNS subdomain. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a qualified name must consist of at most one "/"';
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return 'prefix part must be a DNS subdomain';
  }
  if (!name || name.length > 63 || !NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)";
  }
  return undefined;
}

/** A label value: empty, or ≤ 63 alphanumeric characters with `-_.` inside. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)";
  }
  return undefined;
}

function invalid(selector: string, why: string): InvalidObjectError {
  return new InvalidObjectError(`unable to parse label selector "${selector}": ${why}`);
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts;
}

const OPERATORS: Record<string, Operator> = { '=': '=', '==': '=', '!=': '!=', '>': 'gt', '<': 'lt' };

function parseRequirement(selector: string, part: string): Requirement {
  const notExists = /^!\s*([^\s=!<>(),]+)$/.exec(part);
  if (notExists) return { key: notExists[1], operator: '!exists', values: [] };
  const set = /^([^\s=!<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
  if (set) {
    const values = set[3].split(',').map(v => v.trim());
    if (values.length === 1 && values[0] === '') {
      throw invalid(selector, `for '${set[2]}' operator, values set can't be empty`);
    }
    return { key: set[1], operator: set[2] as 'in' | 'notin', values };
  }
  const compare = /^([^\s=!<>(),]+)\s*(==|=|!=|>|<)\s*([^\s=!<>(),]*)$/.exec(part);
  if (compare) {
    const operator = OPERATORS[compare[2]];
    if ((operator === 'gt' || operator === 'lt') && !/^-?\d+$/.test(compare[3])) {
      throw invalid(selector, `for '${compare[2]}' operator, the value must be an integer`);
    }
    return { key: compare[1], operator, values: [compare[3]] };
  }
  const exists = /^([^\s=!<>(),]+)$/.exec(part);
  if (exists) return { key: exists[1], operator: 'exists', values: [] };
  throw invalid(selector, `cannot parse requirement "${part}"`);
}

/** Parses a label selector; throws InvalidObjectError naming what is wrong. */
export function parseLabelSelector(selector: string | undefined): Requirement[] {
  if (!selector || selector.trim() === '') return [];
  const requirements: Requirement[] = [];
  for (const raw of splitTopLevel(selector)) {
    const part = raw.trim();
    if (part === '') throw invalid(selector, 'found empty requirement');
    const req = parseRequirement(selector, part);
    const keyProblem = labelKeyProblem(req.key);
    if (keyProblem) throw invalid(selector, `key "${req.key}": ${keyProblem}`);
    if (req.operator !== 'gt' && req.operator !== 'lt') {
      for (const value of req.values) {
        const valueProblem = labelValueProblem(value);
        if (valueProblem) throw invalid(selector, `value "${value}": ${valueProblem}`);
      }
    }
    requirements.push(req);
  }
  return requirements;
}

export function matchesLabels(requirements: Requirement[], labels: Record<string, string> | undefined): boolean {
  for (const { key, operator, values } of requirements) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, key);
    const value = has ? labels![key] : undefined;
    switch (operator) {
      case 'exists': if (!has) return false; break;
      case '!exists': if (has) return false; break;
      case '=': if (value !== values[0]) return false; break;
      case '!=': if (value === values[0]) return false; break;
      case 'in': if (!has || !values.includes(value!)) return false; break;
      case 'notin': if (has && values.includes(value!)) return false; break;
      case 'gt': if (!has || !(Number(value) > Number(values[0]))) return false; break;
      case 'lt': if (!has || !(Number(value) < Number(values[0]))) return false; break;
      default: return false;
    }
  }
  return true;
}

/** A `matchLabels` / `matchExpressions` selector object, as in Deployments. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

export function requirementsOf(selector: LabelSelectorObject | undefined): Requirement[] {
  if (!selector) return [];
  const reqs: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, v]) => ({ key, operator: '=', values: [v] }));
  for (const e of selector.matchExpressions ?? []) {
    const operator = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' } as const)[e.operator];
    reqs.push({ key: e.key, operator, values: e.values ?? [] });
  }
  return reqs;
}

/** `app=x,tier in (a,b)` for a selector object: the string form list and watch take. */
export function selectorToString(selector: LabelSelectorObject | undefined): string {
  return requirementsOf(selector)
    .map(r => {
      switch (r.operator) {
        case 'exists': return r.key;
        case '!exists': return `!${r.key}`;
        case 'in':
        case 'notin': return `${r.key} ${r.operator} (${r.values.join(',')})`;
        default: return `${r.key}${r.operator}${r.values[0]}`;
      }
    })
    .join(',');
}

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

/** Fields the API server lets each kind be selected by, beyond metadata.name and metadata.namespace. */
const SELECTABLE_FIELDS: Record<string, string[]> = {
  'v1/Pod': ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  'v1/Secret': ['type'],
  'v1/Event': ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  'v1/Namespace': ['status.phase'],
  'v1/Node': ['spec.unschedulable'],
  'apps/v1/ReplicaSet': ['status.replicas'],
  'batch/v1/Job': ['status.successful'],
};

export function parseFieldSelector(selector: string | undefined, apiVersion: string, kind: string): FieldRequirement[] {
  if (!selector || selector.trim() === '') return [];
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(SELECTABLE_FIELDS[`${apiVersion}/${kind}`] ?? [])]);
  return selector.split(',').map(raw => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*([^,]*?)\s*$/.exec(raw);
    if (!m) throw new InvalidObjectError(`invalid field selector "${selector}": cannot parse "${raw.trim()}"`);
    if (!allowed.has(m[1])) {
      throw new InvalidObjectError(`field label not supported: ${m[1]}`);
    }
    return { field: m[1], operator: m[2] === '!=' ? '!=' : '=', value: m[3] };
  });
}

function fieldValue(object: KubeObject, path: string): string {
  let cur: unknown = object;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export function matchesFields(requirements: FieldRequirement[], object: KubeObject): boolean {
  return requirements.every(r => (fieldValue(object, r.field) === r.value) === (r.operator === '='));
}
