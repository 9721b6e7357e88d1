// @ts-check

/**
 * Every API's key requests (the admin page, without a status) are read newest
 * first: a range of `requested_at`, not a sort of every request.
 *
 * A product's key requests are read by product: whether any waits for review
 * before the product is removed, and the removal's own delete of them (and, on
 * PostgreSQL, the foreign key's check), under the product row's lock. Without
 * these indexes each was a scan of every request ever made.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('gateway_key_requests', table => {
    table.index(['product_id', 'status'], 'gateway_key_requests_product_idx');
    table.index(['requested_at'], 'gateway_key_requests_requested_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('gateway_key_requests', table => {
    table.dropIndex(['requested_at'], 'gateway_key_requests_requested_idx');
    table.dropIndex(['product_id', 'status'], 'gateway_key_requests_product_idx');
  });
};
