import { pauseDurationSeconds } from '@quarterdeck/plugin-argo-common';
import { canaryFenceposts, intOrPercent, weightedCanaryStableCounts } from './replicas';

describe('intOrPercent, as Argo resolves maxSurge and maxUnavailable', () => {
  it.each([
    [1, 10, true, 1],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    ['25', 10, true, 3], // Argo's default is the string "25": a percentage
    ['3', 10, false, 0], // "3" is 3 %, not 3 pods
    [undefined, 10, true, 0],
  ])('%j of %i (round up %s) → %i', (value, total, up, expected) => {
    expect(intOrPercent(value as any, total, up)).toBe(expected);
  });

  it('defaults both to 25 % and never lets both be zero', () => {
    expect(canaryFenceposts({ replicas: 10, strategy: { canary: {} } })).toEqual({ maxSurge: 3, maxUnavailable: 2 });
    expect(canaryFenceposts({ replicas: 4, strategy: { canary: { maxSurge: 0, maxUnavailable: 0 } } })).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(canaryFenceposts({ replicas: 3, strategy: { canary: { maxUnavailable: 5 } } })).toEqual({ maxSurge: 1, maxUnavailable: 3 });
  });
});

// Vectors computed by running Argo Rollouts' own function
// (approximateWeightedCanaryStableReplicaCounts) with surge = ceil(25 % of replicas), and with surge 0.
describe('weightedCanaryStableCounts: canary/stable pods for a weight, without a traffic router', () => {
  it.each([
    // replicas, weight, [canary, stable] with default surge, [canary, stable] with surge 0
    [1, 20, [1, 1], [0, 1]],
    [1, 50, [1, 1], [1, 0]],
    [1, 100, [1, 0], [1, 0]],
    [2, 20, [1, 2], [1, 1]],
    [2, 50, [1, 1], [1, 1]],
    [2, 75, [2, 1], [0, 2]],
    [2, 90, [2, 1], [1, 1]],
    [3, 25, [1, 3], [1, 2]],
    [3, 33, [1, 2], [1, 2]],
    [3, 50, [2, 2], [2, 1]],
    [3, 60, [2, 1], [2, 1]],
    [3, 75, [3, 1], [2, 1]],
    [4, 20, [1, 4], [1, 3]],
    [4, 25, [1, 3], [1, 3]],
    [4, 33, [2, 3], [1, 3]],
    [4, 40, [2, 3], [2, 2]],
    [4, 50, [2, 2], [2, 2]],
    [4, 60, [3, 2], [2, 2]],
    [4, 75, [3, 1], [3, 1]],
    [4, 90, [4, 1], [3, 1]],
    [5, 10, [1, 5], [1, 4]],
    [5, 20, [1, 4], [1, 4]],
    [5, 33, [2, 4], [2, 3]],
    [5, 40, [2, 3], [2, 3]],
    [5, 50, [3, 3], [3, 2]],
    [5, 60, [3, 2], [3, 2]],
    [5, 75, [4, 1], [4, 1]],
    [5, 90, [5, 1], [0, 5]],
    [5, 95, [5, 1], [4, 1]],
    [10, 5, [1, 10], [1, 9]],
    [10, 10, [1, 9], [1, 9]],
    [10, 20, [2, 8], [2, 8]],
    [10, 25, [3, 8], [3, 7]],
    [10, 33, [3, 7], [3, 7]],
    [10, 40, [4, 6], [4, 6]],
    [10, 50, [5, 5], [5, 5]],
    [10, 60, [6, 4], [6, 4]],
    [10, 75, [8, 3], [8, 2]],
    [10, 90, [9, 1], [9, 1]],
    [10, 95, [10, 1], [0, 10]],
    [7, 0, [0, 7], [0, 7]],
    [7, 100, [7, 0], [7, 0]],
  ])('%i replicas at weight %i', (replicas, weight, withSurge, withoutSurge) => {
    const surge = Math.ceil(0.25 * replicas);
    const a = weightedCanaryStableCounts(replicas, weight, 100, surge);
    const b = weightedCanaryStableCounts(replicas, weight, 100, 0);
    expect([a.canary, a.stable]).toEqual(withSurge);
    expect([b.canary, b.stable]).toEqual(withoutSurge);
  });
});

describe('pauseDurationSeconds', () => {
  it.each([
    [undefined, undefined], // indefinite
    [30, 30],
    ['10', 10],
    ['1m', 60],
    ['1m30s', 90],
    ['1500ms', 1], // truncated
    ['1.5h', 5400],
    ['0', 0],
    ['soon', -1],
    ['', -1],
  ])('%j → %j', (input, expected) => {
    expect(pauseDurationSeconds(input as any)).toBe(expected);
  });
});
