/**
 * The fleet benchmark: the real server as separate processes (server/main.ts, default settings),
 * HubSpot's stand-in enforcing its real 100-per-10-s limit, on a PostgreSQL database of its own.
 *
 * - cold-rate: one replica, no Redis, new customers arriving at fixed rates (an open loop): CRM
 *   failures, HubSpot calls and their busiest 10 s, contacts per call, latency.
 * - replicas: three replicas behind HAProxy sharing one Redis: cold and warm throughput through
 *   HAProxy with one replica, then three; the fleet's HubSpot calls per rolling 10 s against 100.
 * - invalidation: an order placed in the shop, forgetCustomer sent to one replica, the customer
 *   read from every replica directly.
 * - kill: steady load through HAProxy, one replica SIGKILLed mid-run: failed requests against
 *   those in flight on it.
 *
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:fleet
 *
 * Settings (environment): BENCH_DATABASE_URL (required: several processes share the database, which
 * embedded PGlite cannot serve), REDIS_URL (redis://127.0.0.1:6379; the run uses database
 * BENCH_REDIS_DB, 11, of it, flushed at start), BENCH_SCENARIOS (cold-rate,replicas,invalidation,kill),
 * BENCH_COLD_RATES (5,20,40 new customers per second), BENCH_SCALE (1: multiplies durations and
 * request counts), BENCH_CUSTOMERS (6000), BENCH_WEB_DAYS (7), BENCH_HUBSPOT_MS (40),
 * BENCH_MAILCHIMP_MS (60), BENCH_OUT (bench/results). HAProxy must be installed for the fleet scenarios.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { createDatabase, progress, seed, type Database } from './lib/environment.ts';
import { FleetStandIns, fleetKeys, placeOrderFor, replicaEnv } from './lib/fleet-environment.ts';
import { findHaproxy, Haproxy } from './lib/fleet-haproxy.ts';
import { openLoop, warmCustomers, type OpenLoopResult } from './lib/fleet-load.ts';
import { Replica } from './lib/fleet-replicas.ts';
import { fleetReport, type ColdRateRow, type FleetResults } from './lib/fleet-report.ts';
import { FreshCustomers, intSetting, loadBenchSettings, machineFacts, type GraphQLResponse } from './lib/harness.ts';
import { personalizationBody } from './lib/queries.ts';
import type { LoadResult } from './lib/load-worker.ts';
import { WorkerClient } from './lib/workers.ts';

const env = process.env;
const settings = {
  ...loadBenchSettings(),
  customers: intSetting(env.BENCH_CUSTOMERS, 6000),
  // A week of events: 30 days take a minute more to seed and would push the run past 5 minutes.
  webDays: intSetting(env.BENCH_WEB_DAYS, 7),
  redisUrl: `${(env.REDIS_URL || 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/${intSetting(env.BENCH_REDIS_DB, 11)}`,
  scenarios: (env.BENCH_SCENARIOS || 'cold-rate,replicas,invalidation,kill').split(',').map((s) => s.trim()),
  coldRates: (env.BENCH_COLD_RATES || '5,20,40').split(',').map(Number),
  scale: Number(env.BENCH_SCALE || 1),
};
const scaled = (n: number) => Math.max(1, Math.round(n * settings.scale));
const wanted = (id: string) => settings.scenarios.includes(id);
const FLEET_SCENARIOS = ['replicas', 'invalidation', 'kill'];
/** Seconds of each open-loop cold run; requests of each closed-loop cold run; seconds of each warm one. */
const COLD_RATE_SECONDS = scaled(30);
const COLD_REQUESTS = scaled(1000);
const WARM_SECONDS = scaled(10);
/** Customers the warm runs cycle through, read into the shared cache first. */
const WARM_CUSTOMERS = 200;
/** Closed-loop clients for the throughput rows, as in bench/run.ts's hot run. */
const CONNECTIONS = 20;
/** The steady load of the kill scenario (its replica dies a third of the way in). */
const KILL_RATE = 50;
const KILL_SECONDS = scaled(20);
/** HubSpot's window: between runs, so one run's calls do not count against the next one's quota. */
const QUIET_MS = 10_500;

/** One GraphQL request with `headers`; throws when the answer is not GraphQL. */
async function post(url: string, query: string, variables: object, headers: Record<string, string>): Promise<GraphQLResponse> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  if (!text.startsWith('{')) throw new Error(`expected a GraphQL response, got HTTP ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as GraphQLResponse;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a scenario runs against. */
interface Fleet {
  readonly db: Database;
  readonly standIns: FleetStandIns;
  readonly fresh: FreshCustomers;
  readonly load: WorkerClient;
}

/** One replica at the default configuration, new customers at each rate for COLD_RATE_SECONDS. */
async function coldRate({ db, standIns, fresh }: Fleet): Promise<ColdRateRow[]> {
  const rows: ColdRateRow[] = [];
  // In production a request needs a key: the load key, its cost budget raised as in the fleet scenarios.
  const keys = fleetKeys();
  const headers = { authorization: `Bearer ${keys.load}` };
  for (const rate of settings.coldRates) {
    const replica = await Replica.start('cold', replicaEnv(db.url, standIns, { API_KEYS: keys.env }));
    try {
      await sleep(QUIET_MS); // start-up's own HubSpot calls leave the window
      await standIns.reset();
      progress.line(`cold-rate: ${rate} new customers/s for ${COLD_RATE_SECONDS} s`);
      const bodies = fresh.take(Math.round(rate * COLD_RATE_SECONDS)).map(personalizationBody);
      const result = await openLoop(`${replica.url}/graphql`, { rate, seconds: COLD_RATE_SECONDS, bodies, headers });
      const counts = await standIns.counts();
      const row: ColdRateRow = { ...withoutOutcomes(result), hubspot: counts };
      rows.push(row);
      progress.line(
        `cold-rate ${rate}/s: ${row.requests} requests, ${row.crmFailures} with CRM errors ${JSON.stringify(row.crmCodes)}, ` +
          `HubSpot ${counts.hubspot} calls (peak ${counts.peakPerWindow}/10 s, ${counts.hubspot429} 429s), p50 ${row.p50.toFixed(0)} ms, p95 ${row.p95.toFixed(0)} ms`,
      );
    } finally {
      await replica.stop();
    }
  }
  return rows;
}

function withoutOutcomes({ outcomes: _outcomes, ...rest }: OpenLoopResult & { outcomes: unknown }): OpenLoopResult {
  return rest;
}

/** A closed-loop run through `url` (autocannon in its worker), with the stand-ins' counts over it. */
async function closedLoop(fleet: Fleet, url: string, job: { bodies: string[]; amount?: number; durationSeconds?: number; headers: Record<string, string> }) {
  await fleet.standIns.reset();
  const result = await fleet.load.call<LoadResult>('run', { url, connections: CONNECTIONS, ...job });
  return { result, hubspot: await fleet.standIns.counts() };
}

async function main(): Promise<void> {
  if (!settings.databaseUrl) {
    throw new Error('expected BENCH_DATABASE_URL (a PostgreSQL server: the replicas are separate processes, which embedded PGlite cannot serve), got none');
  }
  const haproxyBinary = settings.scenarios.some((s) => FLEET_SCENARIOS.includes(s)) ? findHaproxy() : null;
  if (haproxyBinary && 'missing' in haproxyBinary) throw new Error(haproxyBinary.missing);
  const startedAt = new Date();
  const loadBefore = loadavg()[0]!;
  const world = { seed: 360, customers: settings.customers, asOf: new Date() };
  progress.line(`fleet benchmark: ${world.customers.toLocaleString('en')} customers, scenarios ${settings.scenarios.join(', ')}`);
  let db: Database | undefined;
  let standIns: FleetStandIns | undefined;
  const load = new WorkerClient(new URL('./lib/load-worker.ts', import.meta.url));
  // The URLs stay out of the results: they may carry credentials.
  const { databaseUrl: _databaseUrl, redisUrl: _redisUrl, ...shown } = settings;
  const results: FleetResults = { settings: shown };
  try {
    [db, standIns] = await Promise.all([createDatabase(settings.databaseUrl, 'fleet'), FleetStandIns.start(world, settings)]);
    await seed(db, world, settings.webDays);
    const fleet: Fleet = { db, standIns, fresh: new FreshCustomers(world.customers), load };
    if (wanted('cold-rate')) results.coldRate = await coldRate(fleet);
    if (haproxyBinary && 'path' in haproxyBinary) Object.assign(results, await fleetScenarios(fleet, haproxyBinary.path));
  } finally {
    await load.close();
    await standIns?.close();
    await db?.close();
  }
  results.facts = { startedAt, durationSeconds: (performance.now() - progress.started) / 1000, machine: machineFacts('the PostgreSQL server', loadBefore) };
  results.hubspotLimit = standIns?.rateLimit ?? null;
  const table = fleetReport(results);
  await mkdir(settings.out, { recursive: true });
  const base = `${settings.out.replace(/\/?$/, '/')}fleet-latest`;
  await writeFile(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`${base}.md`, table);
  process.stdout.write(`\n${table}\n`);
  progress.line(`done in ${Math.round((performance.now() - progress.started) / 1000)} s: ${base}.md, .json`);
}

/** Three replicas sharing one Redis, behind HAProxy: the replicas, invalidation and kill scenarios. */
async function fleetScenarios(fleet: Fleet, haproxyBinary: string): Promise<Partial<FleetResults>> {
  const redis = new Redis(settings.redisUrl);
  await redis.flushdb();
  const keys = fleetKeys();
  const fleetEnv = replicaEnv(fleet.db.url, fleet.standIns, { REDIS_URL: settings.redisUrl, API_KEYS: keys.env });
  const auth = { authorization: `Bearer ${keys.load}` };
  const replicas: Replica[] = [];
  const out: Partial<FleetResults> = {};
  try {
    progress.line('starting three replicas');
    replicas.push(...(await Promise.all(['a', 'b', 'c'].map((name) => Replica.start(name, fleetEnv)))));
    await sleep(QUIET_MS);
    if (wanted('replicas')) {
      out.throughput = [];
      for (const count of [1, 3]) {
        const haproxy = await Haproxy.start(haproxyBinary, replicas.slice(0, count));
        try {
          const url = `${haproxy.url}/graphql`;
          progress.line(`replicas=${count}: ${COLD_REQUESTS} cold requests through HAProxy, c=${CONNECTIONS}`);
          const cold = await closedLoop(fleet, url, { bodies: fleet.fresh.take(COLD_REQUESTS).map(personalizationBody), amount: COLD_REQUESTS, headers: auth });
          await sleep(QUIET_MS);
          const warmIds = fleet.fresh.take(WARM_CUSTOMERS);
          const warmErrors = await warmCustomers(url, warmIds, auth);
          progress.line(`replicas=${count}: warm (${warmIds.length} customers read in pages, ${warmErrors} pages with errors) for ${WARM_SECONDS} s`);
          const warm = await closedLoop(fleet, url, { bodies: warmIds.map(personalizationBody), durationSeconds: WARM_SECONDS, headers: auth });
          out.throughput.push({ replicas: count, cold, warm, perServer: await haproxy.stats() });
          progress.line(
            `replicas=${count}: cold ${cold.result.rps.toFixed(0)} req/s (HubSpot peak ${cold.hubspot.peakPerWindow}/10 s, ${cold.hubspot.hubspot429} 429s, errors ${JSON.stringify(cold.result.errorCodes)}), warm ${warm.result.rps.toFixed(0)} req/s`,
          );
        } finally {
          await haproxy.stop();
        }
        await sleep(QUIET_MS);
      }
    }
    if (wanted('invalidation')) out.invalidation = await invalidation(fleet, replicas, keys);
    if (wanted('kill')) out.kill = await kill(fleet, haproxyBinary, replicas, auth);
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await redis.flushdb();
    redis.disconnect();
  }
  return out;
}

const ORDER_COUNT = `query OrderCount($id: ID!) { customer(id: $id) { email commerce { purchases { orderCount } } } }`;

/**
 * A customer read through every replica (each caches it), an order placed in the shop behind their
 * backs, forgetCustomer sent to the first replica, then the customer read from each replica again.
 */
async function invalidation(fleet: Fleet, replicas: readonly Replica[], keys: { admin: string; load: string }): Promise<FleetResults['invalidation']> {
  const [id] = fleet.fresh.take(1);
  const headers = { authorization: `Bearer ${keys.load}` };
  const read = async (replica: Replica) => {
    const response = await post(`${replica.url}/graphql`, ORDER_COUNT, { id }, headers);
    return { email: response.data?.customer?.email as string, orderCount: response.data?.customer?.commerce?.purchases?.orderCount as number };
  };
  const before = await Promise.all(replicas.map(read));
  const placed = await placeOrderFor(fleet.db.url, id!);
  if (!placed) throw new Error(`expected customer ${id} in the shop, found none`);
  const cached = await Promise.all(replicas.map(read));
  const forgotten = await post(
    `${replicas[0]!.url}/graphql`,
    `mutation($email: EmailAddress!) { forgetCustomer(email: $email) { cleared } }`,
    { email: before[0]!.email },
    {
      authorization: `Bearer ${keys.admin}`,
    },
  );
  const evictedAt = performance.now();
  // Other replicas hear of the eviction over pub/sub; read them at once, then once more after 1 s.
  const after = await Promise.all(replicas.map(read));
  await sleep(1000);
  const later = await Promise.all(replicas.map(read));
  const orderCounts = (reads: Array<{ orderCount: number }>) => Object.fromEntries(replicas.map((replica, i) => [replica.name, reads[i]!.orderCount]));
  const result = {
    sentTo: replicas[0]!.name,
    cleared: (forgotten.data?.forgetCustomer?.cleared as string[] | undefined) ?? [],
    errors: forgotten.errors?.map((error) => error.extensions?.code ?? 'NO_CODE') ?? [],
    before: orderCounts(before),
    afterOrderCached: orderCounts(cached),
    afterEviction: orderCounts(after),
    afterEvictionMs: Math.round(performance.now() - evictedAt),
    oneSecondLater: orderCounts(later),
  };
  progress.line(`invalidation: ${JSON.stringify(result)}`);
  return result;
}

/**
 * Warm requests through HAProxy at KILL_RATE per second; a third of the way in, the last replica is
 * SIGKILLed. Compares the failed requests with those HAProxy had in flight on it at that moment.
 */
async function kill(fleet: Fleet, haproxyBinary: string, replicas: readonly Replica[], auth: Record<string, string>): Promise<FleetResults['kill']> {
  const haproxy = await Haproxy.start(haproxyBinary, replicas);
  const victim = replicas.at(-1)!;
  try {
    const ids = fleet.fresh.take(WARM_CUSTOMERS);
    progress.line(`kill: warming ${ids.length} customers, then ${KILL_RATE}/s for ${KILL_SECONDS} s, replica ${victim.name} killed at ${Math.round(KILL_SECONDS / 3)} s`);
    await warmCustomers(`${haproxy.url}/graphql`, ids, auth);
    const customers = ids.map(personalizationBody);
    const bodies = Array.from({ length: KILL_RATE * KILL_SECONDS }, (_, i) => customers[i % customers.length]!);
    let inFlight = -1;
    let killedAt = 0;
    const result = await openLoop(`${haproxy.url}/graphql`, { rate: KILL_RATE, seconds: KILL_SECONDS, bodies, headers: auth }, async () => {
      await sleep((KILL_SECONDS * 1000) / 3);
      inFlight = (await haproxy.stats()).find((server) => server.name === victim.name)?.current ?? -1;
      killedAt = performance.now();
      await victim.kill();
    });
    const stats = await haproxy.stats();
    const failedAt = result.outcomes.filter((outcome) => outcome.failed).map((outcome) => Math.round(outcome.startedAt - killedAt));
    const row = { ...withoutOutcomes(result), victim: victim.name, inFlightOnVictim: inFlight, failedStartedMsAfterKill: failedAt, perServer: stats };
    progress.line(`kill: ${row.requests} requests, ${row.failed} failed, ${inFlight} in flight on ${victim.name} when killed; HAProxy: ${JSON.stringify(stats)}`);
    return row;
  } finally {
    await haproxy.stop();
  }
}

await main();
