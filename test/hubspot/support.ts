import { afterEach } from 'vitest';
import { personAt, populationSize, type DemoPerson, type DemoWorld } from '../../sandbox/demo/people.ts';
import { startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { createHubSpotSource, type HubSpotLogger, type HubSpotSearchOptions, type HubSpotSource, type HubSpotSourceOptions } from '../../sources/hubspot/index.ts';

/** A world small enough to walk entirely: 200 customers and 20 prospects. */
export const WORLD: DemoWorld = { seed: 360, customers: 200, asOf: new Date('2026-11-01T00:00:00Z') };
export const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** A stand-in for `world` (WORLD by default), closed after the test. No rolling limit unless a test sets one. */
export async function standIn(world: DemoWorld = WORLD): Promise<HubSpotStandIn> {
  const started = await startHubSpotStandIn({ world, accessToken: TOKEN, rateLimit: null });
  running.push(started);
  return started;
}

/** A source against `stand`, with short budgets so failures show quickly; closed after the test. */
export function source(stand: HubSpotStandIn, overrides: Partial<HubSpotSourceOptions & { search: HubSpotSearchOptions }> = {}): HubSpotSource {
  const created = createHubSpotSource({
    accessToken: TOKEN,
    baseUrl: stand.url,
    // Generous: a loaded CI machine must not turn a slow answer into a timeout (tests of timeouts set their own).
    timeoutMs: 2000,
    retryBudgetMs: 1000,
    rateLimit: { requests: 100, intervalMs: 10_000 },
    extraProperties: ['preferred_store', 'loyalty_tier'],
    logger: silentLogger(),
    ...overrides,
  });
  running.push(created);
  return created;
}

export interface LogLine {
  readonly level: 'warn' | 'error';
  readonly obj: object;
  readonly msg: string;
}

/** A logger that keeps its lines for assertions. */
export function capturingLogger(): HubSpotLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
}

export const silentLogger = (): HubSpotLogger => ({ warn: () => undefined, error: () => undefined });

/** Everyone in WORLD, customers first. */
export function everyone(): DemoPerson[] {
  return Array.from({ length: populationSize(WORLD) }, (_, i) => personAt(WORLD, i));
}

/** The first `n` people HubSpot knows (crm traits set). */
export function crmPeople(n: number): DemoPerson[] {
  const people = everyone().filter((p) => p.crm !== null);
  if (people.length < n) throw new Error(`expected at least ${n} CRM people in WORLD, found ${people.length}`);
  return people.slice(0, n);
}

/** Customers who never made it into the CRM: HubSpot does not know their (real) emails. */
export function peopleOutsideCrm(): DemoPerson[] {
  return everyone().filter((p) => p.crm === null);
}

/** Emails no one in WORLD has. */
export function strangerEmails(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `stranger.${i}@elsewhere.test`);
}

/** Time `fn` in ms, returning its settled outcome. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - start, value };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}
