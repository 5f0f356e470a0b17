import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personCacheKeys } from '../../cache/loaders.ts';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;
beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 120 }), startStandIns(world)]);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 1000 }));
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => server.reset());

const DAY_MS = 86_400_000;
const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => String(from + i));
const REACH = `reach { email { reachable reason since } webPersonalization { reachable reason } advertising { reachable reason } }`;
const CHANNEL = `channel { days ${REACH}
  email { openRate clickRate opens clicks lastOpenedAt bestSendHour { hour opensAtHour opens timeZone } }
  web { sessions lastSessionAt byChannel { medium source sessions share } byCampaign { campaign sessions lastSessionAt } }
  preferred { channel reason evidence { channel reachable responses lastResponseAt openRate } }
  freshness { asOf inputs { source data readAt } } }`;
const TREND = `engagementTrend { days
  web { sessions { current previous change direction } pageViews { current previous change direction } }
  email { opens { current previous change direction } clicks { current previous change direction } lowerBounds }
  shop { orders { current previous change direction } spend { current { amount currencyCode } previous { amount } change direction } }
  freshness { inputs { source data } } }`;
/** The warehouse's statements of these traits: session sources and periods (sources/web/channels.ts). */
const webStatements = () => server.statements.filter((sql) => /referrer_host|per_session p JOIN keys/.test(sql));
const shopStatements = () => server.statements.filter((sql) => /make_interval/.test(sql));

/** Entries of the member's feed of one type within [from, to]. */
const within = (feed: Array<{ type: string; at: string }>, type: string, from: number, to: number) =>
  feed.filter((e) => e.type === type && Date.parse(e.at) >= from && Date.parse(e.at) < to);

describe('Traits.channel', () => {
  it('agrees with the profile it is computed from, for every customer of a page', async () => {
    const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(1, 15))}) {
      emailMarketing { status averageOpenRate averageClickRate activity(first: 100, types: [OPEN, CLICK]) { type at } }
      consent { email { granted } analytics { granted } advertising { granted } }
      web(days: 90) { sessionCount }
      traits { ${CHANNEL} } } }`);
    expect(body.errors).toBeUndefined();
    const now = Date.now();
    const seen = { preferred: new Set<string>(), reasons: new Set<string>(), hours: 0, campaigns: 0, withheld: 0 };
    for (const c of body.data.customers as Array<any>) {
      const channel = c.traits.channel;
      const member = c.emailMarketing;
      expect(channel.reach.email.reachable).toBe(c.consent.email?.granted === true);
      if (member?.status !== 'SUBSCRIBED') expect(channel.reach.email.reachable).toBe(false);
      seen.reasons.add(channel.reach.email.reason);
      if (!member) expect(channel.reach.email.reason).toBe('NOT_IN_AUDIENCE');
      expect(channel.reach.webPersonalization.reachable).toBe(c.consent.analytics?.granted !== false);
      expect(channel.reach.advertising.reachable).toBe(c.consent.advertising?.granted === true);
      if (member) {
        const opens = within(member.activity, 'OPEN', now - 90 * DAY_MS, now + 1);
        expect(channel.email).toMatchObject({
          openRate: member.averageOpenRate,
          clickRate: member.averageClickRate,
          opens: opens.length,
          clicks: within(member.activity, 'CLICK', now - 90 * DAY_MS, now + 1).length,
          lastOpenedAt: opens[0]?.at ?? null,
        });
        const allOpens = member.activity.filter((e: any) => e.type === 'OPEN').length;
        if (allOpens < 5) expect(channel.email.bestSendHour).toBeNull();
        else expect(channel.email.bestSendHour).toMatchObject({ opens: allOpens, timeZone: 'UTC' });
        if (channel.email.bestSendHour) seen.hours++;
      } else {
        expect(channel.email).toBeNull();
      }
      if (c.web === null) {
        // Their analytics consent withholds their browsing: absent, without an error.
        expect(channel.web).toBeNull();
        expect(channel.reach.webPersonalization).toMatchObject({ reachable: false, reason: 'CONSENT_REFUSED' });
        seen.withheld++;
      } else {
        expect(channel.web.sessions).toBe(c.web.sessionCount);
        expect(channel.web.byChannel.reduce((sum: number, v: any) => sum + v.sessions, 0)).toBe(c.web.sessionCount);
        seen.campaigns += channel.web.byCampaign.length;
      }
      seen.preferred.add(channel.preferred.channel);
      expect(channel.preferred.reason.length).toBeGreaterThan(20);
      expect(JSON.stringify(channel)).not.toContain('@');
      expect(channel.freshness.inputs.map((i: any) => i.data)).toEqual(expect.arrayContaining(['member', 'consent']));
    }
    // The page holds each kind of answer, so each branch above ran.
    expect(seen.hours).toBeGreaterThan(0);
    expect(seen.campaigns).toBeGreaterThan(0);
    expect(seen.withheld).toBeGreaterThan(0);
    expect(seen.reasons.has('SUBSCRIBED') && seen.reasons.size).toBeGreaterThan(1);
    expect(seen.preferred.size).toBeGreaterThan(1);
  });

  it('reads the warehouse once and Mailchimp once per member whatever the number of customers', async () => {
    const counts: number[] = [];
    for (const n of [1, 5, 15]) {
      server.reset();
      standIns.mailchimp.resetStats();
      const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(20, n))}) { traits { ${CHANNEL} } } }`);
      expect(body.errors).toBeUndefined();
      counts.push(webStatements().length);
      // The member and at most one feed read each, whatever the fields that use them.
      const { member, activity } = standIns.mailchimp.stats.byEndpoint;
      expect(member).toBe(n);
      expect(activity).toBeLessThanOrEqual(n);
    }
    expect(counts).toEqual([1, 1, 1]);
  });

  it.each([
    ['channel(days: 0) { days }', 'days: expected 1 to 365, got 0'],
    ['channel(days: 366) { days }', 'days: expected 1 to 365, got 366'],
    ['engagementTrend(days: 0) { days }', 'days: expected 1 to 182, got 0'],
    ['engagementTrend(days: 183) { days }', 'days: expected 1 to 182, got 183'],
  ])('refuses %s before any SQL runs', async (field, message) => {
    const { status, body } = await server.query(`{ customer(id: "1") { traits { ${field} } } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' } });
    expect(server.statements).toHaveLength(0);
  });
});

describe('Traits.engagementTrend', () => {
  it("compares each channel's last 30 days with the 30 before, as the profile's own data counts them", async () => {
    const { body } = await server.query(`{ customers(ids: ${JSON.stringify(ids(1, 15))}) {
      emailMarketing { activity(first: 100, types: [OPEN, CLICK]) { type at } }
      web(days: 60) { sessionCount pageViews }
      commerce { orders(first: 100) { edges { node { placedAt status total { amount } } } } }
      traits { ${TREND} } } }`);
    expect(body.errors).toBeUndefined();
    const now = Date.now();
    const asOf = TEST_AS_OF.getTime();
    let orders = 0;
    for (const c of body.data.customers as Array<any>) {
      const trend = c.traits.engagementTrend;
      expect(trend.days).toBe(30);
      if (c.web) {
        expect(trend.web.sessions.current + trend.web.sessions.previous).toBe(c.web.sessionCount);
        expect(trend.web.pageViews.current + trend.web.pageViews.previous).toBe(c.web.pageViews);
      }
      if (c.emailMarketing) {
        const feed = c.emailMarketing.activity;
        expect(trend.email.opens).toMatchObject({
          current: within(feed, 'OPEN', now - 30 * DAY_MS, now + 1).length,
          previous: within(feed, 'OPEN', now - 60 * DAY_MS, now - 30 * DAY_MS).length,
        });
        expect(trend.email.clicks.current).toBe(within(feed, 'CLICK', now - 30 * DAY_MS, now + 1).length);
        expect(trend.email.lowerBounds).toBe(false);
      } else {
        expect(trend.email).toBeNull();
      }
      const completed = c.commerce.orders.edges.map((e: any) => e.node).filter((o: any) => o.status === 'COMPLETED');
      const inPeriod = (from: number, to: number) => completed.filter((o: any) => Date.parse(o.placedAt) >= from && Date.parse(o.placedAt) < to);
      const current = inPeriod(asOf - 30 * DAY_MS, asOf + 1);
      const previous = inPeriod(asOf - 60 * DAY_MS, asOf - 30 * DAY_MS);
      const sum = (list: any[]) => list.reduce((s, o) => s + Number(o.total.amount), 0);
      orders += current.length + previous.length;
      expect(trend.shop.orders).toMatchObject({ current: current.length, previous: previous.length });
      expect(Number(trend.shop.spend.current.amount)).toBeCloseTo(sum(current), 2);
      expect(Number(trend.shop.spend.previous.amount)).toBeCloseTo(sum(previous), 2);
      expect(trend.shop.spend.current.currencyCode).toBe('USD');
      expect(trend.freshness.inputs.map((i: any) => i.data)).toContain('orders per period');
    }
    expect(orders).toBeGreaterThan(0);
  });

  it('reads one warehouse and one shop statement whatever the number of customers', async () => {
    const counts: Array<[number, number]> = [];
    for (const n of [1, 5, 15]) {
      server.reset();
      const { body } = await server.query(
        `{ customers(ids: ${JSON.stringify(ids(40, n))}) { traits { engagementTrend { web { sessions { current } } shop { orders { current } } } } } }`,
      );
      expect(body.errors).toBeUndefined();
      counts.push([webStatements().length, shopStatements().length]);
    }
    expect(counts).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
  });
});

describe("the traits' cached reads", () => {
  it('are named in personCacheKeys, so forgetting a customer evicts them', () => {
    expect(personCacheKeys({ email: 'A@example.com', customerId: '12' })).toEqual(
      expect.arrayContaining(['email:activity:100:click,open:a@example.com', 'web:session-sources:90:12', 'web:engagement-periods:30:12', 'commerce:order-periods:30:12']),
    );
  });
});

// The warehouse's case runs last: its failures open the web breaker for the rest of the file.
describe('a failed source', () => {
  const errors = (body: any) => body.errors?.map((e: any) => [e.path.join('.'), e.extensions.source]).sort();

  it("nulls only the email parts, with Mailchimp's error, when Mailchimp is down", async () => {
    const { body: healthy } = await server.query(`{ customers(ids: ${JSON.stringify(ids(1, 15))}) { id emailMarketing { status } } }`);
    const member = (healthy.data.customers as Array<any>).find((c) => c.emailMarketing)!;
    await standIns.mailchimp.stopListening();
    try {
      const { body } = await server.query(`{ customer(id: "${member.id}") { traits { channel { ${REACH} email { openRate } web { sessions } preferred { channel } }
        engagementTrend { web { sessions { current } } email { lowerBounds } shop { orders { current } } } } } }`);
      const traits = body.data.customer.traits;
      expect(traits.channel).toMatchObject({ reach: { email: null, webPersonalization: { reachable: expect.any(Boolean) } }, email: null, preferred: null });
      expect(traits.engagementTrend).toMatchObject({ email: null, shop: { orders: { current: expect.any(Number) } } });
      expect(errors(body)).toEqual([
        ['customer.traits.channel.email', 'email'],
        ['customer.traits.channel.preferred', 'email'],
        ['customer.traits.channel.reach.email', 'email'],
        ['customer.traits.engagementTrend.email', 'email'],
      ]);
    } finally {
      await standIns.mailchimp.listenAgain();
    }
  });

  it("nulls only the shop trend, with the shop database's error, when the orders cannot be read", async () => {
    await db.pool.query('ALTER TABLE orders RENAME TO orders_away');
    try {
      const { body } = await server.query(`{ customer(id: "4") { id traits { channel { web { sessions } }
        engagementTrend { web { sessions { current } } shop { orders { current } } freshness { inputs { source } } } } } }`);
      expect(body.data.customer).toMatchObject({
        id: '4',
        traits: { channel: { web: { sessions: expect.any(Number) } }, engagementTrend: { shop: null, web: { sessions: { current: expect.any(Number) } } } },
      });
      expect(body.data.customer.traits.engagementTrend.freshness.inputs.map((i: any) => i.source)).not.toContain('COMMERCE');
      expect(body.errors?.map((e: any) => [e.path.join('.'), e.extensions.code, e.extensions.source])).toEqual([
        ['customer.traits.engagementTrend.shop', 'SOURCE_UNAVAILABLE', 'commerce'],
      ]);
    } finally {
      await db.pool.query('ALTER TABLE orders_away RENAME TO orders');
    }
  });

  it("nulls only the web parts, with the warehouse's error, when the warehouse fails", async () => {
    await db.pool.query('ALTER SCHEMA web RENAME TO web_away');
    try {
      const { body } = await server.query(`{ customer(id: "3") { id traits { channel { ${REACH} email { openRate } web { sessions } preferred { channel } }
        engagementTrend { web { sessions { current } } } } } }`);
      const traits = body.data.customer.traits;
      expect(traits.channel).toMatchObject({ reach: { email: { reachable: expect.any(Boolean) }, webPersonalization: null, advertising: null }, web: null, preferred: null });
      expect(traits.engagementTrend).toMatchObject({ web: null });
      expect(errors(body)).toEqual([
        ['customer.traits.channel.preferred', 'web'],
        ['customer.traits.channel.reach.advertising', 'web'],
        ['customer.traits.channel.reach.webPersonalization', 'web'],
        ['customer.traits.channel.web', 'web'],
        ['customer.traits.engagementTrend.web', 'web'],
      ]);
    } finally {
      await db.pool.query('ALTER SCHEMA web_away RENAME TO web');
    }
  });
});
