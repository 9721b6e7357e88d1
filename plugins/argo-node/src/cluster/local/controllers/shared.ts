import type { KubeObject, ObjectRef, OwnerReference } from '../../types';

export const refOf = (o: KubeObject): ObjectRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  namespace: o.metadata.namespace,
  name: o.metadata.name!,
});

export const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;

export function controllerOf(o: KubeObject): OwnerReference | undefined {
  return (o.metadata.ownerReferences ?? []).find(r => r.controller);
}

export function ownerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    activeDeadlineSeconds?: number;
    containers: Array<{
      name: string;
      image?: string;
      command?: string[];
      args?: string[];
      env?: Array<{ name: string; value?: string }>;
      ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
      workingDir?: string;
    }>;
  };
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
    podIP?: string;
    conditions?: Array<{ type: string; status: string; lastTransitionTime?: string; reason?: string }>;
    containerStatuses?: Array<Record<string, unknown>>;
    startTime?: string;
  };
};

export function isPodReady(pod: KubeObject): boolean {
  const status = (pod as Pod).status;
  return status?.phase === 'Running' && (status.conditions ?? []).some(c => c.type === 'Ready' && c.status === 'True');
}

/** When the pod's Ready condition last became true (ms), if it is ready. */
export function readySince(pod: KubeObject): number | undefined {
  const ready = ((pod as Pod).status?.conditions ?? []).find(c => c.type === 'Ready' && c.status === 'True');
  const at = ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}

export function isPodFinished(pod: KubeObject): boolean {
  const phase = (pod as Pod).status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Writes `status` through the status subresource when it differs from what is there. */
export async function writeStatus(
  client: { patch: (...args: any[]) => Promise<unknown> },
  o: KubeObject,
  status: Record<string, unknown>,
  fieldManager: string,
) {
  const current = JSON.stringify(o.status ?? {});
  const merged = { ...((o.status as object) ?? {}), ...status };
  if (current === JSON.stringify(merged)) return;
  await client.patch(refOf(o), 'merge', { status }, { subresource: 'status', fieldManager });
}
