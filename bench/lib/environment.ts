import { pino, type Logger } from 'pino';
import pg from 'pg';
import type { AnswerCache } from '../../cache/answers.ts';
import type { Upstreams, Sources } from '../../cache/loaders.ts';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { seedShop } from '../../sandbox/demo/shop.ts';
import { startEmbeddedPostgres } from '../../sandbox/embedded-postgres.ts';
import { startServer, type RunningServer } from '../../server/app.ts';
import { securityDefaults } from '../../server/auth/index.ts';
import { loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { Observability } from '../../server/observability/index.ts';
import { configuredAnswers, createConfiguredUpstreams, createSources } from '../../server/sources.ts';
import type { Queryable } from '../../sources/commerce/index.ts';
import { ACCESS_TOKEN, API_KEY, LIST_ID } from './credentials.ts';
import type { Knobs, StandInCounts } from './standins-worker.ts';
import { WorkerClient } from './workers.ts';

/** Where the benchmark's progress goes: stderr, one line per step, the current run redrawn in place. */
export const progress = {
  started: performance.now(),
  elapsed(): string {
    const s = Math.round((performance.now() - this.started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  },
  line(message: string): void {
    this.clear();
    process.stderr.write(`[${this.elapsed()}] ${message}\n`);
  },
  /** A status line redrawn in place on a terminal; on a pipe, only every `every`-th call is written. */
  status(message: string): void {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K[${this.elapsed()}] ${message}`);
  },
  clear(): void {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  },
};

export interface Database {
  readonly url: string;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * A database of the benchmark's own: on the PostgreSQL server at BENCH_DATABASE_URL (created here,
 * dropped on close), or embedded PGlite, which runs one query at a time (small runs only).
 */
export async function createDatabase(serverUrl: string | undefined, suffix: string): Promise<Database> {
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres();
    return { url: embedded.url, embedded: true, close: () => embedded.close() };
  }
  const name = `c360_bench_${process.pid}_${suffix.replace(/\W/g, '_')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    embedded: false,
    async close() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * Writes the demo shop of `world` and, at the same time in a worker thread, its event warehouse
 * (schema `web`, `webDays` of history), showing progress: a 1,000,000-customer shop takes minutes.
 */
export async function seed(db: Database, world: DemoWorld, webDays: number): Promise<void> {
  const started = performance.now();
  const worker = new WorkerClient(new URL('./seed-worker.ts', import.meta.url), (event: { people: number; total: number; events: number }) => {
    warehouse = event;
  });
  let warehouse = { people: 0, total: 0, events: 0 };
  const ticker = setInterval(
    () => {
      if (warehouse.total > 0 && warehouse.people < warehouse.total) {
        const message = `warehouse: ${warehouse.people.toLocaleString('en')} / ${warehouse.total.toLocaleString('en')} people, ${warehouse.events.toLocaleString('en')} events`;
        if (process.stderr.isTTY) progress.status(message);
        else progress.line(message);
      }
    },
    process.stderr.isTTY ? 1000 : 15_000,
  );
  try {
    const web = worker.call<{ events: number; rows: number }>('warehouse', { url: db.url, world, days: webDays });
    // Embedded PGlite runs one statement at a time: one writer after the other there.
    if (db.embedded) await web;
    await seedShopTables(db, world);
    const done = await web;
    progress.line(`seeded the warehouse (${webDays} days, ${done.events.toLocaleString('en')} events) in ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  } finally {
    clearInterval(ticker);
    await worker.close();
  }
}

async function seedShopTables(db: Database, world: DemoWorld): Promise<void> {
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const started = performance.now();
  let lastLine = 0;
  try {
    await seedShop(pool, world, {
      onProgress: ({ customers, total }) => {
        const seconds = (performance.now() - started) / 1000;
        const rate = customers / Math.max(seconds, 0.001);
        const message = `seeding ${customers.toLocaleString('en')} / ${total.toLocaleString('en')} customers (${Math.round((customers / total) * 100)}%, ${Math.round(rate).toLocaleString('en')}/s, ~${Math.round((total - customers) / rate)} s left)`;
        if (process.stderr.isTTY) progress.status(message);
        else if ((customers === total && lastLine >= 0) || (customers < total && seconds - lastLine >= 10)) {
          lastLine = customers === total ? -1 : seconds;
          progress.line(message);
        }
      },
    });
  } finally {
    await pool.end();
  }
  progress.line(`seeded ${world.customers.toLocaleString('en')} customers in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** The stand-ins in their worker, at set latencies. */
export class StandIns {
  private constructor(
    private readonly worker: WorkerClient,
    readonly hubspotUrl: string,
    readonly mailchimpUrl: string,
  ) {}

  static async start(world: DemoWorld, latency: { hubspotMs: number; mailchimpMs: number }): Promise<StandIns> {
    const worker = new WorkerClient(new URL('./standins-worker.ts', import.meta.url));
    const urls = await worker.call<{ hubspotUrl: string; mailchimpUrl: string }>('start', { world, ...latency });
    return new StandIns(worker, urls.hubspotUrl, urls.mailchimpUrl);
  }

  /**
   * Each stand-in's latency as a client on this machine sees it: the median of `samples` requests
   * sent one at a time over a kept connection (a contact read, a member read). Above the set delay
   * by the timer's lateness, the worker thread and HTTP; what no server here can go below.
   */
  async clientLatency(samples = 40): Promise<{ hubspotMs: number; mailchimpMs: number }> {
    const median = async (url: string, headers: Record<string, string>) => {
      const times: number[] = [];
      // The first few open the connection and warm both ends; they are not counted.
      for (let i = 0; i < samples + 5; i++) {
        const started = performance.now();
        await (await fetch(url, { headers })).arrayBuffer();
        if (i >= 5) times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    };
    const [hubspotMs, mailchimpMs] = await Promise.all([
      median(`${this.hubspotUrl}/crm/v3/objects/contacts/1`, { authorization: `Bearer ${ACCESS_TOKEN}` }),
      median(`${this.mailchimpUrl}/3.0/lists/${LIST_ID}/members/${'0'.repeat(32)}`, { authorization: `Basic ${Buffer.from(`bench:${API_KEY}`).toString('base64')}` }),
    ]);
    await this.reset();
    return { hubspotMs, mailchimpMs };
  }

  counts = () => this.worker.call<StandInCounts>('counts');
  reset = () => this.worker.call<void>('reset');
  knobs = (knobs: Knobs) => this.worker.call<void>('knobs', knobs);
  warm = () => this.worker.call<number>('warm');

  async close(): Promise<void> {
    await this.worker.call('close');
    await this.worker.close();
  }
}

/**
 * The database's pools as the server uses them (DATABASE_POOL_MAX and DATABASE_STATEMENT_TIMEOUT_MS
 * at their defaults, and main.ts's one-connection pool for the CLV fit with
 * CLV_FIT_STATEMENT_TIMEOUT_MS), counting the statements of the commerce source (the shop tables,
 * the fit's included) and of the web source (the warehouse schema) apart.
 */
export class CountingPool {
  readonly pool: pg.Pool;
  private readonly fitPool: pg.Pool;
  private readonly audiencePool: pg.Pool;
  readonly statements = { commerce: 0, web: 0 };
  readonly commerce: Queryable;
  readonly web: Queryable;
  readonly fit: Queryable;
  /** main.ts's pool for the audience statements (AUDIENCE_POOL_MAX, AUDIENCE_STATEMENT_TIMEOUT_MS), counted by source too. */
  readonly audienceCommerce: Queryable;
  readonly audienceWeb: Queryable;

  constructor(url: string) {
    const config = loadConfig({});
    this.pool = new pg.Pool({
      connectionString: url,
      max: config.DATABASE_POOL_MAX,
      statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
      connectionTimeoutMillis: config.DATABASE_STATEMENT_TIMEOUT_MS,
    });
    this.pool.on('error', () => undefined);
    this.fitPool = new pg.Pool({ connectionString: url, max: 1, statement_timeout: config.CLV_FIT_STATEMENT_TIMEOUT_MS });
    this.fitPool.on('error', () => undefined);
    this.audiencePool = new pg.Pool({ connectionString: url, max: config.AUDIENCE_POOL_MAX, statement_timeout: config.AUDIENCE_STATEMENT_TIMEOUT_MS });
    this.audiencePool.on('error', () => undefined);
    const counting = (source: 'commerce' | 'web', pool: pg.Pool) =>
      ({
        query: (text: string, values?: unknown[]) => {
          this.statements[source]++;
          return pool.query(text, values);
        },
      }) as Queryable;
    this.commerce = counting('commerce', this.pool);
    this.web = counting('web', this.pool);
    this.fit = counting('commerce', this.fitPool);
    this.audienceCommerce = counting('commerce', this.audiencePool);
    this.audienceWeb = counting('web', this.audiencePool);
  }

  async end(): Promise<void> {
    await Promise.all([this.pool.end(), this.fitPool.end(), this.audiencePool.end()]);
  }

  reset(): void {
    this.statements.commerce = 0;
    this.statements.web = 0;
  }
}

export interface BenchServer {
  readonly url: string;
  readonly sources: Sources;
  readonly upstreams: Upstreams;
  /** Its remembered answers (server/answers.ts), on as by default unless ANSWER_CACHE_MAX_ENTRIES=0 is given. */
  readonly answers: AnswerCache | false;
  close(): Promise<void>;
}

/**
 * The process logger main.ts makes (server/logger.ts: info level, its redaction and trace context),
 * written as pino writes stdout (asynchronously) but to /dev/null rather than the terminal.
 */
export function quietLogger(): Logger {
  return createLogger('info', pino.destination({ dest: '/dev/null', sync: false }));
}

/**
 * The server as main.ts builds it (configuration, sources, the shared cache, metrics, request
 * logs), pointed at the benchmark's database and stand-ins. `env` adds settings (CACHE=off, a
 * budget). Rate limits are off: HubSpot's quota and the per-client cost limit are not what is
 * measured here.
 */
export async function startBenchServer(db: CountingPool, standIns: StandIns, env: Record<string, string>): Promise<BenchServer> {
  const config = loadConfig({
    HUBSPOT_RATE_LIMIT_REQUESTS: '10000',
    HUBSPOT_RATE_LIMIT_INTERVAL_MS: '100',
    REQUEST_BUDGET_MS: '5000',
    ...env,
  });
  const logger = quietLogger();
  const sources = createSources(config, {
    db: db.commerce,
    analyticsDb: db.web,
    fitDb: db.fit,
    audienceDb: db.audienceCommerce,
    audienceAnalyticsDb: db.audienceWeb,
    logger,
    demo: {
      databaseUrl: '',
      hubspot: { baseUrl: standIns.hubspotUrl, accessToken: ACCESS_TOKEN, extraProperties: [] },
      mailchimp: { baseUrl: standIns.mailchimpUrl, apiKey: API_KEY, listId: LIST_ID },
    },
  });
  const observability = new Observability();
  const upstreams = await createConfiguredUpstreams(config, sources, logger, observability.observer);
  const answers = configuredAnswers(config);
  const server: RunningServer = await startServer(
    {
      upstreams,
      answers,
      budgetMs: config.REQUEST_BUDGET_MS,
      logger,
      settings: { shopCurrency: config.SHOP_CURRENCY, crmProperties: sources.crm.allowedProperties },
      production: false,
      observability,
      security: { ...securityDefaults(false), rateLimit: null },
    },
    { host: '127.0.0.1', port: 0 },
  );
  return {
    url: server.url,
    sources,
    upstreams,
    answers,
    async close() {
      await server.stop();
      await sources.crm.close();
      await sources.email.close();
      await upstreams.store?.close();
    },
  };
}
