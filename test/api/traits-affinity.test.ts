import { beforeEach, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
const demo = useDemoServer(world, { webHistoryDays: 60 });
beforeEach(() => demo.server.reset());

const EVIDENCE = 'evidence { productViews secondsOnPage cartAdds purchases }';
const AFFINITIES = `traits { affinities(days: 60) {
  categories(first: 10) { category score preferredTier ${EVIDENCE} }
  priceTiers { tier score ${EVIDENCE} }
  days halfLifeDays browsingConsidered freshness { asOf inputs { source data readAt } }
} }`;
const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
/** The warehouse statement of the browsing evidence and the shop statement of the purchases. */
const evidenceStatements = () => ({
  web: demo.server.statements.filter((sql) => /product_added/.test(sql) && /timed_seconds/.test(sql)).length,
  shop: demo.server.statements.filter((sql) => /make_interval/.test(sql) && /order_items/.test(sql)).length,
});

describe('Traits.affinities', () => {
  it('scores categories and price tiers as shares of the evidence, which matches what the profile serves', async () => {
    const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(ids(40))}) {
      id consent { analytics { granted } } web(days: 60) { topCategories(first: 10) { category views secondsSpent } } ${AFFINITIES} } }`);
    expect(body.errors).toBeUndefined();
    const customers = body.data.customers as Array<any>;
    const scored = customers.filter((c) => c.traits.affinities !== null);
    expect(scored.length).toBeGreaterThan(10);
    for (const customer of scored) {
      const affinities = customer.traits.affinities;
      expect(affinities).toMatchObject({ days: 60, halfLifeDays: 14, browsingConsidered: customer.consent.analytics?.granted !== false });
      const scores = affinities.categories.map((c: any) => c.score);
      expect(sum(scores)).toBeCloseTo(1, 9);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
      if (affinities.priceTiers.length > 0) expect(sum(affinities.priceTiers.map((t: any) => t.score))).toBeCloseTo(1, 9);
      // Views and seconds per category are the same facts as web.topCategories over the same window.
      const browsed = affinities.categories.filter((c: any) => c.evidence.productViews > 0);
      const served = customer.web?.topCategories ?? [];
      expect(browsed.map((c: any) => [c.category, c.evidence.productViews]).sort()).toEqual(served.map((c: any) => [c.category, c.views]).sort());
      for (const category of browsed) {
        expect(category.evidence.secondsOnPage).toBeCloseTo(served.find((c: any) => c.category === category.category).secondsSpent, 6);
      }
      expect(affinities.freshness.inputs.map((i: any) => `${i.source}:${i.data}`).sort()).toEqual(
        ['COMMERCE:completed orders', 'COMMERCE:price tiers', 'WEB:analytics consent', ...(affinities.browsingConsidered ? ['WEB:product views and cart additions'] : [])].sort(),
      );
      expect(Date.parse(affinities.freshness.asOf)).toBeLessThanOrEqual(Date.now());
    }
    // Each kind of evidence occurs, and the tiers tell apart what the customers lean to.
    const evidence = scored.flatMap((c) => c.traits.affinities.categories.map((a: any) => a.evidence));
    for (const kind of ['productViews', 'cartAdds', 'purchases']) expect(evidence.some((e: any) => e[kind] > 0)).toBe(true);
    expect(new Set(scored.flatMap((c) => c.traits.affinities.priceTiers.map((t: any) => t.tier)))).toEqual(new Set(['BUDGET', 'MID', 'PREMIUM']));
  });

  it('leaves browsing out for a customer whose analytics consent withholds it, and says so', async () => {
    const customers: Array<any> = [];
    for (const page of [ids(120).slice(0, 40), ids(120).slice(40, 80), ids(120).slice(80)]) {
      const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(page)}) { id consent { analytics { granted } } ${AFFINITIES} } }`);
      expect(body.errors).toBeUndefined();
      customers.push(...body.data.customers);
    }
    const withheld = customers.filter((c) => c.consent.analytics?.granted === false);
    expect(withheld.length).toBeGreaterThan(0);
    for (const customer of withheld) {
      const affinities = customer.traits.affinities;
      if (affinities === null) continue; // nothing bought in the window either
      expect(affinities.browsingConsidered).toBe(false);
      for (const c of affinities.categories) expect(c.evidence).toMatchObject({ productViews: 0, secondsOnPage: 0, cartAdds: 0 });
    }
    expect(withheld.some((c) => c.traits.affinities !== null)).toBe(true);
  });

  it('returns the first categories asked for, and reads one statement per source whatever the number of customers', async () => {
    await demo.server.query(`{ customer(id: "1") { ${AFFINITIES} } }`); // the price tiers, once per process
    const counts: Array<{ web: number; shop: number; all: number }> = [];
    for (const n of [1, 10, 60]) {
      demo.server.reset();
      const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(ids(n))}) { traits { affinities { categories(first: 2) { category } } } } }`);
      expect(body.errors).toBeUndefined();
      for (const c of body.data.customers) expect(c.traits.affinities?.categories.length ?? 0).toBeLessThanOrEqual(2);
      counts.push({ ...evidenceStatements(), all: demo.server.statements.length });
    }
    // customers, consent, browsing evidence, purchase evidence.
    expect(counts).toEqual([1, 2, 3].map(() => ({ web: 1, shop: 1, all: 4 })));
  });

  it.each([
    ['affinities(days: 0) { days }', 'days: expected 1 to 365, got 0'],
    ['affinities(days: 366) { days }', 'days: expected 1 to 365, got 366'],
    ['affinities { categories(first: 0) { category } }', 'first: expected 1 to 100, got 0'],
    ['affinities { categories(first: 101) { category } }', 'first: expected 1 to 100, got 101'],
  ])('refuses %s before any SQL runs', async (field, message) => {
    const { status, body } = await demo.server.query(`{ customer(id: "1") { traits { ${field} } } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' } });
    expect(demo.server.statements).toHaveLength(0);
  });

  it('scores an anonymous browser from its own browsing alone, with one warehouse statement and no shop statement', async () => {
    const { rows } = await demo.db.pool.query<{ anonymous_id: string }>(`
      SELECT v.anonymous_id FROM web.product_viewed v
       WHERE v.user_id IS NULL AND NOT EXISTS (SELECT 1 FROM web.identifies i WHERE i.anonymous_id = v.anonymous_id)
       GROUP BY v.anonymous_id ORDER BY count(*) DESC, v.anonymous_id LIMIT 1`);
    const anonymousId = rows[0]!.anonymous_id;
    await demo.server.query('{ customer(id: "1") { traits { affinities { days } } } }'); // the price tiers, once per process
    demo.server.reset();
    const { body } = await demo.server.query(`{ visitor(anonymousId: "${anonymousId}") {
      __typename consent { analytics { granted } } web(days: 60) { topCategories(first: 10) { category views } }
      ... on AnonymousVisitor { traits { affinities(days: 60) { categories(first: 10) { category score ${EVIDENCE} } days browsingConsidered freshness { inputs { source data } } } } }
    } }`);
    expect(body.errors).toBeUndefined();
    const visitor = body.data.visitor;
    expect(visitor.__typename).toBe('AnonymousVisitor');
    expect(visitor.consent.analytics?.granted).not.toBe(false);
    const affinities = visitor.traits.affinities;
    expect(affinities).toMatchObject({ days: 60, browsingConsidered: true });
    expect(sum(affinities.categories.map((c: any) => c.score))).toBeCloseTo(1, 9);
    for (const category of affinities.categories) expect(category.evidence.purchases).toBe(0);
    const viewed = Object.fromEntries(visitor.web.topCategories.map((c: any) => [c.category, c.views]));
    for (const category of affinities.categories.filter((c: any) => c.evidence.productViews > 0)) expect(category.evidence.productViews).toBe(viewed[category.category]);
    expect(affinities.freshness.inputs.map((input: any) => input.data)).not.toContain('completed orders');
    expect(evidenceStatements()).toEqual({ web: 1, shop: 0 });
  });

  // Last: the warehouse's layout is read again only after a while once it went missing.
  it("is null with the warehouse's error when it fails, and the rest of the customer answers", async () => {
    await demo.db.pool.query('ALTER SCHEMA web RENAME TO web_away');
    try {
      const { body } = await demo.server.query(`{ customer(id: "2") { id commerce { purchases { orderCount } } traits { affinities { days } } } }`);
      expect(body.data.customer).toMatchObject({ id: '2', commerce: { purchases: { orderCount: expect.any(Number) } }, traits: { affinities: null } });
      expect(body.errors?.map((e: any) => [e.path.join('.'), e.extensions.code, e.extensions.source])).toEqual([['customer.traits.affinities', 'SOURCE_UNAVAILABLE', 'web']]);
    } finally {
      await demo.db.pool.query('ALTER SCHEMA web_away RENAME TO web');
    }
  });
});

// A server of its own: on PGlite, the server's next statements over a table renamed away and back
// still failed in this file's runs, which would spill into the other tests.
describe('Traits.affinities when the shop database fails', () => {
  const shop = useDemoServer({ ...world, customers: 40 }, { webHistoryDays: 60 });

  it("is null with the shop database's error when the orders cannot be read, and the rest of the customer answers", async () => {
    const { body: before } = await shop.server.query(`{ customers(ids: ${JSON.stringify(ids(40))}) { id web { pageViews } ${AFFINITIES} } }`);
    expect(before.errors).toBeUndefined();
    const { id } = (before.data.customers as Array<any>).find((c) => c.web !== null && c.traits.affinities !== null);
    await shop.db.pool.query('ALTER TABLE order_items RENAME TO order_items_away');
    try {
      const { body } = await shop.server.query(`{ customer(id: "${id}") { id web(days: 60) { pageViews } traits { affinities { days } } } }`);
      expect(body.data.customer).toMatchObject({ id, web: { pageViews: expect.any(Number) }, traits: { affinities: null } });
      expect(body.errors?.map((e: any) => [e.path.join('.'), e.extensions.code, e.extensions.source])).toEqual([['customer.traits.affinities', 'SOURCE_UNAVAILABLE', 'commerce']]);
    } finally {
      await shop.db.pool.query('ALTER TABLE order_items_away RENAME TO order_items');
    }
  });
});
