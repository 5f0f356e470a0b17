import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import type { MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { DEFAULT_PLANNER_LIMITS } from '../../audiences/planner.ts';
import { Scope } from '../../server/auth/scopes.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// Every answer is compared with a brute force: each customer read one by one through the
// existing per-customer fields (themselves tested against the sources), the filter applied here.

const world: DemoWorld = { seed: 360, customers: 300, asOf: TEST_AS_OF };
const DAY = 86_400_000;
let db: TestDatabase;
let standIns: StandIns;
let hubspot: HubSpotStandIn;
let mailchimp: MailchimpStandIn;
let server: TestServer;

interface Profile {
  id: string;
  email: string;
  orderCount: number;
  totalSpent: number;
  lastOrderAt: string | null;
  segment: string | null;
  abandonedAt: string | null;
  abandonedValue: number | null;
  lifecycleStage: string | null;
  emailStatus: string | null;
  lastSeenAt: string | null;
  firstTouchMedium: string | null;
}
const profiles: Profile[] = [];

const PROFILES = `query($ids: [ID!]) { customers(ids: $ids) {
  id email
  commerce { purchases { orderCount totalSpent { amount } lastOrderAt } rfm { segment } abandonedCart { updatedAt value { amount } } }
  crm { lifecycleStage } emailMarketing { status } web(days: 365) { lastSeenAt firstTouch { medium } } } }`;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
  ({ hubspot, mailchimp } = standIns);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), { budgetMs: 30_000 });
  const { rows } = await db.pool.query<{ id: string }>('SELECT id::text AS id FROM customers ORDER BY customers.id');
  for (let i = 0; i < rows.length; i += 100) {
    const { body } = await server.query(PROFILES, { ids: rows.slice(i, i + 100).map((row) => row.id) });
    expect(body.errors?.slice(0, 2)).toBeUndefined();
    for (const c of body.data.customers) {
      profiles.push({
        id: c.id,
        email: c.email.toLowerCase(),
        orderCount: c.commerce.purchases.orderCount,
        totalSpent: Number(c.commerce.purchases.totalSpent.amount),
        lastOrderAt: c.commerce.purchases.lastOrderAt,
        segment: c.commerce.rfm?.segment ?? null,
        abandonedAt: c.commerce.abandonedCart?.updatedAt ?? null,
        abandonedValue: c.commerce.abandonedCart ? Number(c.commerce.abandonedCart.value.amount) : null,
        lifecycleStage: c.crm?.lifecycleStage ?? null,
        emailStatus: c.emailMarketing?.status ?? null,
        lastSeenAt: c.web?.lastSeenAt ?? null,
        firstTouchMedium: c.web?.firstTouch?.medium?.trim().toLowerCase() || null,
      });
    }
  }
}, 120_000);
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

const FIND = `query($filter: CustomerFilter, $orderBy: CustomerOrder, $first: Int, $after: String) {
  findCustomers(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount { value exact }
    edges { cursor node { id email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;

/** Every customer the filter lists, paging `first` at a time, and the count it reports. */
async function findAll(filter: object, options: { first?: number; orderBy?: object; headers?: Record<string, string> } = {}) {
  const ids: string[] = [];
  let after: string | null = null;
  let total: { value: number; exact: boolean } | null = null;
  const plans: Array<{ calls: Record<string, number> }> = [];
  for (let page = 0; page < 100; page++) {
    const { body } = await server.query(FIND, { filter, orderBy: options.orderBy ?? null, first: options.first ?? 100, after }, options.headers);
    expect(body.errors).toBeUndefined();
    const list = body.data.findCustomers;
    total ??= list.totalCount;
    plans.push(...((body.extensions as { plans?: Array<{ calls: Record<string, number> }> } | undefined)?.plans ?? []));
    ids.push(...list.edges.map((edge: { node: { id: string } }) => edge.node.id));
    expect(list.pageInfo.hasPreviousPage).toBe(page > 0);
    if (!list.pageInfo.hasNextPage) break;
    after = list.pageInfo.endCursor;
  }
  return { ids, total: total!, plans };
}

const idsOf = (people: Profile[]) => people.map((p) => p.id).sort((a, b) => Number(a) - Number(b));
const weekAgo = new Date(TEST_AS_OF.getTime() - 7 * DAY);

describe('findCustomers: the shop database', () => {
  it('lists and counts an RFM segment as the per-customer fields do, across pages', async () => {
    const expected = idsOf(profiles.filter((p) => p.segment === 'CHAMPIONS' || p.segment === 'LOYAL'));
    expect(expected.length).toBeGreaterThan(10);
    const { ids, total } = await findAll({ commerce: { rfmSegments: ['CHAMPIONS', 'LOYAL'] } }, { first: 7 });
    expect(ids).toEqual(expected);
    expect(total).toEqual({ value: expected.length, exact: true });
  });

  it('combines order counts, spend ranges, abandoned carts and not', async () => {
    const filter = {
      commerce: { orderCount: { min: 2 }, totalSpent: { min: { amount: '100', currencyCode: 'USD' }, max: { amount: '5000', currencyCode: 'USD' } } },
      not: { commerce: { hasAbandonedCart: true } },
    };
    const expected = idsOf(profiles.filter((p) => p.orderCount >= 2 && p.totalSpent >= 100 && p.totalSpent <= 5000 && p.abandonedAt === null));
    const { ids, total } = await findAll(filter);
    expect(ids).toEqual(expected);
    expect(total.value).toBe(expected.length);
  });

  it("takes an abandoned cart's window and value from the cart Carts.abandoned picks", async () => {
    const since = new Date(TEST_AS_OF.getTime() - 30 * DAY);
    const expected = idsOf(profiles.filter((p) => p.abandonedAt !== null && new Date(p.abandonedAt) >= since && p.abandonedValue! >= 50));
    expect(expected.length).toBeGreaterThan(0);
    const { ids } = await findAll({ commerce: { abandonedCart: { since: since.toISOString(), minValue: { amount: '50', currencyCode: 'USD' } } } });
    expect(ids).toEqual(expected);
  });

  it('orders by total spent, descending, with stable keyset pages', async () => {
    const expected = [...profiles].filter((p) => p.orderCount > 0).sort((a, b) => b.totalSpent - a.totalSpent || Number(b.id) - Number(a.id));
    const { ids } = await findAll({ commerce: { orderCount: { min: 1 } } }, { first: 9, orderBy: { field: 'TOTAL_SPENT', direction: 'DESC' } });
    expect(ids).toEqual(expected.map((p) => p.id));
  });

  it('refuses a cursor of another order, and bad filters before any call', async () => {
    const first = await server.query(FIND, { filter: null, orderBy: { field: 'ORDER_COUNT' }, first: 2 });
    const cursor = first.body.data.findCustomers.pageInfo.endCursor;
    server.reset();
    const cases: Array<[object, string]> = [
      [{ after: cursor }, 'after: a cursor of another order (ORDER_COUNT ASC)'],
      [{ filter: { commerce: { recencyScore: { min: 6 } } } }, 'filter.commerce.recencyScore.min: expected 1 to 5, got 6'],
      [
        { filter: { commerce: { totalSpent: { min: { amount: '10', currencyCode: 'EUR' } } } } },
        'filter.commerce.totalSpent.min: expected an amount in USD (the shop currency), got EUR',
      ],
      [{ filter: { or: [{ commerce: {} }] } }, 'filter.or[0].commerce: expected at least one condition'],
      [{ filter: { crm: { properties: [{ property: 'secret_notes', operator: 'EQ', value: 'x' }] } } }, 'filter.crm.properties[0].property: expected a property of the allow-list'],
    ];
    for (const [variables, message] of cases) {
      const { status, body } = await server.query(FIND, { first: 2, ...variables });
      expect(status).toBe(400);
      expect(body.errors?.[0]?.message).toContain(message);
      expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect(server.statements).toEqual([]);
  });
});

describe('findCustomers: pushed down to HubSpot and Mailchimp', () => {
  it('lists a lifecycle stage through HubSpot search, in calls that do not grow with the shop', async () => {
    const expected = idsOf(profiles.filter((p) => p.lifecycleStage === 'CUSTOMER' || p.lifecycleStage === 'EVANGELIST'));
    const { ids, total, plans } = await findAll({ crm: { lifecycleStages: ['CUSTOMER', 'EVANGELIST'] } });
    expect(ids).toEqual(expected);
    expect(total).toEqual({ value: expected.length, exact: true });
    // One estimate, then the matching contacts (HubSpot's, prospects included) in pages of 200.
    expect(plans[0]!.calls.crm).toBeLessThanOrEqual(1 + Math.ceil(world.customers / 200) + 1);
    expect(hubspot.stats.byEndpoint[ENDPOINTS.contactsBatchRead] ?? 0).toBe(0);
  });

  it('lists member statuses through the Mailchimp member listing', async () => {
    const expected = idsOf(profiles.filter((p) => p.emailStatus === 'UNSUBSCRIBED' || p.emailStatus === 'CLEANED'));
    const { ids, total } = await findAll({ email: { statuses: ['UNSUBSCRIBED', 'CLEANED'] } });
    expect(ids).toEqual(expected);
    expect(total.value).toBe(expected.length);
  });

  it('answers or and not across sources', async () => {
    const filter = { or: [{ crm: { lifecycleStages: ['LEAD'] } }, { not: { email: { statuses: ['SUBSCRIBED'] } }, commerce: { orderCount: { min: 3 } } }] };
    const expected = idsOf(profiles.filter((p) => p.lifecycleStage === 'LEAD' || (p.emailStatus !== 'SUBSCRIBED' && p.orderCount >= 3)));
    const { ids } = await findAll(filter);
    expect(ids).toEqual(expected);
  });

  it('answers "which good customers abandoned a cart lately and opened an email" in one query, checking Mailchimp only for the few candidates', async () => {
    const since = new Date(TEST_AS_OF.getTime() - 30 * DAY);
    const segments = ['CHAMPIONS', 'LOYAL', 'POTENTIAL_LOYALIST', 'AT_RISK', 'CANNOT_LOSE_THEM', 'NEED_ATTENTION'];
    const filter = { commerce: { rfmSegments: segments, abandonedCart: { since: since.toISOString() } }, email: { openedSince: since.toISOString() } };
    const candidates = profiles.filter((p) => p.segment && segments.includes(p.segment) && p.abandonedAt && new Date(p.abandonedAt) >= since);
    expect(candidates.length).toBeGreaterThan(2);
    // The brute force: each candidate's last open, 20 at a time (the activity feeds' per-request share).
    const opened = new Set<string>();
    for (let i = 0; i < candidates.length; i += 20) {
      const { body } = await server.query(`query($ids: [ID!]) { customers(ids: $ids) { id emailMarketing { lastOpenedAt } } }`, {
        ids: candidates.slice(i, i + 20).map((p) => p.id),
      });
      for (const c of body.data.customers) if (c.emailMarketing?.lastOpenedAt && new Date(c.emailMarketing.lastOpenedAt) >= since) opened.add(c.id);
    }
    mailchimp.resetStats();
    const { body } = await server.query(FIND, { filter, first: 100 });
    expect(body.errors).toBeUndefined();
    expect(body.data.findCustomers.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(idsOf(candidates.filter((p) => opened.has(p.id))));
    const plan = (body.extensions as { plans: Array<{ steps: Array<{ source: string; action: string; candidates?: number }> }> }).plans[0]!;
    expect(plan.steps.find((step) => step.source === 'email' && step.action === 'check')?.candidates).toBe(candidates.length);
    // Per candidate: the member and its activity; never the whole audience.
    expect(mailchimp.stats.requests).toBeLessThanOrEqual(2 * candidates.length + 2);
  });

  it('checks a warehouse condition for the candidates the shop leaves, in one statement', async () => {
    const since = new Date(TEST_AS_OF.getTime() - 3 * DAY);
    const expected = idsOf(profiles.filter((p) => p.orderCount >= 2 && p.lastSeenAt !== null && new Date(p.lastSeenAt) >= since));
    expect(expected.length).toBeGreaterThan(0);
    const { ids, plans } = await findAll({ commerce: { orderCount: { min: 2 } }, web: { lastSeenAfter: since.toISOString() } });
    expect(ids).toEqual(expected);
    const steps = (plans[0] as unknown as { steps: Array<{ source: string; action: string; calls: number }> }).steps.filter((step) => step.source === 'web');
    // No estimate: the warehouse answers in one statement whatever the count.
    expect(steps.map((step) => [step.action, step.calls])).toEqual([['check', 1]]);
  });

  it('refuses a condition Mailchimp can only check per person when too many are candidates', async () => {
    const limits = { ...DEFAULT_PLANNER_LIMITS, maxCalls: { crm: 50, email: 100, web: 1 } };
    const strict = await startTestServer(db, standIns.sources(), { audiences: { limits } });
    try {
      const { body } = await strict.query(FIND, { filter: { email: { minRating: 4 } }, first: 5 });
      // The candidates are read up to one past the 100 a check could take, never all 300.
      expect(body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', refused: { source: 'email', candidates: 101, checkCalls: null, maxCalls: 100 } } });
      expect(body.errors?.[0]?.message).toBe(
        "The filter's condition email(minRating) is refused: Mailchimp cannot list who meets minRating without one call per person, and the other conditions leave more than the 100 candidates it could check within the limit; the limit is 100 calls. Add conditions that narrow the customers (commerce, crm or web), or ask for fewer.",
      );
      // The estimate only: nothing per person.
      expect(mailchimp.stats.requests).toBeLessThanOrEqual(1);
      // A count alone answers with Mailchimp's own count of the part it can count, flagged estimated.
      const counted = await strict.query(`{ findCustomers(filter: { email: { minRating: 4 } }) { totalCount { value exact } } }`);
      expect(counted.body.errors).toBeUndefined();
      expect(counted.body.data.findCustomers.totalCount.exact).toBe(false);
      expect(counted.body.data.findCustomers.totalCount.value).toBeGreaterThanOrEqual(profiles.filter((p) => p.emailStatus !== null).length);
      // Narrowed by the shop first, the same condition runs.
      const narrowed = await strict.query(FIND, { filter: { email: { minRating: 4 }, commerce: { rfmSegments: ['CHAMPIONS'] } }, first: 5 });
      expect(narrowed.body.errors).toBeUndefined();
    } finally {
      await strict.close();
    }
  });

  it('fails only the fields that need a failing source, naming it', async () => {
    hubspot.errorRate = 1;
    const { body } = await server.query(`{
      crm: findCustomers(filter: { crm: { lifecycleStages: [LEAD] } }, first: 1) { totalCount { value } }
      shop: findCustomers(filter: { commerce: { orderCount: { min: 1 } } }, first: 1) { totalCount { value } } }`);
    expect(body.data.crm).toBeNull();
    expect(body.errors?.[0]).toMatchObject({ path: ['crm', 'totalCount'], extensions: { code: 'SOURCE_UNAVAILABLE', source: 'crm' } });
    expect(body.data.shop.totalCount.value).toBe(profiles.filter((p) => p.orderCount >= 1).length);
  });
});

describe('customerCounts and customerHistogram', () => {
  it('counts per RFM segment and per email status as the per-customer fields say', async () => {
    const filter = { commerce: { orderCount: { min: 1 } } };
    const buyers = profiles.filter((p) => p.orderCount >= 1);
    for (const [by, keyOf] of [
      ['RFM_SEGMENT', (p: Profile) => p.segment],
      ['EMAIL_STATUS', (p: Profile) => p.emailStatus],
      ['LIFECYCLE_STAGE', (p: Profile) => p.lifecycleStage],
    ] as const) {
      const { body } = await server.query(
        `query($filter: CustomerFilter, $by: CustomerCountDimension!) { customerCounts(filter: $filter, by: $by) { total { value exact } groups { key count exact } } }`,
        {
          filter,
          by,
        },
      );
      expect(body.errors).toBeUndefined();
      const expected = new Map<string | null, number>();
      for (const p of buyers) expected.set(keyOf(p), (expected.get(keyOf(p)) ?? 0) + 1);
      const counts = body.data.customerCounts;
      expect(counts.total).toEqual({ value: buyers.length, exact: true });
      expect(new Map(counts.groups.map((g: { key: string | null; count: number }) => [g.key, g.count]))).toEqual(expected);
    }
  });

  it('counts per top category (units) and per first-touch medium as the shop and the per-customer fields say', async () => {
    const filter = { commerce: { orderCount: { min: 1 } } };
    const query = `query($filter: CustomerFilter, $by: CustomerCountDimension!) { customerCounts(filter: $filter, by: $by) { total { value } groups { key count } } }`;
    const buyers = profiles.filter((p) => p.orderCount >= 1);
    const { rows } = await db.pool.query<{ category: string }>(
      `SELECT (SELECT pr.category FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products pr ON pr.id = i.product_id
                WHERE o.customer_id = c.id AND o.status = 'completed' GROUP BY pr.category ORDER BY sum(i.quantity) DESC, pr.category LIMIT 1) AS category
         FROM customers c WHERE c.id = ANY($1::bigint[])`,
      [buyers.map((p) => p.id)],
    );
    const tally = (keys: Array<string | null>) => {
      const counts = new Map<string | null, number>();
      for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
      return counts;
    };
    const categories = await server.query(query, { filter, by: 'TOP_CATEGORY' });
    expect(new Map(categories.body.data.customerCounts.groups.map((g: { key: string | null; count: number }) => [g.key, g.count]))).toEqual(tally(rows.map((r) => r.category)));
    const mediums = await server.query(query, { filter, by: 'FIRST_TOUCH_MEDIUM' });
    expect(mediums.body.errors).toBeUndefined();
    expect(new Map(mediums.body.data.customerCounts.groups.map((g: { key: string | null; count: number }) => [g.key, g.count]))).toEqual(
      tally(buyers.map((p) => p.firstTouchMedium)),
    );
  });

  it("counts orders per month of a segment's customers as their order lists do", async () => {
    const since = new Date(Date.UTC(2026, 4, 1));
    const { body } = await server.query(
      `query($since: DateTime!, $until: DateTime) { customerHistogram(filter: { commerce: { rfmSegments: [CHAMPIONS] } }, of: ORDERS, interval: MONTH, since: $since, until: $until) { buckets { start count value { amount currencyCode } } } }`,
      { since: since.toISOString(), until: TEST_AS_OF.toISOString() },
    );
    expect(body.errors).toBeUndefined();
    const champions = profiles.filter((p) => p.segment === 'CHAMPIONS').map((p) => p.id);
    const { rows } = await db.pool.query<{ month: string; n: number }>(
      `SELECT to_char(date_trunc('month', placed_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, count(*)::int AS n FROM orders
        WHERE status = 'completed' AND currency = 'USD' AND placed_at >= $1 AND placed_at < $2 AND customer_id = ANY($3::bigint[]) GROUP BY 1 ORDER BY 1`,
      [since, TEST_AS_OF, champions],
    );
    expect(body.data.customerHistogram.buckets.map((b: { start: string; count: number }) => [b.start.slice(0, 7), b.count])).toEqual(rows.map((r) => [r.month, r.n]));
  });
});

describe('saved audiences', () => {
  const SAVE = `mutation($name: String!, $filter: CustomerFilter!, $description: String) { saveAudience(name: $name, filter: $filter, description: $description) { name version versions definition } }`;

  it('saves versions, and counts and lists the latest live', async () => {
    const v1 = await server.query(SAVE, { name: 'big-spenders', filter: { commerce: { totalSpent: { min: { amount: '1000', currencyCode: 'USD' } } } } });
    expect(v1.body.data.saveAudience).toMatchObject({ name: 'big-spenders', version: 1, versions: [1] });
    const v2 = await server.query(SAVE, {
      name: 'big-spenders',
      filter: { commerce: { totalSpent: { min: { amount: '500', currencyCode: 'USD' } }, lastOrderAfter: weekAgo.toISOString() } },
    });
    expect(v2.body.data.saveAudience).toMatchObject({ version: 2, versions: [1, 2] });
    const { body } = await server.query(`{ audiences { name version }
      latest: audience(name: "big-spenders") { version count { value exact } members(first: 100) { edges { node { id } } } }
      first: audience(name: "big-spenders", version: 1) { version count { value } } }`);
    expect(body.errors).toBeUndefined();
    expect(body.data.audiences).toEqual([{ name: 'big-spenders', version: 2 }]);
    const latest = idsOf(profiles.filter((p) => p.totalSpent >= 500 && p.lastOrderAt !== null && new Date(p.lastOrderAt) >= weekAgo));
    expect(body.data.latest.count).toEqual({ value: latest.length, exact: true });
    expect(body.data.latest.members.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(latest.slice(0, 100));
    expect(body.data.first.count.value).toBe(profiles.filter((p) => p.totalSpent >= 1000).length);
  });

  it('refuses a bad name or filter, and saving without audiences:write', async () => {
    const bad = await server.query(SAVE, { name: 'no spaces', filter: { commerce: { orderCount: { min: 1 } } } });
    expect(bad.body.errors?.[0]?.message).toBe('name: expected 1-64 letters, digits, `-`, `_` or `.`');
    const reader = await startTestServer(db, {}, { security: { anonymousScopes: [Scope.Segments] } });
    try {
      const denied = await reader.query(SAVE, { name: 'x', filter: { commerce: { orderCount: { min: 1 } } } });
      expect(denied.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await reader.close();
    }
  });
});

describe('masking and budgets', () => {
  it('masks identifiers for segments:read without customer:read:pii', async () => {
    const reader = await startTestServer(db, {}, { security: { anonymousScopes: [Scope.Segments] } });
    try {
      const { body } = await reader.query(FIND, { filter: { commerce: { orderCount: { min: 1 } } }, first: 3 });
      expect(body.errors).toBeUndefined();
      for (const edge of body.data.findCustomers.edges) expect(edge.node.email).toMatch(/^\w\*\*\*@/);
    } finally {
      await reader.close();
    }
  });

  it('filters on an allow-listed CRM property, and on an identifier one only with customer:read:pii', async () => {
    const sources = standIns.sources({ extraProperties: ['loyalty_tier'] });
    const filter = { crm: { properties: [{ property: 'loyalty_tier', operator: 'IN', values: ['gold', 'platinum'] }] } };
    const trait = await startTestServer(db, sources);
    const identifier = await startTestServer(db, sources, { settings: { crmIdentifierProperties: ['loyalty_tier'] }, security: { anonymousScopes: [Scope.Segments] } });
    try {
      const { body: truth } = await trait.query(`query($ids: [ID!]) { customers(ids: $ids) { id crm { properties(names: ["loyalty_tier"]) { name value } } } }`, {
        ids: profiles.slice(0, 100).map((p) => p.id),
      });
      const expected = (truth.data.customers as Array<{ id: string; crm: { properties: Array<{ value: string | null }> } | null }>)
        .filter((c) => ['gold', 'platinum'].includes(c.crm?.properties[0]?.value ?? ''))
        .map((c) => c.id);
      expect(expected.length).toBeGreaterThan(0);
      const { body } = await trait.query(FIND, { filter: { ...filter, commerce: { signedUpBefore: new Date().toISOString() } }, first: 100 });
      expect(body.errors).toBeUndefined();
      const firstHundred = new Set(profiles.slice(0, 100).map((p) => p.id));
      expect(body.data.findCustomers.edges.map((e: { node: { id: string } }) => e.node.id).filter((id: string) => firstHundred.has(id))).toEqual(expected);
      const denied = await identifier.query(FIND, { filter, first: 1 });
      expect(denied.body.errors?.[0]).toMatchObject({
        message: 'Forbidden: filtering on loyalty_tier (a direct identifier) needs the customer:read:pii scope.',
        extensions: { code: 'FORBIDDEN' },
      });
    } finally {
      await Promise.all([trait.close(), identifier.close()]);
    }
  });

  it("spends each planned call from the client's budget", async () => {
    const tight = await startTestServer(db, standIns.sources(), { security: { rateLimit: { costPerSecond: 1, burst: 200 } } });
    try {
      const filter = { crm: { lifecycleStages: ['LEAD'] }, email: { statuses: ['SUBSCRIBED'] } };
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push((await tight.query(FIND, { filter, first: 1 })).body);
      expect(answers.some((answer) => answer.errors?.some((error) => error.extensions?.code === 'RATE_LIMITED'))).toBe(true);
    } finally {
      await tight.close();
    }
  });
});
