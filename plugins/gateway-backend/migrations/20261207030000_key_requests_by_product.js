// @ts-check

/**
 * A product's key requests are read by product: whether any waits for review
 * before the product is removed, and the removal's own delete of them (and, on
 * PostgreSQL, the foreign key's check), under the product row's lock. Without
 * this index each was a scan of every request ever made.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('gateway_key_requests', table => {
    table.index(['product_id', 'status'], 'gateway_key_requests_product_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('gateway_key_requests', table => {
    table.dropIndex(['product_id', 'status'], 'gateway_key_requests_product_idx');
  });
};
