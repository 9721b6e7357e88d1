// @ts-check

/**
 * The key lists page through a component's or a product's keys newest first
 * (`offset`), so each index holds the order too: a page is a range of the
 * index, not a sort of every key the product has. They replace the indexes
 * on the owner alone, which the counts use just as well.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('gateway_keys', table => {
    table.dropIndex(['component_ref'], 'gateway_keys_component_idx');
    table.dropIndex(['product_id'], 'gateway_keys_product_idx');
  });
  await knex.schema.alterTable('gateway_keys', table => {
    table.index(['component_ref', 'created_at', 'id'], 'gateway_keys_component_idx');
    table.index(['product_id', 'created_at', 'id'], 'gateway_keys_product_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('gateway_keys', table => {
    table.dropIndex(['component_ref', 'created_at', 'id'], 'gateway_keys_component_idx');
    table.dropIndex(['product_id', 'created_at', 'id'], 'gateway_keys_product_idx');
  });
  await knex.schema.alterTable('gateway_keys', table => {
    table.index(['component_ref'], 'gateway_keys_component_idx');
    table.index(['product_id'], 'gateway_keys_product_idx');
  });
};
