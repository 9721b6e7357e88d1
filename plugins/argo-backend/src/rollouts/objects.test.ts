import type { Rollout } from '@quarterdeck/plugin-argo-common';
import { apiServerPodTemplateDefaults } from '../__testUtils__/apiServerDefaults';
import { currentTemplateHash, templateHash, type ReplicaSetState } from './objects';

const template = (image: string) => ({ metadata: { labels: { app: 'payments' } }, spec: { containers: [{ name: 'app', image }] } });
const rollout = (t: object): Rollout => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'payments-api', namespace: 'payments' }, spec: { template: t as Rollout['spec']['template'] } });
const replicaSet = (hash: string, t: Record<string, any>, createdAt = '2026-11-22T10:00:00Z'): ReplicaSetState => ({
  name: `payments-api-${hash}`, hash, revision: 1, specReplicas: 1, replicas: 1, availableReplicas: 1, readyReplicas: 1, createdAt,
  template: { ...t, metadata: { ...t.metadata, labels: { ...t.metadata.labels, 'rollouts-pod-template-hash': hash } } },
});

describe('currentTemplateHash (FindNewReplicaSet)', () => {
  const stored = apiServerPodTemplateDefaults(template('payments:1'));

  it('is the template\'s own hash when a ReplicaSet has it', () => {
    const r = rollout(template('payments:1'));
    expect(currentTemplateHash(r, [replicaSet('other', stored), replicaSet(templateHash(r), template('payments:1'))])).toBe(templateHash(r));
  });

  it('is the hash of the ReplicaSet whose template undo copied back, ignoring its hash label and the nulls a round trip drops', () => {
    const { creationTimestamp: _, ...metadata } = stored.metadata;
    expect(currentTemplateHash(rollout(stored), [replicaSet('v2', apiServerPodTemplateDefaults(template('payments:2'))), replicaSet('v1', stored)])).toBe('v1');
    expect(currentTemplateHash(rollout({ ...stored, metadata }), [replicaSet('v1', stored)])).toBe('v1');
  });

  it('is a new hash for a template that only resembles one: a field more or less is a new ReplicaSet', () => {
    const r = rollout(template('payments:1'));
    expect(currentTemplateHash(r, [replicaSet('v1', stored)])).toBe(templateHash(r));
    const more = rollout({ ...stored, spec: { ...stored.spec, hostNetwork: true } });
    expect(currentTemplateHash(more, [replicaSet('v1', stored)])).toBe(templateHash(more));
  });
});
