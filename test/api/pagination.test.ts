import { describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ordersOf } from '../../sandbox/demo/shop.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 250, asOf: TEST_AS_OF };
const demo = useDemoServer(world);

const ORDERS = `query($id: ID!, $first: Int, $after: String) {
  customer(id: $id) { commerce { orders(first: $first, after: $after) {
    edges { cursor node { id placedAt } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }`;

/** Relay's page bounds for forward-only pages: items come before every page but the first. */
const relayBounds = (edges: Array<{ cursor: string }>, page: number) => ({
  hasPreviousPage: page > 0,
  startCursor: edges[0]!.cursor,
  endCursor: edges.at(-1)!.cursor,
});

describe('orders connection', () => {
  const person = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).find((p) => ordersOf(world, p).length >= 7)!;
  const expected = ordersOf(world, person)
    .map((o) => String(o.id))
    .reverse();

  it('pages through every order, newest first, without gaps or repeats', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const { body } = await demo.server.query(ORDERS, { id: String(person.customerId), first: 3, after });
      const { edges, pageInfo } = body.data.customer.commerce.orders;
      seen.push(...edges.map((e: { node: { id: string } }) => e.node.id));
      expect(pageInfo).toMatchObject(relayBounds(edges, page));
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(seen).toEqual(expected);
  });

  it('gives the same cursors for the same page', async () => {
    const variables = { id: String(person.customerId), first: 2 };
    const [a, b] = await Promise.all([demo.server.query(ORDERS, variables), demo.server.query(ORDERS, variables)]);
    expect(a.body.data).toEqual(b.body.data);
  });

  it.each([
    [{ first: 101 }, 'first: expected 1 to 100, got 101'],
    [{ first: 0 }, 'first: expected 1 to 100, got 0'],
    [{ after: 'bm90LWEtY3Vyc29y' }, 'after: not a cursor of this connection'],
  ])('refuses %o with BAD_USER_INPUT', async (args, message) => {
    const { body } = await demo.server.query(ORDERS, { id: String(person.customerId), ...args });
    expect(body.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' }, locations: [{ line: 2, column: 34 }] });
  });
});

const SEGMENT = `query($first: Int, $after: String, $filter: SegmentFilter) {
  customerSegment(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;

describe('customerSegment', () => {
  it('lists every customer once, in id order, across pages', async () => {
    const ids: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const { body } = await demo.server.query(SEGMENT, { first: 100, after });
      expect(body.errors).toBeUndefined();
      ids.push(...body.data.customerSegment.edges.map((e: { node: { id: string } }) => e.node.id));
      expect(body.data.customerSegment.pageInfo).toMatchObject(relayBounds(body.data.customerSegment.edges, page));
      if (!body.data.customerSegment.pageInfo.hasNextPage) break;
      after = body.data.customerSegment.pageInfo.endCursor;
    }
    expect(ids).toEqual(Array.from({ length: world.customers }, (_, i) => String(i + 1)));
  });

  it('caps first at 100 with a clear error, before any SQL runs', async () => {
    demo.server.reset();
    const { body } = await demo.server.query(SEGMENT, { first: 500 });
    expect(body.errors?.[0]).toMatchObject({ message: 'first: expected 1 to 100, got 500', extensions: { code: 'BAD_USER_INPUT' } });
    expect(demo.server.statements).toHaveLength(0);
  });

  it('refuses a spend threshold in another currency than the shop', async () => {
    const { body } = await demo.server.query(SEGMENT, { filter: { totalSpentAtLeast: { amount: '10', currencyCode: 'EUR' } } });
    expect(body.errors?.[0]).toMatchObject({
      message: 'filter.totalSpentAtLeast: expected an amount in USD (the shop currency), got EUR',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('returns only customers that match every criterion', async () => {
    const { body } = await demo.server.query(
      `{ customerSegment(first: 100, filter: { totalSpentAtLeast: { amount: "500", currencyCode: "USD" }, hasAbandonedCart: true }) {
          edges { node { commerce { purchases { totalSpent { amount } } abandonedCart { id } } } } } }`,
    );
    const nodes = body.data.customerSegment.edges.map((e: { node: unknown }) => e.node);
    expect(nodes.length).toBeGreaterThan(0);
    for (const node of nodes) {
      expect(Number(node.commerce.purchases.totalSpent.amount)).toBeGreaterThanOrEqual(500);
      expect(node.commerce.abandonedCart).not.toBeNull();
    }
  });
});
