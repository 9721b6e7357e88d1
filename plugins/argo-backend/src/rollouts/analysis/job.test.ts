import type { AnalysisRun, Metric } from '@quarterdeck/plugin-argo-common';
import {
  ObjectConflictError,
  ObjectNotFoundError,
  type ClusterClient,
  type KubeObject,
  type ObjectRef,
} from '@quarterdeck/plugin-argo-node';
import { newMetricResult, type Measurement, type MetricResult } from './assess';
import {
  analysisRunKeyOf,
  JobProvider,
  jobName,
  jobOutcome,
  newMetricJob,
  terminalPodError,
  type Job,
} from './job';
import { providerFor, isResumable } from './providers';

type Run = AnalysisRun & KubeObject;

const run = (uid = 'dummyuid'): Run => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'AnalysisRun',
  metadata: { name: 'dummyrun', namespace: 'dummynamespace', uid },
  spec: { metrics: [] },
});

const metric = (extra: Partial<Metric> = {}): Metric => ({
  name: 'dummymetric',
  provider: {
    job: {
      metadata: { labels: { 'foo-label': 'bar' }, annotations: { 'foo-annotation': 'bar' } },
      spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'dummy', command: ['dosomething'] }] } } },
    },
  },
  ...extra,
});

const NOW = new Date('2026-01-01T00:00:10Z');
const counted = (count: number, error = 0): MetricResult => ({ ...newMetricResult(metric()), count, error });

/** Just enough of a cluster for the provider: jobs and pods in a map, with the API's errors. */
function fakeCluster(objects: KubeObject[] = []) {
  const store = new Map<string, KubeObject>();
  const keyOf = (kind: string, ns: string | undefined, name: string) => `${kind}/${ns}/${name}`;
  for (const o of objects) store.set(keyOf(o.kind, o.metadata.namespace, o.metadata.name!), o);
  const deleted: string[] = [];
  const client = {
    name: 'fake',
    driver: 'local',
    async get(ref: ObjectRef) {
      return store.get(keyOf(ref.kind, ref.namespace, ref.name));
    },
    async create(o: KubeObject) {
      const key = keyOf(o.kind, o.metadata.namespace, o.metadata.name!);
      if (store.has(key)) throw new ObjectConflictError(`jobs.batch "${o.metadata.name}" already exists`);
      const created = { ...o, metadata: { ...o.metadata, uid: `uid-${store.size}` } };
      store.set(key, created);
      return created;
    },
    async delete(ref: ObjectRef) {
      const key = keyOf(ref.kind, ref.namespace, ref.name);
      if (!store.delete(key)) throw new ObjectNotFoundError(`jobs.batch "${ref.name}" not found`);
      deleted.push(ref.name);
    },
    async list(kind: { kind: string; namespace?: string }, options: { labelSelector?: string } = {}) {
      const [k, v] = (options.labelSelector ?? '').split('=');
      const items = [...store.values()].filter(o => o.kind === kind.kind && o.metadata.namespace === kind.namespace &&
        (!k || o.metadata.labels?.[k] === v));
      return { items, resourceVersion: '1' };
    },
  };
  return { client: client as unknown as ClusterClient, store, deleted };
}

const job = (name: string, conditions: Array<{ type: string; status?: string }> = [], extra: Partial<Job['metadata']> = {}): Job => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: {
    name,
    namespace: 'dummynamespace',
    uid: `job-${name}`,
    labels: { 'analysisrun.argoproj.io/uid': 'dummyuid' },
    annotations: { 'analysisrun.argoproj.io/name': 'dummyrun', 'analysisrun.argoproj.io/metric-name': 'dummymetric' },
    ...extra,
  },
  status: { conditions },
});

const running = (name?: string): Measurement => ({
  phase: 'Running',
  startedAt: '2026-01-01T00:00:00Z',
  ...(name === undefined ? {} : { metadata: { 'job-name': name } }),
});

describe('the job built from a job metric (newMetricJob)', () => {
  it('is named <run uid>.<metric>.<measurements so far + 1>', () => {
    expect(jobName(run(), 'dummymetric', undefined)).toBe('dummyuid.dummymetric.1');
    expect(jobName(run(), 'dummymetric', counted(1))).toBe('dummyuid.dummymetric.2');
    // errors count too, so a retried measurement never reuses a name
    expect(jobName(run(), 'dummymetric', counted(2, 3))).toBe('dummyuid.dummymetric.6');
  });

  it('cuts the metric part so the name fits 63 characters', () => {
    const uid = '5d610152-d78d-4af9-aa6a-81c227ea422c';
    expect(jobName(run(uid), 'short-job-name', undefined)).toBe(`${uid}.short-job-name.1`);
    const cut = jobName(run(uid), 'service-endpoint-reachable', undefined);
    expect(cut).toHaveLength(63);
    expect(cut).toBe(`${uid}.service-endpoint-reachab.1`);
    expect(jobName(run(uid), 'this-is-a-very-long-metric-name-that-is-exactly-seventy-characters-long', undefined)).toHaveLength(63);
  });

  it('carries the metric\'s metadata, the run\'s uid label and annotations, and the run as controller', () => {
    const j = newMetricJob(run(), metric(), undefined);
    expect(j.metadata).toEqual({
      name: 'dummyuid.dummymetric.1',
      namespace: 'dummynamespace',
      labels: { 'foo-label': 'bar', 'analysisrun.argoproj.io/uid': 'dummyuid' },
      annotations: {
        'foo-annotation': 'bar',
        'analysisrun.argoproj.io/name': 'dummyrun',
        'analysisrun.argoproj.io/namespace': 'dummynamespace',
        'analysisrun.argoproj.io/metric-name': 'dummymetric',
      },
      ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', name: 'dummyrun', uid: 'dummyuid', controller: true, blockOwnerDeletion: true }],
    });
    expect(j.spec).toMatchObject({ backoffLimit: 0, template: { metadata: { labels: { 'analysisrun.argoproj.io/uid': 'dummyuid' } }, spec: { restartPolicy: 'Never' } } });
  });

  it('does not change the metric it was made from', () => {
    const m = metric();
    const before = JSON.stringify(m);
    newMetricJob(run(), m, undefined);
    expect(JSON.stringify(m)).toBe(before);
  });

  it('leads back to its run', () => {
    expect(analysisRunKeyOf(newMetricJob(run(), metric(), undefined))).toBe('dummynamespace/dummyrun');
    // without an owner reference: the uid label and the annotations (jobParentReference)
    expect(analysisRunKeyOf(job('j'))).toBe('dummynamespace/dummyrun');
    expect(analysisRunKeyOf({ ...job('j'), metadata: { name: 'j', namespace: 'x' } })).toBeUndefined();
  });
});

describe('the job provider', () => {
  it('is what a job metric gets, given the cluster', () => {
    const { client } = fakeCluster();
    const p = providerFor(metric(), { client });
    expect(typeof p !== 'string' && isResumable(p)).toBe(true);
    expect(providerFor(metric())).toBe('the job provider needs the cluster the AnalysisRun is in');
  });

  it('run: creates the Job and answers a Running measurement naming it, to be resumed at once', async () => {
    const { client, store } = fakeCluster();
    const m = await new JobProvider(client).run(run(), metric(), undefined, NOW);
    expect(m).toEqual({
      phase: 'Running',
      startedAt: '2026-01-01T00:00:10Z',
      resumeAt: '2026-01-01T00:00:10Z',
      metadata: { 'job-name': 'dummyuid.dummymetric.1', 'job-namespace': 'dummynamespace' },
    });
    expect(store.has('Job/dummynamespace/dummyuid.dummymetric.1')).toBe(true);
  });

  it('run: takes over a Job of that name this run created, refuses one it did not', async () => {
    const mine = newMetricJob(run(), metric(), undefined);
    const { client } = fakeCluster([mine]);
    expect((await new JobProvider(client).run(run(), metric(), undefined, NOW)).phase).toBe('Running');

    const theirs = newMetricJob(run('other'), metric(), undefined);
    theirs.metadata.name = 'dummyuid.dummymetric.1';
    const other = fakeCluster([theirs]);
    expect(await new JobProvider(other.client).run(run(), metric(), undefined, NOW)).toMatchObject({
      phase: 'Error',
      message: 'jobs.batch "dummyuid.dummymetric.1" already exists',
      finishedAt: '2026-01-01T00:00:10Z',
    });
  });

  it('run: an Error when the cluster refuses the Job', async () => {
    const { client } = fakeCluster();
    (client as any).create = async () => {
      throw new Error('random create failure');
    };
    expect(await new JobProvider(client).run(run(), metric(), undefined, NOW)).toMatchObject({ phase: 'Error', message: 'random create failure' });
  });

  it('resume: Complete is Successful, Failed is Failed without a message', async () => {
    const { client } = fakeCluster([
      job('done', [{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }]),
      job('broken', [{ type: 'FailureTarget', status: 'True' }, { type: 'Failed', status: 'True' }]),
    ]);
    const p = new JobProvider(client);
    expect(await p.resume(run(), metric(), running('done'), NOW)).toEqual({ ...running('done'), phase: 'Successful', finishedAt: '2026-01-01T00:00:10Z' });
    expect(await p.resume(run(), metric(), running('broken'), NOW)).toEqual({ ...running('broken'), phase: 'Failed', finishedAt: '2026-01-01T00:00:10Z' });
  });

  it('resume: a Job still running is looked at again after √(2·elapsed) seconds', async () => {
    const { client } = fakeCluster([job('busy')]);
    const m = await new JobProvider(client).resume(run(), metric(), running('busy'), NOW);
    // 10 s elapsed: √20 ≈ 4.47 s, rounded up to a whole second
    expect(m).toEqual({ ...running('busy'), resumeAt: '2026-01-01T00:00:15Z' });
    expect(m.finishedAt).toBeUndefined();
  });

  it('resume: a pod stuck on its image is Inconclusive, with Argo\'s message', async () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'failed-pod', namespace: 'dummynamespace', labels: { 'batch.kubernetes.io/controller-uid': 'job-busy' } },
      status: { containerStatuses: [{ name: 'dummy', state: { waiting: { reason: 'ErrImagePull', message: 'failed to pull image: not found' } } }] },
    };
    const { client } = fakeCluster([job('busy'), pod]);
    expect(await new JobProvider(client).resume(run(), metric(), running('busy'), NOW)).toMatchObject({
      phase: 'Inconclusive',
      message: 'Pod failed-pod, container dummy has terminal error (ErrImagePull): failed to pull image: not found\n',
      finishedAt: '2026-01-01T00:00:10Z',
    });
    expect(terminalPodError([{ ...pod, status: { initContainerStatuses: [{ name: 'init', state: { waiting: { reason: 'ImagePullBackOff', message: 'back-off' } } }] } }]))
      .toBe('Pod failed-pod, container init has terminal error (ImagePullBackOff): back-off\n');
    expect(terminalPodError([{ ...pod, status: { containerStatuses: [{ name: 'dummy', state: { waiting: { reason: 'ContainerCreating' } } }] } }])).toBeUndefined();
  });

  it('resume: an Error when the Job is gone or the measurement names none', async () => {
    const { client } = fakeCluster();
    const p = new JobProvider(client);
    expect(await p.resume(run(), metric(), running('job-which-does-not-exist'), NOW)).toMatchObject({
      phase: 'Error',
      message: 'job.batch "job-which-does-not-exist" not found',
      finishedAt: '2026-01-01T00:00:10Z',
    });
    expect(await p.resume(run(), metric(), running(), NOW)).toMatchObject({ phase: 'Error', message: 'job metadata reference missing' });
  });

  it('terminate: deletes the Job (or finds it gone) and ends Inconclusive', async () => {
    const { client, deleted } = fakeCluster([job('busy')]);
    const p = new JobProvider(client);
    expect(await p.terminate(run(), metric(), running('busy'), NOW)).toEqual({ ...running('busy'), phase: 'Inconclusive', finishedAt: '2026-01-01T00:00:10Z' });
    expect(deleted).toEqual(['busy']);
    expect((await p.terminate(run(), metric(), running('busy'), NOW)).phase).toBe('Inconclusive');
    expect(await p.terminate(run(), metric(), running(), NOW)).toMatchObject({ phase: 'Error', message: 'job metadata reference missing' });
  });

  it('terminate: an Error when the delete fails', async () => {
    const { client } = fakeCluster([job('busy')]);
    (client as any).delete = async () => {
      throw new Error('random delete error');
    };
    expect(await new JobProvider(client).terminate(run(), metric(), running('busy'), NOW)).toMatchObject({ phase: 'Error', message: 'random delete error' });
  });

  it('garbageCollect: deletes all but the newest Jobs of the metric', async () => {
    const jobs = Array.from({ length: 12 }, (_, i) =>
      job(`dummyuid.dummymetric.${i + 1}`, [{ type: 'Complete' }], { creationTimestamp: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z` }));
    const anotherMetric = job('dummyuid.other.1', [], { creationTimestamp: '2025-12-31T00:00:00Z' });
    anotherMetric.metadata.annotations = { 'analysisrun.argoproj.io/metric-name': 'other' };
    const { client, deleted } = fakeCluster([...jobs, anotherMetric]);
    await new JobProvider(client).garbageCollect(run(), metric(), 10);
    expect(deleted).toEqual(['dummyuid.dummymetric.1', 'dummyuid.dummymetric.2']);
  });

  it('garbageCollect: orders Jobs created in the same second by their number', async () => {
    const jobs = [10, 9, 11, 1].map(n => job(`dummyuid.dummymetric.${n}`, [], { creationTimestamp: '2026-01-01T00:00:00Z' }));
    const { client, deleted } = fakeCluster(jobs);
    await new JobProvider(client).garbageCollect(run(), metric(), 2);
    expect(deleted).toEqual(['dummyuid.dummymetric.1', 'dummyuid.dummymetric.9']);
  });
});

describe('jobOutcome', () => {
  it.each([
    [[], undefined],
    [[{ type: 'Suspended', status: 'True' }], undefined],
    [[{ type: 'Complete', status: 'True' }], 'Successful'],
    [[{ type: 'Failed', status: 'True' }], 'Failed'],
  ])('%j → %s', (conditions, outcome) => {
    expect(jobOutcome(job('j', conditions))).toBe(outcome);
  });
});
