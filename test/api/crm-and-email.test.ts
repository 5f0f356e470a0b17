import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../cache/store.ts';
import { personAt, type DemoPerson, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import type { MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 360, customers: 160, asOf: TEST_AS_OF };
let db: TestDatabase;
let standIns: StandIns;
let hubspot: HubSpotStandIn;
let mailchimp: MailchimpStandIn;
let server: TestServer;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world), startStandIns(world)]);
  ({ hubspot, mailchimp } = standIns);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 1000, extraProperties: ['loyalty_tier'] }));
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  server.reset();
  hubspot.stats.reset();
  Object.assign(hubspot, { hang: false, force429: null, errorRate: 0 });
  mailchimp.resetStats();
  Object.assign(mailchimp.knobs, { hang: false, force429: 0, latencyMs: 0 });
});

const customers = Array.from({ length: world.customers }, (_, i) => personAt(world, i));
const inBoth = customers.find((p) => p.crm?.companyIndex !== null && p.crm?.ownerId && p.emailMarketing)!;
const inNeither = customers.find((p) => !p.crm && !p.emailMarketing)!;
const ids = (people: DemoPerson[]) => people.map((p) => String(p.customerId));

describe('Customer.crm and Customer.emailMarketing', () => {
  it('read the same person from HubSpot and Mailchimp as from the shop', async () => {
    const { body } = await server.query(
      `query($e: EmailAddress!) { customer(email: $e) {
         identities { commerceCustomerId hubspotContactId mailchimpSubscriberHash }
         crm { id firstName lifecycleStage owner { firstName } company { name } properties(names: ["loyalty_tier"]) { name value } }
         emailMarketing { status canEmail memberRating tags { name } }
       } }`,
      { e: inBoth.email },
    );
    expect(body.errors).toBeUndefined();
    const { identities, crm, emailMarketing } = body.data.customer;
    expect(identities.hubspotContactId).toBe(inBoth.crm!.contactId);
    expect(identities.mailchimpSubscriberHash).toMatch(/^[0-9a-f]{32}$/);
    expect(crm).toMatchObject({ id: inBoth.crm!.contactId, firstName: inBoth.firstName, lifecycleStage: inBoth.crm!.lifecycleStage.toUpperCase() });
    expect(crm.owner.firstName).toEqual(expect.any(String));
    expect(crm.company.name).toEqual(expect.any(String));
    expect(crm.properties).toEqual([{ name: 'loyalty_tier', value: expect.any(String) }]);
    expect(emailMarketing).toMatchObject({ status: inBoth.emailMarketing!.status.toUpperCase(), memberRating: inBoth.emailMarketing!.memberRating });
    expect(emailMarketing.tags.map((t: { name: string }) => t.name)).toEqual(inBoth.emailMarketing!.tags);
  });

  it('are null, without errors, for a customer neither system knows', async () => {
    const { body } = await server.query(`{ customer(id: "${inNeither.customerId}") { id crm { id } emailMarketing { status } } }`);
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ customer: { id: String(inNeither.customerId), crm: null, emailMarketing: null } });
  });

  it('resolve a HubSpot contact id to the whole customer', async () => {
    const { body } = await server.query(`{ customer(hubspotContactId: "${inBoth.crm!.contactId}") { id email } }`);
    expect(body.data.customer).toEqual({ id: String(inBoth.customerId), email: inBoth.email });
  });
});

describe('upstream calls', () => {
  // Two fields of at most 100 keys each: one request's loads are batched together.
  const query = `query($a: [ID!], $b: [ID!]) {
    a: customers(ids: $a) { id crm { lifecycleStage } emailMarketing { canEmail } }
    b: customers(ids: $b) { id crm { lifecycleStage } emailMarketing { canEmail } } }`;

  it.each([
    [1, [1]],
    [100, [100]],
    [150, [100, 50]],
  ])('reads %i customers from HubSpot in batches of %j, and never reads the activity feed unasked', async (n, batches) => {
    const people = ids(customers.slice(0, n));
    const { body } = await server.query(query, { a: people.slice(0, 100), b: people.slice(100) });
    expect(body.errors).toBeUndefined();
    expect(hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual(batches);
    expect(mailchimp.stats.byEndpoint.member).toBe(n);
    expect(mailchimp.stats.byEndpoint.activity).toBe(0);
    expect(mailchimp.stats.peakInFlight).toBeLessThanOrEqual(10);
  });

  it('refuses a property outside the allow-list before calling anyone', async () => {
    const { status, body } = await server.query(`{ customer(id: "1") { crm { properties(names: ["hs_analytics_source"]) { value } } } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({
      message: 'names: expected properties from the allow-list (loyalty_tier), got hs_analytics_source',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(hubspot.stats.total).toBe(0);
    expect(server.statements).toHaveLength(0);
  });

  it('reads the activity feed only for members whose activity is selected', async () => {
    const { body } = await server.query(`{ customer(email: "${inBoth.email}") { emailMarketing { activity(first: 5, types: [OPEN, CLICK]) { type at } lastOpenedAt } } }`);
    expect(body.errors).toBeUndefined();
    for (const entry of body.data.customer.emailMarketing.activity) expect(['OPEN', 'CLICK']).toContain(entry.type);
    expect(mailchimp.stats.byEndpoint.activity).toBe(2); // the feed asked for, and the latest open
  });
});

describe('email activity on a page of 100', () => {
  let cachedServer: TestServer;
  beforeAll(async () => {
    cachedServer = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), {
      store: new MemoryStore({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 }),
    });
  });
  afterAll(() => cachedServer?.close());

  const page = customers.slice(0, 100);
  const members = page.filter((p) => p.emailMarketing);
  const query = `query($ids: [ID!]) { customers(ids: $ids) { id emailMarketing { lastOpenedAt } } }`;
  const limitedAt = (people: DemoPerson[]) => people.map((p) => ['customers', page.indexOf(p), 'emailMarketing', 'lastOpenedAt']);
  const lastOpened = (body: GraphQLResponse['body'], people: DemoPerson[]) => people.map((p) => body.data.customers[page.indexOf(p)].emailMarketing.lastOpenedAt);

  it('reads at most 20 feeds, answers the rest RESULT_LIMITED, and serves the read ones from the cache next time', async () => {
    expect(members.length).toBeGreaterThan(40);
    const first = await cachedServer.query(query, { ids: ids(page) });
    expect(mailchimp.stats.byEndpoint.activity).toBe(20);
    expect(first.body.errors?.map((e) => e.path)).toEqual(limitedAt(members.slice(20)));
    expect(first.body.errors?.[0]).toEqual({
      message: 'email activity is read for at most 20 members per request beyond those cached: select it on fewer customers, or repeat the request for the rest',
      locations: [expect.any(Object)],
      path: limitedAt(members.slice(20, 21))[0],
      extensions: { code: 'RESULT_LIMITED', source: 'email', limit: 20 },
    });
    expect(first.body.data.customers.every((c: { emailMarketing: unknown }, i: number) => (c.emailMarketing === null) === !page[i]!.emailMarketing)).toBe(true);

    mailchimp.resetStats();
    const second = await cachedServer.query(query, { ids: ids(page) });
    // The first 20 come from the cache without counting; the next 20 are read.
    expect(mailchimp.stats.byEndpoint.activity).toBe(20);
    expect(second.body.errors?.map((e) => e.path)).toEqual(limitedAt(members.slice(40)));
    expect(lastOpened(second.body, members.slice(0, 20))).toEqual(lastOpened(first.body, members.slice(0, 20)));

    mailchimp.resetStats();
    const cachedOnly = await cachedServer.query(query, { ids: ids(members.slice(0, 40)) });
    expect(cachedOnly.body.errors).toBeUndefined();
    expect(mailchimp.stats.byEndpoint.activity ?? 0).toBe(0);
  });
});

describe('when an upstream fails', () => {
  const query = `{ customer(id: "${inBoth.customerId}") { id commerce { purchases { orderCount } } crm { id } emailMarketing { status } } }`;

  it('gives SOURCE_TIMEOUT on the hanging source only', async () => {
    hubspot.hang = true;
    mailchimp.knobs.hang = true;
    const { body } = await server.query(query);
    expect(body.data.customer).toMatchObject({ crm: null, emailMarketing: null, commerce: { purchases: { orderCount: expect.any(Number) } } });
    expect(body.errors?.map((e) => [e.path?.join('.'), e.extensions?.code, e.extensions?.source]).sort()).toEqual([
      ['customer.crm', 'SOURCE_TIMEOUT', 'crm'],
      ['customer.emailMarketing', 'SOURCE_TIMEOUT', 'email'],
    ]);
  });

  // Last: HubSpot's 429s leave the CRM source cooling down as a whole, as they should.
  it('keeps answering the rest when HubSpot is rate limited past the budget', async () => {
    hubspot.force429 = { times: 'always', policy: 'TEN_SECONDLY_ROLLING' };
    const { body } = await server.query(query);
    expect(body.data.customer).toMatchObject({ id: String(inBoth.customerId), crm: null, emailMarketing: { status: expect.any(String) } });
    expect(body.data.customer.commerce.purchases.orderCount).toEqual(expect.any(Number));
    expect(body.errors).toEqual([expect.objectContaining({ path: ['customer', 'crm'], extensions: expect.objectContaining({ code: 'RATE_LIMITED', source: 'crm' }) })]);
  });
});
