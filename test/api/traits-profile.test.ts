import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { discountPropensity } from '../../sandbox/demo/shop.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { loadConfig } from '../../server/config.ts';
import { checkShopContract } from '../../sources/commerce/contract.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// The stand-in's contacts hold no birth date or gender: the age band is read from `createdate` (a
// date every contact has, so every band is UNDER_18) and the gender from `loyalty_tier` (never a
// gender, so always null). The computations themselves are tested on hand-made values in
// test/traits/demographics.test.ts and test/commerce/discounts.test.ts.
const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;
beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 1000, extraProperties: ['createdate', 'loyalty_tier'] }), {
    settings: { demographicProperties: { birthDate: 'createdate', gender: 'loyalty_tier' } },
  });
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  server.reset();
  standIns.hubspot.stats.reset();
});

const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
/** A customer HubSpot has a contact for. */
const CRM_ID = ids(20).find((id) => personAt(world, Number(id) - 1).crm !== null)!;
const DISCOUNTS = `discountSensitivity { unavailableReason days orders discountedOrders discountedShare
  meanDiscountedOrderValue { amount currencyCode } meanFullPriceOrderValue { amount currencyCode } valueRatio meanDiscountRate sensitivity
  freshness { asOf inputs { source data readAt } } }`;
const DEMOGRAPHICS = `demographics { location { countryCode region source candidates { source countryCode region } }
  devices { type sessions share } ageBand gender freshness { asOf inputs { source data } } }`;
/** The statement that reads orders with their discounts (discounts.ts). */
const discountStatements = () => server.statements.filter((sql) => /discount_amount/.test(sql) && /FROM orders o/.test(sql));
const errorsOf = (body: any) => (body.errors ?? []).map((e: any) => [e.path.join('.'), e.extensions.code, e.extensions.source]);

describe('Traits.discountSensitivity', () => {
  it('counts the completed orders with a discount, as the shop database holds them', async () => {
    const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(60))}) { id commerce { purchases { orderCount } } traits { ${DISCOUNTS} } } }`);
    expect(body.errors).toBeUndefined();
    const truth = await db.pool.query<{ id: string; orders: number; discounted: number; discounted_mean: string | null; full_mean: string | null }>(
      `SELECT customer_id::text AS id, count(*)::int AS orders, count(*) FILTER (WHERE discount_amount > 0)::int AS discounted,
              round(avg(total_amount) FILTER (WHERE discount_amount > 0), 2)::text AS discounted_mean,
              round(avg(total_amount) FILTER (WHERE coalesce(discount_amount, 0) = 0), 2)::text AS full_mean
         FROM orders WHERE status = 'completed' AND customer_id <= 60 GROUP BY 1`,
    );
    const byId = new Map(truth.rows.map((row) => [row.id, row]));
    let compared = 0;
    for (const customer of body.data.customers as Array<any>) {
      const expected = byId.get(customer.id);
      const trait = customer.traits.discountSensitivity;
      if (!expected) {
        expect(trait).toBeNull();
        continue;
      }
      compared++;
      expect(trait).toMatchObject({
        unavailableReason: null,
        days: null,
        orders: expected.orders,
        discountedOrders: expected.discounted,
        discountedShare: expected.discounted / expected.orders,
        meanDiscountedOrderValue: expected.discounted_mean && { amount: expected.discounted_mean, currencyCode: 'USD' },
        meanFullPriceOrderValue: expected.full_mean && { amount: expected.full_mean, currencyCode: 'USD' },
        freshness: { asOf: trait.freshness.inputs[0].readAt, inputs: [{ source: 'COMMERCE', data: 'orders', readAt: expect.any(String) }] },
      });
      expect(trait.meanDiscountRate === null).toBe(expected.discounted === 0);
      // The demo draws discounts at 10 to 30 % of the value before them.
      if (trait.meanDiscountRate !== null) expect(trait.meanDiscountRate).toBeGreaterThan(0.09);
      if (trait.meanDiscountRate !== null) expect(trait.meanDiscountRate).toBeLessThan(0.31);
    }
    expect(compared).toBeGreaterThan(20);
  });

  it("finds the demo's deal hunters: customers with a high propensity order with a discount more often", async () => {
    const pages = await Promise.all(
      [ids(120).slice(0, 60), ids(120).slice(60)].map((page) =>
        server.query(`{ customers(ids: ${JSON.stringify(page)}) { id traits { discountSensitivity { orders discountedShare } } } }`),
      ),
    );
    const rated = pages
      .flatMap(({ body }) => body.data.customers as Array<any>)
      .filter((c) => c.traits.discountSensitivity?.orders >= 3)
      .map((c) => ({ share: c.traits.discountSensitivity.discountedShare as number, propensity: discountPropensity(world, personAt(world, Number(c.id) - 1)) }));
    const mean = (list: typeof rated) => list.reduce((sum, c) => sum + c.share, 0) / list.length;
    const hunters = rated.filter((c) => c.propensity >= 0.5);
    const others = rated.filter((c) => c.propensity < 0.5);
    expect(hunters.length).toBeGreaterThan(3);
    expect(mean(hunters)).toBeGreaterThan(mean(others) + 0.3);
  });

  it('reads the orders of every customer of a request in one statement', async () => {
    await server.query(`{ customer(id: "1") { traits { discountSensitivity { orders } } } }`); // the catalog, once per process
    const counts: number[] = [];
    for (const n of [1, 10, 100]) {
      server.reset();
      const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(n))}) { traits { ${DISCOUNTS} a: discountSensitivity(days: 90) { orders } } } }`);
      expect(body.errors).toBeUndefined();
      counts.push(discountStatements().length);
      expect(server.statements.filter((sql) => /pg_catalog/.test(sql))).toEqual([]);
    }
    expect(counts).toEqual([1, 1, 1]);
    expect(standIns.hubspot.stats.total).toBe(0);
  });

  it('windows the orders to the last `days` days', async () => {
    const { body } = await server.query(
      `{ customers(ids: ${JSON.stringify(ids(40))}) { id traits { all: discountSensitivity { orders } recent: discountSensitivity(days: 365) { days orders } } } }`,
    );
    const since = new Date(TEST_AS_OF.getTime() - 365 * 86_400_000);
    const truth = await db.pool.query<{ id: string; orders: number }>(
      `SELECT customer_id::text AS id, count(*)::int AS orders FROM orders WHERE status = 'completed' AND placed_at > $1 AND customer_id <= 40 GROUP BY 1`,
      [since],
    );
    const recent = new Map(truth.rows.map((row) => [row.id, row.orders]));
    for (const customer of body.data.customers as Array<any>) {
      const orders = recent.get(customer.id);
      expect(customer.traits.recent).toEqual(orders ? { days: 365, orders } : null);
      if (orders) expect(customer.traits.all.orders).toBeGreaterThanOrEqual(orders);
    }
  });

  it.each([0, 3651])('refuses a window of %i days before any SQL runs', async (days) => {
    const { status, body } = await server.query(`{ customer(id: "1") { traits { discountSensitivity(days: ${days}) { orders } } } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({ message: `days: expected 1 to 3650, got ${days}`, extensions: { code: 'BAD_USER_INPUT' } });
    expect(server.statements).toHaveLength(0);
  });

  it("is null with the shop database's error when the orders cannot be read, and the rest of the customer answers", async () => {
    await db.pool.query('ALTER TABLE orders RENAME TO orders_away');
    try {
      const { body } = await server.query(`{ customer(id: "${CRM_ID}") { id commerce { firstName } traits { discountSensitivity { orders } demographics { ageBand } } } }`);
      expect(body.data.customer).toMatchObject({
        id: CRM_ID,
        commerce: { firstName: expect.any(String) },
        traits: { discountSensitivity: null, demographics: { ageBand: 'UNDER_18' } },
      });
      expect(errorsOf(body)).toEqual([['customer.traits.discountSensitivity', 'SOURCE_UNAVAILABLE', 'commerce']]);
    } finally {
      await db.pool.query('ALTER TABLE orders_away RENAME TO orders');
    }
  });
});

describe('Traits.demographics', () => {
  it("places each customer by the CRM first, then the shop, lists every source's candidate, and mixes their devices", async () => {
    const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(60))}) { id crm { id } consent { analytics { granted } }
      web { devices { type sessions } } traits { ${DEMOGRAPHICS} } } }`);
    expect(body.errors).toBeUndefined();
    const sources = new Set<string>();
    for (const customer of body.data.customers as Array<any>) {
      const person = personAt(world, Number(customer.id) - 1);
      const { location, devices, ageBand, gender, freshness } = customer.traits.demographics;
      expect(location).toMatchObject({ source: customer.crm ? 'CRM' : 'SHOP', countryCode: person.countryCode, region: person.region });
      expect(location.candidates.slice(0, customer.crm ? 2 : 1)).toEqual([
        ...(customer.crm ? [{ source: 'CRM', countryCode: person.countryCode, region: person.region }] : []),
        { source: 'SHOP', countryCode: person.countryCode, region: person.region },
      ]);
      for (const candidate of location.candidates) sources.add(candidate.source);
      // The warehouse's geolocation of the same person agrees on the country.
      for (const web of location.candidates.filter((c: any) => c.source === 'WEB')) expect(web.countryCode).toBe(person.countryCode);
      if (customer.web === null) {
        expect(devices).toBeNull();
        expect(location.candidates.map((c: any) => c.source)).not.toContain('WEB');
      } else {
        const sessions = new Map<string, number>();
        for (const device of customer.web.devices) sessions.set(device.type, (sessions.get(device.type) ?? 0) + device.sessions);
        const total = [...sessions.values()].reduce((sum, n) => sum + n, 0);
        if (total === 0) expect(devices).toBeNull();
        else expect(devices).toEqual([...sessions].map(([type, n]) => ({ type, sessions: n, share: n / total })).sort((a, b) => b.sessions - a.sessions || 0));
      }
      expect(ageBand).toBe(customer.crm ? 'UNDER_18' : null);
      expect(gender).toBeNull();
      expect(freshness.inputs.map((i: any) => `${i.source}.${i.data}`).sort()).toEqual(['COMMERCE.customer', 'CRM.contact', 'WEB.devices', 'WEB.location']);
    }
    expect([...sources].sort()).toEqual(['CRM', 'SHOP', 'WEB']);
    // Withheld analytics consent serves no browsing, without an error.
    const withheld = (body.data.customers as Array<any>).filter((c) => c.consent.analytics?.granted === false);
    expect(withheld.length).toBeGreaterThan(0);
    for (const customer of withheld) expect(customer.traits.demographics.devices).toBeNull();
  });

  it('reads the CRM in one batch, and each web family in one statement, whatever the number of customers', async () => {
    await server.query(`{ customer(id: "1") { traits { ${DEMOGRAPHICS} } } }`);
    const counts: Array<[number, number[]]> = [];
    for (const n of [1, 10, 100]) {
      server.reset();
      standIns.hubspot.stats.reset();
      const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(n))}) { traits { ${DEMOGRAPHICS} } } }`);
      expect(body.errors).toBeUndefined();
      const location = server.statements.filter((sql) => /context_geo_country AS country/.test(sql)).length;
      counts.push([location, standIns.hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)]);
    }
    expect(counts.map(([location]) => location)).toEqual([1, 1, 1]);
    expect(counts.map(([, calls]) => calls.length)).toEqual([1, 1, 1]);
  });

  it('calls HubSpot only for the parts that read it', async () => {
    const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(20))}) { traits { demographics { devices { type share } } } } }`);
    expect(body.errors).toBeUndefined();
    expect(standIns.hubspot.stats.total).toBe(0);
  });

  it('answers the web parts when HubSpot is down; the CRM parts are null with its error', async () => {
    await standIns.hubspot.stopListening();
    try {
      const { body } = await server.query(
        `{ customer(id: "1") { id traits { demographics { location { source } devices { type } ageBand gender freshness { inputs { source } } } } } }`,
      );
      expect(body.data.customer.traits.demographics).toMatchObject({ location: null, ageBand: null, gender: null });
      expect(body.data.customer.traits.demographics.freshness.inputs.map((i: any) => i.source)).not.toContain('CRM');
      expect(errorsOf(body).sort()).toEqual([
        ['customer.traits.demographics.ageBand', 'SOURCE_UNAVAILABLE', 'crm'],
        ['customer.traits.demographics.gender', 'SOURCE_UNAVAILABLE', 'crm'],
        ['customer.traits.demographics.location', 'SOURCE_UNAVAILABLE', 'crm'],
      ]);
    } finally {
      await standIns.hubspot.listenAgain();
    }
  });

  it('answers the CRM parts when the warehouse fails; location and devices are null with its error', async () => {
    await db.pool.query('ALTER SCHEMA web RENAME TO web_away');
    try {
      const { body } = await server.query(`{ customer(id: "${CRM_ID}") { id traits { demographics { location { source } devices { type } ageBand } } } }`);
      expect(body.data.customer).toMatchObject({ id: CRM_ID, traits: { demographics: { location: null, devices: null, ageBand: 'UNDER_18' } } });
      expect(errorsOf(body).sort()).toEqual([
        ['customer.traits.demographics.devices', 'SOURCE_UNAVAILABLE', 'web'],
        ['customer.traits.demographics.location', 'SOURCE_UNAVAILABLE', 'web'],
      ]);
    } finally {
      await db.pool.query('ALTER SCHEMA web_away RENAME TO web');
    }
  });

  it('answers the CRM parts when the shop database fails; location and devices carry its error', async () => {
    const email = personAt(world, Number(CRM_ID) - 1).email;
    await db.pool.query('ALTER TABLE customers RENAME TO customers_away');
    try {
      const { body } = await server.query(`{ customer(email: "${email}") { crm { id } traits { demographics { location { source } devices { type } ageBand } } } }`);
      expect(body.data.customer.traits.demographics).toEqual({ location: null, devices: null, ageBand: 'UNDER_18' });
      expect(errorsOf(body).sort()).toEqual([
        ['customer.traits.demographics.devices', 'SOURCE_UNAVAILABLE', 'commerce'],
        ['customer.traits.demographics.location', 'SOURCE_UNAVAILABLE', 'commerce'],
      ]);
    } finally {
      await db.pool.query('ALTER TABLE customers_away RENAME TO customers');
    }
  });
});

describe('Traits.demographics without the CRM properties configured', () => {
  it('has no age band or gender, and asks HubSpot nothing for them', async () => {
    const plain = await startTestServer(db, standIns.sources({ timeoutMs: 1000 }));
    try {
      const { body } = await plain.query(`{ customer(id: "${CRM_ID}") { traits { demographics { ageBand gender } } } }`);
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ customer: { traits: { demographics: { ageBand: null, gender: null } } } });
      expect(standIns.hubspot.stats.total).toBe(0);
    } finally {
      await plain.close();
    }
  });
});

describe('a shop whose contract leaves out orders.discount_amount', () => {
  // A server of its own: the shared one remembers the shop's failures of the tests above for its
  // breaker's cool-down, and this one believes the column missing for a minute afterwards.
  it('answers with the reason instead of numbers, without an error, and stops asking for the column', async () => {
    const server = await startTestServer(db);
    await server.query(`{ customer(id: "2") { traits { discountSensitivity { orders } } } }`); // the column is known to be there
    await db.pool.query('ALTER TABLE orders RENAME COLUMN discount_amount TO discount_away');
    let other: TestServer | undefined;
    try {
      const query = `{ customers(ids: ["2", "3"]) { id commerce { purchases { orderCount } } traits { discountSensitivity(days: 90) { unavailableReason days orders discountedShare sensitivity } } } }`;
      for (let attempt = 0; attempt < 2; attempt++) {
        server.reset();
        const { body } = await server.query(query);
        expect(body.errors).toBeUndefined();
        for (const customer of body.data.customers) {
          expect(customer.traits.discountSensitivity).toEqual({
            unavailableReason: expect.stringContaining('orders.discount_amount'),
            days: 90,
            orders: null,
            discountedShare: null,
            sensitivity: null,
          });
        }
        // The first request's statement failed on the column, and the catalog confirmed it is gone;
        // the next one decides from what the catalog said, with no statement at all.
        expect(server.statements.filter((sql) => /discount_amount/.test(sql) && /FROM orders o/.test(sql))).toHaveLength(attempt === 0 ? 1 : 0);
      }
      // The start-up check names what is unavailable, as a warning.
      expect((await checkShopContract(db.pool)).filter((f) => /discount_amount/.test(f.message))).toEqual([
        { source: 'commerce', severity: 'warning', message: expect.stringContaining('orders has no optional column discount_amount: traits.discountSensitivity') },
      ]);
      // A server started now reads the catalog first, and sends no statement that would fail.
      other = await startTestServer(db);
      const { body } = await other.query(query);
      expect(body.errors).toBeUndefined();
      expect(body.data.customers[0].traits.discountSensitivity.unavailableReason).toMatch(/discount_amount/);
      expect(other.statements.filter((sql) => /discount_amount/.test(sql) && /FROM orders o/.test(sql))).toEqual([]);
    } finally {
      await Promise.all([server.close(), other?.close()]);
      await db.pool.query('ALTER TABLE orders RENAME COLUMN discount_away TO discount_amount');
    }
  });
});

describe('the demographics settings', () => {
  const env = { HUBSPOT_ACCESS_TOKEN: 'pat-test-0000000000000000' };
  it('takes CRM properties that are fetched, a birth date only as a direct identifier', () => {
    const config = loadConfig({ ...env, HUBSPOT_EXTRA_PROPERTIES: 'date_of_birth:identifier,gender', TRAIT_BIRTHDATE_PROPERTY: 'date_of_birth', TRAIT_GENDER_PROPERTY: 'gender' });
    expect(config).toMatchObject({ TRAIT_BIRTHDATE_PROPERTY: 'date_of_birth', TRAIT_GENDER_PROPERTY: 'gender' });
    const off = loadConfig(env);
    expect([off.TRAIT_BIRTHDATE_PROPERTY, off.TRAIT_GENDER_PROPERTY]).toEqual([undefined, undefined]);
  });

  it('refuses properties that are not fetched, and a birth date readable as a trait, naming each', () => {
    expect(() => loadConfig({ ...env, HUBSPOT_EXTRA_PROPERTIES: 'date_of_birth', TRAIT_BIRTHDATE_PROPERTY: 'date_of_birth', TRAIT_GENDER_PROPERTY: 'gender' })).toThrow(
      [
        'invalid configuration:',
        '  TRAIT_BIRTHDATE_PROPERTY: expected a property of HUBSPOT_EXTRA_PROPERTIES marked :identifier, e.g. HUBSPOT_EXTRA_PROPERTIES=date_of_birth:identifier, got "date_of_birth"',
        '  TRAIT_GENDER_PROPERTY: expected one of HUBSPOT_EXTRA_PROPERTIES (only those are fetched), e.g. HUBSPOT_EXTRA_PROPERTIES=gender, got "gender"',
      ].join('\n'),
    );
  });
});
