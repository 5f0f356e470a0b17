/**
 * EXPLAIN ANALYZE of every web-source statement against a generated warehouse, for 1 customer and a
 * batch of 100, on a PostgreSQL server. Creates its own database (dropped at the end unless --keep),
 * seeds the demo warehouse with progress on stderr, and prints Markdown tables on stdout.
 *
 *   npx tsx bench/web-explain.ts [--url postgres://postgres@127.0.0.1:5432/postgres] [--customers 20000]
 *                                [--history-days 180] [--runs 3] [--plans] [--keep]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { populationSize, type DemoWorld } from '../sandbox/demo/people.ts';
import { seedWarehouse } from '../sandbox/demo/warehouse.ts';
import { createWebSource, type Queryable, type WebSource } from '../sources/web/index.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    customers: { type: 'string', default: '20000' },
    'history-days': { type: 'string', default: '180' },
    runs: { type: 'string', default: '3' },
    plans: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const world: DemoWorld = { seed: 360, customers: Number(args.customers), asOf: new Date('2026-11-01T12:00:00Z') };
const historyDays = Number(args['history-days']);
const runs = Number(args.runs);
const log = (line: string) => process.stderr.write(`${line}\n`);

const name = `c360_bench_web_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: args.url });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(args.url);
url.pathname = `/${name}`;
const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
// DROP DATABASE ... WITH (FORCE) at the end ends any connection still open: expected, not a failure.
pool.on('error', () => {});

try {
  log(`seeding ${populationSize(world)} people, ${historyDays} days of history, into ${name}`);
  const seeded = await seedWarehouse(pool, world, {
    schema: 'web',
    historyDays,
    onProgress: (p) =>
      log(
        `  ${p.people}/${p.total} people  ${p.events} events  ${p.rows} rows  ` +
          `${Math.round(p.rows / (p.elapsedMs / 1000))} rows/s  rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`,
      ),
  });
  const sizes = await pool.query<{ table: string; rows: string; size: string }>(
    `SELECT relname AS table, n_live_tup::text AS rows, pg_size_pretty(pg_total_relation_size(relid)) AS size
       FROM pg_stat_user_tables WHERE schemaname = 'web' ORDER BY pg_total_relation_size(relid) DESC`,
  );
  const seconds = seeded.elapsedMs / 1000;
  console.log(`## Warehouse\n`);
  console.log(
    `${seeded.total} people (${world.customers} customers), ${historyDays} days: ${seeded.events} events ` +
      `(pages + tracks), ${seeded.rows} rows in ${seconds.toFixed(1)} s including indexes and ANALYZE: ` +
      `${Math.round(seeded.rows / seconds)} rows/s, ${Math.round(seeded.events / seconds)} events/s.\n`,
  );
  console.log('| table | rows | size with indexes |\n|---|---:|---:|');
  for (const row of sizes.rows) console.log(`| ${row.table} | ${row.rows} | ${row.size} |`);

  // Customers spread over the id range; the single-customer case is the first of them.
  const ids = Array.from({ length: 100 }, (_, i) => String(1 + Math.floor((i * world.customers) / 100)));
  const anonymous = await pool.query<{ anonymous_id: string }>(`SELECT anonymous_id FROM web.identifies WHERE user_id = ANY($1) GROUP BY anonymous_id LIMIT 100`, [ids]);
  for (const days of [30, 180]) {
    console.log(`\n## Statements, ${days}-day window (lists: first 10); execution / planning ms, median of ${runs}\n`);
    console.log('| family | 1 customer | 100 customers | rows (100) |\n|---|---:|---:|---:|');
    for (const [family, call] of families(
      days,
      anonymous.rows.map((r) => r.anonymous_id),
    )) {
      const one = await explain(family, (source) => call(source, ids.slice(0, 1)));
      const hundred = await explain(family, (source) => call(source, ids));
      console.log(
        `| ${family} | ${one.execution.toFixed(1)} / ${one.planning.toFixed(1)} | ` + `${hundred.execution.toFixed(1)} / ${hundred.planning.toFixed(1)} | ${hundred.rows} |`,
      );
    }
  }
} finally {
  await pool.end();
  if (!args.keep) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  else log(`kept database ${name}`);
  await admin.end();
}

type Call = (source: WebSource, userIds: string[]) => Promise<unknown>;

function families(days: number, anonymousIds: string[]): Array<[string, Call]> {
  const keys = (ids: string[]) => ids.map((userId) => ({ userId, anonymousId: null, days }));
  const lists = (ids: string[]) => ids.map((userId) => ({ userId, anonymousId: null, days, first: 10 }));
  return [
    ['identities', (s, ids) => s.identities(ids)],
    ['visitors', (s, ids) => s.visitors(anonymousIds.slice(0, ids.length))],
    ['summaries', (s, ids) => s.summaries(keys(ids))],
    ['recentlyViewedProducts', (s, ids) => s.recentlyViewedProducts(lists(ids))],
    ['topCategories', (s, ids) => s.topCategories(lists(ids))],
    ['cartActivity', (s, ids) => s.cartActivity(keys(ids))],
    ['devices', (s, ids) => s.devices(keys(ids))],
    ['touches', (s, ids) => s.touches(keys(ids))],
    ['searches', (s, ids) => s.searches(lists(ids))],
  ];
}

/**
 * Captures the one statement a batch function sends (through a Queryable that records instead of
 * running), then runs it under EXPLAIN ANALYZE with the same parameters: warm once, median of runs.
 */
async function explain(family: string, call: (source: WebSource) => Promise<unknown>) {
  const sent: Array<{ text: string; values: unknown[] }> = [];
  // The catalog read (which tables and columns exist) runs for real; only the family's statement is captured.
  const capture: Queryable = {
    query: async (text, values = []) => (text.includes('information_schema.columns') ? pool.query(text, values) : (sent.push({ text, values }), { rows: [] })),
  };
  await call(createWebSource(capture, { schema: 'web', now: () => world.asOf }));
  if (sent.length !== 1) throw new Error(`${family}: expected one statement, got ${sent.length}`);
  const { text, values } = sent[0]!;
  const measures = [];
  for (let run = 0; run <= runs; run++) {
    const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: { 'Actual Rows': number }; 'Planning Time': number; 'Execution Time': number }> }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`,
      values,
    );
    const [plan] = rows[0]!['QUERY PLAN'];
    if (run > 0) measures.push({ execution: plan!['Execution Time'], planning: plan!['Planning Time'], rows: plan!.Plan['Actual Rows'] });
  }
  if (args.plans) {
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, values);
    log(`\n### ${family} (${(values[0] as unknown[]).length} keys)\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  }
  measures.sort((a, b) => a.execution - b.execution);
  return measures[Math.floor(measures.length / 2)]!;
}
