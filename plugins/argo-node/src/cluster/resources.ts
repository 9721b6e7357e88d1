import { InvalidObjectError } from './errors';
import type { JSONSchemaProps } from './schema';
import { groupOf, type KubeObject } from './types';

/** What the local driver knows about one kind, as discovery tells a client of a real cluster. */
export interface ResourceType {
  apiVersion: string;
  group: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Writes to the main resource leave `.status` alone, and `.status` has its own endpoint. */
  statusSubresource: boolean;
  /** For custom resources: the CRD's schema. */
  schema?: JSONSchemaProps;
  /** The default delete propagation the API server uses. */
  defaultPropagation: 'Background' | 'Orphan';
}

const builtin = (
  apiVersion: string,
  kind: string,
  plural: string,
  namespaced = true,
  statusSubresource = false,
): ResourceType => ({
  apiVersion,
  group: groupOf(apiVersion),
  kind,
  plural,
  namespaced,
  statusSubresource,
  defaultPropagation: 'Background',
});

/** The built-in kinds the local driver serves (and its controllers use). */
export const BUILTIN_RESOURCES: ResourceType[] = [
  builtin('v1', 'Namespace', 'namespaces', false, true),
  builtin('v1', 'ConfigMap', 'configmaps'),
  builtin('v1', 'Secret', 'secrets'),
  builtin('v1', 'Pod', 'pods', true, true),
  builtin('v1', 'Service', 'services', true, true),
  builtin('v1', 'Endpoints', 'endpoints'),
  builtin('v1', 'ServiceAccount', 'serviceaccounts'),
  builtin('v1', 'Event', 'events'),
  builtin('apps/v1', 'Deployment', 'deployments', true, true),
  builtin('apps/v1', 'ReplicaSet', 'replicasets', true, true),
  builtin('batch/v1', 'Job', 'jobs', true, true),
  builtin('coordination.k8s.io/v1', 'Lease', 'leases'),
  builtin('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, true),
];

/** Kinds by `apiVersion/kind`, extended when a CustomResourceDefinition is created. */
export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();

  constructor(types: ResourceType[] = BUILTIN_RESOURCES) {
    for (const t of types) this.types.set(`${t.apiVersion}/${t.kind}`, t);
  }

  find(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.get(`${apiVersion}/${kind}`);
  }

  /** The kind, or InvalidObjectError in the words kubectl prints for an unknown kind. */
  require(apiVersion: string | undefined, kind: string | undefined): ResourceType {
    if (!apiVersion) throw new InvalidObjectError('Object \'apiVersion\' is missing');
    if (!kind) throw new InvalidObjectError('Object \'Kind\' is missing');
    const found = this.find(apiVersion, kind);
    if (!found) {
      throw new InvalidObjectError(
        `no matches for kind "${kind}" in version "${apiVersion}"`,
      );
    }
    return found;
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Registers (or re-registers) the kinds a CRD serves; returns their types. */
  registerCrd(crd: KubeObject): ResourceType[] {
    const spec = crd.spec as {
      group: string;
      names: { kind: string; plural: string };
      scope: 'Namespaced' | 'Cluster';
      versions: Array<{
        name: string;
        served: boolean;
        schema?: { openAPIV3Schema?: JSONSchemaProps };
        subresources?: { status?: object };
      }>;
    };
    const registered: ResourceType[] = [];
    for (const version of spec.versions.filter(v => v.served)) {
      const type: ResourceType = {
        apiVersion: `${spec.group}/${version.name}`,
        group: spec.group,
        kind: spec.names.kind,
        plural: spec.names.plural,
        namespaced: spec.scope === 'Namespaced',
        statusSubresource: Boolean(version.subresources?.status),
        schema: version.schema?.openAPIV3Schema,
        defaultPropagation: 'Background',
      };
      this.types.set(`${type.apiVersion}/${type.kind}`, type);
      registered.push(type);
    }
    return registered;
  }

  unregisterCrd(crd: KubeObject) {
    const spec = crd.spec as { group: string; names: { kind: string }; versions: Array<{ name: string }> };
    for (const v of spec.versions) this.types.delete(`${spec.group}/${v.name}/${spec.names.kind}`);
  }
}
