// @ts-check

/**
 * Usage rolled up by hour as it is written (one upsert per batch): counts,
 * tokens, cost and a latency histogram per hour, product, consumer, model
 * and upstream version. Day figures are sums of hours. Usage pages read
 * these rows; the raw rows serve short windows (rollout analysis) and are
 * kept for `gateway.usageRetentionDays`.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('gateway_usage_hourly', table => {
    table.timestamp('hour', { useTz: true }).notNullable();
    table.string('product_id', 63).notNullable();
    table.string('consumer_ref', 255).notNullable().comment("'' when unknown");
    table.string('model', 127).notNullable().comment("'' for REST products");
    table.string('upstream', 127).notNullable();
    table.bigInteger('requests').notNullable().defaultTo(0);
    table.bigInteger('errors').notNullable().defaultTo(0);
    table.bigInteger('prompt_tokens').notNullable().defaultTo(0);
    table.bigInteger('completion_tokens').notNullable().defaultTo(0);
    table.double('cost').notNullable().defaultTo(0);
    // A latency histogram: calls at or under each bound (ms), then above the last.
    for (const bound of ['5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', 'inf']) {
      table.bigInteger(`le_${bound}`).notNullable().defaultTo(0);
    }
    table.primary(['hour', 'product_id', 'consumer_ref', 'model', 'upstream']);
    table.index(['product_id', 'hour'], 'gateway_usage_hourly_product_idx');
    table.index(['consumer_ref', 'hour'], 'gateway_usage_hourly_consumer_idx');
  });
  await knex.schema.alterTable('gateway_usage', table => {
    table.index(['at'], 'gateway_usage_at_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('gateway_usage', table => {
    table.dropIndex(['at'], 'gateway_usage_at_idx');
  });
  await knex.schema.dropTable('gateway_usage_hourly');
};
