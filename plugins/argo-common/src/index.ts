/**
 * Isomorphic types, annotations and permissions shared by Quarterdeck's Argo
 * plugins (frontend, backend and node library).
 *
 * @packageDocumentation
 */
export * from './annotations';
export * from './permissions';
export * from './kinds';
export * from './api';
export * from './duration';
