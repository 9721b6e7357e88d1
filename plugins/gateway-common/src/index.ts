/**
 * Isomorphic annotations, permissions and API types of Quarterdeck's gateway.
 *
 * @packageDocumentation
 */
export * from './annotations';
export * from './permissions';
export * from './api';
export * from './plans';
export * from './config';
