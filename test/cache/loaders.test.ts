import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TEST_FRESHNESS } from '../support/server.ts';
import { createLoaders, createUpstreams, type Sources } from '../../cache/loaders.ts';

/**
 * Sources whose every batch function records the keys it is given, by the function's name, and
 * answers each key with `{ id, email }` (string keys) or the key itself.
 */
function recordingSources() {
  const calls: Array<[string, unknown[]]> = [];
  const answer = (key: unknown) => (typeof key === 'string' ? { id: key, email: `${key}@example.com` } : key);
  const batch = (fn: string) => async (keys: readonly unknown[]) => {
    calls.push([fn, [...keys]]);
    return keys.map(answer);
  };
  // HubSpot's slot for a read (reserveSlot) is given at once: the calls recorded are the reads.
  const source = () => new Proxy({}, { get: (_, fn) => (fn === 'reserveSlot' ? async () => undefined : batch(String(fn))) });
  const sources = { commerce: source(), crm: source(), email: source(), web: source() } as unknown as Sources;
  return { calls, sources };
}

function setup() {
  const { calls, sources } = recordingSources();
  const upstreams = createUpstreams(sources, {
    store: null,
    freshness: TEST_FRESHNESS,
    guard: { breakerFailures: 5, breakerCooldownMs: 1000, maxConcurrent: 10, queue: 100 },
    logger: pino({ level: 'silent' }),
  });
  // Which families a request's loaders ask for: a loader asks for its family when it is made.
  const asked: string[] = [];
  const families = new Proxy(upstreams.families, {
    get: (target, name, receiver) => {
      asked.push(String(name));
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
  const request = () => createLoaders({ ...upstreams, families }, {});
  return { calls, asked, request };
}

const subject = (userId: string) => ({ userId, anonymousId: null, days: 30 });

describe("a request's loaders", () => {
  it('are made on first use only, once per request', async () => {
    const { asked, request } = setup();
    const loaders = request();
    expect(asked).toEqual([]);
    await loaders.webSummary.load(subject('1'));
    expect(loaders.webSummary).toBe(loaders.webSummary);
    expect(loaders.emailMember).toBe(loaders.emailMember);
    expect(asked).toEqual(['webSummary', 'emailMember']);
  });

  it('make the customer loaders as a pair, each priming the other', async () => {
    const { calls, asked, request } = setup();
    const loaders = request();
    const customer = await loaders.customerById.load('7');
    expect(await loaders.customerByEmail.load(' 7@Example.com')).toBe(customer);
    expect(calls).toEqual([['customersById', ['7']]]);
    expect(asked).toEqual(['customerById', 'customerByEmail']);
  });

  it("answer a contact's email from its read by id", async () => {
    const { calls, request } = setup();
    const loaders = request();
    const contact = await loaders.crmContactById.load('9');
    expect(await loaders.crmContactByEmail.load('9@example.com')).toBe(contact);
    expect(calls).toEqual([['contactsById', ['9']]]);
  });

  it("keep each set's batch size, deduplication key and key normalization", async () => {
    const { calls, request } = setup();
    const loaders = request();
    await loaders.crmCompany.loadMany(Array.from({ length: 150 }, (_, i) => `${i}`));
    await loaders.webSummary.loadMany([subject('1'), subject('1'), { ...subject('1'), days: 7 }]);
    await loaders.emailMember.loadMany([' A@Example.com', 'a@example.com']);
    await loaders.lineItems.loadMany(Array.from({ length: 600 }, (_, i) => `${i}`));
    expect(calls.map(([fn, keys]) => [fn, keys.length])).toEqual([
      ['companiesForContacts', 100],
      ['companiesForContacts', 50],
      ['summaries', 2],
      ['membersByEmail', 1],
      ['lineItems', 600],
    ]);
    expect(calls[3]).toEqual(['membersByEmail', ['a@example.com']]);
  });
});
