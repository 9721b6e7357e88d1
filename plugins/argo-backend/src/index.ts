/**
 * The argo backend plugin for Quarterdeck.
 *
 * @packageDocumentation
 */
export { argoPlugin as default } from './plugin';
