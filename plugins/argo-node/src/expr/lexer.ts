/** Tokens of the expr language (github.com/expr-lang/expr), the one Argo evaluates conditions in. */
export type Token =
  | { type: 'number'; value: number; pos: number }
  | { type: 'string'; value: string; pos: number }
  | { type: 'ident'; value: string; pos: number }
  | { type: 'op'; value: string; pos: number }
  | { type: 'eof'; pos: number };

export class ExpressionSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} (at ${position + 1})`);
    this.name = 'ExpressionSyntaxError';
  }
}

// Longest first, so `**` wins over `*` and `!=` over `!`.
const OPERATORS = ['...', '..', '**', '==', '!=', '<=', '>=', '&&', '||', '??', '?.', '+', '-', '*', '/', '%', '<', '>', '!', '?', ':', '(', ')', '[', ']', '{', '}', ',', '.', '#'];

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0', b: '\b', f: '\f', v: '\v' };

function numberValue(text: string): number {
  if (text.startsWith('0o')) return parseInt(text.slice(2), 8);
  if (text.startsWith('0b')) return parseInt(text.slice(2), 2);
  return Number(text);
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const m = /^(0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*(\.[0-9_]+)?([eE][+-]?[0-9]+)?|\.[0-9_]+([eE][+-]?[0-9]+)?)/.exec(source.slice(i))!;
      // `1..5` is a range, not the number `1.`.
      let text = m[0];
      if (text.endsWith('.') ) text = text.slice(0, -1);
      const clean = text.replace(/_/g, '');
      const value = numberValue(clean);
      tokens.push({ type: 'number', value, pos: start });
      i += text.length;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let value = '';
      i++;
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\' && c !== '`') {
          const next = source[i + 1];
          if (next === 'u') {
            value += String.fromCharCode(parseInt(source.slice(i + 2, i + 6), 16));
            i += 6;
            continue;
          }
          if (!(next in ESCAPES)) throw new ExpressionSyntaxError(`invalid escape \\${next}`, i);
          value += ESCAPES[next];
          i += 2;
          continue;
        }
        value += source[i++];
      }
      if (source[i] !== c) throw new ExpressionSyntaxError('unterminated string', start);
      i++;
      tokens.push({ type: 'string', value, pos: start });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(source.slice(i))!;
      tokens.push({ type: 'ident', value: m[0], pos: start });
      i += m[0].length;
      continue;
    }
    const at = i;
    const op = OPERATORS.find(o => source.startsWith(o, at));
    if (!op) throw new ExpressionSyntaxError(`unexpected character '${c}'`, i);
    tokens.push({ type: 'op', value: op, pos: start });
    i += op.length;
  }
  tokens.push({ type: 'eof', pos: source.length });
  return tokens;
}
