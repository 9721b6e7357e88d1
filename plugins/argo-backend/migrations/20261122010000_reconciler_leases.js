// @ts-check

/**
 * Leases that let one backend replica at a time run a domain's reconcilers
 * for a cluster (e.g. `rollouts/local`): the holder renews before
 * `expires_at`; another replica takes over once it has passed.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('reconciler_leases', table => {
    table.string('name', 255).primary();
    table.string('holder', 255).notNullable();
    table.timestamp('expires_at', { useTz: true }).notNullable();
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('reconciler_leases');
};
