// @ts-check

/**
 * The state of each Rollout its team was last told of (`notice_key`, e.g.
 * `awaiting-promotion:<pod hash>:<step>:CanaryPauseStep`), so a state is told
 * once: across restarts, and across replicas that all watch the same cluster
 * (a claim is a conditional update, or else an insert that a conflict
 * ignores: only the statement that changed the row tells).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('rollout_notices', table => {
    table.string('cluster', 255).notNullable();
    // By uid: a Rollout deleted and created again under its name is another Rollout.
    table.string('uid', 64).notNullable();
    table.string('namespace', 255).notNullable();
    table.string('name', 255).notNullable();
    table.string('notice_key', 1024).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.primary(['cluster', 'uid']);
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('rollout_notices');
};
