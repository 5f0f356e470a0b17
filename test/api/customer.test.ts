import { beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ordersOf } from '../../sandbox/demo/shop.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 300, asOf: TEST_AS_OF };
const demo = useDemoServer(world);
beforeEach(() => demo.server.reset());

const PROFILE = `
  id email identities { commerceCustomerId email }
  commerce {
    customerId firstName lastName signedUpAt location { city countryCode }
    purchases { orderCount totalSpent { amount currencyCode } lastOrderAt topCategories(first: 2) { category } }
    rfm { recency frequency monetary segment }
    orders(first: 2) { edges { node { id total { amount } lineItems { quantity product { sku } } } } pageInfo { hasNextPage } }
    carts { id itemCount } abandonedCart { id }
  }`;

describe('Query.customer', () => {
  it('returns the whole profile by id, matching the demo world', async () => {
    const person = personAt(world, 4);
    const orders = ordersOf(world, person).filter((o) => o.status === 'completed');
    const { body } = await demo.server.query(`{ customer(id: "${person.customerId}") { ${PROFILE} } }`);
    expect(body.errors).toBeUndefined();
    const customer = body.data.customer;
    expect(customer.email).toBe(person.email);
    expect(customer.identities).toEqual({ commerceCustomerId: String(person.customerId), email: person.email });
    expect(customer.commerce.firstName).toBe(person.firstName);
    expect(customer.commerce.purchases.orderCount).toBe(orders.length);
    const total = orders.reduce((sum, o) => sum + o.totalCents, 0);
    expect(customer.commerce.purchases.totalSpent).toEqual({ amount: (total / 100).toFixed(2), currencyCode: 'USD' });
  });

  it('finds a customer by email whatever its case and surrounding spaces', async () => {
    const person = personAt(world, 7);
    const { body } = await demo.server.query(`query($e: EmailAddress!) { customer(email: $e) { id } }`, {
      e: person.email.toUpperCase(),
    });
    expect(body).toEqual({ data: { customer: { id: String(person.customerId) } }, extensions: { sources: expect.any(Object) } });
  });

  it('returns null, not an error, for keys no system knows', async () => {
    const { body } = await demo.server.query(`{ a: customer(id: "999999") { id } b: customer(email: "nobody@example.com") { id } }`);
    expect(body).toEqual({ data: { a: null, b: null }, extensions: { sources: expect.any(Object) } });
  });

  it.each([
    ['no argument', '{ customer { id } }', 'expected exactly one of id, email, hubspotContactId, anonymousId, got none'],
    ['both arguments', '{ customer(id: "1", email: "a@example.com") { id } }', 'expected exactly one of id, email, hubspotContactId, anonymousId, got id and email'],
    ['a non-numeric id', '{ customer(id: "1 OR 1=1") { id } }', 'id: expected a numeric customer id, got "1 OR 1=1"'],
  ])('rejects %s with BAD_USER_INPUT before any SQL runs', async (_, query, message) => {
    const { status, body } = await demo.server.query(query);
    expect(status).toBe(400);
    expect(body).toEqual({
      errors: [{ message, locations: [{ line: 1, column: 3 }], extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }],
    });
    expect(demo.server.statements).toHaveLength(0);
  });

  it('rejects a bad argument deep in the selection before any source is called', async () => {
    const { status, body } = await demo.server.query('{ customer(id: "1") { commerce { orders(first: 1000) { pageInfo { hasNextPage } } } } }');
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({ message: 'first: expected 1 to 100, got 1000', extensions: { code: 'BAD_USER_INPUT' } });
    expect(demo.server.statements).toHaveLength(0);
  });

  it('rejects a malformed email in the scalar, before any SQL runs', async () => {
    const { body } = await demo.server.query('{ customer(email: "not-an-email") { id } }');
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(demo.server.statements).toHaveLength(0);
  });

  it('echoes a request id and makes one up when none is given', async () => {
    const { headers } = await demo.server.query('{ customer(id: "1") { id } }');
    expect(headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('Query.customers', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
  const buyers = Array.from({ length: world.customers }, (_, i) => personAt(world, i))
    .filter((p) => ordersOf(world, p).some((o) => o.status === 'completed'))
    .map((p) => String(p.customerId));
  const query = `query($ids: [ID!]) { customers(ids: $ids) { ${PROFILE} } }`;

  it('answers in argument order with null for unknown keys, duplicates included', async () => {
    const { body } = await demo.server.query('{ customers(ids: ["3", "424242", "1", "3"]) { id } }');
    expect(body).toEqual({ data: { customers: [{ id: '3' }, null, { id: '1' }, { id: '3' }] }, extensions: { sources: expect.any(Object) } });
  });

  it('runs the same number of SQL statements for 1, 10 and 100 customers', async () => {
    await demo.server.query(query, { ids: buyers.slice(0, 1) }); // computes and caches the RFM boundaries
    const counts: number[] = [];
    for (const n of [1, 10, 100]) {
      demo.server.reset();
      const { body } = await demo.server.query(query, { ids: buyers.slice(0, n) });
      expect(body.errors).toBeUndefined();
      expect(body.data.customers).toHaveLength(n);
      counts.push(demo.server.statements.length);
    }
    // customers, purchase stats, order pages, line items, carts: one each, whatever the page size.
    expect(counts).toEqual([5, 5, 5]);
  });

  it('refuses more than 100 keys with a message that says how many came', async () => {
    const { body } = await demo.server.query(query, { ids: ids(101) });
    expect(body.errors?.[0]).toMatchObject({ message: 'ids: expected at most 100 keys, got 101', extensions: { code: 'BAD_USER_INPUT' } });
    expect(demo.server.statements).toHaveLength(0);
  });

  it('validates every id before loading any', async () => {
    const { body } = await demo.server.query('{ customers(ids: ["1", "2", "x"]) { id } }');
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(demo.server.statements).toHaveLength(0);
  });

  it('batches email keys into one statement', async () => {
    const emails = [1, 2, 3].map((i) => personAt(world, i).email);
    const { body } = await demo.server.query('query($e: [EmailAddress!]) { customers(emails: $e) { email } }', { e: emails });
    expect(body.data.customers.map((c: { email: string }) => c.email)).toEqual(emails);
    expect(demo.server.statements).toHaveLength(1);
  });
});
