import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { MemoryStore } from '../../cache/store.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, useDemoServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
const demo = useDemoServer(world);
beforeEach(() => demo.server.reset());

const PREDICTED = `traits { predictedValue(days: 90) {
  expectedPurchases horizonDays probabilityActive expectedOrderValue { amount currencyCode } lifetimeValue { amount currencyCode }
  lifetimeMonths annualDiscountRate asOf model { fittedAt customers repeatCustomers r alpha a b p q gamma }
} }`;
const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
/** The statement that reads customers' purchase days for the CLV models (clv.ts). */
const summaryStatements = () => demo.server.statements.filter((sql) => /AT TIME ZONE/.test(sql) && /customer_id = ANY|unnest/i.test(sql));

describe('Traits.predictedValue', () => {
  it('predicts each buyer from their own orders and the shop-wide fit, and is null for someone who never bought', async () => {
    const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(ids(40))}) { id commerce { purchases { orderCount totalSpent { amount } } } ${PREDICTED} } }`);
    expect(body.errors).toBeUndefined();
    const customers = body.data.customers as Array<any>;
    const buyers = customers.filter((c) => c.commerce.purchases.orderCount > 0);
    expect(buyers.length).toBeGreaterThan(10);
    for (const customer of customers) {
      const predicted = customer.traits.predictedValue;
      if (customer.commerce.purchases.orderCount === 0) {
        expect(predicted).toBeNull();
        continue;
      }
      expect(predicted.horizonDays).toBe(90);
      expect(predicted.probabilityActive).toBeGreaterThanOrEqual(0);
      expect(predicted.probabilityActive).toBeLessThanOrEqual(1);
      expect(predicted.expectedPurchases).toBeGreaterThanOrEqual(0);
      expect(predicted.lifetimeValue?.currencyCode ?? 'USD').toBe('USD');
      expect(predicted).toMatchObject({ lifetimeMonths: 12, annualDiscountRate: 0.1, asOf: TEST_AS_OF.toISOString() });
    }
    // One fit for the whole shop, the same for every customer.
    const models = new Set(buyers.map((c) => JSON.stringify(c.traits.predictedValue.model)));
    expect(models.size).toBe(1);
    expect(buyers[0].traits.predictedValue.model.customers).toBeGreaterThanOrEqual(buyers.length);
  });

  it('expects more purchases from the customers who bought most often than from those who bought least', async () => {
    const { body } = await demo.server.query(
      `{ customers(ids: ${JSON.stringify(ids(100))}) { commerce { purchases { orderCount } } traits { predictedValue { expectedPurchases } } } }`,
    );
    const buyers = (body.data.customers as Array<any>).filter((c) => c.traits.predictedValue?.expectedPurchases != null);
    const byOrders = [...buyers].sort((a, b) => a.commerce.purchases.orderCount - b.commerce.purchases.orderCount);
    const mean = (list: Array<any>) => list.reduce((sum, c) => sum + c.traits.predictedValue.expectedPurchases, 0) / list.length;
    const third = Math.floor(byOrders.length / 3);
    expect(mean(byOrders.slice(-third))).toBeGreaterThan(mean(byOrders.slice(0, third)));
  });

  it("reads the customers' histories in one statement whatever their number", async () => {
    await demo.server.query(`{ customer(id: "1") { ${PREDICTED} } }`); // the fit, once per process
    const counts: number[] = [];
    for (const n of [1, 10, 60]) {
      demo.server.reset();
      const { body } = await demo.server.query(`{ customers(ids: ${JSON.stringify(ids(n))}) { ${PREDICTED} } }`);
      expect(body.errors).toBeUndefined();
      counts.push(summaryStatements().length);
    }
    expect(counts).toEqual([1, 1, 1]);
  });

  it.each([0, 3651])('refuses a horizon of %i days before any SQL runs', async (days) => {
    const { status, body } = await demo.server.query(`{ customer(id: "1") { traits { predictedValue(days: ${days}) { horizonDays } } } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({ message: `days: expected 1 to 3650, got ${days}`, extensions: { code: 'BAD_USER_INPUT' } });
    expect(demo.server.statements).toHaveLength(0);
  });

  it("is null with the shop database's error when the orders cannot be read, and the rest of the customer answers", async () => {
    await demo.server.query(`{ customer(id: "2") { ${PREDICTED} } }`);
    await demo.db.pool.query('ALTER TABLE orders RENAME TO orders_away');
    try {
      const { body } = await demo.server.query(`{ customer(id: "2") { id commerce { firstName } traits { predictedValue { expectedPurchases } } } }`);
      expect(body.data.customer).toMatchObject({ id: '2', commerce: { firstName: expect.any(String) }, traits: { predictedValue: null } });
      expect(body.errors?.map((e: any) => [e.path.join('.'), e.extensions.code, e.extensions.source])).toEqual([
        ['customer.traits.predictedValue', 'SOURCE_UNAVAILABLE', 'commerce'],
      ]);
    } finally {
      await demo.db.pool.query('ALTER TABLE orders_away RENAME TO orders');
    }
  });
});

describe('trait freshness', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(demo.db, {}, { store: new MemoryStore({ maxEntries: 10_000, maxBytes: 1 << 24 }) });
  });
  afterAll(() => server?.close());

  const FRESHNESS = `{ customer(id: "2") { traits { predictedValue { model { fittedAt } freshness { asOf inputs { source data readAt } } } } } }`;

  it("names each input with its read time: live now, then the cached read's time, and the model's fit time", async () => {
    const before = Date.now();
    const first = await server.query(FRESHNESS);
    const after = Date.now();
    expect(first.body.errors).toBeUndefined();
    const { model, freshness } = first.body.data.customer.traits.predictedValue;
    const orders = freshness.inputs.find((input: any) => input.data === 'orders');
    expect(orders.source).toBe('COMMERCE');
    expect(Date.parse(orders.readAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(orders.readAt)).toBeLessThanOrEqual(after);
    expect(freshness.inputs).toContainEqual({ source: 'COMMERCE', data: 'value model', readAt: model.fittedAt });
    // The oldest input is the trait's age, listed first.
    const times = freshness.inputs.map((input: any) => Date.parse(input.readAt));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(freshness.asOf).toBe(freshness.inputs[0].readAt);

    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await server.query(FRESHNESS);
    expect(second.body.extensions?.sources?.commerce?.status).toBe('cached');
    const cached = second.body.data.customer.traits.predictedValue.freshness.inputs.find((input: any) => input.data === 'orders');
    expect(cached.readAt).toBe(orders.readAt);
  });
});

describe('a shop too small to fit', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createDemoDatabase({ seed: 360, customers: 6, asOf: TEST_AS_OF });
    server = await startTestServer(db);
  });
  afterAll(async () => {
    await server?.close();
    await db?.close();
  });

  it('answers null with a commerce error that is not worth retrying, and everything else', async () => {
    const { body } = await server.query(`{ customers(ids: ["1", "2"]) { id commerce { purchases { orderCount } } traits { predictedValue { expectedPurchases } } } }`);
    expect(body.data.customers.map((c: any) => c.id)).toEqual(['1', '2']);
    const buyers = body.data.customers.filter((c: any) => c.commerce.purchases.orderCount > 0).length;
    expect(buyers).toBeGreaterThan(0);
    expect(body.errors?.map((e: any) => e.extensions)).toEqual(Array(buyers).fill({ code: 'SOURCE_UNAVAILABLE', source: 'commerce', retryable: false }));
  });
});

describe('Traits.cartRecovery', () => {
  const shopWorld: DemoWorld = { seed: 360, customers: 160, asOf: TEST_AS_OF };
  let db: TestDatabase;
  let standIns: StandIns;
  let server: TestServer;
  beforeAll(async () => {
    [db, standIns] = await Promise.all([createDemoDatabase(shopWorld), startStandIns(shopWorld)]);
    server = await startTestServer(db, standIns.sources({ timeoutMs: 1000 }));
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([standIns?.close(), db?.close()]);
  });

  const RECOVERY = `commerce { abandonedCart { id updatedAt value { amount } } } emailMarketing { lastOpenedAt }
    traits { cartRecovery { cart { id updatedAt value { amount } itemCount } minutesSinceAbandoned openedEmailSince } }`;

  it('gives the abandoned cart with its age, and whether an email was opened since, for exactly the customers who left one', async () => {
    const { body: all } = await server.query(`{ customers(ids: ${JSON.stringify(ids(100))}) { id commerce { abandonedCart { id } } traits { cartRecovery { cart { id } } } } }`);
    expect(all.errors).toBeUndefined();
    for (const customer of all.data.customers as Array<any>) {
      expect(customer.traits.cartRecovery?.cart.id ?? null).toBe(customer.commerce.abandonedCart?.id ?? null);
    }
    const abandoned = (all.data.customers as Array<any>).filter((c) => c.commerce.abandonedCart !== null).map((c) => c.id as string);
    expect(abandoned.length).toBeGreaterThan(3);
    const answers: Array<boolean | null> = [];
    // Email activity is read for at most 20 members per request (MAILCHIMP_ACTIVITY_MAX_PER_REQUEST).
    for (let i = 0; i < abandoned.length; i += 10) {
      const { body } = await server.query(`{ customers(ids: ${JSON.stringify(abandoned.slice(i, i + 10))}) { ${RECOVERY} } }`);
      expect(body.errors).toBeUndefined();
      for (const customer of body.data.customers as Array<any>) {
        const cart = customer.commerce.abandonedCart;
        const recovery = customer.traits.cartRecovery;
        expect(recovery.cart).toMatchObject({ id: cart.id, updatedAt: cart.updatedAt, value: cart.value });
        expect(recovery.minutesSinceAbandoned).toBe(Math.floor((TEST_AS_OF.getTime() - Date.parse(cart.updatedAt)) / 60_000));
        const lastOpen = customer.emailMarketing?.lastOpenedAt;
        const expected = customer.emailMarketing === null ? null : lastOpen != null && Date.parse(lastOpen) > Date.parse(cart.updatedAt);
        expect(recovery.openedEmailSince).toBe(expected);
        answers.push(recovery.openedEmailSince);
      }
    }
    // Each kind of answer occurs in this world, so each branch above was exercised.
    expect(new Set(answers)).toEqual(new Set([true, false, null]));
  });

  it("keeps the cart when Mailchimp is down: only openedEmailSince is null, with the email source's error", async () => {
    const { body: healthy } = await server.query(`{ customers(ids: ${JSON.stringify(ids(100))}) { id commerce { abandonedCart { id } } emailMarketing { status } } }`);
    const member = (healthy.data.customers as Array<any>).find((c) => c.commerce.abandonedCart && c.emailMarketing)!;
    await standIns.mailchimp.stopListening();
    try {
      const { body } = await server.query(`{ customer(id: "${member.id}") { traits { cartRecovery { cart { id } minutesSinceAbandoned openedEmailSince } } } }`);
      expect(body.data.customer.traits.cartRecovery).toMatchObject({ cart: { id: member.commerce.abandonedCart.id }, openedEmailSince: null });
      expect(body.errors?.map((e: any) => [e.path.join('.'), e.extensions.source])).toEqual([['customer.traits.cartRecovery.openedEmailSince', 'email']]);
    } finally {
      await standIns.mailchimp.listenAgain();
    }
  });
});
