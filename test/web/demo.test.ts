import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personAt, populationSize, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ordersOf } from '../../sandbox/demo/shop.ts';
import { seedWarehouse, webActivityOf, type WebActivity } from '../../sandbox/demo/warehouse.ts';
import { createWebSource, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';

const world: DemoWorld = { seed: 360, customers: 40, asOf: TEST_AS_OF };
const DAYS = 180;
let db: TestDatabase;
let web: WebSource;
let activities: WebActivity[];

beforeAll(async () => {
  db = await createTestDatabase();
  await seedWarehouse(db.pool, world, { schema: 'web', historyDays: DAYS });
  web = createWebSource(db.pool, { schema: 'web', now: () => TEST_AS_OF });
  activities = Array.from({ length: populationSize(world) }, (_, i) => webActivityOf(world, personAt(world, i), DAYS));
});
afterAll(async () => db?.close());

/**
 * What the generator did, stitched by hand: a customer's pages and tracks in the warehouse rules
 * (their own rows, and the rows before login of a browser linked to them alone).
 */
function ownEvents(activity: WebActivity) {
  const owners = new Map<string, Set<string>>();
  for (const other of activities) {
    for (const { device } of other.identifies) owners.set(device.anonymousId, (owners.get(device.anonymousId) ?? new Set()).add(other.userId!));
  }
  return activity.visits.flatMap(({ device, events }) => {
    const linked = owners.get(device.anonymousId);
    const alone = linked?.size === 1 && linked.has(activity.userId!);
    return events.filter((e) => e.userId === activity.userId || (e.userId === null && alone)).map((event) => ({ device, event }));
  });
}

describe('the demo warehouse', () => {
  it("files each customer's anonymous browsing before login under them, and a shared computer's under nobody", async () => {
    // What the generator did, stitched by hand: a browser identified by one customer alone is theirs.
    const owners = new Map<string, Set<string>>();
    for (const activity of activities) {
      for (const { device } of activity.identifies) {
        owners.set(device.anonymousId, (owners.get(device.anonymousId) ?? new Set()).add(activity.userId!));
      }
    }
    const customers = activities.slice(0, world.customers);
    const expected = customers.map((activity) => {
      let own = 0;
      let beforeLogin = 0;
      for (const { device, events } of activity.visits) {
        const linked = owners.get(device.anonymousId);
        // A page that refused analytics consent counts for nobody.
        for (const event of events.filter((e) => e.type === 'page' && e.consent?.analytics !== false)) {
          if (event.userId === activity.userId) own++;
          else if (event.userId === null && linked?.size === 1 && linked.has(activity.userId!)) beforeLogin++;
        }
      }
      return { own, beforeLogin };
    });
    const summaries = await web.summaries(customers.map((a) => ({ userId: a.userId!, anonymousId: null, days: DAYS })));
    expect(summaries.map((s) => s?.pageViews ?? 0)).toEqual(expected.map((e) => e.own + e.beforeLogin));
    expect(expected.filter((e) => e.beforeLogin > 0).length).toBeGreaterThan(world.customers / 4);
  });

  it('links the computer customers 1 and 2 share to both, so it resolves to nobody', async () => {
    const [first, second] = await web.identities(['1', '2']);
    expect(first!.ambiguousAnonymousIds).toEqual([activities[0]!.identifies.find((i) => i.device.userAgent === personAt(world, 0).web.userAgents[0])!.device.anonymousId]);
    expect(second!.ambiguousAnonymousIds).toEqual(first!.ambiguousAnonymousIds);
    const [shared] = await web.visitors(first!.ambiguousAnonymousIds);
    expect(shared).toMatchObject({ link: 'ambiguous', userId: null });
    const own = await web.visitors(first!.anonymousIds);
    expect(own.map((v) => [v?.link, v?.userId])).toEqual(first!.anonymousIds.map(() => ['linked', '1']));
  });

  it("has every product of every order viewed by the buyer before the order, which completes at the shop's time", async () => {
    let checked = 0;
    for (let index = 0; index < world.customers; index++) {
      const person = personAt(world, index);
      const orders = ordersOf(world, person).filter((o) => o.placedAt.getTime() > TEST_AS_OF.getTime() - DAYS * 86_400_000);
      if (orders.length === 0) continue;
      const [identity] = await web.identities([String(person.customerId)]);
      const { rows } = await db.pool.query<{ order_id: string; at: Date; viewed: string[] }>(
        `SELECT o.order_id, o."timestamp" AS at,
                array(SELECT DISTINCT v.product_id FROM web.product_viewed v
                       WHERE (v.user_id = $1 OR (v.user_id IS NULL AND v.anonymous_id = ANY($2)))
                         AND v."timestamp" < o."timestamp") AS viewed
           FROM web.order_completed o WHERE o.user_id = $1 ORDER BY o."timestamp"`,
        [String(person.customerId), identity!.anonymousIds],
      );
      expect(rows.map((r) => [r.order_id, r.at])).toEqual(orders.map((o) => [String(o.id), o.placedAt]));
      rows.forEach((row, i) => {
        for (const item of orders[i]!.items) expect(row.viewed).toContain(String(item.product.id));
      });
      checked += orders.length;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('lets prospects browse without ever being identified', async () => {
    const prospects = activities.slice(world.customers).filter((a) => a.visits.length > 0);
    expect(prospects.length).toBeGreaterThan(0);
    expect(prospects.every((a) => a.userId === null && a.identifies.length === 0)).toBe(true);
    const anonymousIds = prospects.flatMap((a) => a.visits.map((v) => v.device.anonymousId));
    const visitors = await web.visitors(anonymousIds);
    // Every one of them, those whose every event refused analytics included: still a browser.
    expect(new Set(visitors.map((v) => v && [v.link, v.userId].join()))).toEqual(new Set(['unlinked,']));
  });

  it("answers consent with the newest answer each customer's events carried, and their place with their address", async () => {
    const customers = activities.slice(0, world.customers);
    const [consents, locations] = await Promise.all([
      web.consents(customers.map((a) => ({ userId: a.userId!, anonymousId: null }))),
      web.locations(customers.map((a) => ({ userId: a.userId!, anonymousId: null, days: DAYS }))),
    ]);
    let revoked = 0;
    customers.forEach((activity, i) => {
      const own = ownEvents(activity);
      const answered = own.filter(({ event }) => event.consent !== null).sort((a, b) => b.event.at - a.event.at)[0];
      expect(consents[i]!.analytics).toEqual(answered ? { granted: answered.event.consent!.analytics, at: new Date(answered.event.at) } : null);
      if (answered?.event.consent?.analytics === false) revoked++;
      const newest = own.filter(({ event }) => event.consent?.analytics !== false).sort((a, b) => b.event.at - a.event.at)[0];
      const place = newest && { ...newest.device.place, locale: newest.device.locale, at: new Date(newest.event.at) };
      expect(locations[i]).toEqual(place ?? null);
    });
    expect(revoked).toBeGreaterThan(0);
    expect(consents.filter((c) => c.analytics?.granted).length).toBeGreaterThan(world.customers / 3);
  });

  it('says how current it is: loaded a few minutes after arrival, never after its clock', async () => {
    const load = await web.loadStatus();
    expect(load.newestReceivedAt!.getTime()).toBeLessThanOrEqual(TEST_AS_OF.getTime());
    expect(load.loadedAt!.getTime()).toBeGreaterThanOrEqual(load.newestReceivedAt!.getTime());
    expect(load.loadedAt!.getTime()).toBeLessThanOrEqual(TEST_AS_OF.getTime());
    const { rows } = await db.pool.query<{ lag: number }>(
      `SELECT max(extract(epoch FROM uuid_ts - received_at))::float8 AS lag FROM web.pages WHERE received_at < $1::timestamptz - interval '1 hour'`,
      [TEST_AS_OF],
    );
    expect(rows[0]!.lag).toBeGreaterThan(60);
    expect(rows[0]!.lag).toBeLessThan(10 * 60);
  });
});
