import { pino } from 'pino';
import type { FreshnessPolicy } from '../../cache/family.ts';
import type { GuardOptions } from '../../cache/guard.ts';
import { createUpstreams } from '../../cache/loaders.ts';
import type { EntityStore } from '../../cache/store.ts';
import { startServer, type ServerOptions } from '../../server/app.ts';
import type { Settings } from '../../server/context.ts';
import { securityDefaults, type SecurityOptions } from '../../server/auth/index.ts';
import { ALL_SCOPES, Scope } from '../../server/auth/scopes.ts';
import type { SourceName } from '../../sources/errors.ts';
import { crmNotConfigured, emailNotConfigured } from '../../server/sources.ts';
import type { HubSpotSource } from '../../sources/hubspot/index.ts';
import type { MailchimpSource } from '../../sources/mailchimp/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { createCommerceSource, type Queryable } from '../../sources/commerce/index.ts';
import { afterAll, beforeAll } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from './database.ts';

export interface GraphQLResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: {
    data?: any;
    errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
    extensions?: { sources?: any };
  };
}

export interface TestServerOptions {
  /** The shared cache; none by default, so every request reaches the sources (and counts). */
  readonly store?: EntityStore;
  readonly freshness?: Record<SourceName, FreshnessPolicy>;
  readonly guard?: Partial<GuardOptions>;
  /** The request time budget; generous by default so slow CI machines do not time out. */
  readonly budgetMs?: number;
  readonly webhooks?: ServerOptions['webhooks'];
  /** Outgoing webhooks (push/webhooks); none by default. */
  readonly outgoingWebhooks?: ServerOptions['outgoingWebhooks'];
  /** GraphQL subscriptions and the feed they listen to (server/subscriptions); none by default. */
  readonly push?: ServerOptions['push'];
  /** What forgetCustomer erases beyond the cache (push's trigger state); nothing by default. */
  readonly forgetCustomer?: ServerOptions['forgetCustomer'];
  /** NODE_ENV=production behaviour (credentials required, no Sandbox); false by default. */
  readonly production?: boolean;
  /**
   * Overrides of the security policy. By default a test server lets anonymous requests hold every
   * scope but self (admin included) and does not rate limit, so tests that are not about access
   * read everything; test/auth sets what it tests.
   */
  readonly security?: Partial<SecurityOptions>;
  /** Settings beyond the shop currency and the CRM's allowed properties (e.g. the demographics' CRM properties). */
  readonly settings?: Partial<Settings>;
  /** Where saved audiences are kept and the planner's limits (in process and the defaults when omitted). */
  readonly audiences?: ServerOptions['audiences'];
  /** The answer cache (server/answers.ts): the server's own when omitted, as in production; it remembers only with a `store`. */
  readonly answers?: ServerOptions['answers'];
}

const minutes = (n: number) => n * 60_000;
export const TEST_FRESHNESS: Record<SourceName, FreshnessPolicy> = Object.fromEntries(
  (['commerce', 'crm', 'email', 'web'] as const).map((source) => [
    source,
    { ttlMs: minutes(5), staleWhileRevalidateMs: minutes(5), staleIfErrorMs: minutes(60), notFoundTtlMs: minutes(1) },
  ]),
) as Record<SourceName, FreshnessPolicy>;

export interface TestServer {
  readonly url: string;
  /** Every SQL statement the commerce source sent, in order (cleared with `reset`). */
  readonly statements: string[];
  /** Every log line the server wrote, as text. */
  readonly logs: string[];
  reset(): void;
  query(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse>;
  close(): Promise<void>;
}

/**
 * The real server on a free port, its commerce source reading `db` through a wrapper that records
 * each statement (counted at the pool, as the issue asks), and its logs captured.
 */
export async function startTestServer(
  db: Pick<TestDatabase, 'pool'>,
  upstreams: { crm?: HubSpotSource; email?: MailchimpSource } = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const statements: string[] = [];
  const logs: string[] = [];
  const counting: Queryable = {
    query: (text, values) => {
      statements.push(text);
      return db.pool.query(text, values);
    },
  };
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const sources = {
    commerce: createCommerceSource(counting, {
      currency: 'USD',
      abandonedAfterMs: 3600_000,
      rfmBoundariesTtlMs: 600_000,
      now: () => TEST_AS_OF,
    }),
    crm: upstreams.crm ?? crmNotConfigured(),
    email: upstreams.email ?? emailNotConfigured(),
    // Through the same counting wrapper: warehouse statements are counted with the shop's.
    web: createWebSource(counting, { schema: 'web', now: () => TEST_AS_OF }),
  };
  const server = await startServer(
    {
      upstreams: createUpstreams(sources, {
        store: options.store ?? null,
        freshness: options.freshness ?? TEST_FRESHNESS,
        guard: { breakerFailures: 5, breakerCooldownMs: 10_000, maxConcurrent: 64, queue: 1000, ...options.guard },
        logger,
      }),
      budgetMs: options.budgetMs ?? 10_000,
      ...(options.webhooks && { webhooks: options.webhooks }),
      ...(options.outgoingWebhooks && { outgoingWebhooks: options.outgoingWebhooks }),
      ...(options.forgetCustomer && { forgetCustomer: options.forgetCustomer }),
      ...(options.push && { push: options.push }),
      ...(options.audiences && { audiences: options.audiences }),
      ...(options.answers !== undefined && { answers: options.answers }),
      logger,
      settings: { shopCurrency: 'USD', crmProperties: upstreams.crm?.allowedProperties ?? [], ...options.settings },
      production: options.production ?? false,
      security: {
        ...securityDefaults(options.production ?? false),
        ...(!options.production && { anonymousScopes: ALL_SCOPES.filter((scope) => scope !== Scope.Self) }),
        rateLimit: null,
        ...options.security,
      },
    },
    { host: '127.0.0.1', port: 0 },
  );
  return {
    url: server.url,
    statements,
    logs,
    reset() {
      statements.length = 0;
      logs.length = 0;
    },
    query: (query, variables, headers) => postGraphQL(`${server.url}/graphql`, query, variables, headers),
    close: () => server.stop(),
  };
}

export async function postGraphQL(url: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GraphQLResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
}

/**
 * A test file's demo database and server: created before its tests (in the file's own database),
 * closed after them. Read `server` and `db` inside tests and hooks, once they exist.
 */
export function useDemoServer(world: DemoWorld, options: { webHistoryDays?: number } = {}) {
  const handle = {} as { server: TestServer; db: TestDatabase };
  beforeAll(async () => {
    handle.db = await createDemoDatabase(world, options);
    handle.server = await startTestServer(handle.db);
  });
  afterAll(async () => {
    await handle.server?.close();
    await handle.db?.close();
  });
  return handle;
}
