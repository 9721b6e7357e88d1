// @ts-check

/**
 * What a key change tells others — its events on Backstage's events service
 * and its notifications — written in the change's own transaction and
 * delivered from here (service/outbox.ts). Before, they were sent after the
 * commit: a crash or a failed send between the two lost them for good while
 * the change and its audit stayed. A row is removed once delivered, or after
 * its last attempt; `next_attempt_at` is when a deliverer may take it (again),
 * and `claim` which deliverer took it last.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('gateway_outbox', table => {
    table.bigIncrements('seq').primary().comment('delivery order');
    table.string('id', 36).notNullable().unique().comment("the message's id, the eventId its subscribers see");
    table.string('kind', 16).notNullable().comment('event or notification');
    table.text('message').notNullable().comment('JSON: the event or the notification, as sent');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.integer('attempts').notNullable().defaultTo(0);
    table.timestamp('next_attempt_at', { useTz: true }).notNullable();
    table.string('claim', 36).nullable();
    table.index(['next_attempt_at'], 'gateway_outbox_due_idx');
    table.index(['claim'], 'gateway_outbox_claim_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('gateway_outbox');
};
