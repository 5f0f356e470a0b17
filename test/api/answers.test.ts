import { createHash } from 'node:crypto';
import { parse, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AnswerCache } from '../../cache/answers.ts';
import { personCacheKeys } from '../../cache/loaders.ts';
import { MemoryStore } from '../../cache/store.ts';
import { operationCost } from '../../server/auth/cost.ts';
import { DEFAULT_LIMITS } from '../../server/auth/limits.ts';
import { buildSchema } from '../../server/schema.ts';
import { ANSWERABLE_FIELDS } from '../../server/answers.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import type { MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { bearer, key, selfToken, testSecurity } from '../auth/helpers.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 361, customers: 40, asOf: TEST_AS_OF };
let db: TestDatabase;
let standIns: StandIns;
let hubspot: HubSpotStandIn;
let mailchimp: MailchimpStandIn;
let server: TestServer;
const store = new MemoryStore({ maxEntries: 10_000, maxBytes: 1 << 24 });
const answers = new AnswerCache({ maxEntries: 100, maxBytes: 1 << 20 });

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
  ({ hubspot, mailchimp } = standIns);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), { store, answers, security: testSecurity() });
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  hubspot.stats.reset();
  mailchimp.resetStats();
  server.reset();
});

const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).filter((p) => p.customerId !== null && p.crm && p.emailMarketing);
const PROFILE = `query Profile($id: ID!) {
  customer(id: $id) {
    id email
    commerce { purchases { orderCount totalSpent { amount currencyCode } } rfm { segment } abandonedCart { value { amount } } }
    crm { lifecycleStage }
    emailMarketing { status canEmail }
    web { sessionCount topCategories(first: 3) { category } }
  }
}`;
const ask = (id: number | null, role: Parameters<typeof key>[0] = 'support', query = PROFILE) => server.query(query, { id: String(id) }, key(role));
/** The audit lines the server wrote since the last reset, as objects. */
const auditLines = () => server.logs.map((line) => JSON.parse(line) as { audit?: Record<string, unknown> }).filter((line) => line.audit);

describe('a repeated query', () => {
  it('is answered from memory once every source was read from the shared cache: the same data, ages grown, the same audit line', async () => {
    const person = people[0]!;
    const before = answers.counts();
    const live = await ask(person.customerId);
    expect(live.body.errors).toBeUndefined();
    server.reset();
    const cached = await ask(person.customerId);
    expect(answers.counts()).toMatchObject({ stored: before.stored + 1, hits: before.hits });
    const executedAudit = auditLines();
    server.reset();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const remembered = await ask(person.customerId);
    expect(answers.counts().hits).toBe(before.hits + 1);

    expect(remembered.body.data).toEqual(cached.body.data);
    expect(remembered.body.data).toEqual(live.body.data);
    const sources = cached.body.extensions!.sources as Record<string, { status: string; maxAgeMs: number; keys: number; calls: number }>;
    const again = remembered.body.extensions!.sources as typeof sources;
    expect(Object.keys(again).sort()).toEqual(['commerce', 'crm', 'email', 'web']);
    for (const [source, report] of Object.entries(again)) {
      expect(report).toMatchObject({ status: 'cached', keys: sources[source]!.keys, calls: sources[source]!.calls, live: 0, upstreamMs: 0 });
      // Ages are the data's, not the answer's: they grew by the time between the two requests.
      expect(report.maxAgeMs).toBeGreaterThanOrEqual(sources[source]!.maxAgeMs + 15);
    }
    expect(remembered.headers.get('server-timing')!.split(', ').sort()).toEqual(['commerce', 'crm', 'email', 'web'].map((source) => `${source};dur=0;desc="cached"`));
    expect(server.statements).toEqual([]);
    const requestLines = server.logs.map((line) => JSON.parse(line) as { msg: string; remembered?: boolean }).filter((line) => line.msg === 'graphql request');
    expect(requestLines.map((line) => line.remembered)).toEqual([true]);
    expect(executedAudit.map((line) => line.audit)).toEqual([
      expect.objectContaining({ customerIds: [String(person.customerId)], fields: expect.arrayContaining(['Customer.email', 'Customer.commerce', 'CrmContact.lifecycleStage']) }),
    ]);
    expect(auditLines().map((line) => line.audit)).toEqual(executedAudit.map((line) => line.audit));
  });

  it('is not shared between callers whose access differs', async () => {
    const person = people[1]!;
    await ask(person.customerId, 'support');
    await ask(person.customerId, 'support');
    const before = answers.counts();
    const clear = await ask(person.customerId, 'support');
    expect(answers.counts().hits).toBe(before.hits + 1);
    // Without customer:read:pii the address is refused: the answer remembered for support is not this caller's.
    const refused = await ask(person.customerId, 'personalization');
    expect(clear.body.data.customer.email).toBe(person.email);
    expect(refused.body.data.customer.email).toBeNull();
    expect(refused.body.errors).toEqual([expect.objectContaining({ path: ['customer', 'email'], extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
    expect(answers.counts().hits).toBe(before.hits + 1);
  });

  it("is not shared between customers' own tokens asking the same document", async () => {
    const [a, b] = [people[6]!, people[7]!];
    const me = `{ me { id commerce { purchases { orderCount } } } }`;
    const tokens = await Promise.all([selfToken({ sub: String(a.customerId) }), selfToken({ sub: String(b.customerId) })]);
    const before = answers.counts().hits;
    for (let i = 0; i < 3; i++) {
      for (const [token, person] of [
        [tokens[0], a],
        [tokens[1], b],
      ] as const) {
        const { body } = await server.query(me, {}, bearer(token));
        expect(body.data.me.id).toBe(String(person.customerId));
      }
    }
    // The third round of each was answered from memory: each from its own.
    expect(answers.counts().hits - before).toBe(2);
  });

  it('runs again once an entry it was made from is evicted, and reads that source live', async () => {
    const person = people[2]!;
    await ask(person.customerId);
    await ask(person.customerId);
    const before = answers.counts();
    // What a HubSpot webhook, a change signal or forgetCustomer does: delete the person's keys.
    await store.delete(personCacheKeys({ email: person.email, customerId: String(person.customerId), contactId: person.crm!.contactId }).filter((k) => k.startsWith('crm:')));
    const after = await ask(person.customerId);
    expect(answers.counts()).toMatchObject({ invalid: before.invalid + 1, hits: before.hits });
    expect(after.body.extensions!.sources.crm).toMatchObject({ status: 'live', live: 1 });
    expect(after.body.extensions!.sources.commerce).toMatchObject({ status: 'cached' });
    expect(hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead).length).toBeGreaterThan(0);
  });

  it('leaves memory when forgetCustomer erases the person', async () => {
    const person = people[5]!;
    await ask(person.customerId);
    await ask(person.customerId);
    const size = answers.size;
    const { body } = await server.query(`mutation($e: EmailAddress!) { forgetCustomer(email: $e) { cleared } }`, { e: person.email }, key('admin'));
    expect(body.errors).toBeUndefined();
    expect(answers.size).toBe(size - 1);
  });

  it('is not remembered when a field is outside the answerable ones, or a read was live', async () => {
    const person = people[3]!;
    const withTraits = `query T($id: ID!) { customer(id: $id) { id web { sessionCount freshness { checkedAt } } } }`;
    const withOrders = `query O($id: ID!) { customer(id: $id) { id commerce { orders(first: 2) { edges { node { id } } } } } }`;
    const before = answers.counts();
    for (let i = 0; i < 3; i++) {
      for (const query of [withTraits, withOrders]) {
        const { body } = await ask(person.customerId, 'support', query);
        expect(body.errors).toBeUndefined();
      }
    }
    expect(answers.counts()).toEqual(before);
  });

  it('is not remembered with an error in it', async () => {
    const person = people[4]!;
    const before = answers.counts();
    const broken = `query B($id: ID!) { customer(id: $id) { id crm { lifecycleStage } } }`;
    hubspot.errorRate = 1;
    try {
      for (let i = 0; i < 3; i++) {
        const { body } = await ask(person.customerId, 'support', broken);
        expect(body.errors?.[0]?.extensions?.code).toMatch(/^SOURCE_/);
      }
    } finally {
      hubspot.errorRate = 0;
    }
    expect(answers.counts().stored).toBe(before.stored);
  });
});

describe('a remembered answer served before Apollo', () => {
  /** One /graphql request as sent, the response as received: status, the headers compared, the body's bytes. */
  async function raw(method: 'POST' | 'GET', id: number | null, headers: Record<string, string> = {}, extensions?: Record<string, unknown>) {
    const variables = { id: String(id) };
    const url =
      method === 'GET'
        ? `${server.url}/graphql?${new URLSearchParams({ query: PROFILE, variables: JSON.stringify(variables), ...(extensions && { extensions: JSON.stringify(extensions) }) }).toString()}`
        : `${server.url}/graphql`;
    const response = await fetch(url, {
      method,
      headers: { ...key('support'), ...(method === 'POST' ? { 'content-type': 'application/json' } : { 'apollo-require-preflight': 'true' }), ...headers },
      ...(method === 'POST' && { body: JSON.stringify({ query: PROFILE, variables, ...(extensions && { extensions }) }) }),
    });
    const text = await response.text();
    const head = Object.fromEntries(['content-type', 'cache-control', 'server-timing'].map((name) => [name, response.headers.get(name)]));
    // The ages are the data's: they grow between two answers.
    return { status: response.status, head, body: text.replace(/"maxAgeMs":\d+/g, '"maxAgeMs":0') };
  }

  it("writes what Apollo writes: the same bytes but the ages, the same headers, the content type each client's Accept negotiates", async () => {
    const person = people[8]!;
    await raw('POST', person.customerId);
    const executed = await raw('POST', person.customerId);
    const before = answers.counts();
    server.reset();
    // Before Apollo (a plain POST), then through Apollo's pipeline (a GET): both from memory.
    const early = await raw('POST', person.customerId);
    const throughApollo = await raw('GET', person.customerId);
    expect(answers.counts()).toMatchObject({ hits: before.hits + 2, stored: before.stored });
    expect(server.statements).toEqual([]);
    expect(early).toEqual(executed);
    expect(throughApollo).toEqual(executed);
    expect(executed.head).toEqual({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'server-timing': expect.stringContaining('desc="cached"') });
    for (const accept of ['*/*', 'application/json', 'application/graphql-response+json,application/json;q=0.9', 'application/graphql-response+json']) {
      const [first, second] = [await raw('POST', person.customerId, { accept }), await raw('GET', person.customerId, { accept })];
      expect(first).toEqual(second);
      expect(first.status).toBe(200);
    }
    expect(answers.counts().hits).toBe(before.hits + 10);
  });

  it('looks an answer up once per request, in front of Apollo, and remembers it under that key', async () => {
    // The document is known in front of Apollo once an answer was remembered for it.
    for (let i = 0; i < 3; i++) await ask(people[12]!.customerId);
    const person = people[13]!;
    const get = answers.get.bind(answers);
    let lookups = 0;
    answers.get = (...args) => {
      lookups++;
      return get(...args);
    };
    try {
      const before = answers.counts();
      for (const expected of [
        { stored: 0, hits: 0 },
        { stored: 1, hits: 0 },
        { stored: 1, hits: 1 },
      ]) {
        lookups = 0;
        const { body } = await ask(person.customerId);
        expect(body.errors).toBeUndefined();
        expect(lookups).toBe(1);
        expect(answers.counts()).toMatchObject({ stored: before.stored + expected.stored, hits: before.hits + expected.hits });
      }
    } finally {
      answers.get = get;
    }
  });

  it('leaves a persisted query to Apollo, which answers it from the same memory', async () => {
    const person = people[9]!;
    await ask(person.customerId);
    const executed = await raw('POST', person.customerId);
    const before = answers.counts();
    const sha256Hash = createHash('sha256').update(PROFILE).digest('hex');
    const persisted = await raw('POST', person.customerId, {}, { persistedQuery: { version: 1, sha256Hash } });
    expect(answers.counts().hits).toBe(before.hits + 1);
    expect(persisted).toEqual(executed);
  });

  it('leaves to Apollo a gateway asking for a trace, and an Accept header Apollo refuses', async () => {
    const person = people[11]!;
    await ask(person.customerId);
    await ask(person.customerId);
    const before = answers.counts();
    const traced = await server.query(PROFILE, { id: String(person.customerId) }, { ...key('support'), 'apollo-federation-include-trace': 'ftv1' });
    expect(typeof (traced.body.extensions as { ftv1?: unknown }).ftv1).toBe('string');
    // The trace needs the execution itself.
    expect(answers.counts().hits).toBe(before.hits);
    // Apollo negotiates the content type once it has the result, and refuses it here, as for any request.
    const refused = await raw('POST', person.customerId, { accept: 'text/html' });
    expect(refused.status).toBe(406);
  });

  it('charges the client once per request, and a refusal is answered by Apollo as its own', async () => {
    const schema = buildSchema();
    const document = parse(PROFILE);
    const operation = document.definitions[0] as OperationDefinitionNode;
    const person = people[10]!;
    const cost = Math.ceil(operationCost(schema, document, operation, { id: String(person.customerId) }, DEFAULT_LIMITS));
    // Four requests' worth of burst; the steady 1 a second never covers a request of this cost.
    const limited = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), {
      store: new MemoryStore({ maxEntries: 10_000, maxBytes: 1 << 24 }),
      answers: new AnswerCache({ maxEntries: 100, maxBytes: 1 << 20 }),
      security: testSecurity({ rateLimit: { costPerSecond: 1, burst: 4 * cost } }),
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const { status } = await limited.query(PROFILE, { id: String(person.customerId) }, key('support'));
        statuses.push(status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
      const lines = limited.logs
        .map((line) => JSON.parse(line) as { msg: string; remembered?: boolean; outcome?: string; status?: number })
        .filter((line) => line.msg === 'graphql request');
      expect(lines.map((line) => [line.outcome, line.status, line.remembered ?? false])).toEqual([
        ['ok', 200, false],
        ['ok', 200, false],
        ['ok', 200, true],
        ['ok', 200, true],
        ['rejected', 429, false],
      ]);
      limited.reset();
      const refused = await fetch(`${limited.url}/graphql`, {
        method: 'POST',
        headers: { ...key('support'), 'content-type': 'application/json' },
        body: JSON.stringify({ query: PROFILE, variables: { id: String(person.customerId) } }),
      });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toEqual({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) })] });
    } finally {
      await limited.close();
    }
  });
});

describe('the answerable fields', () => {
  it('each exists in the schema', () => {
    const schema = buildSchema();
    const missing = [...ANSWERABLE_FIELDS].filter((coordinate) => {
      const [type, field] = coordinate.split('.') as [string, string];
      const found = schema.getType(type);
      return !found || !('getFields' in found) || !(field in found.getFields());
    });
    expect(missing).toEqual([]);
  });
});
