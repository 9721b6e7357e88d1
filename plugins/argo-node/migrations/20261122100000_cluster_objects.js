// @ts-check

/**
 * The local cluster driver's objects, one row per object with its JSON, and
 * the last resourceVersion each cluster handed out (so versions only grow,
 * across restarts and deletions too).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('cluster_objects', table => {
    table.string('cluster', 128).notNullable();
    table.string('api_group', 253).notNullable();
    table.string('kind', 128).notNullable();
    table.string('namespace', 253).notNullable().comment("'' for cluster-scoped kinds");
    table.string('name', 253).notNullable();
    table.string('uid', 36).notNullable();
    table.bigInteger('resource_version').notNullable();
    table.text('body').notNullable();
    table.primary(['cluster', 'api_group', 'kind', 'namespace', 'name']);
  });
  await knex.schema.createTable('cluster_versions', table => {
    table.string('cluster', 128).primary();
    table.bigInteger('resource_version').notNullable();
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('cluster_versions');
  await knex.schema.dropTable('cluster_objects');
};
