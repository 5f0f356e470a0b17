import { request } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contactEmailKey, crmContactKeys, emailMemberKey } from '../../cache/loaders.ts';
import { MemoryStore, type CacheEntry } from '../../cache/store.ts';
import type { Signal } from '../../push/signals.ts';
import { hubspotDeliveryHeaders } from '../../sandbox/hubspot/signing.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const CLIENT_SECRET = 'hubspot-app-client-secret';
const MAILCHIMP_SECRET = 'mailchimp-webhook-secret-0123';
/** Put in bodies to check that no answer and no log line ever repeats what a caller sent. */
const MARKER = 'do-not-echo-7c1f';

/** The real in-process store, with every eviction recorded (and reads that can be made to throw). */
class RecordingStore extends MemoryStore {
  readonly evictions: string[][] = [];
  failReads = false;

  override async delete(keys: readonly string[]): Promise<void> {
    this.evictions.push([...keys]);
    await super.delete(keys);
  }

  override getMany(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    if (this.failReads) throw new Error('the store broke');
    return super.getMany(keys);
  }
}

let pool: pg.Pool;
let store: RecordingStore;
let server: TestServer;
/** What the webhooks told the push hub. */
const signals: Signal[] = [];

beforeAll(async () => {
  // Webhooks never read the shop: a pool that would fail if they did.
  pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
  store = new RecordingStore({ maxEntries: 1000, maxBytes: 1 << 20 });
  server = await startTestServer(
    { pool },
    {},
    {
      store,
      webhooks: { hubspotClientSecret: CLIENT_SECRET, mailchimpSecret: MAILCHIMP_SECRET, onSignal: (signal) => signals.push(signal) },
    },
  );
});
afterAll(async () => {
  await server?.close();
  await pool?.end();
});
beforeEach(() => {
  store.evictions.length = 0;
  store.failReads = false;
  signals.length = 0;
  server.reset();
});

const hubspotUrl = () => `${server.url}/webhooks/hubspot`;
const mailchimpUrl = (secret = MAILCHIMP_SECRET) => `${server.url}/webhooks/mailchimp/${secret}`;

/** Headers of a HubSpot v3 delivery of `body`, signed now. */
function signed(body: string, timestamp = String(Date.now())): Record<string, string> {
  return hubspotDeliveryHeaders(CLIENT_SECRET, hubspotUrl(), body, Number(timestamp));
}

const postHubSpot = (body: string, headers = signed(body)) => fetch(hubspotUrl(), { method: 'POST', headers, body });

let nextEventId = 1000;
const contactEvent = (objectId: unknown, overrides: Record<string, unknown> = {}) => ({
  eventId: nextEventId++,
  subscriptionId: 7,
  portalId: 42,
  appId: 9,
  occurredAt: 1_790_000_000_000,
  subscriptionType: 'contact.propertyChange',
  attemptNumber: 0,
  objectId,
  changeSource: 'CRM',
  propertyName: 'lifecyclestage',
  propertyValue: MARKER,
  ...overrides,
});

/**
 * Sends the headers and the first chunk of a body that never completes, and resolves with the
 * answer as soon as it arrives: a server that waited for the body would never answer (the test
 * would time out). `bodyStillOpen` says the request body had not been finished when it answered.
 */
function answerBeforeBody(url: string, headers: Record<string, string>): Promise<{ status: number; bodyStillOpen: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const bodyStillOpen = !req.writableEnded;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode!, bodyStillOpen, text });
        req.destroy();
      });
    });
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    // Chunked, no length announced: a parser would have to wait for the rest.
    req.write(`type=profile&data[email]=${MARKER}%40example.com&filler=${'x'.repeat(1024)}`);
  });
}

describe('HubSpot webhook', () => {
  it.each([
    ['an object', { id: 1 }],
    ['null', null],
    ['a number beyond the safe integers', 2 ** 60],
    ['a string', '123'],
    ['zero', 0],
    ['a negative number', -5],
    ['a fraction', 1.5],
  ])('answers 400 for an objectId that is %s, without echoing the body or evicting anything', async (_name, objectId) => {
    const body = JSON.stringify([contactEvent(101), contactEvent(objectId)]);
    const response = await postHubSpot(body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'expected a JSON array of events; event 1 has an invalid objectId' });
    expect(store.evictions).toEqual([]);
    expect(server.logs.join('\n')).not.toContain(MARKER);
  });

  it('answers 400 for a body that is not an array of events, and for a contact event without its objectId', async () => {
    for (const body of ['{"eventId":1}', 'not json', '[{"subscriptionType":"contact.creation","objectId":5}]', JSON.stringify([{ ...contactEvent(1), objectId: undefined }])]) {
      const response = await postHubSpot(body);
      expect(response.status).toBe(400);
      expect(await response.text()).not.toContain(MARKER);
    }
    expect(store.evictions).toEqual([]);
  });

  it('ignores subscription types it does not know, and applies the contact events beside them', async () => {
    const body = JSON.stringify([
      contactEvent(202),
      { eventId: 5, subscriptionType: 'deal.creation', objectId: 77, portalId: 42 },
      { eventId: 6, subscriptionType: 'something.new' },
    ]);
    expect((await postHubSpot(body)).status).toBe(204);
    expect(store.evictions).toEqual([crmContactKeys('202', null)]);
  });

  it('applies a replayed delivery (same signature and timestamp) once, concurrent replays included', async () => {
    const body = JSON.stringify([contactEvent(303)]);
    const headers = signed(body);
    const answers = await Promise.all([postHubSpot(body, headers), postHubSpot(body, headers)]);
    expect(answers.map((r) => r.status)).toEqual([204, 204]);
    expect((await postHubSpot(body, headers)).status).toBe(204);
    expect(store.evictions).toEqual([crmContactKeys('303', null)]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^c360_webhook_deliveries_total\{webhook="hubspot",outcome="duplicate"\} 2$/m);
  });

  it("applies HubSpot's retry of an event once, and a new event about the same contact again", async () => {
    const event = contactEvent(404);
    expect((await postHubSpot(JSON.stringify([event]))).status).toBe(204);
    // A retry: a new request (new timestamp, new signature) carrying the same event, attemptNumber 1.
    expect((await postHubSpot(JSON.stringify([{ ...event, attemptNumber: 1 }]), signed(JSON.stringify([{ ...event, attemptNumber: 1 }]), String(Date.now() + 1)))).status).toBe(
      204,
    );
    expect(store.evictions).toHaveLength(1);
    expect((await postHubSpot(JSON.stringify([contactEvent(404, { occurredAt: 1_790_000_000_500 })]))).status).toBe(204);
    expect(store.evictions).toEqual([crmContactKeys('404', null), crmContactKeys('404', null)]);
  });

  it('evicts the contact an association change starts from', async () => {
    const body = JSON.stringify([{ eventId: 8, portalId: 42, subscriptionType: 'contact.associationChange', fromObjectId: 505, toObjectId: 9, associationRemoved: false }]);
    expect((await postHubSpot(body)).status).toBe(204);
    expect(store.evictions).toEqual([crmContactKeys('505', null)]);
  });

  it('refuses a request without fresh signature headers before reading its body', async () => {
    const missing = await answerBeforeBody(hubspotUrl(), { 'content-type': 'application/json' });
    expect(missing).toMatchObject({ status: 401, bodyStillOpen: true });
    const stale = await answerBeforeBody(hubspotUrl(), { ...signed('[]', String(Date.now() - 6 * 60_000)) });
    expect(stale).toMatchObject({ status: 401, bodyStillOpen: true });
    expect(missing.text + stale.text).not.toContain(MARKER);
  });

  it('answers 413 for a body over the limit, unsigned or not', async () => {
    const body = JSON.stringify([contactEvent(1, { propertyValue: 'x'.repeat(300 * 1024) })]);
    expect((await postHubSpot(body)).status).toBe(413);
    expect(store.evictions).toEqual([]);
  });

  it('answers 500 (no unhandled rejection) when applying fails, and applies the retry', async () => {
    const event = contactEvent(606);
    store.failReads = true;
    const failed = await postHubSpot(JSON.stringify([event]));
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: 'could not apply the webhook' });
    expect(signals).toEqual([]);
    store.failReads = false;
    const retry = JSON.stringify([{ ...event, attemptNumber: 1 }]);
    expect((await postHubSpot(retry, signed(retry, String(Date.now() + 1)))).status).toBe(204);
    expect(store.evictions).toEqual([crmContactKeys('606', null)]);
    expect(signals.map((signal) => signal.subject)).toEqual([{ contactId: '606' }]);
  });

  it('evicts by email through the contact index', async () => {
    await store.setMany([{ key: contactEmailKey('707'), entry: { value: 'seven@example.com', storedAt: Date.now() }, retainMs: 60_000 }]);
    expect((await postHubSpot(JSON.stringify([contactEvent(707)]))).status).toBe(204);
    expect(store.evictions).toEqual([crmContactKeys('707', 'seven@example.com')]);
  });
});

describe('HubSpot webhook signals', () => {
  it('tells the push hub of each applied contact event once, as a crm signal named by the event, and of a repeat not again', async () => {
    const changed = contactEvent(111);
    const created = contactEvent(112, { subscriptionType: 'contact.creation', propertyName: undefined, propertyValue: undefined });
    const body = JSON.stringify([changed, created, changed]);
    expect((await postHubSpot(body)).status).toBe(204);
    const at = new Date(1_790_000_000_000).toISOString();
    expect(signals).toEqual([
      {
        id: `crm:hubspot:event:42:${changed.eventId}:contact.propertyChange:111:1790000000000:lifecyclestage:111`,
        source: 'crm',
        kind: 'contact.propertyChange',
        subject: { contactId: '111' },
        at,
        receivedAt: expect.any(Number),
      },
      {
        id: `crm:hubspot:event:42:${created.eventId}:contact.creation:112:1790000000000::112`,
        source: 'crm',
        kind: 'contact.creation',
        subject: { contactId: '112' },
        at,
        receivedAt: expect.any(Number),
      },
    ]);
    const retry = JSON.stringify([{ ...changed, attemptNumber: 1 }]);
    expect((await postHubSpot(retry, signed(retry, String(Date.now() + 1)))).status).toBe(204);
    expect(signals).toHaveLength(2);
  });

  it('evicts and signals every contact of a merge, and the deletion of a contact', async () => {
    const merge = {
      eventId: 31,
      portalId: 42,
      subscriptionType: 'contact.merge',
      objectId: 120,
      primaryObjectId: 120,
      mergedObjectIds: [121, 122],
      newObjectId: 123,
      occurredAt: 1,
    };
    const deletion = { eventId: 32, portalId: 42, subscriptionType: 'contact.deletion', objectId: 124, occurredAt: 2 };
    expect((await postHubSpot(JSON.stringify([merge, deletion]))).status).toBe(204);
    expect(store.evictions).toEqual([['120', '123', '121', '122', '124'].flatMap((id) => crmContactKeys(id, null))]);
    expect(signals.map((signal) => [signal.kind, signal.subject.contactId])).toEqual([
      ['contact.merge', '120'],
      ['contact.merge', '123'],
      ['contact.merge', '121'],
      ['contact.merge', '122'],
      ['contact.deletion', '124'],
    ]);
    expect(new Set(signals.map((signal) => signal.id)).size).toBe(5);
  });

  it("maps association changes to their contact side, whichever object subscribed, and ignores other objects' changes with a reason", async () => {
    const body = JSON.stringify([
      { eventId: 41, portalId: 42, subscriptionType: 'deal.associationChange', associationType: 'DEAL_TO_CONTACT', fromObjectId: 900, toObjectId: 901 },
      { eventId: 42, portalId: 42, subscriptionType: 'contact.associationChange', associationType: 'COMPANY_TO_CONTACT', fromObjectId: 800, toObjectId: 902 },
      { eventId: 43, portalId: 42, subscriptionType: 'company.associationChange', associationType: 'CONTACT_TO_COMPANY', fromObjectId: 903, toObjectId: 801 },
      { eventId: 44, portalId: 42, subscriptionType: 'company.associationChange', associationType: 'COMPANY_TO_DEAL', fromObjectId: 802, toObjectId: 904 },
      { eventId: 45, portalId: 42, subscriptionType: 'deal.propertyChange', objectId: 905, propertyName: 'amount', propertyValue: MARKER },
    ]);
    expect((await postHubSpot(body)).status).toBe(204);
    expect(signals.map((signal) => [signal.kind, signal.subject.contactId])).toEqual([
      ['deal.associationChange', '901'],
      ['contact.associationChange', '902'],
      ['company.associationChange', '903'],
    ]);
    expect(store.evictions).toEqual([['901', '902', '903'].flatMap((id) => crmContactKeys(id, null))]);
    const handled = server.logs.find((line) => line.includes('webhook handled'))!;
    expect(JSON.parse(handled).ignored).toEqual({ 'company.associationChange': 'the association has no contact side', 'deal.propertyChange': 'not about a contact' });
    expect(handled).not.toContain(MARKER);
  });

  it('signals nothing for a delivery of events about no contact', async () => {
    expect((await postHubSpot(JSON.stringify([{ eventId: 51, subscriptionType: 'company.creation', objectId: 3 }]))).status).toBe(204);
    expect(signals).toEqual([]);
  });
});

describe('Mailchimp webhook', () => {
  const form = (fields: Record<string, string>) => new URLSearchParams({ type: 'unsubscribe', fired_at: '2026-11-01 10:00:00', 'data[list_id]': 'demo', ...fields });
  const postMailchimp = (body: URLSearchParams, secret?: string) => fetch(mailchimpUrl(secret), { method: 'POST', body });

  it('answers 404 to a wrong secret before reading the body', async () => {
    const answer = await answerBeforeBody(mailchimpUrl('wrong-secret-000000000'), { 'content-type': 'application/x-www-form-urlencoded' });
    expect(answer).toMatchObject({ status: 404, bodyStillOpen: true });
    expect(answer.text).not.toContain(MARKER);
    expect(store.evictions).toEqual([]);
  });

  it('answers 413 to a body over 16 kB with the right secret', async () => {
    const response = await postMailchimp(form({ 'data[email]': 'big@example.com', 'data[merges][NOTE]': 'x'.repeat(20 * 1024) }));
    expect(response.status).toBe(413);
    expect(store.evictions).toEqual([]);
  });

  it('applies an event once, its repeat within five minutes not again, and a later event again', async () => {
    const event = form({ 'data[email]': 'Someone@Example.com', 'data[id]': 'abc123' });
    expect((await postMailchimp(event)).status).toBe(200);
    expect((await postMailchimp(event)).status).toBe(200);
    expect(store.evictions).toHaveLength(1);
    expect(store.evictions[0]).toContain(emailMemberKey('someone@example.com'));
    expect((await postMailchimp(form({ 'data[email]': 'someone@example.com', 'data[id]': 'abc123', fired_at: '2026-11-01 10:05:00' }))).status).toBe(200);
    expect(store.evictions).toHaveLength(2);
  });

  it('tells the push hub of each applied member event as an email signal, its address normalized and kept out of the id', async () => {
    const event = form({ 'data[email]': ' Someone@Example.com', 'data[id]': 'sig1' });
    expect((await postMailchimp(event)).status).toBe(200);
    expect((await postMailchimp(event)).status).toBe(200);
    expect(signals).toEqual([
      {
        id: expect.stringMatching(/^email:mailchimp:[A-Za-z0-9_-]{43}:0$/),
        source: 'email',
        kind: 'unsubscribe',
        subject: { email: 'someone@example.com' },
        receivedAt: expect.any(Number),
      },
    ]);
    expect(signals[0]!.id).not.toMatch(/someone/i);
  });

  it('signals both addresses of an email change, and nothing for a campaign event', async () => {
    const change = form({ type: 'upemail', 'data[old_email]': 'old@example.com', 'data[new_email]': 'new@example.com', 'data[new_id]': 'n1' });
    expect((await postMailchimp(change)).status).toBe(200);
    expect((await postMailchimp(new URLSearchParams({ type: 'campaign', 'data[id]': 'c2', 'data[status]': 'sent' }))).status).toBe(200);
    expect(signals.map((signal) => [signal.kind, signal.subject])).toEqual([
      ['upemail', { email: 'old@example.com' }],
      ['upemail', { email: 'new@example.com' }],
    ]);
    expect(new Set(signals.map((signal) => signal.id)).size).toBe(2);
  });

  it('answers 400 to a form without a type, and 200 without evicting to a campaign event', async () => {
    const untyped = await postMailchimp(new URLSearchParams({ 'data[email]': `${MARKER}@example.com` }));
    expect(untyped.status).toBe(400);
    expect(await untyped.text()).not.toContain(MARKER);
    expect((await postMailchimp(new URLSearchParams({ type: 'campaign', 'data[id]': 'c1' }))).status).toBe(200);
    expect(store.evictions).toEqual([]);
  });
});
