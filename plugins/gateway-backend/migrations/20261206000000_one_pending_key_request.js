// @ts-check

/**
 * At most one pending key request per component and product, kept by the
 * database: two requests sent at once (a double click) can no longer both
 * pass the router's check and both be approved. Older duplicates already
 * pending are marked expired first, newest kept.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.raw(`
    UPDATE gateway_key_requests SET status = 'expired'
    WHERE status = 'pending' AND EXISTS (
      SELECT 1 FROM gateway_key_requests newer
      WHERE newer.status = 'pending'
        AND newer.component_ref = gateway_key_requests.component_ref
        AND newer.product_id = gateway_key_requests.product_id
        AND (newer.requested_at > gateway_key_requests.requested_at
          OR (newer.requested_at = gateway_key_requests.requested_at AND newer.id > gateway_key_requests.id)))`);
  await knex.raw(`CREATE UNIQUE INDEX gateway_key_requests_one_pending ON gateway_key_requests (component_ref, product_id) WHERE status = 'pending'`);
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.raw('DROP INDEX gateway_key_requests_one_pending');
};
