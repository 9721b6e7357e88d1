// @ts-check

/**
 * The usage batches already written, by the id their writer gave them. A
 * batch whose COMMIT went through but whose reply was lost (the connection
 * broke, the database failed over) is sent again by its writer under the
 * same id; the store finds the id and adds nothing, so no call is counted
 * twice. Kept a day (the retention task), far past any retry.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('gateway_usage_batches', table => {
    table.string('id', 64).primary().comment("the writer's id for the batch, kept across its retries (a part of a batch written apart: the id, '.0' or '.1', …)");
    table.timestamp('written_at', { useTz: true }).notNullable();
    table.integer('rows').notNullable();
    table.index(['written_at'], 'gateway_usage_batches_written_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('gateway_usage_batches');
};
