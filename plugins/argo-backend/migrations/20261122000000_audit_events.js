// @ts-check

/**
 * The audit trail every mutating argo action writes: who did what to which
 * object of which entity, and why. Listed per entity and per object, newest
 * first, so both lookups have an index.
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
    table.string('cluster', 255).notNullable();
    table.string('kind', 64).notNullable();
    table.string('namespace', 255).notNullable();
    table.string('name', 255).notNullable();
    table.text('reason').nullable();
    table.text('details').nullable().comment('JSON: step before and after, etc.');
    table.index(['entity_ref', 'created_at'], 'audit_events_entity_idx');
    table.index(['cluster', 'kind', 'namespace', 'name', 'created_at'], 'audit_events_object_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('audit_events');
};
