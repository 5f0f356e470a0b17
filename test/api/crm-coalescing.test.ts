import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// HubSpot's quota counts calls, and one batch read takes 100 contacts: concurrent requests must
// share calls instead of each spending one (cache/family.ts `coalesce`).
const world: DemoWorld = { seed: 361, customers: 120, asOf: TEST_AS_OF };
let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world), startStandIns(world)]);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }));
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});

describe('contact reads of concurrent requests', () => {
  it('share HubSpot batch calls once a few are under way, and every request gets its own contact', async () => {
    const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i))
      .filter((person) => person.customerId && person.crm)
      .slice(0, 24);
    expect(people).toHaveLength(24);
    // Each call takes 200 ms, so most requests arrive while the first four are out.
    standIns.hubspot.latency = { fixedMs: 200, jitterMs: 0 };
    standIns.hubspot.stats.reset();
    const answers = await Promise.all(people.map((person) => server.query(`{ customer(id: "${person.customerId}") { crm { id } } }`)));
    expect(answers.map(({ body }) => body.errors)).toEqual(people.map(() => undefined));
    expect(answers.map(({ body }) => body.data.customer.crm.id)).toEqual(people.map((person) => person.crm!.contactId));
    const calls = standIns.hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead);
    // Every contact read once, in at most half as many calls as requests (one each without coalescing).
    expect(calls.reduce((sum, inputs) => sum + inputs, 0)).toBe(24);
    expect(calls.length).toBeLessThanOrEqual(12);
  });
});
