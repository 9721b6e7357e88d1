/**
 * Quarterdeck's `gateway` frontend plugin.
 *
 * @packageDocumentation
 */
export { gatewayPlugin as default } from './plugin';
export { GatewayClient, gatewayApiRef, type GatewayApi } from './api/GatewayClient';
