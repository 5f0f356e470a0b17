import { cpus, loadavg, totalmem } from 'node:os';
import type { BenchServer, CountingPool, StandIns } from './environment.ts';
import { startBenchServer } from './environment.ts';

// What the single-run benchmarks (bench/visitors.ts, bench/traits.ts) share: settings, GraphQL
// over HTTP from the benchmark's own thread, a server per phase, machine facts and number formats.

/** An integer setting from the environment, or the fallback when unset or empty. */
export const intSetting = (value: string | undefined, fallback: number) => (value === undefined || value === '' ? fallback : Number.parseInt(value, 10));

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
  };
}

/** Milliseconds as a table shows them. */
export const ms = (value: number) => (Number.isFinite(value) ? (value >= 100 ? Math.round(value).toString() : value.toFixed(1)) : '-');
/** A share as a percentage ("100%" when whole). */
export const pct = (part: number, whole: number) => (whole === 0 ? '-' : `${((100 * part) / whole).toFixed(part === whole ? 0 : 1)}%`);
