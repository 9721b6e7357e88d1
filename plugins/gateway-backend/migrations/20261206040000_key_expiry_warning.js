// @ts-check

/**
 * A key's owners are told once before it expires: `expiry_warned_at` records
 * that they were, and the sweep that finds the keys to tell of reads the
 * accepted keys by expiry through the index.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('gateway_keys', table => {
    table.timestamp('expiry_warned_at', { useTz: true }).nullable().comment("when the key's owners were told it expires soon");
    table.index(['status', 'expires_at'], 'gateway_keys_expiry_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('gateway_keys', table => {
    table.dropIndex(['status', 'expires_at'], 'gateway_keys_expiry_idx');
    table.dropColumn('expiry_warned_at');
  });
};
