// @ts-check

const DAY_MS = 86_400_000;

/**
 * What each key spent each UTC day (tokens and cost), written with its calls
 * in their transaction. A data plane that keeps its budgets in memory starts
 * from this month's and today's spend (the portal's `spend`): before, that was
 * a sum over every raw call of the month, read before the gateway's port opened
 * at each start (a busy month is hundreds of millions of rows); now it is at
 * most 31 rows a key. Filled at this migration from the month's raw calls, a
 * day at a time, summed by the database.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('gateway_key_spend_daily', table => {
    table.string('key_id', 36).notNullable();
    table.timestamp('day', { useTz: true }).notNullable().comment('the UTC day, at its start');
    table.bigInteger('tokens').notNullable().defaultTo(0).comment('prompt and completion tokens');
    table.double('cost').notNullable().defaultTo(0);
    table.primary(['key_id', 'day']);
    table.index(['day'], 'gateway_key_spend_daily_day_idx');
  });

  const now = new Date();
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  for (let day = monthStart; day <= now.getTime(); day += DAY_MS) {
    /** @type {Array<{ key_id: string; tokens: number | string | null; cost: number | string | null }>} */
    const sums = await knex('gateway_usage')
      .select('key_id')
      .sum({ tokens: knex.raw('prompt_tokens + completion_tokens') })
      .sum({ cost: 'cost' })
      .where('at', '>=', new Date(day))
      .andWhere('at', '<', new Date(day + DAY_MS))
      .whereNotNull('key_id')
      .groupBy('key_id')
      .then(rows => /** @type {any} */ (rows));
    const rows = sums.map(s => ({ key_id: s.key_id, day: new Date(day), tokens: Number(s.tokens ?? 0), cost: Number(s.cost ?? 0) }));
    for (let i = 0; i < rows.length; i += 100) await knex('gateway_key_spend_daily').insert(rows.slice(i, i + 100));
  }
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('gateway_key_spend_daily');
};
