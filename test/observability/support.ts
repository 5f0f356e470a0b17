import { pino } from 'pino';
import { createUpstreams } from '../../cache/loaders.ts';
import { MemoryStore } from '../../cache/store.ts';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { startServer, type RunningServer } from '../../server/app.ts';
import { Observability, type ObservabilityOptions } from '../../server/observability/index.ts';
import { createCommerceSource } from '../../sources/commerce/index.ts';
import { createHubSpotSource } from '../../sources/hubspot/index.ts';
import { createMailchimpSource } from '../../sources/mailchimp/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { createDemoDatabase, TEST_AS_OF } from '../support/database.ts';
import { postGraphQL, TEST_FRESHNESS, type GraphQLResponse } from '../support/server.ts';

export const world: DemoWorld = { seed: 360, customers: 40, asOf: TEST_AS_OF };
const TOKEN = 'pat-test-0000000000000000';
const API_KEY = '00000000000000000000000000000000-us21';
const silent = { warn: () => undefined, error: () => undefined };

export interface ObservedServer {
  readonly url: string;
  readonly observability: Observability;
  readonly hubspot: HubSpotStandIn;
  readonly mailchimp: MailchimpStandIn;
  /** Every log line the server wrote, parsed. */
  readonly logs: Array<Record<string, any>>;
  query(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse>;
  /** GET /metrics as text. */
  scrape(headers?: Record<string, string>): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

/**
 * The real server over the demo shop and both stand-ins, with the shared cache, its observability
 * wired the way main.ts wires it (the observer into the cache layer, the rest into the server).
 */
export async function startObservedServer(options: ObservabilityOptions & { breakerFailures?: number } = {}): Promise<ObservedServer> {
  const [db, hubspot, mailchimp] = await Promise.all([
    createDemoDatabase(world),
    startHubSpotStandIn({ world, accessToken: TOKEN, rateLimit: null }),
    startMailchimpStandIn({ world, apiKey: API_KEY, listId: 'demo' }),
  ]);
  // Generous client timeouts, so a loaded CI machine does not turn a slow answer into a failure;
  // the tests that want failures make a stand-in hang.
  const logs: Array<Record<string, any>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const observability = new Observability({ ...options, metrics: { processMetrics: true, ...options.metrics } });
  const upstreams = createUpstreams(
    {
      commerce: createCommerceSource(db.pool, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => TEST_AS_OF }),
      crm: createHubSpotSource({
        accessToken: TOKEN,
        baseUrl: hubspot.url,
        timeoutMs: 1500,
        retryBudgetMs: 0,
        rateLimit: { requests: 1000, intervalMs: 10_000 },
        extraProperties: [],
        logger: silent,
      }),
      email: createMailchimpSource({ apiKey: API_KEY, baseUrl: mailchimp.url, listId: 'demo', timeoutMs: 1500, retryBudgetMs: 0, logger: silent }),
      // No warehouse is seeded: these tests do not select web fields.
      web: createWebSource(db.pool, { schema: 'web', now: () => TEST_AS_OF }),
    },
    {
      store: new MemoryStore({ maxEntries: 10_000, maxBytes: 1 << 24 }),
      freshness: TEST_FRESHNESS,
      guard: { breakerFailures: options.breakerFailures ?? 5, breakerCooldownMs: 60_000, maxConcurrent: 64, queue: 1000 },
      logger,
      observer: observability.observer,
    },
  );
  const server: RunningServer = await startServer(
    { upstreams, budgetMs: 5000, logger, settings: { shopCurrency: 'USD', crmProperties: [] }, production: false, observability },
    { host: '127.0.0.1', port: 0 },
  );
  return {
    url: server.url,
    observability,
    hubspot,
    mailchimp,
    logs,
    query: (query, variables, headers) => postGraphQL(`${server.url}/graphql`, query, variables, headers),
    async scrape(headers = {}) {
      const response = await fetch(`${server.url}/metrics`, { headers });
      return { status: response.status, text: await response.text() };
    },
    async close() {
      await server.stop();
      await observability.shutdown();
      await Promise.all([hubspot.close(), mailchimp.close(), db.close()]);
    },
  };
}

/** Sample lines of the exposition text as `{ name, labels, value }`. */
export function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`unexpected exposition line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** The value of one series (0 when absent). */
export function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Metric family names announced by `# TYPE` lines, with the series names each one produces. */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = match;
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}
