import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { personCacheKeys } from '../../cache/loaders.ts';
import { MemoryStore } from '../../cache/store.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, hubspotDeliveryHeaders, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import type { MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 360, customers: 60, asOf: TEST_AS_OF };
const CLIENT_SECRET = 'hubspot-app-client-secret';
const MAILCHIMP_SECRET = 'mailchimp-webhook-secret-0123';
let db: TestDatabase;
let standIns: StandIns;
let hubspot: HubSpotStandIn;
let mailchimp: MailchimpStandIn;
let server: TestServer;

/** The in-process store, whose evictions a test can make fail. */
class FlakyStore extends MemoryStore {
  failDeletes = false;
  override async delete(keys: readonly string[]): Promise<void> {
    if (this.failDeletes) throw new Error('the cache refused the eviction');
    return super.delete(keys);
  }
}
const store = new FlakyStore({ maxEntries: 10_000, maxBytes: 1 << 24 });

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world), startStandIns(world)]);
  ({ hubspot, mailchimp } = standIns);
  server = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), {
    store,
    budgetMs: 5000,
    webhooks: { hubspotClientSecret: CLIENT_SECRET, mailchimpSecret: MAILCHIMP_SECRET },
  });
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  hubspot.stats.reset();
  hubspot.latency = { fixedMs: 0, jitterMs: 0 };
  mailchimp.resetStats();
});

const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).filter((p) => p.crm && p.emailMarketing);
const profile = (id: number | null) => `{ customer(id: "${id}") { id commerce { purchases { orderCount } } crm { lifecycleStage } emailMarketing { status } } }`;
const forget = `mutation($e: EmailAddress!) { forgetCustomer(email: $e) { email cacheKeysCleared cleared failed { source step code retryable } } }`;
/** Every cache key that can hold something about the person (cache/loaders.ts declares them). */
const everyKey = (person: (typeof people)[number]) => personCacheKeys({ email: person.email, customerId: String(person.customerId), contactId: person.crm!.contactId }).length;

describe('provenance', () => {
  it('says per source whether data was live or cached, how old, and what the upstream cost', async () => {
    const person = people[0]!;
    const first = await server.query(profile(person.customerId));
    expect(first.body.extensions?.sources).toMatchObject({
      commerce: { status: 'live', keys: 2, live: 2, calls: 2 }, // the customer, then their purchases
      crm: { status: 'live', keys: 1, live: 1, cached: 0 },
      email: { status: 'live', keys: 1, live: 1 },
    });
    expect(first.headers.get('server-timing')).toMatch(/^commerce;dur=[\d.]+;desc="live", crm;dur=[\d.]+;desc="live", email;dur=[\d.]+;desc="live"$/);
    const second = await server.query(profile(person.customerId));
    expect(second.body.data).toEqual(first.body.data);
    expect(second.body.extensions?.sources).toMatchObject({
      crm: { status: 'cached', cached: 1, live: 0, upstreamMs: 0 },
      email: { status: 'cached', cached: 1, live: 0 },
    });
    expect(hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual([1]);
    expect(mailchimp.stats.byEndpoint.member).toBe(1);
  });
});

describe('the time budget', () => {
  it('answers on time with SOURCE_TIMEOUT for the source that misses a budget the client asked for', async () => {
    const person = people[1]!;
    // Wide margins both ways: the shop and Mailchimp must fit the budget on a loaded machine, and
    // HubSpot must miss it by far.
    hubspot.latency = { fixedMs: 3000, jitterMs: 0 };
    const { body } = await server.query(profile(person.customerId), {}, { 'x-time-budget-ms': '1000' });
    expect(body.data.customer).toMatchObject({ crm: null, commerce: { purchases: { orderCount: expect.any(Number) } }, emailMarketing: { status: expect.any(String) } });
    expect(body.errors).toEqual([expect.objectContaining({ path: ['customer', 'crm'], extensions: expect.objectContaining({ code: 'SOURCE_TIMEOUT', source: 'crm' }) })]);
    expect(body.extensions?.sources.crm).toMatchObject({ status: 'failed', failed: 1 });
  });

  it('lets the late answer fill the cache for the next request', async () => {
    const person = people[2]!;
    // The budget must cover the shop on a loaded machine; HubSpot misses it by far, and answers
    // within its own timeout after the deadline aborted the call's retries.
    hubspot.latency = { fixedMs: 1200, jitterMs: 0 };
    const first = await server.query(profile(person.customerId), {}, { 'x-time-budget-ms': '400' });
    expect(first.body.extensions?.sources.crm).toMatchObject({ status: 'failed' });
    hubspot.latency = { fixedMs: 0, jitterMs: 0 };
    await vi.waitFor(
      async () => {
        const { body } = await server.query(profile(person.customerId));
        expect(body.extensions?.sources.crm).toMatchObject({ status: 'cached' });
      },
      { timeout: 5000, interval: 100 },
    );
    expect(hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual([1]);
  });
});

describe('invalidation', () => {
  const hubspotWebhook = (events: unknown, { secret = CLIENT_SECRET, ageMs = 0 } = {}) => {
    const url = `${server.url}/webhooks/hubspot`;
    const body = JSON.stringify(events);
    return fetch(url, { method: 'POST', headers: hubspotDeliveryHeaders(secret, url, body, Date.now() - ageMs), body });
  };
  const contactEvent = (objectId: string) => ({
    eventId: 1,
    subscriptionType: 'contact.propertyChange',
    objectId: Number(objectId),
    occurredAt: Date.now(),
    portalId: 1,
    appId: 1,
    attemptNumber: 0,
  });

  it('rejects a HubSpot webhook with a bad signature or an old timestamp, and a good one evicts the contact', async () => {
    const person = people[3]!;
    await server.query(profile(person.customerId));
    expect((await hubspotWebhook([contactEvent(person.crm!.contactId)], { secret: 'wrong-secret' })).status).toBe(401);
    expect((await hubspotWebhook([contactEvent(person.crm!.contactId)], { ageMs: 6 * 60_000 })).status).toBe(401);
    expect((await server.query(profile(person.customerId))).body.extensions?.sources.crm.status).toBe('cached');
    expect((await hubspotWebhook([contactEvent(person.crm!.contactId), contactEvent('123')])).status).toBe(204);
    expect((await server.query(profile(person.customerId))).body.extensions?.sources.crm).toMatchObject({ status: 'live', live: 1 });
  });

  it('validates the Mailchimp webhook URL, refuses a wrong secret, and evicts the member on an event', async () => {
    const person = people[4]!;
    await server.query(profile(person.customerId));
    expect((await fetch(`${server.url}/webhooks/mailchimp/${MAILCHIMP_SECRET}`)).status).toBe(200);
    expect((await fetch(`${server.url}/webhooks/mailchimp/not-the-secret`)).status).toBe(404);
    const form = new URLSearchParams({ type: 'unsubscribe', fired_at: '2026-11-01 10:00:00', 'data[email]': person.email, 'data[list_id]': 'demo' });
    expect((await fetch(`${server.url}/webhooks/mailchimp/wrong-secret-0000000`, { method: 'POST', body: form })).status).toBe(404);
    expect((await server.query(profile(person.customerId))).body.extensions?.sources.email.status).toBe('cached');
    expect((await fetch(`${server.url}/webhooks/mailchimp/${MAILCHIMP_SECRET}`, { method: 'POST', body: form })).status).toBe(200);
    expect((await server.query(profile(person.customerId))).body.extensions?.sources.email).toMatchObject({ status: 'live' });
  });

  it('forgets everything cached about a person, and says so per source', async () => {
    const person = people[5]!;
    await server.query(profile(person.customerId));
    const { body } = await server.query(forget, { e: person.email });
    expect(body).toEqual({
      data: { forgetCustomer: { email: person.email, cacheKeysCleared: everyKey(person), cleared: ['COMMERCE', 'CRM', 'EMAIL', 'WEB'], failed: [] } },
    });
    const after = await server.query(profile(person.customerId));
    expect(after.body.extensions?.sources).toMatchObject({ commerce: { status: 'live' }, crm: { status: 'live' }, email: { status: 'live' } });
  });

  it('reports a failed eviction as not cleared, and clears on a repeat', async () => {
    const person = people[6]!;
    await server.query(profile(person.customerId));
    store.failDeletes = true;
    try {
      const { body } = await server.query(forget, { e: person.email });
      const failed = ['COMMERCE', 'CRM', 'EMAIL', 'WEB'].map((source) => ({ source, step: 'EVICTION', code: 'CACHE_UNAVAILABLE', retryable: true }));
      expect(body).toEqual({ data: { forgetCustomer: { email: person.email, cacheKeysCleared: 0, cleared: [], failed } } });
      expect((await server.query(profile(person.customerId))).body.extensions?.sources.crm.status).toBe('cached');
    } finally {
      store.failDeletes = false;
    }
    const again = await server.query(forget, { e: person.email });
    expect(again.body.data.forgetCustomer).toMatchObject({ cleared: ['COMMERCE', 'CRM', 'EMAIL', 'WEB'], failed: [], cacheKeysCleared: everyKey(person) });
    expect((await server.query(profile(person.customerId))).body.extensions?.sources.crm.status).toBe('live');
  });
});

describe('forgetCustomer while a source is down', () => {
  let guarded: TestServer;
  beforeAll(async () => {
    guarded = await startTestServer(db, standIns.sources({ timeoutMs: 2000, retryBudgetMs: 0 }), {
      store: new MemoryStore({ maxEntries: 1000, maxBytes: 1 << 22 }),
      budgetMs: 5000,
      guard: { breakerFailures: 1, breakerCooldownMs: 60_000 },
    });
  });
  afterAll(async () => {
    await guarded?.close();
    hubspot.errorRate = 0;
  });

  it('looks HubSpot up through its open breaker, without a request, and reports CRM as not cleared', async () => {
    const person = people[7]!;
    hubspot.errorRate = 1;
    // One failure opens this server's CRM breaker.
    const first = await guarded.query(profile(person.customerId));
    expect(first.body.errors).toEqual([expect.objectContaining({ path: ['customer', 'crm'], extensions: expect.objectContaining({ code: 'SOURCE_UNAVAILABLE' }) })]);
    const sent = hubspot.stats.total;
    const { body } = await guarded.query(forget, { e: person.email });
    expect(body.data.forgetCustomer).toEqual({
      email: person.email,
      cacheKeysCleared: expect.any(Number),
      cleared: ['COMMERCE', 'EMAIL', 'WEB'],
      failed: [{ source: 'CRM', step: 'LOOKUP', code: 'SOURCE_UNAVAILABLE', retryable: true }],
    });
    expect(hubspot.stats.total).toBe(sent);
  });
});

describe('readiness', () => {
  it('shows each source and its breaker', async () => {
    const response = await fetch(`${server.url}/readyz`);
    // This database has no event warehouse: the web source is down, the rest still answers.
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'degraded',
      sources: {
        commerce: { status: 'up', breaker: 'closed' },
        crm: { status: 'up', breaker: 'closed' },
        email: { status: 'up', breaker: 'closed' },
        web: { status: 'down', breaker: 'closed', lastError: expect.any(String), reason: expect.any(String) },
      },
    });
  });
});
