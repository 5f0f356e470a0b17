/**
 * Upstream calls per request for the CRM and email sources, against the stand-ins: HubSpot batch
 * calls for 1, 100 and 250 customers, Mailchimp member GETs and peak concurrency for 1 and 100,
 * the time for 100 customers at 50 ms Mailchimp latency (ideal: 10 waves of 10 = 500 ms), and what
 * a query returns once the HubSpot stand-in is stopped. Prints a Markdown report.
 *
 *   npm run bench:upstreams            (embedded PGlite)
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:upstreams
 */
import { pino } from 'pino';
import pg from 'pg';
import { personAt, type DemoWorld } from '../sandbox/demo/people.ts';
import { seedShop } from '../sandbox/demo/shop.ts';
import { createDatabase } from './lib/environment.ts';
import { ENDPOINTS, startHubSpotStandIn } from '../sandbox/hubspot/index.ts';
import { startMailchimpStandIn } from '../sandbox/mailchimp/index.ts';
import { startServer } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createConfiguredUpstreams, createSources } from '../server/sources.ts';

const world: DemoWorld = { seed: 360, customers: 1000, asOf: new Date() };
const progress = (message: string) => process.stderr.write(`${message}\n`);

async function main(): Promise<void> {
  progress(`seeding ${world.customers} customers`);
  const db = await createDatabase(process.env.BENCH_DATABASE_URL, 'upstreams');
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await seedShop(pool, world);
  const accessToken = 'pat-bench-000000000000';
  const apiKey = '00000000000000000000000000000000-us1';
  const hubspot = await startHubSpotStandIn({ world, accessToken, rateLimit: null });
  const mailchimp = await startMailchimpStandIn({ world, apiKey, listId: 'bench' });
  const logger = pino({ level: 'silent' });
  // No shared cache: every request must reach the stand-ins to be counted.
  const config = loadConfig({ HUBSPOT_RATE_LIMIT_REQUESTS: '1000', CACHE: 'off', REQUEST_BUDGET_MS: '5000' });
  const sources = createSources(config, {
    db: pool,
    logger,
    demo: {
      databaseUrl: db.url,
      hubspot: { baseUrl: hubspot.url, accessToken, extraProperties: [] },
      mailchimp: { baseUrl: mailchimp.url, apiKey, listId: 'bench' },
    },
  });
  const upstreams = await createConfiguredUpstreams(config, sources, logger);
  const server = await startServer(
    { upstreams, budgetMs: config.REQUEST_BUDGET_MS, logger, settings: { shopCurrency: 'USD', crmProperties: [] }, production: false },
    { host: '127.0.0.1', port: 0 },
  );
  const post = async (query: string, variables: object) => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: unknown; errors?: unknown[] };
  };
  const ids = (n: number) => Array.from({ length: n }, (_, i) => String(personAt(world, i).customerId));
  // At most 100 keys per field: larger sets are split over aliased fields of one request.
  const customersQuery = (selection: string, n: number) => {
    const chunks = Math.ceil(n / 100);
    const fields = Array.from({ length: chunks }, (_, i) => `c${i}: customers(ids: $c${i}) { id ${selection} }`);
    const variables = Object.fromEntries(Array.from({ length: chunks }, (_, i) => [`c${i}`, ids(n).slice(i * 100, i * 100 + 100)]));
    return { query: `query(${fields.map((_, i) => `$c${i}: [ID!]`).join(', ')}) { ${fields.join(' ')} }`, variables };
  };

  const lines = ['| measurement | customers | result |', '|---|---|---|'];
  for (const n of [1, 100, 250]) {
    hubspot.stats.reset();
    const { query, variables } = customersQuery('crm { lifecycleStage }', n);
    await post(query, variables);
    const batches = hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead);
    lines.push(`| HubSpot batch-read calls (inputs per call) | ${n} | ${batches.length} (${batches.join(', ')}) |`);
  }
  for (const n of [1, 100]) {
    mailchimp.resetStats();
    const { query, variables } = customersQuery('emailMarketing { canEmail }', n);
    await post(query, variables);
    const { byEndpoint, peakInFlight, byStatus } = mailchimp.stats;
    lines.push(`| Mailchimp member GETs / peak in flight / 429s | ${n} | ${byEndpoint.member} / ${peakInFlight} / ${byStatus[429] ?? 0} |`);
  }
  progress('timing 100 customers at 50 ms Mailchimp latency');
  mailchimp.knobs.latencyMs = 50;
  const times: number[] = [];
  for (let run = 0; run < 7; run++) {
    const { query, variables } = customersQuery('emailMarketing { canEmail }', 100);
    const started = performance.now();
    await post(query, variables);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  lines.push(
    `| time, emailMarketing only, 50 ms latency (median of 7; ideal 500 ms) | 100 | ${Math.round(times[3]!)} ms (min ${Math.round(times[0]!)}, max ${Math.round(times[6]!)}) |`,
  );
  mailchimp.knobs.latencyMs = 0;

  progress('stopping the HubSpot stand-in');
  await hubspot.close();
  const stopped = await post(`{ customer(id: "1") { id commerce { purchases { orderCount } } crm { id } } }`, {});
  lines.push(`| a query while the HubSpot stand-in is stopped | 1 | \`${JSON.stringify(stopped)}\` |`);

  process.stdout.write(`${lines.join('\n')}\n`);
  await server.stop();
  await sources.crm.close();
  await sources.email.close();
  await mailchimp.close();
  await pool.end();
  await db.close();
}

await main();
