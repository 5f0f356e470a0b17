/**
 * The benchmark: the server on the demo shop, HubSpot and Mailchimp stand-ins at set latencies,
 * driven by autocannon at fixed concurrencies; against it, the naive baseline (bench/lib/naive.ts)
 * on the same data and the same sources. Writes bench/results/<time>.json, .md (the table) and
 * .svg (latency by concurrency). Progress goes to stderr. All traffic stays on 127.0.0.1.
 *
 *   npm run bench                                   embedded PGlite, 10,000 customers (small runs)
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench
 *                                                   the PostgreSQL server; adds the 1,000,000 shop
 *
 * Settings (environment): BENCH_CUSTOMERS (10000), BENCH_LARGE_CUSTOMERS (1000000; 0 skips it),
 * BENCH_HUBSPOT_MS (40), BENCH_MAILCHIMP_MS (60), BENCH_WEB_DAYS (30: days of web events in the
 * warehouse), BENCH_LARGE_WEB_DAYS (1, for the large shop), BENCH_SCALE (1: multiplies request counts and
 * durations), BENCH_SCENARIOS (comma-separated ids to run: single-cold (by id and by email), single-warm, page-100,
 * hot-50, source-down, shop-large; single-warm also measures Apollo Server's hello world, bench/lib/hello.ts), BENCH_OUT (bench/results), BENCH_CPU_PROF (1: profile the server's
 * thread over each measured run; the profiles go beside the report, their top items into it).
 * `npm run bench` runs it as the server is deployed: NODE_ENV=production (libraries read it when
 * loaded), and Node's own TypeScript transform rather than tsx, whose esbuild keeps function names
 * with a call for every closure made, so the server runs as tsc's output would. The report says
 * how it ran.
 */
import { cpus, totalmem } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { personAt, type DemoWorld } from '../sandbox/demo/people.ts';
import { CountingPool, createDatabase, progress, seed, StandIns, startBenchServer, type BenchServer, type Database } from './lib/environment.ts';
import type { LoadJob, LoadResult } from './lib/load-worker.ts';
import { HELLO_QUERY, startHelloWorld } from './lib/hello.ts';
import { startNaiveServer } from './lib/naive.ts';
import { FreshCustomers, runtime, shownSettings } from './lib/harness.ts';
import { CACHED_FIELDS, personalizationBody, PROFILE_FIELDS } from './lib/queries.ts';
import { startProfile, topSelfTime, type ProfiledRun } from './lib/profile.ts';
import { markdown, shop, svgChart, type Results, type Row } from './lib/report.ts';
import { WorkerClient } from './lib/workers.ts';

const env = process.env;
const int = (value: string | undefined, fallback: number) => (value === undefined || value === '' ? fallback : Number.parseInt(value, 10));
const settings = {
  customers: int(env.BENCH_CUSTOMERS, 10_000),
  largeCustomers: int(env.BENCH_LARGE_CUSTOMERS, 1_000_000),
  databaseUrl: env.BENCH_DATABASE_URL || undefined,
  hubspotMs: int(env.BENCH_HUBSPOT_MS, 40),
  mailchimpMs: int(env.BENCH_MAILCHIMP_MS, 60),
  webDays: int(env.BENCH_WEB_DAYS, 30),
  largeWebDays: int(env.BENCH_LARGE_WEB_DAYS, 1),
  scale: Number(env.BENCH_SCALE ?? 1),
  scenarios: env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()),
  out: env.BENCH_OUT ?? new URL('./results/', import.meta.url).pathname,
  cpuProfile: env.BENCH_CPU_PROF === '1',
  ...runtime(),
};
const startedAt = new Date();
/** Every file of this run is `<base>.<ext>`: the time it started, in bench/results. */
const base = `${settings.out.replace(/\/?$/, '/')}${startedAt
  .toISOString()
  .replace(/:/g, '-')
  .replace(/\.\d+Z$/, 'Z')}`;
const REPOSITORY = fileURLToPath(new URL('../', import.meta.url));
/** Functions listed per profiled run. */
const TOP_ITEMS = 15;
const wanted = (id: string) => !settings.scenarios || settings.scenarios.includes(id);
const scaled = (n: number) => Math.max(1, Math.round(n * settings.scale));
/** Mailchimp allows 10 connections per account: one page of 100 members is 10 waves of GETs. */
const MAILCHIMP_IN_FLIGHT = 10;

/**
 * Each stand-in's latency as a client sees it (StandIns.clientLatency), measured when the stand-ins
 * start: the set delay plus what this machine adds to any call of it.
 */
let latency = { hubspotMs: settings.hubspotMs, mailchimpMs: settings.mailchimpMs };
/** What each started set of stand-ins measured, for the report. */
const latencies: Array<{ shop: number; hubspotMs: number; mailchimpMs: number }> = [];

async function measureLatency(standIns: StandIns, shop: number): Promise<void> {
  latency = await standIns.clientLatency();
  latencies.push({ shop, ...latency });
  progress.line(`stand-in latency as a client sees it: HubSpot ${latency.hubspotMs.toFixed(1)} ms, Mailchimp ${latency.mailchimpMs.toFixed(1)} ms`);
}

/**
 * The ideal p50 of a run: what the slowest source needs for one request when it is the only
 * constraint, at its latency as a client sees it. HubSpot reads a whole batch in one call; Mailchimp
 * reads one member per GET, at most 10 at once for the process, so `concurrency` requests of `gets`
 * members each share 10 connections (a closed loop: each request waits for gets x concurrency / 10 rounds).
 */
function ideal(gets: number, concurrency: number, sources: { hubspot: boolean } = { hubspot: true }): number {
  const mailchimp = latency.mailchimpMs * Math.max(1, (gets * concurrency) / MAILCHIMP_IN_FLIGHT);
  return Math.round(Math.max(sources.hubspot ? latency.hubspotMs : 0, mailchimp) * 10) / 10;
}

const PERSONALIZATION_NO_WEB = `query PersonalizationNoWeb($id: ID!) {\n  customer(id: $id) {\n    ${CACHED_FIELDS}\n  }\n}`;
/** The personalization query by email: the lookup where every source can start at once. */
const PERSONALIZATION_BY_EMAIL = `query PersonalizationByEmail($email: EmailAddress!) {\n  customer(email: $email) {\n    ${PROFILE_FIELDS}\n  }\n}`;
const PAGE = `query Page($ids: [ID!]) {\n  customers(ids: $ids) {\n    ${PROFILE_FIELDS}\n  }\n}`;

const graphqlBody = (query: string, variables: object) => JSON.stringify({ query, variables });
const personalizationNoWeb = (id: string) => graphqlBody(PERSONALIZATION_NO_WEB, { id });
const page = (ids: readonly string[]) => graphqlBody(PAGE, { ids });
const naiveBody = (ids: readonly string[]) => JSON.stringify({ ids });

interface Target {
  readonly server: string;
  readonly url: string;
}

/** One shop (database, stand-ins, pool) and what runs against it. */
class Bench {
  readonly rows: Row[] = [];
  /** What the scenarios found that their rows do not show, for the report's notes. */
  readonly notes: string[] = [];
  private readonly load: WorkerClient;
  private total = 0;
  private done = 0;
  private label = '';

  constructor(
    readonly world: DemoWorld,
    readonly db: CountingPool,
    readonly standIns: StandIns,
    readonly fresh: FreshCustomers,
  ) {
    this.load = new WorkerClient(new URL('./lib/load-worker.ts', import.meta.url), (event: { done: number }) => {
      this.done = event.done;
      progress.status(`${this.label}: ${this.done}${this.total ? ` / ${this.total}` : ''} responses`);
    });
  }

  /** Sends `job` at `target`, counting what reached each upstream meanwhile. */
  async measure(spec: { scenario: string; title: string; target: Target; idealMs: number; note?: string }, job: Omit<LoadJob, 'url'>): Promise<Row> {
    await new Promise((resolve) => setTimeout(resolve, 150)); // let the previous run's stragglers land
    await this.standIns.reset();
    this.db.reset();
    this.label = `${spec.title} [${spec.target.server}] c=${job.connections}`;
    this.total = job.amount ?? 0;
    this.done = 0;
    const profiling = settings.cpuProfile ? await startProfile() : null;
    const result = await this.load.call<LoadResult>('run', { ...job, url: spec.target.url });
    const profiled = await profiling?.stop();
    const counts = await this.standIns.counts();
    const totals = { commerce: this.db.statements.commerce, crm: counts.hubspot, email: counts.mailchimp, web: this.db.statements.web };
    const n = Math.max(1, result.requests);
    const row: Row = {
      scenario: spec.scenario,
      title: spec.title,
      server: spec.target.server,
      shopCustomers: this.world.customers,
      concurrency: job.connections,
      requests: result.requests,
      seconds: result.seconds,
      rps: result.rps,
      p50: result.p50,
      p95: result.p95,
      p99: result.p99,
      max: result.max,
      perRequest: { commerce: totals.commerce / n, crm: totals.crm / n, email: totals.email / n, web: totals.web / n },
      totals,
      idealMs: spec.idealMs,
      ratio: result.p50 / spec.idealMs,
      errorResponses: result.withErrors,
      errorCodes: result.errorCodes,
      non2xx: result.non2xx + result.timeouts,
      ...(spec.note && { note: spec.note }),
      ...(profiled && { cpu: await this.keepProfile(spec, job.connections, n, profiled) }),
    };
    this.rows.push(row);
    progress.line(
      `${this.label}: ${row.requests} requests, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, ${row.rps.toFixed(0)} req/s, ` +
        `per request: shop SQL ${row.perRequest.commerce.toFixed(2)}, HubSpot ${row.perRequest.crm.toFixed(2)}, Mailchimp ${row.perRequest.email.toFixed(2)}, warehouse SQL ${row.perRequest.web.toFixed(2)}` +
        (row.errorResponses ? `, ${row.errorResponses} with errors ${JSON.stringify(row.errorCodes)}` : '') +
        (counts.mailchimp429 + counts.hubspot429 ? `, 429s: Mailchimp ${counts.mailchimp429}, HubSpot ${counts.hubspot429}` : '') +
        `, Mailchimp peak in flight ${counts.mailchimpPeakInFlight}` +
        (row.cpu ? `, server CPU ${row.cpu.msPerRequest.toFixed(3)} ms per request` : ''),
    );
    return row;
  }

  /** Writes a run's profile beside the report; returns what the report says of it. */
  private async keepProfile(spec: { title: string; target: Target }, connections: number, requests: number, { profile, cpuMs }: ProfiledRun): Promise<NonNullable<Row['cpu']>> {
    const slug = (text: string) => text.replace(/\W+/g, '-').replace(/^-|-$/g, '');
    const file = `${base}.${slug(spec.title)}.${slug(spec.target.server)}.c${connections}.cpuprofile`;
    await mkdir(settings.out, { recursive: true });
    await writeFile(file, JSON.stringify(profile));
    return { msPerRequest: cpuMs / requests, profile: file.slice(file.lastIndexOf('/') + 1), top: topSelfTime(profile, TOP_ITEMS, REPOSITORY) };
  }

  /** Sends every body once (not measured): fills the cache, or computes the RFM boundaries. */
  async prime(target: Target, bodies: string[], connections = 8): Promise<void> {
    this.label = `warming ${target.server}`;
    this.total = bodies.length;
    const result = await this.load.call<LoadResult>('run', { url: target.url, bodies, connections: Math.min(connections, bodies.length), amount: bodies.length });
    progress.line(
      `warmed ${target.server} with ${bodies.length} request(s) in ${(result.seconds * 1000).toFixed(0)} ms` +
        (result.withErrors ? `, ${result.withErrors} with errors ${JSON.stringify(result.errorCodes)}` : ''),
    );
  }

  /** WARM_UP_REQUESTS cold requests, 4 at a time and not measured, each for a customer nobody else asks for. */
  async warmUp(target: Target, bodyOf: (id: string) => string): Promise<void> {
    await this.prime(target, this.fresh.take(WARM_UP_REQUESTS).map(bodyOf), 4);
  }

  async close(): Promise<void> {
    await this.load.close();
  }
}

/**
 * Cold requests every server answers before its first measured run, each for a customer nobody
 * asked for (so the cache stays cold for the rest): until then V8 runs the cold path's code
 * unoptimized, and the first run measured would pay for that where the later ones do not.
 */
const WARM_UP_REQUESTS = 64;

/** Starts the server on `bench` with `env`, warms it up, runs `body`, and always stops it. */
async function withServer<T>(bench: Bench, server: string, env: Record<string, string>, body: (target: Target, started: BenchServer) => Promise<T>): Promise<T> {
  const started = await startBenchServer(bench.db, bench.standIns, env);
  try {
    const target = { server, url: `${started.url}/graphql` };
    // The first request computes the RFM quintile boundaries (one scan of the orders, then cached).
    await bench.prime(target, [personalizationBody(bench.fresh.take(1)[0]!)], 1);
    await bench.warmUp(target, personalizationBody);
    return await body(target, started);
  } finally {
    await started.close();
  }
}

const HELLO_TITLE = 'hello world';
/** The c360 row whose request resolves no field: every part of the layer, and no source or resolver. */
const FLOOR_TITLE = 'the layer alone';
const FLOOR_QUERY = 'query Floor { __typename }';

async function withHelloWorld<T>(body: (target: Target) => Promise<T>): Promise<T> {
  const hello = await startHelloWorld();
  try {
    return await body({ server: 'Apollo hello world', url: hello.url });
  } finally {
    await hello.close();
  }
}

async function withNaive<T>(bench: Bench, started: BenchServer, body: (target: Target) => Promise<T>): Promise<T> {
  const naive = await startNaiveServer(started.sources);
  try {
    const target = { server: 'naive', url: naive.url };
    await bench.warmUp(target, (id) => naiveBody([id]));
    return await body(target);
  } finally {
    await naive.close();
  }
}

/** Cold runs' concurrencies and request counts: every one, and alone against 16 at once. */
const ALL_CONCURRENCIES = [
  [1, 100],
  [4, 200],
  [16, 320],
  [64, 640],
] as const;
const ALONE_AND_LOADED = [
  [1, 100],
  [16, 320],
] as const;

/** The scenarios on the main shop. */
async function mainScenarios(bench: Bench): Promise<void> {
  const fresh = (n: number) => bench.fresh.take(n);
  /** One cold run per (concurrency, requests) step, each request a customer nobody asked for. */
  const cold = async (steps: ReadonlyArray<readonly [number, number]>, spec: { title: string; target: Target; note?: string }, body: (id: string) => string) => {
    for (const [connections, amount] of steps) {
      const n = Math.max(scaled(amount), connections);
      await bench.measure({ scenario: 'single-cold', ...spec, idealMs: ideal(1, connections) }, { connections, amount: n, bodies: fresh(n).map(body) });
    }
  };

  await withServer(bench, 'c360', {}, async (c360, started) => {
    if (wanted('single-cold')) {
      progress.line('scenario single-cold: one customer, personalization query, nothing cached');
      await cold(ALL_CONCURRENCIES, { title: 'one customer, cold', target: c360 }, personalizationBody);
      const byEmail = (id: string) => graphqlBody(PERSONALIZATION_BY_EMAIL, { email: personAt(bench.world, Number(id) - 1).email });
      await cold(ALONE_AND_LOADED, { title: 'one customer, cold, by email', target: c360, note: 'every source starts at once' }, byEmail);
    }
    if (wanted('single-warm')) {
      progress.line('scenario single-warm: the same query, every source answered from the shared cache');
      const warmIds = fresh(256);
      await bench.prime(c360, warmIds.map(personalizationBody), 16);
      const remembered = () => (started.answers ? started.answers.counts().hits : 0);
      const warm = { requests: 0, remembered: remembered() };
      for (const [title, bodies, note] of [
        ['one customer, warm', warmIds.map(personalizationBody), 'ideal: one uncached request'],
        ['one customer, warm, no web', warmIds.map(personalizationNoWeb), 'ideal: one uncached request'],
        [FLOOR_TITLE, [graphqlBody(FLOOR_QUERY, {})], `${FLOOR_QUERY}: no field resolved, the layer's fixed cost`],
      ] as const) {
        for (const connections of [1, 4, 16, 64]) {
          const row = await bench.measure(
            { scenario: 'single-warm', title, target: c360, idealMs: ideal(1, 1), note },
            { connections, durationSeconds: 2 * settings.scale, bodies },
          );
          if (title !== FLOOR_TITLE) warm.requests += row.requests;
        }
      }
      bench.notes.push(
        `Remembered answers (server/answers.ts, on by default): ${remembered() - warm.remembered} of the ${warm.requests} requests of the warm rows were answered from memory. The others ran, every source read from the shared cache: the first request for each of the ${warmIds.length} customers after priming, and the first after each refresh of an entry it read (the shop's are fresh for 15 s), which ends its answer.`,
      );
      progress.line("scenario single-warm: Apollo Server's hello world, the yardstick");
      await withHelloWorld(async (hello) => {
        for (const connections of [1, 4, 16, 64]) {
          await bench.measure(
            { scenario: 'single-warm', title: HELLO_TITLE, target: hello, idealMs: ideal(1, 1), note: 'a yardstick, no source' },
            { connections, durationSeconds: 2 * settings.scale, bodies: [graphqlBody(HELLO_QUERY, {})] },
          );
        }
      });
    }
    if (wanted('page-100')) {
      progress.line('scenario page-100: a page of 100 customers, all sources, nothing cached');
      for (const [connections, amount] of [
        [1, 6],
        [4, 8],
      ] as const) {
        const n = Math.max(scaled(amount), connections);
        const bodies = Array.from({ length: n }, () => page(fresh(100)));
        await bench.measure({ scenario: 'page-100', title: 'page of 100', target: c360, idealMs: ideal(100, connections) }, { connections, amount: n, bodies });
      }
      await withNaive(bench, started, (naive) =>
        bench.measure(
          { scenario: 'page-100', title: 'page of 100', target: naive, idealMs: ideal(100, 1) },
          { connections: 1, amount: scaled(2), bodies: Array.from({ length: scaled(2) }, () => naiveBody(fresh(100))) },
        ),
      );
    }
    if (wanted('single-cold')) {
      await withNaive(bench, started, (naive) => cold(ALONE_AND_LOADED, { title: 'one customer, cold', target: naive }, (id) => naiveBody([id])));
    }
    if (wanted('hot-50')) {
      progress.line('scenario hot-50: 1,000 requests over 50 hot customers');
      const hot = fresh(50);
      const amount = scaled(1000);
      await bench.measure(
        { scenario: 'hot-50', title: '1,000 over 50 hot', target: c360, idealMs: ideal(1, 16) },
        { connections: 16, amount, bodies: hot.map(personalizationBody) },
      );
      await withNaive(bench, started, (naive) =>
        bench.measure(
          { scenario: 'hot-50', title: '1,000 over 50 hot', target: naive, idealMs: ideal(1, 16) },
          { connections: 16, amount, bodies: hot.map((id) => naiveBody([id])) },
        ),
      );
    }
  });

  if (wanted('hot-50')) {
    await withServer(bench, 'c360 CACHE=off', { CACHE: 'off' }, async (target) => {
      const hot = fresh(50);
      await bench.measure(
        { scenario: 'hot-50', title: '1,000 over 50 hot', target, idealMs: ideal(1, 16) },
        { connections: 16, amount: scaled(1000), bodies: hot.map(personalizationBody) },
      );
    });
  }

  if (wanted('source-down')) {
    progress.line('scenario source-down: HubSpot accepts connections and never answers (default 800 ms budget)');
    // A server of its own: a fresh breaker, and the default request budget.
    await withServer(bench, 'c360', { REQUEST_BUDGET_MS: '800' }, async (target, started) => {
      await bench.standIns.knobs({ hubspotHang: true });
      try {
        const n = scaled(400);
        await bench.measure(
          { scenario: 'source-down', title: 'HubSpot down (hanging)', target, idealMs: ideal(1, 16, { hubspot: false }), note: 'ideal: the slowest source still up' },
          { connections: 16, amount: n, bodies: fresh(n).map(personalizationBody) },
        );
        await withNaive(bench, started, (naive) =>
          bench.measure(
            { scenario: 'source-down', title: 'HubSpot down (hanging)', target: naive, idealMs: ideal(1, 16, { hubspot: false }) },
            { connections: 16, amount: Math.max(16, scaled(48)), bodies: fresh(Math.max(16, scaled(48))).map((id) => naiveBody([id])) },
          ),
        );
      } finally {
        await bench.standIns.knobs({ hubspotHang: false });
      }
    });
  }
}

/** The same cold query on a large shop (the PostgreSQL server only). */
async function largeShop(): Promise<Row[]> {
  const world: DemoWorld = { seed: 360, customers: settings.largeCustomers, asOf: new Date() };
  progress.line(`scenario shop-large: ${world.customers.toLocaleString('en')} customers on the PostgreSQL server`);
  const db = await createDatabase(settings.databaseUrl, 'large');
  const standIns = await StandIns.start(world, settings);
  const pool = new CountingPool(db.url);
  const bench = new Bench(world, pool, standIns, new FreshCustomers(world.customers));
  try {
    // The Mailchimp stand-in indexes a large world on its first far lookups: do it while seeding,
    // in its own thread, so no measurement pays for the stand-in's bookkeeping.
    const indexed = standIns.warm();
    await seed(db, world, settings.largeWebDays);
    progress.line('waiting for the Mailchimp stand-in to index the world');
    await indexed;
    await measureLatency(standIns, world.customers);
    await withServer(bench, 'c360', {}, async (target) => {
      for (const [connections, amount] of [
        [1, 100],
        [4, 200],
        [16, 320],
      ] as const) {
        const n = Math.max(scaled(amount), connections);
        await bench.measure(
          { scenario: 'shop-large', title: 'one customer, cold', target, idealMs: ideal(1, connections) },
          { connections, amount: n, bodies: bench.fresh.take(n).map(personalizationBody) },
        );
      }
    });
    return bench.rows;
  } finally {
    await bench.close();
    await pool.end();
    await standIns.close();
    await db.close();
  }
}

async function main(): Promise<void> {
  const world: DemoWorld = { seed: 360, customers: settings.customers, asOf: new Date() };
  progress.line(
    `benchmark: ${world.customers.toLocaleString('en')} customers on ${settings.databaseUrl ? 'the PostgreSQL server' : 'embedded PGlite (one query at a time)'}, ` +
      `HubSpot ${settings.hubspotMs} ms, Mailchimp ${settings.mailchimpMs} ms`,
  );
  const rows: Row[] = [];
  const notes: string[] = [];
  let db: Database | undefined;
  let standIns: StandIns | undefined;
  let pool: CountingPool | undefined;
  let bench: Bench | undefined;
  try {
    [db, standIns] = await Promise.all([createDatabase(settings.databaseUrl, 'main'), StandIns.start(world, settings)]);
    await measureLatency(standIns, world.customers);
    await seed(db, world, settings.webDays);
    pool = new CountingPool(db.url);
    bench = new Bench(world, pool, standIns, new FreshCustomers(world.customers));
    await mainScenarios(bench);
    rows.push(...bench.rows);
    notes.push(...bench.notes);
  } finally {
    await bench?.close();
    await pool?.end();
    await standIns?.close();
    await db?.close();
  }
  if (wanted('shop-large') && settings.largeCustomers > 0) {
    if (settings.databaseUrl) rows.push(...(await largeShop()));
    else notes.push(`The ${settings.largeCustomers.toLocaleString('en')}-customer shop runs only on a PostgreSQL server (set BENCH_DATABASE_URL).`);
  }

  const durationSeconds = (performance.now() - progress.started) / 1000;
  notes.unshift(
    `Stand-ins: HubSpot ${settings.hubspotMs} ms, Mailchimp ${settings.mailchimpMs} ms per request, no rate limits; database: ${settings.databaseUrl ? 'the PostgreSQL server' : 'embedded PGlite (one query at a time)'}; load generator and stand-ins in worker threads of the benchmark process, all on 127.0.0.1.`,
    `Ideal: the slowest source's own time for one request of the run when nothing else costs anything, at each stand-in's latency as a client sees it (the median of 40 requests one at a time, measured when the stand-ins start: ${latencies
      .map((seen) => `${shop(seen.shop)} shop: HubSpot ${seen.hubspotMs.toFixed(1)} ms, Mailchimp ${seen.mailchimpMs.toFixed(1)} ms`)
      .join(
        '; ',
      )}; the timer's lateness, the stand-ins' thread and HTTP are in it). HubSpot reads a batch in one call; Mailchimp reads one member per GET with at most 10 in flight for the process, so c concurrent requests of k members wait k x c / 10 rounds of its latency (a page of 100 alone: 10 rounds, 600 ms). p50 / ideal is the headline; milliseconds depend on the machine.`,
    `Per request: SQL statements the commerce source (shop tables) and the web source (warehouse, ${settings.webDays} days of events; ${settings.largeWebDays} day(s) on the large shop) sent, HubSpot and Mailchimp requests the stand-ins received, divided by the requests of the run.`,
    'naive: bench/lib/naive.ts, the same sources called customer by customer, one key per call, no batching, no cache, no time budget or breaker.',
    `Warm-up: every server (the naive one too) answers ${WARM_UP_REQUESTS} cold requests, 4 at a time and not measured, before its first measured run, so that no run pays for V8 compiling the path it measures.`,
    `Libraries ran with NODE_ENV=${settings.nodeEnv ?? '(unset)'}${settings.nodeEnv === 'production' ? ' (npm run bench sets it, as deployed)' : ', not production as deployed (npm run bench sets it)'}: graphql-js's development checks, Express's and Apollo Server's modes follow it; the hello world takes Apollo Server's defaults for it (in production: no introspection, no stack traces). The server's own settings never come from it here: production: false, securityDefaults(false), rate limits off.`,
    settings.typeScript === 'node'
      ? "The server's TypeScript ran through Node's own transform (--experimental-transform-types: types removed, as tsc's output); the load generator and stand-ins load theirs through tsx in their workers."
      : "The server's TypeScript ran through tsx, whose esbuild keeps function names with a call for every closure made: not as deployed (npm run bench uses Node's own transform).",
    'Warm rows: commerce, HubSpot and Mailchimp answered from the shared in-process cache (the web fields too, in the declared shapes of cache/web.ts; "no web" leaves them out to measure the other sources alone), and a repeated request from its remembered answer while that holds (server/answers.ts); the ideal there is the uncached one, for scale.',
  );
  const hello = rows.filter((row) => row.title === HELLO_TITLE);
  if (hello.length > 0) {
    /** `title`'s rows against the hello world's at each concurrency: `ratio` of the two rows, when it can be taken. */
    const overHello = (title: string, ratio: (ours: Row, yardstick: Row) => number | null) =>
      hello
        .map((yardstick) => {
          const ours = rows.find((row) => row.title === title && row.concurrency === yardstick.concurrency);
          const value = ours && ratio(ours, yardstick);
          return value ? `c=${yardstick.concurrency} ${value.toFixed(2)}x` : null;
        })
        .filter(Boolean)
        .join(', ');
    const requests = (ours: Row, yardstick: Row) => ours.rps / yardstick.rps;
    const cpu = (ours: Row, yardstick: Row) => (ours.cpu && yardstick.cpu ? yardstick.cpu.msPerRequest / ours.cpu.msPerRequest : null);
    notes.push(
      `Warm personalization query (web fields included) over Apollo Server's hello world, requests/s in the same run: ${overHello('one customer, warm', requests)} (the design budget: at least 0.5x).`,
      `The layer alone (${FLOOR_QUERY}: authentication, limits, the request and audit lines, metrics, Apollo's pipeline, no field resolved) over the hello world, requests/s: ${overHello(FLOOR_TITLE, requests)}; what the warm query spends beyond it is its own work.`,
    );
    if (hello.some((row) => row.cpu)) {
      notes.push(
        `Server thread CPU per request, hello world's over the warm query's (the same ratio, steadier on a shared machine): ${overHello('one customer, warm', cpu)}; over the layer alone's: ${overHello(FLOOR_TITLE, cpu)}.`,
      );
    }
  }
  const hot = rows.filter((row) => row.scenario === 'hot-50');
  if (hot.length > 0) {
    notes.push(
      `1,000 requests over 50 hot customers, upstream calls in all: ${hot
        .map((row) => `${row.server}: shop SQL ${row.totals.commerce}, HubSpot ${row.totals.crm}, Mailchimp ${row.totals.email}, warehouse SQL ${row.totals.web}`)
        .join('; ')}.`,
    );
  }
  const results: Results = {
    startedAt: startedAt.toISOString(),
    durationSeconds,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, platform: process.platform, memoryGb: Math.round(totalmem() / 2 ** 30) },
    settings: { ...shownSettings(settings), clientLatency: latencies },
    rows,
    notes,
  };
  await mkdir(settings.out, { recursive: true });
  const table = markdown(results);
  await writeFile(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`${base}.md`, table);
  await writeFile(`${base}.svg`, svgChart(results));
  process.stdout.write(`\n${table}\n`);
  progress.line(`done in ${Math.round(durationSeconds)} s: ${base}.json, .md, .svg`);
}

await main();
