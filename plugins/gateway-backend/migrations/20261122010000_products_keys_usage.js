// @ts-check

/**
 * The gateway's policy and its keys:
 * - products (one per catalog API entity): kind, upstreams, models, routes;
 * - plans of a product: request, token and cost limits;
 * - key requests from components, and their review;
 * - keys: a public id and the HMAC of the secret (never the secret), the
 *   owning component, scope, expiry, rotation and revocation;
 * - usage, one row per call, written in batches.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('gateway_products', table => {
    table.string('id', 63).primary().comment('product name, e.g. llm-chat');
    table.string('entity_ref', 255).notNullable().unique().comment('the API entity, e.g. api:default/llm-chat');
    table.string('kind', 16).notNullable().comment('openai | rest');
    table.text('spec').notNullable().comment('JSON: upstreams, models, routes');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.string('updated_by', 255).notNullable();
  });
  await knex.schema.createTable('gateway_plans', table => {
    table.string('id', 127).primary().comment('<product>/<plan>');
    table.string('product_id', 63).notNullable().references('id').inTable('gateway_products').onDelete('CASCADE');
    table.string('name', 63).notNullable();
    table.text('limits').notNullable().comment('JSON: rpm, tpm, daily/monthly tokens and cost, models');
    table.unique(['product_id', 'name']);
  });
  await knex.schema.createTable('gateway_key_requests', table => {
    table.string('id', 36).primary();
    table.string('product_id', 63).notNullable().references('id').inTable('gateway_products').onDelete('CASCADE');
    table.string('plan_id', 127).notNullable();
    table.string('api_ref', 255).notNullable();
    table.string('component_ref', 255).notNullable();
    table.text('justification').notNullable();
    table.string('status', 16).notNullable().comment('pending | approved | denied | expired');
    table.string('requested_by', 255).notNullable();
    table.timestamp('requested_at', { useTz: true }).notNullable();
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.string('reviewed_by', 255).nullable();
    table.timestamp('reviewed_at', { useTz: true }).nullable();
    table.text('review_reason').nullable();
    table.string('key_id', 36).nullable();
    table.index(['api_ref', 'status'], 'gateway_key_requests_api_idx');
    table.index(['component_ref', 'requested_at'], 'gateway_key_requests_component_idx');
  });
  await knex.schema.createTable('gateway_keys', table => {
    table.string('id', 36).primary();
    table.string('public_id', 32).notNullable().unique().comment('shown in the key and in lists');
    table.string('secret_hash', 64).notNullable().comment('hex HMAC-SHA-256 of the secret with the server secret');
    table.string('component_ref', 255).notNullable();
    table.string('product_id', 63).notNullable().references('id').inTable('gateway_products').onDelete('CASCADE');
    table.string('plan_id', 127).notNullable();
    table.text('models').nullable().comment('JSON list; null = every model of the plan');
    table.string('status', 16).notNullable().comment('active | revoked');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.string('created_by', 255).notNullable();
    table.timestamp('expires_at', { useTz: true }).nullable();
    table.timestamp('revoked_at', { useTz: true }).nullable();
    table.string('revoked_by', 255).nullable();
    table.string('replaced_by', 36).nullable().comment('the key a rotation issued');
    table.timestamp('updated_at', { useTz: true }).notNullable().comment('every change: the data plane refreshes by it');
    table.string('request_id', 36).nullable();
    table.index(['updated_at'], 'gateway_keys_updated_idx');
    table.index(['component_ref'], 'gateway_keys_component_idx');
    table.index(['product_id'], 'gateway_keys_product_idx');
  });
  await knex.schema.createTable('gateway_usage', table => {
    table.bigIncrements('id').primary();
    table.timestamp('at', { useTz: true }).notNullable();
    table.string('key_id', 36).nullable();
    table.string('consumer_ref', 255).nullable();
    table.string('product_id', 63).notNullable();
    table.string('model', 127).nullable();
    table.string('upstream', 127).nullable();
    table.integer('status').notNullable();
    table.integer('latency_ms').notNullable();
    table.integer('prompt_tokens').notNullable().defaultTo(0);
    table.integer('completion_tokens').notNullable().defaultTo(0);
    table.boolean('estimated').notNullable().defaultTo(false);
    table.double('cost').notNullable().defaultTo(0);
    table.index(['product_id', 'at'], 'gateway_usage_product_idx');
    table.index(['consumer_ref', 'at'], 'gateway_usage_consumer_idx');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('gateway_usage');
  await knex.schema.dropTable('gateway_keys');
  await knex.schema.dropTable('gateway_key_requests');
  await knex.schema.dropTable('gateway_plans');
  await knex.schema.dropTable('gateway_products');
};
