/**
 * The gateway backend plugin for Quarterdeck.
 *
 * @packageDocumentation
 */
export { gatewayPlugin as default } from './plugin';
