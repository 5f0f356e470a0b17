import { setTimeout as sleep } from 'node:timers/promises';
import type { SourceName } from '../../sources/errors.ts';

/** What a personalization engine asks on a page render: one customer's traits from every source, by email. */
export const PERSONALIZATION = `query Personalization($email: EmailAddress!) {
  customer(email: $email) {
    id
    commerce {
      purchases { orderCount totalSpent { amount currencyCode } lastOrderAt }
      rfm { segment }
      abandonedCart { value { amount currencyCode } }
    }
    crm { lifecycleStage }
    emailMarketing { status canEmail }
    web { sessionCount lastSeenAt topCategories(first: 3) { category } }
    consent { analytics { granted } }
  }
}`;

/** The customer's fields of the query, by the source that answers them. */
export const FIELDS_OF: Record<SourceName, readonly string[]> = {
  commerce: ['id', 'commerce'],
  crm: ['crm'],
  email: ['emailMarketing'],
  web: ['web', 'consent'],
};

/**
 * A field a source answers with null on purpose, explained in the same answer: `web` is null
 * without an error when the customer's newest consent answer withholds analytics (issue 12), which
 * the warehouse can change under a fault too (losing the pages table leaves the answers of tracks).
 */
const EXPLAINED_NULL: Record<string, (customer: Record<string, any>) => boolean> = {
  web: (customer) => customer.consent?.analytics?.granted === false,
};
const isAbsent = (customer: Record<string, any>, field: string) => (customer[field] === null || customer[field] === undefined) && !EXPLAINED_NULL[field]?.(customer);
export const SOURCES: readonly SourceName[] = ['commerce', 'crm', 'email', 'web'];
/** The codes a failing source may put on its fields. */
export const TYPED_CODES = new Set(['SOURCE_UNAVAILABLE', 'SOURCE_TIMEOUT', 'RATE_LIMITED']);

interface GraphQLBody {
  data?: { customer?: Record<string, unknown> | null } | null;
  errors?: Array<{ message?: string; path?: Array<string | number>; extensions?: { code?: string; source?: string } }>;
  extensions?: { sources?: Record<string, { status?: string; maxAgeMs?: number }> };
}

/** One response of the load, as classified when it arrived. */
export interface Sample {
  /** ms since the load started. */
  readonly startedAt: number;
  readonly ms: number;
  readonly status: number;
  readonly email: string;
  /** Sources whose every field answered: no error under them, and a value where the baseline had one. */
  readonly answered: ReadonlySet<SourceName>;
  /** Each error's code, source and path (`-` when absent). */
  readonly errors: ReadonlyArray<{ code: string; source: string; path: string }>;
  /** Set when no GraphQL body came back (transport failure, client timeout, non-JSON). */
  readonly failure?: string;
  /** Sources the response called fresh (`cached` or `mixed`) with data older than their TTL. */
  readonly freshPastTtl: readonly string[];
}

/** Which of a customer's source fields are non-null when every source is healthy. */
export type Baseline = ReadonlyMap<string, ReadonlySet<SourceName>>;

export function classify(body: GraphQLBody, baselineFor: ReadonlySet<SourceName> | undefined): Pick<Sample, 'answered' | 'errors'> {
  const customer = body.data?.customer ?? null;
  const errors = (body.errors ?? []).map((e) => ({
    code: String(e.extensions?.code ?? '-'),
    source: String(e.extensions?.source ?? '-'),
    path: (e.path ?? ['-']).join('.'),
  }));
  const answered = new Set<SourceName>();
  if (customer) {
    for (const source of SOURCES) {
      const fields = FIELDS_OF[source];
      const failed = (body.errors ?? []).some((e) => {
        const path = e.path ?? [];
        // An error above the customer's fields (or with no path) takes every field with it.
        return path.length < 2 || (path[0] === 'customer' && fields.includes(String(path[1])));
      });
      const missing = fields.some((field) => isAbsent(customer, field));
      if (!failed && !(missing && baselineFor?.has(source))) answered.add(source);
    }
  }
  return { answered, errors };
}

/**
 * The sources a response calls fresh although their data is older than `ttlMs`: served from a
 * cache entry, or an answer remembered from one (server/answers.ts), past the entry's freshness.
 * Ages are rounded to the millisecond.
 */
export function freshPastTtl(body: GraphQLBody, ttlMs: number): string[] {
  return Object.entries(body.extensions?.sources ?? {})
    .filter(([, report]) => (report.status === 'cached' || report.status === 'mixed') && (report.maxAgeMs ?? 0) > ttlMs + 1)
    .map(([source]) => source);
}

/** A customer's non-null source fields, from a response of a healthy server. */
export function presentSources(body: GraphQLBody): Set<SourceName> {
  const customer = body.data?.customer;
  const present = new Set<SourceName>();
  if (!customer) return present;
  for (const source of SOURCES) if (FIELDS_OF[source].every((field) => !isAbsent(customer, field))) present.add(source);
  return present;
}

export async function postQuery(url: string, email: string, timeoutMs: number): Promise<{ status: number; body?: GraphQLBody; failure?: string }> {
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PERSONALIZATION, variables: { email } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) as GraphQLBody };
    } catch {
      return { status: response.status, failure: `non-JSON body (${text.length} bytes)` };
    }
  } catch (error) {
    return { status: 0, failure: (error as Error).name === 'TimeoutError' ? 'client timeout' : String((error as Error).message).slice(0, 100) };
  }
}

export interface LoadOptions {
  readonly url: string;
  readonly emails: readonly string[];
  readonly baseline: Baseline;
  readonly clients: number;
  /** Pause between one client's requests, so the load stays steady and leaves CPU to the server. */
  readonly thinkMs: number;
  /** A client gives up on a response after this long (recorded as a failure). */
  readonly clientTimeoutMs: number;
  /** The sources' cache TTL: a response calling data older than this fresh is recorded (Sample.freshPastTtl). */
  readonly ttlMs: number;
  /** The first client asks for this customer every time, as a page re-rendered for one visitor (whose answer the server remembers). */
  readonly hotEmail?: string;
}

/**
 * A steady closed-loop load: `clients` concurrent clients, each sending the personalization query
 * for the next customer (round robin over `emails`), waiting for the answer, pausing `thinkMs`.
 * Runs until `stop()`, at most `maxRequests` per client; every response is kept as a Sample.
 */
export class Load {
  readonly samples: Sample[] = [];
  readonly started = performance.now();
  private stopping = false;
  private next = 0;
  private readonly done: Promise<void>;

  constructor(
    private readonly options: LoadOptions,
    maxRequestsPerClient = 5000,
  ) {
    this.done = Promise.all(Array.from({ length: options.clients }, (_, i) => this.client(maxRequestsPerClient, i === 0 ? options.hotEmail : undefined))).then(() => undefined);
  }

  /** ms since the load started. */
  now(): number {
    return performance.now() - this.started;
  }

  /** Stops sending; resolves when every client has its last answer (bounded by the client timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }

  /** One client: the next customer of the round robin each time, or always `only`. */
  private async client(maxRequests: number, only?: string): Promise<void> {
    const { url, emails, baseline, thinkMs, clientTimeoutMs, ttlMs } = this.options;
    for (let n = 0; n < maxRequests && !this.stopping; n++) {
      const email = only ?? emails[this.next++ % emails.length]!;
      const startedAt = this.now();
      const { status, body, failure } = await postQuery(url, email, clientTimeoutMs);
      const ms = this.now() - startedAt;
      const classified = body ? classify(body, baseline.get(email)) : { answered: new Set<SourceName>(), errors: [] };
      this.samples.push({
        startedAt,
        ms,
        status,
        email,
        ...classified,
        freshPastTtl: body ? freshPastTtl(body, ttlMs) : [],
        ...((failure ?? (status !== 200 ? `HTTP ${status}` : undefined)) && { failure: failure ?? `HTTP ${status}` }),
      });
      await sleep(thinkMs);
    }
  }

  /** Resolves once `ms` have passed since the load started (or at once). */
  async until(ms: number): Promise<void> {
    const left = ms - this.now();
    if (left > 0) await sleep(left);
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
