import { compileExpression, type CompiledExpression } from '@quarterdeck/plugin-argo-node';

/** A measurement's verdict, with Argo's phase names. */
export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

function isNil(value: unknown): boolean {
  return value === null || value === undefined;
}

function asInt(value: unknown): number {
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) return Number(value.trim());
  throw new Error(`asInt: cannot convert ${JSON.stringify(value)} to an int`);
}

/**
 * A float as Go's strconv.ParseFloat reads it: decimal or exponent form, and
 * `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity` in any case (how Prometheus writes
 * its special values). Undefined when it is not one.
 */
export function parseGoFloat(text: string): number | undefined {
  const t = text.trim();
  if (/^[+-]?nan$/i.test(t)) return NaN;
  if (/^[+-]?inf(inity)?$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  const n = Number(t);
  return t === '' || Number.isNaN(n) ? undefined : n;
}

function asFloat(value: unknown): number {
  if (typeof value === 'number') return value;
  const n = typeof value === 'string' ? parseGoFloat(value) : undefined;
  if (n === undefined) throw new Error(`asFloat: cannot convert ${JSON.stringify(value)} to a float`);
  return n;
}

/**
 * The environment Argo Rollouts evaluates a metric's conditions in
 * (utils/evaluate/evaluate.go): `result`, and asInt, asFloat, isNaN, isInf,
 * isNil and default. `isNil` and `default` look at the measured result.
 */
function environment(result: unknown): Record<string, unknown> {
  return {
    result: result ?? null,
    asInt,
    asFloat,
    isNaN: (v: unknown) => typeof v === 'number' && Number.isNaN(v),
    isInf: (v: unknown) => v === Infinity || v === -Infinity,
    isNil: () => isNil(result),
    default: (_value: unknown, fallback: unknown) => (isNil(result) ? fallback : result),
  };
}

/** Parses a condition; throws ExpressionSyntaxError naming the position. */
export function compileCondition(source: string): CompiledExpression {
  return compileExpression(source);
}

/** Evaluates a condition to a boolean, as EvalCondition does. */
export function evaluateCondition(result: unknown, condition: CompiledExpression): boolean {
  const output = condition.evaluate(environment(result));
  if (typeof output !== 'boolean') {
    throw new Error(`expected bool, but got ${output === null ? 'nil' : typeof output}`);
  }
  return output;
}

/**
 * A measurement's phase from its result, as EvaluateResult does: with only a
 * success condition, not succeeding is failing; with only a failure
 * condition, not failing is succeeding; with both, neither true is
 * inconclusive and both true is failing; with none, any result succeeds
 * (Argo's code; its docs say inconclusive). An evaluation error is an Error.
 */
export function assessResult(
  result: unknown,
  conditions: { successCondition?: string; failureCondition?: string },
): { phase: MeasurementPhase; message?: string } {
  const { successCondition, failureCondition } = conditions;
  let success = false;
  let failure = false;
  for (const [which, source] of [['successCondition', successCondition], ['failureCondition', failureCondition]] as const) {
    if (!source) continue;
    try {
      const value = evaluateCondition(result, compileCondition(source));
      if (which === 'successCondition') success = value;
      else failure = value;
    } catch (error) {
      const empty = result === null || result === undefined || (Array.isArray(result) && result.length === 0);
      const why = empty
        ? 'metric result is nil or empty: no data returned from the metric provider'
        : (error as Error).message;
      return { phase: 'Error', message: `could not evaluate ${which} "${source}": ${why}` };
    }
  }
  if (!successCondition && !failureCondition) return { phase: 'Successful' };
  if (successCondition && !failureCondition) failure = !success;
  if (!successCondition && failureCondition) success = !failure;
  if (failure) return { phase: 'Failed' };
  if (!success) return { phase: 'Inconclusive' };
  return { phase: 'Successful' };
}
