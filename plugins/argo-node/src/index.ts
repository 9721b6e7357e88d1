/**
 * Quarterdeck's backend library: the cluster layer and the primitives the
 * reconcilers share.
 *
 * @packageDocumentation
 */
export * from './cluster/errors';
export * from './cluster/types';
export { Informer, type InformerHandlers, type InformerOptions } from './cluster/informer';
export {
  parseLabelSelector,
  matchesLabels,
  requirementsOf,
  selectorToString,
  type LabelSelectorObject,
} from './cluster/selectors';
export { argoCrds, gatewayApiCrds, readManifests, deployDirectory } from './cluster/manifests';
export { createMergePatch } from './cluster/patches';
export { LocalCluster, type LocalClusterOptions, type PodLogSource } from './cluster/local/LocalCluster';
export { LocalObjectStore, migrateLocalObjectStore } from './cluster/local/LocalObjectStore';
export { KubernetesCluster } from './cluster/kubernetes/KubernetesCluster';
export {
  clusterServiceRef,
  createClusterService,
  kubeConfigFromBackstageCluster,
  CLUSTER_DOMAINS,
  type ClusterService,
  type ClusterInfo,
  type ClusterDomain,
  type ClusterMode,
} from './cluster/ClusterService';
export { startLocalCluster, type RunningLocalCluster } from './cluster/local/startLocalCluster';
export { WorkQueue, type WorkQueueOptions } from './cluster/workQueue';
export { computePodTemplateHash, canonicalJson } from './cluster/podTemplateHash';
export { scaledValue } from './cluster/intOrPercent';
export { EXECUTE_ANNOTATION, SCRIPT_SOURCE_ANNOTATION, SCRATCH_DIR_ANNOTATION } from './cluster/local/controllers/kubelet';
export { KindClient, argoClients } from './cluster/kindClient';
export { compileExpression, ExpressionSyntaxError, ExpressionRuntimeError, type CompiledExpression } from './expr';
