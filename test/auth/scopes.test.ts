import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoPerson, type DemoWorld } from '../../sandbox/demo/people.ts';
import { mask } from '../../server/auth/masking.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';
import { bearer, key, selfToken, testSecurity } from './helpers.ts';

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world), startStandIns(world)]);
  server = await startTestServer(db, standIns.sources(), { security: testSecurity() });
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  server.reset();
  standIns.hubspot.stats.reset();
  standIns.mailchimp.resetStats();
});

const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i));
/** In the CRM and the email audience, so every representative field has a value. */
const subject = people.find((p) => p.crm && p.emailMarketing && p.phone)!;
const other = people.find((p) => p !== subject && p.crm)!;

/** Representative fields: where they are in the response, what they are, and the person's value. */
const FIELDS: ReadonlyArray<{ path: string[]; kind: 'trait' | Parameters<typeof mask>[0]; value: (p: DemoPerson) => unknown }> = [
  { path: ['id'], kind: 'trait', value: (p) => String(p.customerId) },
  { path: ['identities', 'hubspotContactId'], kind: 'trait', value: (p) => p.crm!.contactId },
  { path: ['commerce', 'signupChannel'], kind: 'trait', value: (p) => p.signupChannel },
  { path: ['commerce', 'location', 'countryCode'], kind: 'trait', value: (p) => p.countryCode },
  { path: ['crm', 'lifecycleStage'], kind: 'trait', value: (p) => p.crm!.lifecycleStage.toUpperCase() },
  { path: ['emailMarketing', 'memberRating'], kind: 'trait', value: (p) => p.emailMarketing!.memberRating },
  { path: ['email'], kind: 'email', value: (p) => p.email },
  { path: ['identities', 'email'], kind: 'email', value: (p) => p.email },
  { path: ['commerce', 'firstName'], kind: 'name', value: (p) => p.firstName },
  { path: ['commerce', 'lastName'], kind: 'name', value: (p) => p.lastName },
  { path: ['commerce', 'phone'], kind: 'phone', value: (p) => p.phone },
  { path: ['commerce', 'location', 'city'], kind: 'initial', value: (p) => p.city },
  { path: ['commerce', 'location', 'postalCode'], kind: 'postal', value: (p) => p.postalCode },
  { path: ['crm', 'firstName'], kind: 'name', value: (p) => p.firstName },
  { path: ['emailMarketing', 'subscriberHash'], kind: 'hash', value: (p) => createHash('md5').update(p.email).digest('hex') },
];

const SELECTION = `
  id email
  identities { email hubspotContactId }
  commerce { firstName lastName phone signupChannel location { city postalCode countryCode } }
  crm { firstName lifecycleStage }
  emailMarketing { subscriberHash memberRating }`;

type Expect = 'value' | 'masked' | 'forbidden';

/** Checks every representative field of one customer in a response: its value, its mask, or null with FORBIDDEN. */
function expectFields(response: GraphQLResponse, at: Array<string | number>, person: DemoPerson, expected: (kind: string) => Expect) {
  const customer = at.reduce((node: any, step) => node?.[step], response.body.data);
  for (const { path, kind, value } of FIELDS) {
    const got = path.reduce((node: any, step) => node?.[step], customer);
    const want = expected(kind);
    const where = [...at, ...path].join('.');
    if (want === 'value') expect(got, where).toEqual(value(person));
    if (want === 'masked') expect(got, where).toEqual(mask(kind as Parameters<typeof mask>[0], value(person)));
    if (want === 'forbidden') {
      expect(got, where).toBeNull();
      const error = response.body.errors?.find((e) => e.path?.join('.') === [...at, ...path].join('.'));
      expect(error?.extensions?.code, where).toBe('FORBIDDEN');
    }
  }
}

const byId = (person: DemoPerson) => `{ customer(id: "${person.customerId}") { ${SELECTION} } }`;

describe('the role-by-field matrix', () => {
  it('customer:read:traits (personalization) reads traits and gets FORBIDDEN for every identifier', async () => {
    const response = await server.query(byId(subject), {}, key('personalization'));
    expect(response.status).toBe(200);
    expectFields(response, ['customer'], subject, (kind) => (kind === 'trait' ? 'value' : 'forbidden'));
    expect(response.body.errors).toHaveLength(FIELDS.filter((f) => f.kind !== 'trait').length);
  });

  it('customer:read:traits + customer:read:pii (support) reads everything in the clear', async () => {
    const response = await server.query(byId(subject), {}, key('support'));
    expect(response.body.errors).toBeUndefined();
    expectFields(response, ['customer'], subject, () => 'value');
  });

  it('segments:read (analyst) pages through segments with identifiers masked', async () => {
    const response = await server.query(`{ customerSegment(first: 5) { edges { node { ${SELECTION} } } } }`, {}, key('analyst'));
    expect(response.body.errors).toBeUndefined();
    const edges = response.body.data.customerSegment.edges;
    expect(edges).toHaveLength(5);
    edges.forEach((edge: { node: { id: string } }, i: number) => {
      const person = personAt(world, Number(edge.node.id) - 1);
      // Not everyone is in the CRM or the audience: check the fields of those who are.
      if (!person.crm || !person.emailMarketing) return;
      expectFields(response, ['customerSegment', 'edges', i, 'node'], person, (kind) => (kind === 'trait' ? 'value' : 'masked'));
    });
    expect(edges[0].node.email).toMatch(/^[a-z]\*\*\*@example\.(com|net|org)$/);
  });

  it('segments:read + customer:read:pii reads segment identifiers in the clear', async () => {
    const response = await server.query(`{ customerSegment(first: 3) { edges { node { id email commerce { firstName } } } } }`, {}, key('analystWithPii'));
    expect(response.body.errors).toBeUndefined();
    for (const { node } of response.body.data.customerSegment.edges) {
      const person = personAt(world, Number(node.id) - 1);
      expect(node).toEqual({ id: node.id, email: person.email, commerce: { firstName: person.firstName } });
    }
  });

  it('segments:read alone cannot look customers up by key', async () => {
    const response = await server.query(byId(subject), {}, key('analyst'));
    expect(response.body.data).toEqual({ customer: null });
    expect(response.body.errors).toEqual([
      expect.objectContaining({
        message: 'Forbidden: Query.customer needs customer:read:traits or customer:read:self.',
        path: ['customer'],
        extensions: { code: 'FORBIDDEN' },
      }),
    ]);
    expect(server.statements).toHaveLength(0);
  });

  it('customer:read:traits cannot list segments, and the rest of the operation still answers', async () => {
    const response = await server.query(`{ customer(id: "${subject.customerId}") { id } customerSegment(first: 2) { edges { cursor } } }`, {}, key('personalization'));
    expect(response.body.data).toEqual({ customer: { id: String(subject.customerId) }, customerSegment: null });
    expect(response.body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['customerSegment'], 'FORBIDDEN']]);
  });

  it('admin alone reads no customer, and only admin may forget one', async () => {
    const read = await server.query(byId(subject), {}, key('admin'));
    expect(read.body.data).toEqual({ customer: null });
    expect(read.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const forget = `mutation($e: EmailAddress!) { forgetCustomer(email: $e) { email } }`;
    const refused = await server.query(forget, { e: subject.email }, key('support'));
    expect(refused.body.errors?.[0]).toMatchObject({ path: ['forgetCustomer'], extensions: { code: 'FORBIDDEN' } });
    const done = await server.query(forget, { e: subject.email }, key('admin'));
    expect(done.body.data).toEqual({ forgetCustomer: { email: subject.email } });
  });

  it('a customer:read:self token reads what a storefront shows its own customer, as `me` and by id; internal labels are FORBIDDEN', async () => {
    const token = await selfToken({ sub: String(subject.customerId) });
    for (const [query, root] of [
      [`{ me { ${SELECTION} } }`, 'me'],
      [byId(subject), 'customer'],
    ] as const) {
      const response = await server.query(query, {}, bearer(token));
      expect(response.body.data, root).toEqual({
        [root]: {
          id: String(subject.customerId),
          email: subject.email,
          identities: { email: subject.email, hubspotContactId: null },
          commerce: {
            firstName: subject.firstName,
            lastName: subject.lastName,
            phone: subject.phone,
            signupChannel: null,
            location: { city: subject.city, postalCode: subject.postalCode, countryCode: subject.countryCode },
          },
          crm: null,
          emailMarketing: { subscriberHash: null, memberRating: null },
        },
      });
      const refused = response.body.errors?.map((e) => [e.path?.join('.'), e.extensions?.code]);
      expect(refused?.sort(), root).toEqual(
        [
          [`${root}.identities.hubspotContactId`, 'FORBIDDEN'],
          [`${root}.commerce.signupChannel`, 'FORBIDDEN'],
          [`${root}.crm`, 'FORBIDDEN'],
          [`${root}.emailMarketing.subscriberHash`, 'FORBIDDEN'],
          [`${root}.emailMarketing.memberRating`, 'FORBIDDEN'],
        ].sort(),
      );
    }
    // The CRM contact was never read for it.
    expect(standIns.hubspot.stats.total).toBe(0);
  });

  it('`me` needs a self token: an API key gets FORBIDDEN', async () => {
    const response = await server.query('{ me { id } }', {}, key('support'));
    expect(response.body.data).toEqual({ me: null });
    expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('cross-customer access with a frontend token', () => {
  const existing = other;
  const missing = '999999';
  let token: string;
  beforeAll(async () => {
    token = await selfToken({ sub: String(subject.customerId) });
  });

  const cases: Array<[string, (id: string, email: string) => string]> = [
    ['customer(id:)', (id) => `{ customer(id: "${id}") { id email commerce { firstName } } }`],
    ['customer(email:)', (_, email) => `{ customer(email: "${email}") { id } }`],
    ['customer(hubspotContactId:)', (id) => `{ customer(hubspotContactId: "70000000${id}") { id } }`],
    ['customers(ids:)', (id) => `{ customers(ids: ["${id}"]) { id } }`],
    ['customers(emails:)', (_, email) => `{ customers(emails: ["${email}"]) { id } }`],
    ['_entities by id', (id) => `{ _entities(representations: [{ __typename: "Customer", id: "${id}" }]) { ... on Customer { id } } }`],
    ['_entities by email', (_, email) => `{ _entities(representations: [{ __typename: "Customer", email: "${email}" }]) { ... on Customer { id } } }`],
    ['customerSegment', () => '{ customerSegment(first: 1) { edges { node { id } } } }'],
  ];

  it.each(cases)('%s: another customer and a customer who does not exist get the same FORBIDDEN, with no upstream call', async (_, query) => {
    const a = await server.query(query(String(existing.customerId), existing.email), {}, bearer(token));
    const b = await server.query(query(missing, 'nobody.at.all@example.com'), {}, bearer(token));
    expect(a.status).toBe(200);
    expect(a.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect({ ...a.body, extensions: undefined }).toEqual({ ...b.body, extensions: undefined });
    expect(server.statements).toHaveLength(0);
    expect(standIns.hubspot.stats.total).toBe(0);
    expect(standIns.mailchimp.stats.requests).toBe(0);
  });

  it('answers FORBIDDEN only at the foreign positions of a list', async () => {
    const response = await server.query(`{ customers(ids: ["${subject.customerId}", "${existing.customerId}", "${missing}"]) { id } }`, {}, bearer(token));
    expect(response.body.data).toEqual({ customers: [{ id: String(subject.customerId) }, null, null] });
    expect(response.body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['customers', 1], 'FORBIDDEN'],
      [['customers', 2], 'FORBIDDEN'],
    ]);
    // Only the token's own customer was read.
    expect(server.statements).toHaveLength(1);
  });

  it('a token bound to a customer that does not exist reads nothing', async () => {
    const ghost = await selfToken({ sub: missing });
    const response = await server.query('{ me { id email } }', {}, bearer(ghost));
    expect(response.body).toMatchObject({ data: { me: null } });
    expect(response.body.errors).toBeUndefined();
  });
});

describe('introspection', () => {
  it.each([
    ['segments:read', 'analyst', 200],
    ['admin', 'admin', 200],
    ['customer:read:traits', 'personalization', 403],
  ] as const)('is %s: %s', async (_, role, status) => {
    for (const query of ['{ __schema { queryType { name } } }', '{ __type(name: "Customer") { name } }', '{ _service { sdl } }']) {
      const response = await server.query(query, {}, key(role));
      expect(response.status, query).toBe(status);
      if (status === 403) expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      else expect(response.body.errors).toBeUndefined();
    }
  });

  it('is refused to a self token, while __typename stays open', async () => {
    const token = await selfToken({ sub: String(subject.customerId) });
    expect((await server.query('{ __schema { types { name } } }', {}, bearer(token))).status).toBe(403);
    expect((await server.query('{ __typename }', {}, bearer(token))).body).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('the audit log', () => {
  it('writes one line per request that read personal data: client, customer ids, fields, never values', async () => {
    await server.query(`{ customers(ids: ["${subject.customerId}", "${other.customerId}"]) { ${SELECTION} } }`, {}, key('personalization'));
    const lines = server.logs.map((line) => JSON.parse(line)).filter((line) => line.audit);
    expect(lines).toHaveLength(1);
    const { audit } = lines[0];
    expect(audit).toMatchObject({ client: 'personalization', kind: 'api-key', customerCount: 2 });
    expect(audit.customerIds.sort()).toEqual([String(subject.customerId), String(other.customerId)].sort());
    expect(audit.fields).toEqual(expect.arrayContaining(['Query.customers', 'Customer.id', 'Customer.commerce', 'Customer.crm']));
    expect(audit.denied).toEqual(expect.arrayContaining(['Customer.email', 'CommerceProfile.firstName', 'CrmContact.firstName']));
    expect(lines[0].requestId).toEqual(expect.any(String));
  });

  it('names the masked fields of an analyst', async () => {
    await server.query('{ customerSegment(first: 2) { edges { node { id email } } } }', {}, key('analyst'));
    const { audit } = server.logs.map((line) => JSON.parse(line)).find((line) => line.audit);
    expect(audit).toMatchObject({ client: 'analyst', masked: ['Customer.email'] });
  });

  it('never contains the personal values it served: scanned for every identifier of the people read', async () => {
    const token = await selfToken({ sub: String(subject.customerId) });
    await server.query(`{ me { ${SELECTION} } }`, {}, bearer(token));
    await server.query(`{ customers(ids: ["${subject.customerId}", "${other.customerId}"]) { ${SELECTION} } }`, {}, key('support'));
    await server.query(`query($e: EmailAddress!) { customer(email: $e) { id } }`, { e: other.email }, key('support'));
    await server.query(`{ customerSegment(first: 20) { edges { node { ${SELECTION} } } } }`, {}, key('analyst'));
    await server.query(`{ customer(email: "${other.email}") { id } }`, {}, bearer('c360_not-a-key'));
    // Without each line's own time and process fields: a 5-digit postal code can be a run of the
    // clock's milliseconds (a false alarm the scan once raised).
    const log = server.logs
      .map((line) => {
        const { time: _, pid: __, ...rest } = JSON.parse(line) as Record<string, unknown>;
        return JSON.stringify(rest);
      })
      .join('\n');
    expect(log).toContain('personal data access');
    for (const person of [subject, other, ...people.slice(0, 20)]) {
      for (const value of [person.email, person.firstName, person.lastName, person.phone, person.postalCode, person.email.split('@')[0]!]) {
        expect(log, `log line leaks ${value}`).not.toContain(value);
      }
    }
    expect(log).not.toContain(token);
  });
});
