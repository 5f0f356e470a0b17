import { pino } from 'pino';
import { startServer } from '../../server/app.ts';
import { crmNotConfigured, emailNotConfigured } from '../../server/sources.ts';
import type { HubSpotSource } from '../../sources/hubspot/index.ts';
import type { MailchimpSource } from '../../sources/mailchimp/index.ts';
import { createCommerceSource, type Queryable } from '../../sources/commerce/index.ts';
import { TEST_AS_OF, type TestDatabase } from './database.ts';

export interface GraphQLResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { data?: any; errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }> };
}

export interface TestServer {
  readonly url: string;
  /** Every SQL statement the commerce source sent, in order (cleared with `reset`). */
  readonly statements: string[];
  /** Every log line the server wrote, as text. */
  readonly logs: string[];
  reset(): void;
  query(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse>;
  close(): Promise<void>;
}

/**
 * The real server on a free port, its commerce source reading `db` through a wrapper that records
 * each statement (counted at the pool, as the issue asks), and its logs captured.
 */
export async function startTestServer(
  db: Pick<TestDatabase, 'pool'>,
  upstreams: { crm?: HubSpotSource; email?: MailchimpSource } = {},
): Promise<TestServer> {
  const statements: string[] = [];
  const logs: string[] = [];
  const counting: Queryable = {
    query: (text, values) => {
      statements.push(text);
      return db.pool.query(text, values);
    },
  };
  const server = await startServer(
    {
      sources: {
        commerce: createCommerceSource(counting, {
          currency: 'USD',
          abandonedAfterMs: 3600_000,
          rfmBoundariesTtlMs: 600_000,
          now: () => TEST_AS_OF,
        }),
        crm: upstreams.crm ?? crmNotConfigured(),
        email: upstreams.email ?? emailNotConfigured(),
      },
      logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
      settings: { shopCurrency: 'USD', crmProperties: upstreams.crm?.allowedProperties ?? [] },
      production: false,
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
    query: (query, variables) => postGraphQL(`${server.url}/graphql`, query, variables),
    close: () => server.stop(),
  };
}

export async function postGraphQL(url: string, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
}
