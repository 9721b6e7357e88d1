// @ts-check

/**
 * A rollout's analysis reads one model version's calls over a few minutes
 * (`GET /metrics/models`): counted and ranked by latency in the database.
 * By product, model and time, that is an index range; by product and time
 * alone it would read every model's calls of the window.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('gateway_usage', table => {
    table.index(['product_id', 'model', 'at'], 'gateway_usage_model_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('gateway_usage', table => {
    table.dropIndex(['product_id', 'model', 'at'], 'gateway_usage_model_idx');
  });
};
