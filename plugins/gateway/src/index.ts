/**
 * Quarterdeck's `gateway` frontend plugin.
 *
 * @packageDocumentation
 */
export { gatewayPlugin as default } from './plugin';
export {
  GatewayClient,
  gatewayApiRef,
  type ApprovedKeyRequest,
  type CreateKeyRequest,
  type GatewayApi,
} from './api/GatewayClient';
