// @ts-check

/**
 * The audit trail is read by action too (`GET /audit?action=key.revoked`):
 * across the gateway, newest first, a page being a range of this index. An
 * entity's trail narrowed to one action reads the entity's index and keeps
 * the rows of that action, which are a fair share of an entity's.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('audit_events', table => {
    table.index(['action', 'created_at', 'id'], 'audit_events_action_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('audit_events', table => {
    table.dropIndex(['action', 'created_at', 'id'], 'audit_events_action_idx');
  });
};
