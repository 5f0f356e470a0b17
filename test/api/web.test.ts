import { beforeEach, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
const demo = useDemoServer(world, { webHistoryDays: 60 });
beforeEach(() => demo.server.reset());

const WEB = `web(days: 60) {
  days lastSeenAt sessionCount pageViews averageSessionSeconds
  recentlyViewedProducts(first: 3) { productId name category price { amount currencyCode } lastViewedAt viewCount timeOnPageSeconds }
  topCategories(first: 2) { category views secondsSpent }
  cartActivity { productsAdded { productId quantity at } productsRemoved { productId } abandonedCheckouts { at value { amount } } }
  devices { type os browser sessions share }
  firstTouch { at source medium campaign referrer } lastTouch { at source }
  searches(first: 2) { query at }
}`;
const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

describe('Customer.web', () => {
  it('shows browsing that began before login, with devices sharing the sessions', async () => {
    const { body } = await demo.server.query(
      `{ customers(ids: ${JSON.stringify(ids(40))}) { id identities { analyticsUserId anonymousIds } consent { analytics { granted } } ${WEB} } }`,
    );
    expect(body.errors).toBeUndefined();
    // A customer whose newest consent answer withholds analytics has no browsing served, and only they.
    const withheld = body.data.customers.filter((c: any) => c.consent.analytics?.granted === false);
    expect(body.data.customers.filter((c: any) => c.web === null)).toEqual(withheld);
    const active = body.data.customers.filter((c: any) => c.web?.sessionCount > 0 && c.identities.anonymousIds.length > 0);
    expect(active.length).toBeGreaterThan(5);
    for (const customer of active) {
      expect(customer.identities.analyticsUserId).toBe(customer.id);
      const shares = customer.web.devices.reduce((sum: number, d: { share: number }) => sum + d.share, 0);
      expect(shares).toBeCloseTo(1, 5);
      expect(customer.web.firstTouch).not.toBeNull();
      expect(new Date(customer.web.lastSeenAt).getTime()).toBeLessThanOrEqual(TEST_AS_OF.getTime());
    }
  });

  it('resolves an anonymous id linked at login to the whole customer, and a stranger to null', async () => {
    const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(ids(40))}) { id identities { anonymousIds } } }`);
    const owner = body.data.customers.find((c: any) => c.identities.anonymousIds.length > 0);
    const anonymousId = owner.identities.anonymousIds[0];
    const found = await demo.server.query(`query($a: ID!) { a: customer(anonymousId: $a) { id } b: customer(anonymousId: "never-identified-1") { id } }`, { a: anonymousId });
    expect(found.body.data).toEqual({ a: { id: owner.id }, b: null });
  });

  it('runs one statement per field family whatever the number of customers', async () => {
    const counts: number[] = [];
    for (const n of [1, 10, 60]) {
      demo.server.reset();
      const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(ids(n))}) { ${WEB} } }`);
      expect(body.errors).toBeUndefined();
      counts.push(demo.server.statements.length);
    }
    // customers, consent, then summaries, viewed products, top categories, cart activity, devices, touches, searches.
    expect(counts).toEqual([9, 9, 9]);
  });

  it.each([0, 366])('refuses a window of %i days before any SQL runs', async (days) => {
    const { status, body } = await demo.server.query(`{ customer(id: "1") { web(days: ${days}) { sessionCount } } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({ message: `days: expected 1 to 365, got ${days}`, extensions: { code: 'BAD_USER_INPUT' } });
    expect(demo.server.statements).toHaveLength(0);
  });

  it('keeps answering the shop fields when the warehouse is missing', async () => {
    await demo.db.pool.query('ALTER SCHEMA web RENAME TO web_away');
    try {
      const { body } = await demo.server.query(`{ customer(id: "2") { id commerce { purchases { orderCount } } web { sessionCount } } }`);
      expect(body.data.customer).toMatchObject({ id: '2', commerce: { purchases: { orderCount: expect.any(Number) } }, web: null });
      expect(body.errors?.map((e) => [e.path?.join('.'), e.extensions?.code, e.extensions?.source])).toEqual([['customer.web', 'SOURCE_UNAVAILABLE', 'web']]);
    } finally {
      await demo.db.pool.query('ALTER SCHEMA web_away RENAME TO web');
    }
  });
});
