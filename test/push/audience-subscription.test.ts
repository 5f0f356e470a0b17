import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';
import { MemoryFeed, sseSubscribe, type Results } from './subscriptions-support.ts';

const world: DemoWorld = { seed: 360, customers: 80, asOf: TEST_AS_OF };
const feed = new MemoryFeed();
let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world), startStandIns(world)]);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), { push: { feed } });
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
const open: Results[] = [];
afterEach(async () => {
  for (const results of open.splice(0)) await results.close();
  await feed.until(0);
  Object.assign(standIns.mailchimp.knobs, { force500: 0 });
});

const WATCH = `subscription($name: String!) { audienceChanged(name: $name) { audience version membership customerId customer { id } } }`;

describe('audienceChanged', () => {
  it("decides each changed customer's membership live, checking Mailchimp for that person alone, and tells when one leaves", async () => {
    const saved = await server.query(
      `mutation { saveAudience(name: "buying-subscribers", filter: { commerce: { orderCount: { min: 1 } }, email: { statuses: [SUBSCRIBED] } }) { version } }`,
    );
    expect(saved.body.errors).toBeUndefined();
    const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i));
    const { body } = await server.query(`query($ids: [ID!]) { customers(ids: $ids) { id commerce { purchases { orderCount } } emailMarketing { status } } }`, {
      ids: people.map((p) => String(p.customerId)),
    });
    const profiles = body.data.customers as Array<{ id: string; commerce: { purchases: { orderCount: number } }; emailMarketing: { status: string } | null }>;
    const inside = profiles.find((c) => c.commerce.purchases.orderCount > 0 && c.emailMarketing?.status === 'SUBSCRIBED')!;
    const outside = profiles.find((c) => c.commerce.purchases.orderCount > 0 && c.emailMarketing && c.emailMarketing.status !== 'SUBSCRIBED')!;
    const results = sseSubscribe(server.url, {}, WATCH, { name: 'buying-subscribers' });
    open.push(results);
    await feed.until(1);

    standIns.mailchimp.resetStats();
    feed.change(outside.id);
    feed.change(inside.id);
    const first = await results.next();
    expect(first.errors).toBeUndefined();
    expect(first.data.audienceChanged).toEqual({ audience: 'buying-subscribers', version: 1, membership: 'IN', customerId: inside.id, customer: { id: inside.id } });
    // One member read per changed person: never a listing of the audience.
    expect(standIns.mailchimp.stats.byEndpoint.members).toBe(0);
    expect(standIns.mailchimp.stats.byEndpoint.member).toBeLessThanOrEqual(2);

    // Mailchimp failing: the change cannot be decided, so nothing is sent; the next one is.
    const email = people.find((p) => String(p.customerId) === inside.id)!.email;
    standIns.mailchimp.knobs.force500 = 'always';
    feed.change(inside.id);
    await vi.waitFor(() => expect(server.logs.some((line) => line.includes('audience subscription skipped a change'))).toBe(true), { timeout: 10_000 });
    expect(server.logs.filter((line) => line.includes(email))).toEqual([]);
    standIns.mailchimp.knobs.force500 = 0;
    standIns.mailchimp.setMemberStatus(email, 'unsubscribed');
    feed.change(inside.id);
    const second = await results.next();
    expect(second.data.audienceChanged).toMatchObject({ membership: 'LEFT', customerId: inside.id });
  });

  it('refuses an audience that does not exist', async () => {
    const results = sseSubscribe(server.url, {}, WATCH, { name: 'nobody-saved-this' });
    open.push(results);
    const first = await results.next();
    expect(first.errors?.[0]).toMatchObject({ message: 'name: no saved audience is called nobody-saved-this', extensions: { code: 'BAD_USER_INPUT' } });
  });
});
