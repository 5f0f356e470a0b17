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

describe('the demo warehouse', () => {
  it('files each customer\'s anonymous browsing before login under them, and a shared computer\'s under nobody', async () => {
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
        for (const event of events.filter((e) => e.type === 'page')) {
          if (event.userId === activity.userId) own++;
          else if (event.userId === null && linked?.size === 1 && linked.has(activity.userId!)) beforeLogin++;
        }
      }
      return { own, beforeLogin };
    });
    const summaries = await web.summaries(customers.map((a) => ({ userId: a.userId!, days: DAYS })));
    expect(summaries.map((s) => s?.pageViews ?? 0)).toEqual(expected.map((e) => e.own + e.beforeLogin));
    expect(expected.filter((e) => e.beforeLogin > 0).length).toBeGreaterThan(world.customers / 4);
  });

  it('links the computer customers 1 and 2 share to both, so it resolves to nobody', async () => {
    const [first, second] = await web.identities(['1', '2']);
    expect(first!.ambiguousAnonymousIds).toEqual([activities[0]!.identifies.find((i) => i.device.userAgent === personAt(world, 0).web.userAgents[0])!.device.anonymousId]);
    expect(second!.ambiguousAnonymousIds).toEqual(first!.ambiguousAnonymousIds);
    expect(await web.userIdsByAnonymousId(first!.ambiguousAnonymousIds)).toEqual([null]);
    expect(await web.userIdsByAnonymousId(first!.anonymousIds)).toEqual(first!.anonymousIds.map(() => '1'));
  });

  it('has every product of every order viewed by the buyer before the order, which completes at the shop\'s time', async () => {
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
    expect(new Set(await web.userIdsByAnonymousId(anonymousIds))).toEqual(new Set([null]));
  });
});
