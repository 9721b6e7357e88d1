import { assessResult } from './conditions';

describe('assessResult: a measurement from its result and conditions', () => {
  it.each([
    // [result, successCondition, failureCondition, phase]
    [[0.99], 'result[0] >= 0.95', undefined, 'Successful'],
    [[0.5], 'result[0] >= 0.95', undefined, 'Failed'], // only success: not succeeding fails
    [[0.5], undefined, 'result[0] < 0.9', 'Failed'],
    [[0.97], undefined, 'result[0] < 0.9', 'Successful'], // only failure: not failing succeeds
    [[0.92], 'result[0] >= 0.95', 'result[0] < 0.9', 'Inconclusive'], // both, neither true
    [[0.99], 'result[0] >= 0.5', 'result[0] > 0.9', 'Failed'], // both true: failure wins
    ['anything', undefined, undefined, 'Successful'], // no conditions: Argo's code says Successful
    ['42', 'asInt(result) == 42', undefined, 'Successful'],
    ['0.25', 'asFloat(result) < 0.3', undefined, 'Successful'],
    [NaN, 'isNaN(result)', undefined, 'Successful'],
    [Infinity, 'isInf(result)', undefined, 'Successful'],
    [null, 'isNil(result)', undefined, 'Successful'],
    // isNil and default look at the result whatever they are given
    [null, 'isNil(1)', undefined, 'Successful'],
    [null, 'default(result, 5) == 5', undefined, 'Successful'],
    [3, 'default(999, 5) == 3', undefined, 'Successful'],
    [{ status: 'ok', latency: 120 }, 'result.status == "ok" && result.latency < 200', undefined, 'Successful'],
  ])('result %j, success %s, failure %s → %s', (result, successCondition, failureCondition, phase) => {
    expect(assessResult(result, { successCondition, failureCondition }).phase).toBe(phase);
  });

  it('turns an evaluation problem into an Error naming the condition', () => {
    expect(assessResult([1], { successCondition: 'result[0] >' })).toEqual({
      phase: 'Error',
      message: expect.stringMatching(/^could not evaluate successCondition "result\[0\] >": unexpected end of expression/),
    });
    expect(assessResult([], { successCondition: 'result[0] > 1' })).toEqual({
      phase: 'Error',
      message: 'could not evaluate successCondition "result[0] > 1": metric result is nil or empty: no data returned from the metric provider',
    });
    expect(assessResult(5, { failureCondition: 'result + 1' })).toEqual({
      phase: 'Error',
      message: 'could not evaluate failureCondition "result + 1": expected bool, but got number',
    });
    expect(assessResult('x', { successCondition: 'asInt(result) > 1' }).phase).toBe('Error');
  });
});
