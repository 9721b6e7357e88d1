/**
 * Scaffolder actions that create Quarterdeck resources.
 *
 * @packageDocumentation
 */
export { scaffolderModuleQuarterdeck as default } from './module';
export { createRolloutManifestAction, rolloutManifests } from './actions/rolloutManifest';
