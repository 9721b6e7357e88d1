// @ts-check

/**
 * Indexes for the admin page's gateway-wide lists: every API's key requests
 * by status (the review queue, oldest first), and the whole audit trail,
 * newest first. Until now both were only listed per entity.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('gateway_key_requests', table => {
    table.index(['status', 'requested_at'], 'gateway_key_requests_status_idx');
  });
  await knex.schema.alterTable('audit_events', table => {
    // The trail is read newest first by (created_at, id): both in the index, so no sort.
    table.index(['created_at', 'id'], 'audit_events_created_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('audit_events', table => {
    table.dropIndex(['created_at', 'id'], 'audit_events_created_idx');
  });
  await knex.schema.alterTable('gateway_key_requests', table => {
    table.dropIndex(['status', 'requested_at'], 'gateway_key_requests_status_idx');
  });
};
