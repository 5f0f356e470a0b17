import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { CountingPool, createDatabase, progress, seed, StandIns, startBenchServer, type BenchServer, type Database } from './environment.ts';

// What the single-run benchmarks (bench/visitors.ts, bench/traits.ts) share: the run itself
// (seeding, stand-ins, clean-up, results files), settings, GraphQL over HTTP from the benchmark's
// own thread, a server per phase, machine facts and number formats.

/** An integer setting from the environment, or the fallback when unset or empty. */
export const intSetting = (value: string | undefined, fallback: number) => (value === undefined || value === '' ? fallback : Number.parseInt(value, 10));

/**
 * The settings every load benchmark reads from the environment (BENCH_CUSTOMERS, BENCH_DATABASE_URL,
 * BENCH_WEB_DAYS, BENCH_REQUESTS, BENCH_CONCURRENCIES, BENCH_HUBSPOT_MS, BENCH_MAILCHIMP_MS,
 * BENCH_OUT), with their defaults.
 */
export function loadBenchSettings(env: NodeJS.ProcessEnv = process.env) {
  return {
    customers: intSetting(env.BENCH_CUSTOMERS, 3000),
    databaseUrl: env.BENCH_DATABASE_URL || undefined,
    webDays: intSetting(env.BENCH_WEB_DAYS, 30),
    requests: intSetting(env.BENCH_REQUESTS, 300),
    concurrencies: (env.BENCH_CONCURRENCIES ?? '10,50').split(',').map((c) => Number.parseInt(c, 10)),
    hubspotMs: intSetting(env.BENCH_HUBSPOT_MS, 40),
    mailchimpMs: intSetting(env.BENCH_MAILCHIMP_MS, 60),
    out: env.BENCH_OUT ?? new URL('../results/', import.meta.url).pathname,
  };
}

export interface GraphQLResponse {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: { code?: string } }>;
}

/** One GraphQL request; throws when the answer is not GraphQL, or a refusal without data. */
export async function post(url: string, query: string, variables: object): Promise<GraphQLResponse> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  if (!response.ok && !text.startsWith('{')) throw new Error(`expected a GraphQL response, got HTTP ${response.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as GraphQLResponse;
  if (!response.ok && !body.data) throw new Error(`the server refused the request (HTTP ${response.status}): ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body;
}

/** A fresh server (empty cache) on the benchmark's database and stand-ins, for one phase; always closed. */
export async function withServer<T>(pool: CountingPool, standIns: StandIns, body: (url: string, server: BenchServer) => Promise<T>): Promise<T> {
  const server = await startBenchServer(pool, standIns, {});
  try {
    return await body(`${server.url}/graphql`, server);
  } finally {
    server.sources.commerce.clv.stop();
    await server.close();
  }
}

/**
 * A run's settings as its report keeps them: the database's URL (it may carry a password) only as
 * "(set)", and not this machine's output directory.
 */
export function shownSettings<T extends { readonly databaseUrl?: string | undefined; readonly out?: string }>(settings: T) {
  const { databaseUrl, out: _out, ...shown } = settings;
  return { ...shown, databaseUrl: databaseUrl ? '(set)' : undefined };
}

/** The machine a run ran on, with the 1-minute load average at its start and end (other work shows there). */
export function machineFacts(database: string, loadBefore: number) {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    database,
    loadAverage: [loadBefore, loadavg()[0]!],
    ...runtime(),
  };
}

/** How this process runs the server's code: the libraries' mode (NODE_ENV), and what removed the TypeScript types. */
export function runtime(): { readonly nodeEnv: string | null; readonly typeScript: 'tsx' | 'node' } {
  return { nodeEnv: process.env.NODE_ENV ?? null, typeScript: process.execArgv.some((arg) => arg.includes('tsx')) ? 'tsx' : 'node' };
}

/** For a report's first line, of a server run in the benchmark's process: whether it ran as deployed (`npm run bench:*` does). */
export function runtimeText({ nodeEnv, typeScript }: ReturnType<typeof runtime>): string {
  const mode = nodeEnv === 'production' ? 'NODE_ENV=production' : `NODE_ENV ${nodeEnv ?? 'unset'} (not production, as deployed)`;
  return `${mode}, TypeScript through ${typeScript === 'tsx' ? 'tsx (not as deployed)' : "Node's own transform"}`;
}

/** Milliseconds as a table shows them. */
export const ms = (value: number) => (Number.isFinite(value) ? (value >= 100 ? Math.round(value).toString() : value.toFixed(1)) : '-');
/** A share as a percentage ("100%" when whole). */
export const pct = (part: number, whole: number) => (whole === 0 ? '-' : `${((100 * part) / whole).toFixed(part === whole ? 0 : 1)}%`);

export interface BenchSettings {
  readonly customers: number;
  readonly webDays: number;
  readonly databaseUrl: string | undefined;
  readonly hubspotMs: number;
  readonly mailchimpMs: number;
  /** Where `<name>-latest.md` and `.json` go. */
  readonly out: string;
}

/** What a run's body works with: the seeded demo world, its database and stand-ins, and the run's facts so far. */
export interface BenchRun {
  readonly world: DemoWorld;
  readonly pool: CountingPool;
  readonly standIns: StandIns;
  /** When the run started, how long it has taken, and the machine (with the load average now). */
  facts(): { startedAt: Date; durationSeconds: number; machine: ReturnType<typeof machineFacts> };
}

/**
 * One benchmark run: seeds the demo world (embedded PGlite, or a database of its own on the
 * server at `databaseUrl`), starts the stand-ins, runs `body`, always cleans up, then writes what
 * `body` returned to `<out>/<name>-latest.json` and `.md` and prints the table.
 */
export async function benchRun(name: string, settings: BenchSettings, body: (run: BenchRun) => Promise<{ results: Record<string, unknown>; table: string }>): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg()[0]!;
  const world: DemoWorld = { seed: 360, customers: settings.customers, asOf: new Date() };
  const databaseKind = settings.databaseUrl ? 'the PostgreSQL server' : 'embedded PGlite (in this process, one query at a time)';
  progress.line(`${name} benchmark: ${world.customers.toLocaleString('en')} customers, ${settings.webDays} days of events, on ${databaseKind}`);
  let db: Database | undefined;
  let standIns: StandIns | undefined;
  let pool: CountingPool | undefined;
  let written: { results: Record<string, unknown>; table: string };
  try {
    [db, standIns] = await Promise.all([createDatabase(settings.databaseUrl, name), StandIns.start(world, settings)]);
    await seed(db, world, settings.webDays);
    pool = new CountingPool(db.url);
    const facts = () => ({ startedAt, durationSeconds: (performance.now() - progress.started) / 1000, machine: machineFacts(databaseKind, loadBefore) });
    written = await body({ world, pool, standIns, facts });
  } finally {
    await pool?.end();
    await standIns?.close();
    await db?.close();
  }
  await mkdir(settings.out, { recursive: true });
  const base = `${settings.out.replace(/\/?$/, '/')}${name}-latest`;
  await writeFile(`${base}.json`, `${JSON.stringify(written.results, null, 2)}\n`);
  await writeFile(`${base}.md`, written.table);
  process.stdout.write(`\n${written.table}\n`);
  progress.line(`done in ${Math.round((performance.now() - progress.started) / 1000)} s: ${base}.md, .json`);
}

/**
 * Customer ids nobody has asked for yet in this run (so a cold request is really cold), spread
 * over the whole shop: a stride through 1..n coprime with n.
 */
export class FreshCustomers {
  private next = 0;
  private readonly stride: number;

  constructor(private readonly total: number) {
    let stride = Math.floor(total * 0.618) | 1;
    while (gcd(stride, total) !== 1) stride += 2;
    this.stride = stride;
  }

  take(n: number): string[] {
    if (this.next + n > this.total) throw new Error(`the shop has ${this.total} customers; this run needs ${this.next + n} (lower BENCH_SCALE or raise BENCH_CUSTOMERS)`);
    return Array.from({ length: n }, () => String(((this.next++ * this.stride) % this.total) + 1));
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
