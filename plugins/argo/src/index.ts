/**
 * Quarterdeck's `argo` frontend plugin.
 *
 * @packageDocumentation
 */
export { argoPlugin as default } from './plugin';
export { ArgoClient, argoApiRef, type ArgoApi } from './api/ArgoClient';
