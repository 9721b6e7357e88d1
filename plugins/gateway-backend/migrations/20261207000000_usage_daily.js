// @ts-check

const DAY_MS = 86_400_000;
const SERIES = ['product_id', 'consumer_ref', 'model', 'upstream'];
const COUNTS = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cost',
  ...['5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', 'inf'].map(b => `le_${b}`)];

/**
 * The usage rollup by UTC day, beside the hourly one: a month's chart reads
 * 31 rows per series instead of 744. Filled from the hourly rollup kept so
 * far, a day at a time in JavaScript (databases truncate dates each their
 * own way); from then on, each batch of calls is added to both in one
 * transaction.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('gateway_usage_daily', table => {
    table.timestamp('day', { useTz: true }).notNullable().comment('the UTC day, at its start');
    table.string('product_id', 63).notNullable();
    table.string('consumer_ref', 255).notNullable().comment("'' when unknown");
    table.string('model', 127).notNullable().comment("'' for REST products");
    table.string('upstream', 127).notNullable();
    for (const column of COUNTS) {
      if (column === 'cost') table.double(column).notNullable().defaultTo(0);
      else table.bigInteger(column).notNullable().defaultTo(0);
    }
    table.primary(['day', ...SERIES]);
    table.index(['product_id', 'day'], 'gateway_usage_daily_product_idx');
    table.index(['consumer_ref', 'day'], 'gateway_usage_daily_consumer_idx');
  });

  const bounds = await knex('gateway_usage_hourly').min({ first: 'hour' }).max({ last: 'hour' }).first();
  if (!bounds?.first) return;
  const last = new Date(bounds.last).getTime();
  for (let day = Math.floor(new Date(bounds.first).getTime() / DAY_MS) * DAY_MS; day <= last; day += DAY_MS) {
    const rows = await knex('gateway_usage_hourly').where('hour', '>=', new Date(day)).andWhere('hour', '<', new Date(day + DAY_MS));
    /** @type {Map<string, Record<string, unknown>>} */
    const sums = new Map();
    for (const row of rows) {
      const id = SERIES.map(c => row[c]).join('\u0000');
      const sum = sums.get(id) ?? sums.set(id, { day: new Date(day), ...Object.fromEntries(SERIES.map(c => [c, row[c]])), ...Object.fromEntries(COUNTS.map(c => [c, 0])) }).get(id);
      for (const c of COUNTS) /** @type {Record<string, number>} */ (sum)[c] += Number(row[c]);
    }
    const daily = [...sums.values()];
    for (let i = 0; i < daily.length; i += 40) await knex('gateway_usage_daily').insert(daily.slice(i, i + 40));
  }
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('gateway_usage_daily');
};
