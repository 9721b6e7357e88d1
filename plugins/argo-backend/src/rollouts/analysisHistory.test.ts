import type { AnalysisRun } from '@quarterdeck/plugin-argo-common';
import type { KubeObject } from '@quarterdeck/plugin-argo-node';
import { analysisRunsToDelete } from './analysisHistory';

const run = (name: string, minute: number, phase: string | undefined, hash: string | null = 'h1', revision = 1): AnalysisRun & KubeObject => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'AnalysisRun',
  metadata: { name, namespace: 'default', creationTimestamp: `2026-12-08T10:${String(minute).padStart(2, '0')}:00Z`, labels: hash ? { 'rollouts-pod-template-hash': hash } : {}, annotations: { 'rollout.argoproj.io/revision': String(revision) } },
  spec: { metrics: [] },
  ...(phase ? { status: { phase } } : {}),
} as AnalysisRun & KubeObject);

describe('which past AnalysisRuns go, as FilterAnalysisRunsToDelete decides', () => {
  it('keeps the newest successful and unsuccessful runs up to their limits, and those still measuring', () => {
    const runs = [
      run('ok-1', 1, 'Successful'), run('ok-2', 2, 'Successful'), run('ok-3', 3, 'Successful'),
      run('bad-1', 4, 'Failed'), run('err-2', 5, 'Error'), run('inc-3', 6, 'Inconclusive'),
      run('running', 0, 'Running'), run('pending', 0, undefined),
    ];
    const gone = analysisRunsToDelete(runs, new Set(['h1']), { successful: 2, unsuccessful: 1 }).map(r => r.metadata.name);
    expect(gone.sort()).toEqual(['bad-1', 'err-2', 'ok-1']);
  });

  it('removes the runs of a pod template the Rollout no longer has, whatever the limits, and those with no hash', () => {
    const runs = [run('old', 1, 'Successful', 'h0'), run('kept', 2, 'Successful', 'h1'), run('unlabelled', 3, 'Successful', null), run('old-running', 4, 'Running', 'h0')];
    expect(analysisRunsToDelete(runs, new Set(['h1']), { successful: 5, unsuccessful: 5 }).map(r => r.metadata.name).sort()).toEqual(['old', 'old-running', 'unlabelled']);
  });

  it('tells runs made in the same second apart by their revision', () => {
    const runs = [run('rev-3', 1, 'Successful', 'h1', 3), run('rev-10', 1, 'Successful', 'h1', 10), run('rev-2', 1, 'Successful', 'h1', 2)];
    expect(analysisRunsToDelete(runs, new Set(['h1']), { successful: 1, unsuccessful: 0 }).map(r => r.metadata.name)).toEqual(['rev-3', 'rev-2']);
  });

  it('keeps none with a limit of 0', () => {
    expect(analysisRunsToDelete([run('ok', 1, 'Successful'), run('bad', 2, 'Failed')], new Set(['h1']), { successful: 0, unsuccessful: 0 })).toHaveLength(2);
  });
});
