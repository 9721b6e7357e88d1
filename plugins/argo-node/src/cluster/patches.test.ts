import { applyMergePatch, createMergePatch } from './patches';

describe('createMergePatch', () => {
  const before = {
    phase: 'Healthy',
    abort: true,
    canary: { weights: { canary: { weight: 100 } }, currentStepAnalysisRunStatus: { name: 'run-2-1', status: 'Successful' } },
    conditions: [{ type: 'Available', status: 'True' }],
  };

  it('removes a nested member the new value no longer has, and one set to undefined', () => {
    const after = { phase: 'Progressing', abort: undefined, canary: { weights: { canary: { weight: 0 } } }, conditions: [{ type: 'Available', status: 'True' }] };
    const patch = createMergePatch(before, after);
    expect(patch).toEqual({ phase: 'Progressing', abort: null, canary: { weights: { canary: { weight: 0 } }, currentStepAnalysisRunStatus: null } });
    expect(applyMergePatch(before, patch)).toEqual({ phase: 'Progressing', canary: { weights: { canary: { weight: 0 } } }, conditions: [{ type: 'Available', status: 'True' }] });
  });

  it('replaces arrays and values whole, and is undefined when nothing changed', () => {
    expect(createMergePatch(before, { ...before, conditions: [] })).toEqual({ conditions: [] });
    expect(createMergePatch(before, JSON.parse(JSON.stringify(before)))).toBeUndefined();
    expect(createMergePatch({ a: 1 }, { a: { b: 2 } })).toEqual({ a: { b: 2 } });
    expect(createMergePatch({ a: { b: 2 } }, { a: 'x' })).toEqual({ a: 'x' });
  });
});
