import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintApiKey } from '../../server/auth/api-keys.ts';
import { DEFAULT_LIMITS } from '../../server/auth/limits.ts';
import { sha256 } from '../../server/auth/persisted.ts';
import { Scope } from '../../server/auth/scopes.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { bearer, countingUpstreams, key, KEYS, send, testSecurity } from './helpers.ts';

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
let db: TestDatabase;

beforeAll(async () => {
  db = await createDemoDatabase(world);
});
afterAll(async () => {
  await db?.close();
});

const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: customer(id: "${i + 1}") { id }`).join(' ')} }`;
const fragmentBomb = (levels: number) =>
  [
    `{ customer(id: "1") { ...F${levels} } }`,
    'fragment F0 on Customer { id email commerce { firstName } }',
    ...Array.from({ length: levels }, (_, i) => `fragment F${i + 1} on Customer { ...F${i} ...F${i} }`),
  ].join('\n');
const DEEP = '{ customerSegment(first: 1) { edges { node { commerce { orders(first: 1) { edges { node { lineItems { product { price { amount } } } } } } } } } } }';

/**
 * Hostile documents: each is refused before execution, with no SQL statement and no call to any
 * other source. The server runs the default limits, with a depth limit of 8 so that a valid
 * document of this schema (whose deepest is 11) can exceed it.
 */
const ENTITIES = '"query":"query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id } } }"';
const HOSTILE: Array<{ name: string; body?: unknown; raw?: string; status: number; code: string; message?: RegExp }> = [
  { name: 'deep: a valid document 11 levels deep (limit 8)', body: { query: DEEP }, status: 400, code: 'OPERATION_LIMIT_EXCEEDED', message: /depth limit of 8 exceeded, found 11/ },
  {
    name: 'deep: 1,500 nested selections',
    body: { query: `{${'a{'.repeat(1500)}b${'}'.repeat(1501)}` },
    status: 400,
    code: 'GRAPHQL_PARSE_FAILED',
    message: /2000 tokens/,
  },
  {
    name: 'wide: 3,000 fields in one selection',
    body: { query: `{ customer(id: "1") { ${'id '.repeat(3000)}} }` },
    status: 400,
    code: 'GRAPHQL_PARSE_FAILED',
    message: /2000 tokens/,
  },
  { name: 'aliased: 50 aliases of customer(id:)', body: { query: aliases(50) }, status: 400, code: 'OPERATION_LIMIT_EXCEEDED', message: /Aliases limit of 20 exceeded, found 50/ },
  {
    name: 'aliased: 5 aliases in a fragment spread 10 times',
    body: {
      query: `{ customer(id: "1") { ${Array.from({ length: 10 }, () => '...A').join(' ')} } } fragment A on Customer { ${Array.from({ length: 5 }, (_, i) => `x${i}: id`).join(' ')} }`,
    },
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    message: /Aliases limit/,
  },
  {
    name: 'directives: 30 @skip on one selection',
    body: { query: `{ customer(id: "1") { ${Array.from({ length: 30 }, (_, i) => `f${i}: id @skip(if: false)`).join(' ')} } }` },
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
  },
  {
    name: 'fragment cycle',
    body: { query: '{ customer(id: "1") { ...A } } fragment A on Customer { ...B } fragment B on Customer { ...A }' },
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: /within itself/,
  },
  { name: 'fragment bomb: 2^30 selections from 30 fragments', body: { query: fragmentBomb(30) }, status: 400, code: 'GRAPHQL_VALIDATION_FAILED', message: /too many selections/ },
  { name: 'fragment bomb: 2^20 selections from 20 fragments', body: { query: fragmentBomb(20) }, status: 400, code: 'OPERATION_LIMIT_EXCEEDED', message: /cost limit/ },
  {
    name: 'huge string: a 100 kB email literal',
    body: { query: `{ customer(email: "${'a'.repeat(100_000)}@example.com") { id } }` },
    status: 413,
    code: 'OPERATION_LIMIT_EXCEEDED',
    message: /Document size limit of 16384 bytes/,
  },
  {
    name: 'huge string: a 200 kB id in a variable',
    body: { query: 'query($id: ID) { customer(id: $id) { id } }', variables: { id: '9'.repeat(200_000) } },
    status: 400,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'huge string: a 200 kB email in a variable',
    body: { query: 'query($e: EmailAddress) { customer(email: $e) { id } }', variables: { e: `${'a'.repeat(200_000)}@example.com` } },
    status: 400,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'huge list: 5,000 ids inline',
    body: {
      query: `{ customers(ids: [${ids(5000)
        .map((id) => `"${id}"`)
        .join(',')}]) { id } }`,
    },
    status: 413,
    code: 'OPERATION_LIMIT_EXCEEDED',
  },
  {
    name: 'huge list: 5,000 ids in a variable',
    body: { query: 'query($ids: [ID!]) { customers(ids: $ids) { id commerce { purchases { orderCount } } } }', variables: { ids: ids(5000) } },
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    message: /cost limit of 10000 exceeded, found 15000/,
  },
  {
    name: 'huge list: 5,000 entity representations',
    body: {
      query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id commerce { purchases { orderCount } } } } }',
      variables: { r: ids(5000).map((id) => ({ __typename: 'Customer', id })) },
    },
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    message: /cost limit of 10000 exceeded, found 15000/,
  },
  {
    name: 'huge body: 20,000 entity representations (800 kB)',
    body: {
      query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id } } }',
      variables: { r: ids(20_000).map((id) => ({ __typename: 'Customer', id })) },
    },
    status: 413,
    code: 'BAD_REQUEST',
    message: /too large/,
  },
  {
    name: 'costly: 100 customers with 100 email activities each',
    body: { query: 'query($ids: [ID!]) { customers(ids: $ids) { emailMarketing { activity(first: 100) { type } } } }', variables: { ids: ids(100) } },
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    message: /cost limit of 10000 exceeded, found 10800/,
  },
  {
    name: 'nested JSON: a representation 20,000 objects deep',
    raw: `{${ENTITIES},"variables":{"r":[{"__typename":"Customer","id":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]}}`,
    status: 400,
    code: 'BAD_USER_INPUT',
    message: /representations\[0\]: expected a Customer key, id or email/,
  },
  {
    name: 'nested JSON: a representation of 100,000 nested arrays',
    raw: `{${ENTITIES},"variables":{"r":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}}`,
    status: 400,
    code: 'BAD_USER_INPUT',
    message: /expected an object with a __typename/,
  },
  {
    name: 'batched: two operations as a JSON array',
    body: [{ query: '{ customer(id: "1") { id } }' }, { query: '{ customer(id: "2") { id } }' }],
    status: 400,
    code: 'BAD_REQUEST',
    message: /batching disabled/,
  },
  {
    name: 'batched: two operations in one document, none named',
    body: { query: 'query A { customer(id: "1") { id } } query B { customer(id: "2") { id } }' },
    status: 400,
    code: 'OPERATION_RESOLUTION_FAILURE',
  },
  { name: 'introspection by a traits key', body: { query: '{ __schema { types { name fields { name } } } }' }, status: 403, code: 'FORBIDDEN' },
  { name: 'an unknown persisted query hash', body: { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } }, status: 200, code: 'PERSISTED_QUERY_NOT_FOUND' },
];

describe('hostile documents', () => {
  let server: TestServer;
  const upstreams = countingUpstreams();
  beforeAll(async () => {
    server = await startTestServer(db, upstreams, { security: testSecurity({ limits: { ...DEFAULT_LIMITS, maxDepth: 8 } }) });
  });
  afterAll(async () => server?.close());
  beforeEach(() => {
    server.reset();
    upstreams.reset();
  });

  it.each(HOSTILE)('$name: $status $code, with no upstream call', async ({ body, raw, status, code, message }) => {
    // As GraphQL clients ask; as application/json a request error would be 200 (test/server/graphql-over-http.test.ts).
    const accept = 'application/graphql-response+json';
    const response = await send(server.url, { body: raw ?? JSON.stringify(body), headers: { ...key('personalization'), accept } });
    expect(response.status).toBe(status);
    expect(response.json.errors?.[0]?.extensions?.code).toBe(code);
    if (message) expect(response.json.errors[0].message).toMatch(message);
    expect(response.json.data).toBeUndefined();
    expect(server.statements).toHaveLength(0);
    expect(upstreams.calls()).toBe(0);
  });

  it('still answers an ordinary document at the limits (20 aliases, 100 customers)', async () => {
    const twenty = await send(server.url, { body: JSON.stringify({ query: aliases(20) }), headers: key('personalization') });
    expect(twenty.status).toBe(200);
    const hundred = await send(server.url, {
      body: JSON.stringify({ query: 'query($ids: [ID!]) { customers(ids: $ids) { id commerce { purchases { orderCount } } } }', variables: { ids: ids(100) } }),
      headers: key('personalization'),
    });
    expect(hundred.status).toBe(200);
    expect(hundred.json.data.customers).toHaveLength(100);
  });
});

describe('per-client rate limits, weighted by cost', () => {
  const run = randomUUID().slice(0, 8);
  const policy = { costPerSecond: 10, burst: 30 };
  const greedy = mintApiKey(`greedy-${run}`, [Scope.Traits]);
  const modest = mintApiKey(`modest-${run}`, [Scope.Traits]);
  const twenty = `{ customers(ids: [${ids(20)
    .map((id) => `"${id}"`)
    .join(',')}]) { id } }`;

  async function servers(count: number, redisUrl?: string): Promise<TestServer[]> {
    return Promise.all(
      Array.from({ length: count }, () =>
        startTestServer(
          db,
          {},
          {
            security: testSecurity({
              apiKeys: [greedy.entry, modest.entry, ...Object.values(KEYS).map((k) => k.entry)],
              limits: { ...DEFAULT_LIMITS, maxCost: 30 },
              rateLimit: policy,
              ...(redisUrl && { redisUrl }),
            }),
          },
        ),
      ),
    );
  }

  it('answers 429 with Retry-After once a client has spent its budget, before any SQL, and not for other clients', async () => {
    const [server] = await servers(1);
    try {
      // 20 customers cost 20: more than a second's 10, so they come from the burst of 30.
      expect((await server!.query(twenty, {}, bearer(greedy.key))).status).toBe(200);
      server!.reset();
      const refused = await server!.query(twenty, {}, bearer(greedy.key));
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(3);
      expect(refused.body.errors).toEqual([
        {
          message: `Rate limit: this client has spent its query budget; retry in ${retryAfter} s.`,
          extensions: { code: 'RATE_LIMITED', retryAfterMs: retryAfter * 1000 },
        },
      ]);
      expect(server!.statements).toHaveLength(0);
      expect((await server!.query(twenty, {}, bearer(modest.key))).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 100));
      expect((await server!.query(twenty, {}, bearer(greedy.key))).status).toBe(200);
    } finally {
      await server!.close();
    }
  });

  it.runIf(process.env.REDIS_URL)('shares one budget between replicas through Redis', async () => {
    const replicas = await servers(2, process.env.REDIS_URL);
    try {
      expect((await replicas[0]!.query(twenty, {}, bearer(greedy.key))).status).toBe(200);
      const other = await replicas[1]!.query(twenty, {}, bearer(greedy.key));
      expect(other.status).toBe(429);
      expect(Number(other.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });
});

describe('persisted queries', () => {
  const operation = 'query Profile($id: ID!) { customer(id: $id) { id commerce { purchases { orderCount } } } }';
  const hash = sha256(operation);
  const manifest = new Map([[hash, operation]]);
  const person = personAt(world, 2);

  it('registers and runs automatic persisted queries (APQ) by default', async () => {
    const server = await startTestServer(db, {}, { security: testSecurity() });
    try {
      const extensions = { persistedQuery: { version: 1, sha256Hash: hash } };
      const variables = { id: String(person.customerId) };
      const first = await send(server.url, { body: JSON.stringify({ extensions, variables }), headers: key('personalization') });
      expect(first.json.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      const register = await send(server.url, { body: JSON.stringify({ query: operation, extensions, variables }), headers: key('personalization') });
      expect(register.json.data.customer.id).toBe(String(person.customerId));
      const byHash = await send(server.url, { body: JSON.stringify({ extensions, variables }), headers: key('personalization') });
      expect(byHash.json.data.customer.id).toBe(String(person.customerId));
      // A persisted query is checked like any other: scopes still apply.
      const analyst = await send(server.url, { body: JSON.stringify({ extensions, variables }), headers: key('analyst') });
      expect(analyst.json.errors[0].extensions.code).toBe('FORBIDDEN');
    } finally {
      await server.close();
    }
  });

  describe('in allow-list mode', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(db, {}, { security: testSecurity({ persistedQueries: 'allowlist', manifest }) });
    });
    afterAll(async () => server?.close());
    beforeEach(() => server.reset());

    const notInList = (response: Awaited<ReturnType<typeof send>>) => {
      expect(response.status).toBe(400);
      expect(response.json.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
      expect(server.statements).toHaveLength(0);
    };

    it('runs a registered operation by its hash, by POST and by GET', async () => {
      const extensions = { persistedQuery: { version: 1, sha256Hash: hash } };
      const variables = { id: String(person.customerId) };
      const post = await send(server.url, { body: JSON.stringify({ extensions, variables }), headers: key('personalization') });
      expect(post.json.data.customer.id).toBe(String(person.customerId));
      const query = new URLSearchParams({ extensions: JSON.stringify(extensions), variables: JSON.stringify(variables) });
      const get = await fetch(`${server.url}/graphql?${query.toString()}`, { headers: { ...key('personalization'), 'apollo-require-preflight': 'true' } });
      expect(((await get.json()) as any).data.customer.id).toBe(String(person.customerId));
    });

    it('refuses any other document, an unknown hash, and a registered hash sent with another document', async () => {
      notInList(await send(server.url, { body: JSON.stringify({ query: '{ customer(id: "1") { id } }' }), headers: key('personalization') }));
      notInList(await send(server.url, { body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }), headers: key('personalization') }));
      const other = '{ customer(id: "1") { id email } }';
      notInList(
        await send(server.url, {
          body: JSON.stringify({ query: other, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }),
          headers: key('personalization'),
        }),
      );
      // Registering through APQ is not possible either.
      notInList(
        await send(server.url, {
          body: JSON.stringify({ query: other, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(other) } } }),
          headers: key('personalization'),
        }),
      );
    });
  });
});
