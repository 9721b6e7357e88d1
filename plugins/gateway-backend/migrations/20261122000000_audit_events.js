// @ts-check

/**
 * The audit trail every mutating gateway action writes (products, plans, key
 * requests and their review, key rotation and revocation): who, when, on
 * which entity, and why. Listed per entity, newest first.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('audit_events', table => {
    table.bigIncrements('id').primary();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.string('actor', 255).notNullable().comment('user entity ref');
    table.string('action', 64).notNullable();
    table.string('entity_ref', 255).nullable();
    table.string('target', 255).notNullable().comment('product, request or key id');
    table.text('reason').nullable();
    table.text('details').nullable().comment('JSON');
    table.index(['entity_ref', 'created_at'], 'audit_events_entity_idx');
    table.index(['target', 'created_at'], 'audit_events_target_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('audit_events');
};
