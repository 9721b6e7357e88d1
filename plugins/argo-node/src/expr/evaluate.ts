import { parseExpression, type Node } from './parser';

/** A runtime failure: a wrong type, a missing field, a function that refused its input. */
export class ExpressionRuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionRuntimeError';
  }
}

export type ExprFunction = (...args: unknown[]) => unknown;
export type Environment = Record<string, unknown>;

const typeName = (v: unknown): string => {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'object') return 'map';
  return typeof v;
};

const fail = (message: string): never => {
  throw new ExpressionRuntimeError(message);
};

function num(v: unknown, op: string): number {
  if (typeof v !== 'number') fail(`invalid operation: ${op} on ${typeName(v)}`);
  return v as number;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a !== typeof b) return false;
  if (typeof a === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  const comparable = (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
  if (!comparable) return fail(`invalid operation: ${typeName(a)} ${op} ${typeName(b)}`);
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case '<': return x < y;
    case '>': return x > y;
    case '<=': return x <= y;
    default: return x >= y;
  }
}

function member(object: unknown, key: unknown, optional: boolean): unknown {
  if (object === null || object === undefined) {
    if (optional) return null;
    return fail(`cannot fetch ${String(key)} from nil`);
  }
  if (Array.isArray(object) || typeof object === 'string') {
    if (typeof key !== 'number' || !Number.isInteger(key)) return fail(`array index must be an int, not ${typeName(key)}`);
    const i = key < 0 ? object.length + key : key;
    if (i < 0 || i >= object.length) return fail(`index out of range: ${key} (array of length ${object.length})`);
    return object[i];
  }
  if (typeof object === 'object') {
    // Own fields only: nothing of JavaScript's prototypes is reachable.
    if (!Object.prototype.hasOwnProperty.call(object, String(key))) return null;
    const value = (object as Record<string, unknown>)[String(key)];
    return value === undefined ? null : value;
  }
  return fail(`cannot fetch ${String(key)} from ${typeName(object)}`);
}

/** The builtins of expr-lang this interpreter offers. Predicates receive a closure. */
type Closure = (item: unknown) => unknown;
const BUILTINS: Record<string, (args: unknown[]) => unknown> = {
  len: ([v]) => {
    if (Array.isArray(v) || typeof v === 'string') return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    return fail(`invalid argument for len (type ${typeName(v)})`);
  },
  abs: ([v]) => Math.abs(num(v, 'abs')),
  int: ([v]) => {
    const n = typeof v === 'string' ? Number(v) : num(v, 'int');
    if (!Number.isFinite(n)) fail(`invalid argument for int: ${JSON.stringify(v)}`);
    return Math.trunc(n);
  },
  float: ([v]) => {
    const n = typeof v === 'string' ? Number(v) : num(v, 'float');
    if (Number.isNaN(n) && v !== 'NaN') fail(`invalid argument for float: ${JSON.stringify(v)}`);
    return n;
  },
  string: ([v]) => {
    if (typeof v === 'string') return v;
    if (v === null || v === undefined) return '<nil>';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  },
  upper: ([v]) => String(v).toUpperCase(),
  lower: ([v]) => String(v).toLowerCase(),
  trim: ([v, cut]) => (cut === undefined ? String(v).trim() : String(v).replace(new RegExp(`^[${escapeClass(String(cut))}]+|[${escapeClass(String(cut))}]+$`, 'g'), '')),
  split: ([v, sep]) => String(v).split(String(sep)),
  join: ([v, sep]) => (Array.isArray(v) ? v.map(String).join(sep === undefined ? '' : String(sep)) : fail('join needs an array')),
  max: args => Math.max(...flatNumbers(args, 'max')),
  min: args => Math.min(...flatNumbers(args, 'min')),
  sum: ([v]) => flatNumbers([v], 'sum').reduce((a, b) => a + b, 0),
  mean: ([v]) => {
    const xs = flatNumbers([v], 'mean');
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
  },
  round: ([v]) => Math.round(num(v, 'round')),
  ceil: ([v]) => Math.ceil(num(v, 'ceil')),
  floor: ([v]) => Math.floor(num(v, 'floor')),
  keys: ([v]) => Object.keys((v as object) ?? {}),
  values: ([v]) => Object.values((v as object) ?? {}),
  first: ([v]) => (Array.isArray(v) && v.length ? v[0] : null),
  last: ([v]) => (Array.isArray(v) && v.length ? v[v.length - 1] : null),
  all: ([xs, f]) => list(xs, 'all').every(x => truthy((f as Closure)(x), 'all')),
  any: ([xs, f]) => list(xs, 'any').some(x => truthy((f as Closure)(x), 'any')),
  none: ([xs, f]) => !list(xs, 'none').some(x => truthy((f as Closure)(x), 'none')),
  one: ([xs, f]) => list(xs, 'one').filter(x => truthy((f as Closure)(x), 'one')).length === 1,
  filter: ([xs, f]) => list(xs, 'filter').filter(x => truthy((f as Closure)(x), 'filter')),
  map: ([xs, f]) => list(xs, 'map').map(x => (f as Closure)(x)),
  count: ([xs, f]) => list(xs, 'count').filter(x => truthy((f as Closure)(x), 'count')).length,
  find: ([xs, f]) => list(xs, 'find').find(x => truthy((f as Closure)(x), 'find')) ?? null,
  findIndex: ([xs, f]) => list(xs, 'findIndex').findIndex(x => truthy((f as Closure)(x), 'findIndex')),
};

function escapeClass(s: string): string {
  return s.replace(/[\]\\^-]/g, '\\$&');
}

function list(v: unknown, fn: string): unknown[] {
  if (!Array.isArray(v)) fail(`${fn}: expected an array, got ${typeName(v)}`);
  return v as unknown[];
}

function flatNumbers(args: unknown[], fn: string): number[] {
  const flat = args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  return flat.map(x => num(x, fn));
}

function truthy(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') fail(`${where}: the predicate must return a bool, not ${typeName(v)}`);
  return v as boolean;
}

function evaluateNode(node: Node, env: Environment, pointer: unknown[]): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'ident':
      if (!Object.prototype.hasOwnProperty.call(env, node.name)) return fail(`unknown name ${node.name}`);
      return env[node.name] ?? null;
    case 'pointer': {
      if (pointer.length === 0) return fail('# is only allowed inside a predicate');
      const current = pointer[pointer.length - 1];
      return node.field === undefined ? current : member(current, node.field, false);
    }
    case 'member': {
      const object = evaluateNode(node.object, env, pointer);
      if (node.optional && (object === null || object === undefined)) return null;
      return member(object, evaluateNode(node.property, env, pointer), node.optional);
    }
    case 'slice': {
      const object = evaluateNode(node.object, env, pointer);
      if (!Array.isArray(object) && typeof object !== 'string') return fail(`cannot slice ${typeName(object)}`);
      const from = node.from ? num(evaluateNode(node.from, env, pointer), 'slice') : 0;
      const to = node.to ? num(evaluateNode(node.to, env, pointer), 'slice') : object.length;
      return object.slice(from, to);
    }
    case 'array':
      return node.items.map(item => evaluateNode(item, env, pointer));
    case 'map':
      return Object.fromEntries(node.entries.map(([k, v]) => [String(evaluateNode(k, env, pointer)), evaluateNode(v, env, pointer)]));
    case 'closure':
      return fail('a predicate is only allowed as an argument');
    case 'call': {
      const args = node.args.map(arg =>
        arg.kind === 'closure' ? (item: unknown) => evaluateNode(arg.body, env, [...pointer, item]) : evaluateNode(arg, env, pointer),
      );
      const fn = Object.prototype.hasOwnProperty.call(env, node.callee) ? env[node.callee] : undefined;
      if (typeof fn === 'function') {
        if (node.args.some(a => a.kind === 'closure')) return fail(`${node.callee} does not take a predicate`);
        return (fn as ExprFunction)(...args);
      }
      const builtin = Object.prototype.hasOwnProperty.call(BUILTINS, node.callee) ? BUILTINS[node.callee] : undefined;
      if (!builtin) return fail(`unknown function ${node.callee}`);
      return builtin(args);
    }
    case 'unary': {
      const v = evaluateNode(node.operand, env, pointer);
      if (node.op === '!') return !truthy(v, 'not');
      if (node.op === '-') return -num(v, 'unary -');
      return num(v, 'unary +');
    }
    case 'conditional': {
      const test = evaluateNode(node.test, env, pointer);
      return truthy(test, 'ternary condition') ? evaluateNode(node.then, env, pointer) : evaluateNode(node.else, env, pointer);
    }
    case 'binary':
      return binary(node, env, pointer);
    default:
      return fail('unknown node');
  }
}

function binary(node: Extract<Node, { kind: 'binary' }>, env: Environment, pointer: unknown[]): unknown {
  const { op } = node;
  // Short-circuit operators first.
  if (op === 'and' || op === '&&') {
    return truthy(evaluateNode(node.left, env, pointer), op) && truthy(evaluateNode(node.right, env, pointer), op);
  }
  if (op === 'or' || op === '||') {
    return truthy(evaluateNode(node.left, env, pointer), op) || truthy(evaluateNode(node.right, env, pointer), op);
  }
  if (op === '??') {
    const left = evaluateNode(node.left, env, pointer);
    return left === null || left === undefined ? evaluateNode(node.right, env, pointer) : left;
  }
  const a = evaluateNode(node.left, env, pointer);
  const b = evaluateNode(node.right, env, pointer);
  const negated = op.startsWith('not ');
  const base = negated ? op.slice(4) : op;
  const result = ((): unknown => {
    switch (base) {
      case '==': return equal(a, b);
      case '!=': return !equal(a, b);
      case '<': case '>': case '<=': case '>=': return compare(base, a, b);
      case '+':
        if (typeof a === 'string' && typeof b === 'string') return a + b;
        if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
        return num(a, '+') + num(b, '+');
      case '-': return num(a, '-') - num(b, '-');
      case '*': return num(a, '*') * num(b, '*');
      case '/': return num(a, '/') / num(b, '/');
      case '%': {
        const x = num(a, '%');
        const y = num(b, '%');
        if (!Number.isInteger(x) || !Number.isInteger(y)) return fail('invalid operation: % needs ints');
        if (y === 0) return fail('integer divide by zero');
        return x % y;
      }
      case '**': return num(a, '**') ** num(b, '**');
      case '..': {
        const from = num(a, '..');
        const to = num(b, '..');
        return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
      }
      case 'in':
        if (Array.isArray(b)) return b.some(x => equal(x, a));
        if (b && typeof b === 'object') return Object.prototype.hasOwnProperty.call(b, String(a));
        if (b === null || b === undefined) return false;
        return fail(`invalid operation: in ${typeName(b)}`);
      case 'contains': return String(a).includes(String(b));
      case 'startsWith': return String(a).startsWith(String(b));
      case 'endsWith': return String(a).endsWith(String(b));
      case 'matches':
        try {
          return new RegExp(String(b)).test(String(a));
        } catch (error) {
          return fail(`invalid regular expression: ${(error as Error).message}`);
        }
      default: return fail(`unknown operator ${op}`);
    }
  })();
  return negated ? !result : result;
}

/** A parsed expression, ready to evaluate many times. */
export interface CompiledExpression {
  source: string;
  evaluate(env: Environment): unknown;
}

/**
 * Parses an expr-lang expression (throws ExpressionSyntaxError). Evaluation
 * is a tree walk over the parsed nodes: no JavaScript is ever generated or
 * evaluated, and only the names in `env` and the builtins are reachable.
 */
export function compileExpression(source: string): CompiledExpression {
  const tree = parseExpression(source);
  return { source, evaluate: env => evaluateNode(tree, env, []) };
}
