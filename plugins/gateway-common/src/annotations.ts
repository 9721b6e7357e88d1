/**
 * The gateway product behind an API entity. No ecosystem convention exists;
 * without it, an API entity's gateway product is named after the entity.
 */
export const GATEWAY_PRODUCT_ANNOTATION = 'quarterdeck.io/gateway-product';
