import { PROFILE_FIELDS } from './queries.ts';

/** Customers a page query reads at once when warming: Mailchimp's 10 connections read 50 members in 5 rounds, well within the budget. */
const WARM_PAGE = 50;
const PAGE = `query Page($ids: [ID!]) {\n  customers(ids: $ids) {\n    ${PROFILE_FIELDS}\n  }\n}`;

/**
 * Fills the shared cache with `ids` through page queries of WARM_PAGE customers: one HubSpot call a
 * page, where one request per customer would spend the quota a call each (and an error, which
 * is never cached, would leave that customer cold). Returns the responses that carried errors.
 */
export async function warmCustomers(url: string, ids: readonly string[], headers: Record<string, string>): Promise<number> {
  let withErrors = 0;
  for (let i = 0; i < ids.length; i += WARM_PAGE) {
    const body = JSON.stringify({ query: PAGE, variables: { ids: ids.slice(i, i + WARM_PAGE) } });
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const text = await response.text();
    if (!response.ok || text.includes('"errors"')) withErrors++;
  }
  return withErrors;
}

/** How one request ended. */
interface Outcome {
  readonly startedAt: number;
  readonly ms: number;
  /** No GraphQL answer at all: a refused or dropped connection, or an HTTP error without data. */
  readonly failed: boolean;
  /** `extensions.code` of each error whose path passes through `crm`, and of every other error. */
  readonly crmCodes: string[];
  readonly otherCodes: string[];
}

/** What an open-loop run measured. */
export interface OpenLoopResult {
  readonly rate: number;
  readonly seconds: number;
  readonly requests: number;
  /** Requests with no GraphQL answer (transport errors, HTTP errors without data). */
  readonly failed: number;
  /** Responses with at least one error on a `crm` path, and those errors by code. */
  readonly crmFailures: number;
  readonly crmCodes: Record<string, number>;
  /** Errors elsewhere (other sources, the request itself), by code. */
  readonly otherCodes: Record<string, number>;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** One POST of `body` to `url`, never throwing: how it ended. */
async function send(url: string, body: string, headers: Record<string, string>): Promise<Outcome> {
  const startedAt = performance.now();
  const crmCodes: string[] = [];
  const otherCodes: string[] = [];
  let failed = false;
  try {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    const parsed = text.startsWith('{') ? (JSON.parse(text) as { data?: unknown; errors?: Array<{ path?: unknown[]; extensions?: { code?: string } }> }) : undefined;
    if (!parsed || (!response.ok && !parsed.data)) failed = true;
    for (const error of parsed?.errors ?? []) (error.path?.includes('crm') ? crmCodes : otherCodes).push(error.extensions?.code ?? 'NO_CODE');
  } catch {
    failed = true;
  }
  return { startedAt, ms: performance.now() - startedAt, failed, crmCodes, otherCodes };
}

// load-worker.ts has the same, but importing it would start its worker side in this thread.
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function tally(codes: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const code of codes) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}

/**
 * An open loop: request i leaves at start + i / rate whatever the answers before it did (unlike a
 * closed loop such as autocannon's, where a slow server slows its own load down), for `seconds`,
 * each with the next of `bodies`. `during` runs beside the load (a replica killed mid-run) and is
 * awaited with it.
 */
export async function openLoop(
  url: string,
  { rate, seconds, bodies, headers = {} }: { rate: number; seconds: number; bodies: readonly string[]; headers?: Record<string, string> },
  during?: () => Promise<void>,
): Promise<OpenLoopResult & { outcomes: readonly Outcome[] }> {
  const count = Math.round(rate * seconds);
  if (bodies.length < count) throw new Error(`expected ${count} request bodies for ${rate}/s over ${seconds} s, got ${bodies.length}`);
  const started = performance.now();
  const pending: Array<Promise<Outcome>> = [];
  const beside = during?.();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(send(url, bodies[i]!, headers));
  }
  const outcomes = await Promise.all(pending);
  await beside;
  const sorted = outcomes.map((outcome) => outcome.ms).sort((a, b) => a - b);
  return {
    rate,
    seconds,
    requests: outcomes.length,
    failed: outcomes.filter((outcome) => outcome.failed).length,
    crmFailures: outcomes.filter((outcome) => outcome.crmCodes.length > 0).length,
    crmCodes: tally(outcomes.flatMap((outcome) => outcome.crmCodes)),
    otherCodes: tally(outcomes.flatMap((outcome) => outcome.otherCodes)),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
    outcomes,
  };
}
