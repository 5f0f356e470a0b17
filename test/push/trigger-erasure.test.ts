import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../cache/store.ts';
import { memoryTriggerStateStore } from '../../push/triggers.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const world: DemoWorld = { seed: 15, customers: 20, asOf: TEST_AS_OF };
const forget = `mutation($e: EmailAddress!) { forgetCustomer(email: $e) { cleared failed { source } } }`;
const state = JSON.stringify({ segment: 'CHAMPIONS', cart: null });
let db: TestDatabase;

beforeAll(async () => {
  db = await createDemoDatabase(world);
});
afterAll(async () => {
  await db?.close();
});

// The trigger state is about a person: forgetting them erases it with the cache, with or without
// a shared cache configured.
describe.each([
  ['with a cache', () => new MemoryStore({ maxEntries: 1000, maxBytes: 1_000_000 })],
  ['without a cache', () => undefined],
])('forgetCustomer %s', (_name, store) => {
  let server: TestServer;
  const states = memoryTriggerStateStore({ maxCustomers: 100, ttlMs: 60_000 });
  beforeAll(async () => {
    const cache = store();
    server = await startTestServer(db, {}, { ...(cache && { store: cache }), forgetCustomer: (customerId) => states.delete(customerId) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('erases the forgotten customer’s trigger state, and no one else’s', async () => {
    const [person, other] = [personAt(world, 0), personAt(world, 1)];
    await states.compareAndSet(String(person.customerId), null, state);
    await states.compareAndSet(String(other.customerId), null, state);
    const { body } = await server.query(forget, { e: person.email });
    // The CRM is not configured here (its lookup fails); the shop, which names the customer, answered.
    expect(body.data.forgetCustomer.failed).not.toContainEqual({ source: 'COMMERCE' });
    expect(await states.get(String(person.customerId))).toBeNull();
    expect(await states.get(String(other.customerId))).toBe(state);
  });
});
