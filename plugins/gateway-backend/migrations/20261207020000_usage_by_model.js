// @ts-check

/**
 * A rollout's analysis reads one model version's calls over a few minutes
 * (`GET /metrics/models`): counted, and ranked by latency, in the database.
 * By product, model and time, that is an index range, and with the latency
 * and the status in the index the database need not read the rows at all.
 *
 * Built without a transaction, and on PostgreSQL concurrently: a plain
 * CREATE INDEX over a month of calls would hold every replica's usage
 * writes meanwhile (during a rolling upgrade, the old replicas' queues fill
 * and drop rows). A build that fails leaves an invalid index, which the
 * next start drops and builds again.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  if (knex.client.dialect === 'postgresql') {
    const invalid = await knex.raw(
      "select 1 from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'gateway_usage_model_idx' and not i.indisvalid",
    );
    if (invalid.rows.length > 0) await knex.raw('drop index concurrently if exists gateway_usage_model_idx');
    await knex.raw('create index concurrently if not exists gateway_usage_model_idx on gateway_usage (product_id, model, at, latency_ms, status)');
    return;
  }
  await knex.schema.alterTable('gateway_usage', table => {
    table.index(['product_id', 'model', 'at', 'latency_ms', 'status'], 'gateway_usage_model_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  if (knex.client.dialect === 'postgresql') {
    await knex.raw('drop index concurrently if exists gateway_usage_model_idx');
    return;
  }
  await knex.schema.alterTable('gateway_usage', table => {
    table.dropIndex([], 'gateway_usage_model_idx');
  });
};

exports.config = { transaction: false };
