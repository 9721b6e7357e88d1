import { ExpressionSyntaxError, tokenize, type Token } from './lexer';

/** The syntax tree of an expr-lang expression. */
export type Node =
  | { kind: 'literal'; value: unknown }
  | { kind: 'ident'; name: string }
  | { kind: 'pointer'; field?: string }
  | { kind: 'member'; object: Node; property: Node; optional: boolean }
  | { kind: 'slice'; object: Node; from?: Node; to?: Node }
  | { kind: 'call'; callee: string; args: Node[] }
  | { kind: 'closure'; body: Node }
  | { kind: 'unary'; op: string; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node }
  | { kind: 'conditional'; test: Node; then: Node; else: Node }
  | { kind: 'array'; items: Node[] }
  | { kind: 'map'; entries: Array<[Node, Node]> };

// expr-lang's operator table (parser/operator/operator.go).
const BINARY: Record<string, { precedence: number; right?: boolean }> = {
  or: { precedence: 10 }, '||': { precedence: 10 },
  and: { precedence: 15 }, '&&': { precedence: 15 },
  '==': { precedence: 20 }, '!=': { precedence: 20 }, '<': { precedence: 20 }, '>': { precedence: 20 },
  '>=': { precedence: 20 }, '<=': { precedence: 20 }, in: { precedence: 20 }, matches: { precedence: 20 },
  contains: { precedence: 20 }, startsWith: { precedence: 20 }, endsWith: { precedence: 20 },
  '..': { precedence: 25 },
  '+': { precedence: 30 }, '-': { precedence: 30 },
  '*': { precedence: 60 }, '/': { precedence: 60 }, '%': { precedence: 60 },
  '**': { precedence: 100, right: true },
  '??': { precedence: 500 },
};
const UNARY: Record<string, number> = { not: 50, '!': 50, '-': 90, '+': 90 };
const NEGATABLE = new Set(['in', 'matches', 'contains', 'startsWith', 'endsWith']);
/** Builtins whose second argument is a predicate over `#`. */
const PREDICATE_BUILTINS = new Set(['all', 'any', 'none', 'one', 'filter', 'map', 'count', 'find', 'findIndex']);
const KEYWORDS: Record<string, unknown> = { true: true, false: false, nil: null };

class Parser {
  private i = 0;
  private closureDepth = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)];
  }
  private next(): Token {
    return this.tokens[this.i++];
  }
  private isOp(value: string, t = this.peek()): boolean {
    return t.type === 'op' && t.value === value;
  }
  private expect(value: string): void {
    const t = this.next();
    if (t.type !== 'op' || t.value !== value) {
      throw new ExpressionSyntaxError(`expected '${value}' but found ${describe(t)}`, t.pos);
    }
  }

  parse(): Node {
    const node = this.expression();
    const t = this.peek();
    if (t.type !== 'eof') throw new ExpressionSyntaxError(`unexpected ${describe(t)}`, t.pos);
    return node;
  }

  private expression(): Node {
    const test = this.binary(0);
    if (this.isOp('?')) {
      this.next();
      const then = this.expression();
      this.expect(':');
      return { kind: 'conditional', test, then, else: this.expression() };
    }
    return test;
  }

  /** The binary operator at the cursor, if any: `not in` and friends count as one. */
  private binaryOperator(): { op: string; width: number } | undefined {
    const t = this.peek();
    if (t.type === 'op' && BINARY[t.value]) return { op: t.value, width: 1 };
    if (t.type === 'ident' && BINARY[t.value]) return { op: t.value, width: 1 };
    if (t.type === 'ident' && t.value === 'not') {
      const n = this.peek(1);
      if (n.type === 'ident' && NEGATABLE.has(n.value)) return { op: `not ${n.value}`, width: 2 };
    }
    return undefined;
  }

  private binary(minPrecedence: number): Node {
    let left = this.unary();
    for (;;) {
      const found = this.binaryOperator();
      if (!found) return left;
      const base = found.op.startsWith('not ') ? found.op.slice(4) : found.op;
      const { precedence, right } = BINARY[base];
      if (precedence < minPrecedence) return left;
      this.i += found.width;
      const rhs = this.binary(right ? precedence : precedence + 1);
      left = { kind: 'binary', op: found.op, left, right: rhs };
    }
  }

  private unary(): Node {
    const t = this.peek();
    const op = t.type === 'op' || t.type === 'ident' ? t.value : undefined;
    if (op !== undefined && UNARY[op] !== undefined && (t.type === 'op' || op === 'not')) {
      this.next();
      return { kind: 'unary', op: op === 'not' ? '!' : op, operand: this.binary(UNARY[op]) };
    }
    return this.postfix(this.primary());
  }

  private postfix(node: Node): Node {
    let current = node;
    for (;;) {
      if (this.isOp('.') || this.isOp('?.')) {
        const dot = this.next();
        const optional = dot.type === 'op' && dot.value === '?.';
        const name = this.next();
        if (name.type !== 'ident') throw new ExpressionSyntaxError(`expected a field name but found ${describe(name)}`, name.pos);
        current = { kind: 'member', object: current, property: { kind: 'literal', value: name.value }, optional };
      } else if (this.isOp('[')) {
        this.next();
        if (this.isOp(':')) {
          this.next();
          const to = this.isOp(']') ? undefined : this.expression();
          this.expect(']');
          current = { kind: 'slice', object: current, to };
          continue;
        }
        const index = this.expression();
        if (this.isOp(':')) {
          this.next();
          const to = this.isOp(']') ? undefined : this.expression();
          this.expect(']');
          current = { kind: 'slice', object: current, from: index, to };
          continue;
        }
        this.expect(']');
        current = { kind: 'member', object: current, property: index, optional: false };
      } else {
        return current;
      }
    }
  }

  private arguments(callee: string): Node[] {
    this.expect('(');
    const args: Node[] = [];
    while (!this.isOp(')')) {
      if (this.isOp('{')) {
        // A predicate: {# > 1}
        this.next();
        this.closureDepth++;
        args.push({ kind: 'closure', body: this.expression() });
        this.closureDepth--;
        this.expect('}');
      } else if (args.length === 1 && PREDICATE_BUILTINS.has(callee)) {
        // The second argument of a builtin may be a bare predicate: all(xs, # > 1)
        this.closureDepth++;
        args.push({ kind: 'closure', body: this.expression() });
        this.closureDepth--;
      } else {
        args.push(this.expression());
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expect(')');
    return args;
  }

  private primary(): Node {
    const t = this.next();
    switch (t.type) {
      case 'number':
      case 'string':
        return { kind: 'literal', value: t.value };
      case 'ident': {
        if (Object.prototype.hasOwnProperty.call(KEYWORDS, t.value)) return { kind: 'literal', value: KEYWORDS[t.value] };
        if (this.isOp('(')) return { kind: 'call', callee: t.value, args: this.arguments(t.value) };
        return { kind: 'ident', name: t.value };
      }
      case 'op':
        if (t.value === '(') {
          const inner = this.expression();
          this.expect(')');
          return inner;
        }
        if (t.value === '#') return { kind: 'pointer' };
        if (t.value === '.' && this.closureDepth > 0) {
          const name = this.next();
          if (name.type !== 'ident') throw new ExpressionSyntaxError(`expected a field name but found ${describe(name)}`, name.pos);
          return { kind: 'pointer', field: name.value };
        }
        if (t.value === '[') {
          const items: Node[] = [];
          while (!this.isOp(']')) {
            items.push(this.expression());
            if (!this.isOp(',')) break;
            this.next();
          }
          this.expect(']');
          return { kind: 'array', items };
        }
        if (t.value === '{') {
          const entries: Array<[Node, Node]> = [];
          while (!this.isOp('}')) {
            const keyToken = this.next();
            let key: Node;
            if (keyToken.type === 'ident' || keyToken.type === 'string' || keyToken.type === 'number') {
              key = { kind: 'literal', value: keyToken.value };
            } else if (keyToken.type === 'op' && keyToken.value === '(') {
              key = this.expression();
              this.expect(')');
            } else {
              throw new ExpressionSyntaxError(`unexpected ${describe(keyToken)} in a map`, keyToken.pos);
            }
            this.expect(':');
            entries.push([key, this.expression()]);
            if (!this.isOp(',')) break;
            this.next();
          }
          this.expect('}');
          return { kind: 'map', entries };
        }
        throw new ExpressionSyntaxError(`unexpected ${describe(t)}`, t.pos);
      default:
        throw new ExpressionSyntaxError('unexpected end of expression', t.pos);
    }
  }
}

function describe(t: Token): string {
  if (t.type === 'eof') return 'end of expression';
  if (t.type === 'string') return `string "${t.value}"`;
  return `'${t.value}'`;
}

/** Parses an expression; throws ExpressionSyntaxError with the position of the problem. */
export function parseExpression(source: string): Node {
  return new Parser(tokenize(source)).parse();
}
