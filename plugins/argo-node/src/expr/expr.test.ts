import { compileExpression, ExpressionRuntimeError, ExpressionSyntaxError } from '.';

const run = (source: string, env: Record<string, unknown> = {}) => compileExpression(source).evaluate(env);

describe('expr-lang interpreter', () => {
  it.each([
    // literals and arithmetic, with expr's precedence
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['2 ** 3 ** 2', 512],
    ['7 / 2', 3.5],
    ['7 % 3', 1],
    ['-2 + 5', 3],
    ['1_000 + 0.5', 1000.5],
    ['"a" + \'b\'', 'ab'],
    // comparison and logic, words and symbols
    ['1 < 2 && 2 <= 2', true],
    ['1 > 2 or not false', true],
    ['!(1 == 1)', false],
    ['"abc" < "abd"', true],
    ['nil == nil', true],
    ['1 == 1.0', true],
    // membership and strings
    ['2 in [1, 2, 3]', true],
    ['4 not in [1, 2, 3]', true],
    ['"k" in {k: 1}', true],
    ['"canary-v2" startsWith "canary"', true],
    ['"payments" contains "pay"', true],
    ['"v1.2.3" matches "^v[0-9]+"', true],
    ['"x" not matches "y"', true],
    // ternary, nil coalescing, ranges, slices
    ['1 > 0 ? "up" : "down"', 'up'],
    ['nil ?? 5', 5],
    ['1..3', [1, 2, 3]],
    ['[1, 2, 3, 4][1:3]', [2, 3]],
    ['[1, 2, 3][-1]', 3],
    // builtins and predicates
    ['len([1, 2, 3])', 3],
    ['all([1, 2, 3], {# > 0})', true],
    ['any([1, 2, 3], # > 2)', true],
    ['filter([1, 2, 3, 4], # % 2 == 0)', [2, 4]],
    ['map([1, 2], # * 10)', [10, 20]],
    ['count([{ok: true}, {ok: false}], .ok)', 1],
    ['max(1, 5, 3)', 5],
    ['mean([2, 4])', 3],
    ['int("42") + 1', 43],
    ['upper("a") + lower("B")', 'Ab'],
  ])('%s', (source, expected) => {
    expect(run(source)).toEqual(expected);
  });

  it('reads the environment: values, nested fields, optional chaining and functions', () => {
    const env = {
      result: [0.97, 0.99],
      response: { body: { status: 'ok', items: [{ latency: 120 }] } },
      asFloat: (v: unknown) => Number(v),
    };
    expect(run('result[0] >= 0.95 && all(result, # > 0.9)', env)).toBe(true);
    expect(run('response.body.items[0].latency < 200', env)).toBe(true);
    expect(run('response.missing?.field', env)).toBe(null);
    expect(run('asFloat("0.5") * 2', env)).toBe(1);
  });

  it('refuses what does not parse, with the position', () => {
    expect(() => compileExpression('result >')).toThrow(ExpressionSyntaxError);
    expect(() => compileExpression('result >')).toThrow(/end of expression \(at 9\)/);
    expect(() => compileExpression('(1 + 2')).toThrow(/expected '\)'/);
    expect(() => compileExpression('"open')).toThrow(/unterminated string/);
    expect(() => compileExpression('a = 1')).toThrow(/unexpected character '='/);
  });

  it('fails at run time on wrong types and unknown names, never running JavaScript', () => {
    expect(() => run('unknown > 1')).toThrow(ExpressionRuntimeError);
    expect(() => run('"a" - 1')).toThrow(/invalid operation/);
    expect(() => run('[1][5]')).toThrow(/index out of range/);
    expect(() => run('nothing.field', { nothing: null })).toThrow(/cannot fetch field from nil/);
    expect(() => run('constructor.constructor("return process")()')).toThrow();
    expect(() => run('constructor("x")')).toThrow(/unknown function constructor/);
    expect(() => run('toString')).toThrow(/unknown name toString/);
    expect(() => run('result.constructor', { result: {} })).not.toThrow();
    expect(run('result.constructor', { result: {} })).not.toBeInstanceOf(Function);
  });
});
