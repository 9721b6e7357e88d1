/**
 * Quarterdeck's backend library: the cluster layer and the primitives the
 * reconcilers share.
 *
 * @packageDocumentation
 */
export * from './cluster/errors';
export * from './cluster/types';
