import { TestDatabases } from '@backstage/backend-test-utils';
import type { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import { argoClients, startLocalCluster, type RunningLocalCluster } from '@quarterdeck/plugin-argo-node';
import { eventually } from '../../__testUtils__/eventually';
import { paymentsCanary as rollout } from '../../__testUtils__/fixtures';
import { applyDatabaseMigrations } from '../../database/migrations';
import { RolloutNoticeStore } from '../../database/RolloutNoticeStore';
import { RolloutReconciler } from '../reconciler';
import { KnexAuditStore } from '../../database/AuditStore';
import { abortActor, RolloutNotifier, type RolloutNotifierOptions } from './notifier';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });


describe('RolloutNotifier on the local driver', () => {
  let local: RunningLocalCluster;
  let reconciler: RolloutReconciler;
  let store: RolloutNoticeStore;
  let knex: Awaited<ReturnType<typeof applyDatabaseMigrations>>;
  let audit: KnexAuditStore;
  const notifiers: RolloutNotifier[] = [];
  let sent: NotificationSendOptions[];

  /** The catalog: which kubernetes-ids it has read entities for. */
  let catalogKnows: Set<string>;

  /** A replica's notifier; every replica shares the database, as in production. */
  async function replica(overrides: Partial<RolloutNotifierOptions> = {}) {
    const notifier = new RolloutNotifier(local.cluster, {
      cluster: 'r',
      store,
      entityOf: async r => {
        const id = r.metadata.labels?.['backstage.io/kubernetes-id'];
        return id && catalogKnows.has(id) ? `component:default/${id}` : undefined;
      },
      notifications: { send: async notification => { sent.push(notification); } },
      // Looked for again every 50 to 200 ms (5 s to 10 minutes in production).
      entityRetryMs: 50,
      entityRetryMaxMs: 200,
      abortedBy: abortActor(audit),
      ...overrides,
    });
    notifiers.push(notifier);
    await notifier.start();
    return notifier;
  }
  const settled = async () => {
    await reconciler.idle();
    for (const n of notifiers) await n.idle();
  };

  beforeEach(async () => {
    sent = [];
    catalogKnows = new Set(['payments-api']);
    const db = await databases.init('SQLITE_3');
    local = await startLocalCluster({ name: 'r', db, kubelet: { readyDelayMs: 20 } });
    knex = await applyDatabaseMigrations({ getClient: async () => db });
    store = new RolloutNoticeStore(knex);
    audit = new KnexAuditStore(knex);
    reconciler = new RolloutReconciler(local.cluster);
    await reconciler.start();
  });
  afterEach(async () => {
    for (const n of notifiers.splice(0)) await n.stop();
    await reconciler.stop();
    await local.stop();
  });

  const get = () => argoClients(local.cluster).rollouts.get('default', 'payments-api');
  const promote = () => local.cluster.patch(
    { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' },
    'merge',
    { status: { pauseConditions: null } },
    { subresource: 'status' },
  );

  it('tells the team once that an update waits for promotion, then that it completed, across replicas and restarts', async () => {
    await Promise.all([replica(), replica()]);
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy');
    await settled();
    // A first deploy is not news.
    expect(sent).toEqual([]);

    await rollouts.apply(rollout('payments:2'));
    await eventually('the notice of the pause step', async () => sent.length > 0);
    await settled();
    expect(sent).toEqual([{
      recipients: { type: 'entity', entityRef: 'component:default/payments-api' },
      payload: expect.objectContaining({
        title: 'payments-api: waits for promotion at step 2 of 3',
        link: '/catalog/default/component/payments-api/rollouts',
        topic: 'rollouts',
        severity: 'normal',
        scope: 'argo:rollout:r/default/payments-api',
      }),
    }]);

    // A replica that starts now (a restart) does not tell of it again.
    await replica();
    await settled();
    expect(sent).toHaveLength(1);

    await promote();
    await eventually('the notice of the completed update', async () => sent.length > 1);
    await settled();
    expect(sent.map(n => n.payload.title)).toEqual(['payments-api: waits for promotion at step 2 of 3', 'payments-api: update complete']);
    // Same scope: the notifications backend updates the first notification in place.
    expect(sent[1].payload.scope).toBe(sent[0].payload.scope);
  });

  it('records a Rollout first seen complete without telling anyone, and forgets a deleted one', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy');
    await rollouts.apply(rollout('payments:2'));
    await eventually('the pause step', async () => (await get())?.status?.phase === 'Paused');
    await promote();
    await eventually('the update to complete', async () => {
      const r = await get();
      return r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash;
    });
    // The notifier starts after all that: a finished update is old news.
    await replica();
    await settled();
    expect(sent).toEqual([]);

    const { uid } = (await get())!.metadata;
    await local.cluster.delete({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' });
    await eventually('the notice to be forgotten', async () =>
      (await store.claim({ cluster: 'r', uid: uid!, namespace: 'default', name: 'payments-api' }, 'probe')) === 'first');
    // Created again under its name, it is another Rollout, whose first deploy is not news.
    await rollouts.apply(rollout('payments:3'));
    await eventually('the new first deploy to be Healthy', async () => {
      const r = await get();
      return r?.metadata.uid !== uid && r?.status?.phase === 'Healthy' && r.status.stableRS === r.status.currentPodHash;
    });
    await settled();
    expect(sent).toEqual([]);
  });

  it('forgets, at its next start, a Rollout deleted while no replica watched', async () => {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy');
    const first = await replica();
    await settled();
    const { uid } = (await get())!.metadata;
    expect(await knex('rollout_notices').pluck('uid')).toEqual([uid]);

    // Every replica stops; the Rollout is deleted; an hour passes.
    await first.stop();
    notifiers.splice(0);
    await local.cluster.delete({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' });
    await knex('rollout_notices').update({ updated_at: new Date(Date.now() - 3_600_000) });
    expect(await knex('rollout_notices').pluck('uid')).toEqual([uid]);

    await replica();
    expect(await knex('rollout_notices').pluck('uid')).toEqual([]);
  });

  it('tells of a state the catalog could not place yet once it has read the entity', async () => {
    catalogKnows.clear();
    await replica();
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy');
    await rollouts.apply(rollout('payments:2'));
    await eventually('the pause step', async () => (await get())?.status?.phase === 'Paused');
    await settled();
    expect(sent).toEqual([]);

    catalogKnows.add('payments-api');
    await eventually('the notice, once the entity is known', async () => sent.length > 0);
    expect(sent.map(n => n.payload.title)).toEqual(['payments-api: waits for promotion at step 2 of 3']);
  });

  /** payments-api deployed, then updated: its team has been told of the pause. */
  async function pausedUpdate() {
    const rollouts = argoClients(local.cluster).rollouts;
    await rollouts.apply(rollout('payments:1'));
    await eventually('the first deploy to be Healthy', async () => (await get())?.status?.phase === 'Healthy');
    await rollouts.apply(rollout('payments:2'));
    await eventually('the notice of the pause', async () => sent.length > 0);
  }

  it('tells the team of an abort with the controller\'s reason, leaving out whoever pressed Abort', async () => {
    await replica();
    await pausedUpdate();
    // What the router does for alice's Abort: the patch `kubectl argo rollouts abort` sends, then the audit row.
    await local.cluster.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' }, 'merge', { status: { abort: true } }, { subresource: 'status' });
    await audit.record({ cluster: 'r', kind: 'Rollout', namespace: 'default', name: 'payments-api', actor: 'user:default/alice', action: 'abort', reason: 'errors on checkout' });
    await eventually('the notice of the abort', async () => sent.length > 1);
    await settled();
    expect(sent.slice(1)).toEqual([{
      recipients: { type: 'entity', entityRef: 'component:default/payments-api', excludeEntityRef: 'user:default/alice' },
      payload: expect.objectContaining({ title: 'payments-api: update aborted', severity: 'high', description: expect.stringContaining('Rollout aborted update to revision 2') }),
    }]);
  });

  it('still tells of an abort, to everyone, when the audit trail cannot be read', async () => {
    await replica({ abortedBy: async () => { throw new Error('connection refused'); } });
    await pausedUpdate();
    await local.cluster.patch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'payments-api' }, 'merge', { status: { abort: true } }, { subresource: 'status' });
    await eventually('the notice of the abort', async () => sent.length > 1);
    expect(sent[1]).toMatchObject({ recipients: { type: 'entity', entityRef: 'component:default/payments-api' }, payload: { title: 'payments-api: update aborted' } });
    expect(sent[1].recipients).not.toHaveProperty('excludeEntityRef');
  });
});

describe('abortActor', () => {
  const aborted = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { namespace: 'default', name: 'payments-api' }, spec: {}, status: { abortedAt: '2026-11-22T10:00:30Z' } };
  const abort = (actor: string, details: Record<string, unknown>) =>
    ({ id: actor, createdAt: '2026-11-22T10:00:00.000Z', actor, action: 'abort', cluster: 'r', kind: 'Rollout', namespace: 'default', name: 'payments-api', details });

  it('does not name someone whose abort failed: the analysis aborted, and they are told', async () => {
    const failed = abort('user:default/bob', { outcome: 'failed', error: 'the server rejected our request' });
    expect(await abortActor({ list: async () => [failed] })('r', aborted as never)).toBeUndefined();
    expect(await abortActor({ list: async () => [failed, abort('user:default/alice', { outcome: 'applied' })] })('r', aborted as never)).toBe('user:default/alice');
  });

  it('does not name someone whose abort another retried: the abort after the retry was the analysis\'s', async () => {
    const retry = { ...abort('user:default/bob', { outcome: 'applied' }), action: 'retry', createdAt: '2026-11-22T10:00:20.000Z' };
    // The trail comes newest first: bob's retry, then alice's abort.
    expect(await abortActor({ list: async () => [retry, abort('user:default/alice', { outcome: 'applied' })] })('r', aborted as never)).toBeUndefined();
  });
});
