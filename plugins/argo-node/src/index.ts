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
export { argoCrds, readManifests, deployDirectory } from './cluster/manifests';
export { LocalCluster, type LocalClusterOptions, type PodLogSource } from './cluster/local/LocalCluster';
export { LocalObjectStore, migrateLocalObjectStore } from './cluster/local/LocalObjectStore';
export { KubernetesCluster } from './cluster/kubernetes/KubernetesCluster';
