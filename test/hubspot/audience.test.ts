import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_OWNERS, contactIdOf, personAt, populationSize, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, startHubSpotStandIn, type HubSpotStandIn, type HubSpotStandInOptions } from '../../sandbox/hubspot/index.ts';
import { contactById, type StoredObject } from '../../sandbox/hubspot/records.ts';
import { crmNotConfigured } from '../../server/sources.ts';
import { AudienceRefused, type CrmCondition, type PropertyCondition } from '../../sources/audience.ts';
import { SourceError } from '../../sources/errors.ts';
import type { HubSpotSearchOptions, HubSpotSource } from '../../sources/hubspot/index.ts';
import { source as supportSource, TOKEN, WORLD } from './support.ts';

/**
 * The CRM audience (sources/hubspot/audience.ts) through the real SDK against the stand-in over
 * HTTP: what HubSpot's search answers must equal the condition worked out contact by contact over
 * the generated world, at the number of calls the cost functions promise.
 */

const SEARCH = ENDPOINTS.contactsSearch;
/** A world with more contacts than one query may page through once the cap is lowered to 1,000. */
const BIG: DemoWorld = { ...WORLD, customers: 2000 };

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** No search limit in the stand-in unless a test asks for HubSpot's. */
async function standIn(world: DemoWorld = WORLD, options: Partial<HubSpotStandInOptions> = {}): Promise<HubSpotStandIn> {
  const stand = await startHubSpotStandIn({ world, accessToken: TOKEN, rateLimit: null, searchRateLimit: null, ...options });
  running.push(stand);
  return stand;
}

/** A source whose search limiter does not slow the tests down, unless `search` says otherwise. */
function source(stand: HubSpotStandIn, search: HubSpotSearchOptions = {}): HubSpotSource {
  return supportSource(stand, { search: { requestsPerSecond: 1000, retryBudgetMs: 2000, ...search } });
}

function counting() {
  const tally = { calls: 0, rows: 0, call: (rows: number) => void ((tally.calls += 1), (tally.rows += rows)) };
  return tally;
}

const never = () => new AbortController().signal;

function contactsOf(world: DemoWorld): StoredObject[] {
  return Array.from({ length: populationSize(world) }, (_, i) => contactById(world, contactIdOf(i))).filter((c) => c !== null);
}
const CONTACTS = contactsOf(WORLD);
/** Every email of WORLD (CRM or not), and a few no one has: the candidates `check` gets. */
const CANDIDATES = [...Array.from({ length: populationSize(WORLD) }, (_, i) => personAt(WORLD, i).email), 'stranger.1@elsewhere.test', 'stranger.2@elsewhere.test'];

const ENUMERATIONS = new Set(['lifecyclestage', 'hs_lead_status', 'hubspot_owner_id', 'preferred_store', 'loyalty_tier']);
const value = (c: StoredObject, name: string) => c.properties[name] ?? null;

/** A CrmCondition as CrmCondition documents it, worked out for one contact. */
function meets(c: StoredObject, condition: CrmCondition): boolean {
  const oneOf = (name: string, values: readonly string[] | undefined, fold = false) => {
    if (!values) return true;
    const v = value(c, name);
    return v !== null && values.some((w) => (fold ? w.toLowerCase() === v.toLowerCase() : w === v));
  };
  return (
    oneOf('lifecyclestage', condition.lifecycleStages) &&
    oneOf('hs_lead_status', condition.leadStatuses) &&
    oneOf('hubspot_owner_id', condition.ownerIds) &&
    oneOf('company', condition.companies, true) &&
    (condition.properties ?? []).every((p) => meetsProperty(c, p))
  );
}

function meetsProperty(c: StoredObject, p: PropertyCondition): boolean {
  const raw = value(c, p.property);
  const key = (v: string): string | number =>
    p.property === 'createdate' ? (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) : p.property === 'hs_object_id' ? Number(v) : ENUMERATIONS.has(p.property) ? v : v.toLowerCase();
  const v = raw === null ? null : key(raw);
  const is = (w: string) => v !== null && v === key(w);
  switch (p.operator) {
    case 'EQ':
      return is(p.value!);
    case 'NEQ':
      return !is(p.value!);
    case 'IN':
      return p.values!.some(is);
    case 'NOT_IN':
      return !p.values!.some(is);
    case 'HAS_PROPERTY':
      return v !== null;
    case 'NOT_HAS_PROPERTY':
      return v === null;
    case 'GT':
      return v !== null && v > key(p.value!);
    case 'GTE':
      return v !== null && v >= key(p.value!);
    case 'LT':
      return v !== null && v < key(p.value!);
    case 'LTE':
      return v !== null && v <= key(p.value!);
  }
}

const emailsMeeting = (contacts: StoredObject[], condition: CrmCondition) => new Set(contacts.filter((c) => meets(c, condition)).map((c) => value(c, 'email')!.toLowerCase()));

const companies = [...new Set(CONTACTS.map((c) => value(c, 'company')).filter((v) => v !== null))];
const cities = CONTACTS.map((c) => value(c, 'city')!);
const createdAt = CONTACTS.map((c) => Date.parse(value(c, 'createdate')!)).sort((a, b) => a - b);

const CONDITIONS: Array<[string, CrmCondition]> = [
  ['lifecycleStages', { lifecycleStages: ['lead', 'opportunity'] }],
  ['leadStatuses', { leadStatuses: ['NEW', 'OPEN'] }],
  ['ownerIds', { ownerIds: [DEMO_OWNERS[0]!.id, DEMO_OWNERS[2]!.id] }],
  ['companies, in another case', { companies: [companies[0]!.toUpperCase(), companies[1]!] }],
  ['properties: IN on an enumeration', { properties: [{ property: 'preferred_store', operator: 'IN', values: ['downtown', 'airport'] }] }],
  ['properties: EQ', { properties: [{ property: 'loyalty_tier', operator: 'EQ', value: 'gold' }] }],
  ['properties: NEQ (contacts without a value included)', { properties: [{ property: 'loyalty_tier', operator: 'NEQ', value: 'bronze' }] }],
  ['properties: HAS_PROPERTY', { properties: [{ property: 'loyalty_tier', operator: 'HAS_PROPERTY' }] }],
  ['properties: NOT_HAS_PROPERTY', { properties: [{ property: 'preferred_store', operator: 'NOT_HAS_PROPERTY' }] }],
  ['properties: EQ on a string, in another case', { properties: [{ property: 'city', operator: 'EQ', value: cities[0]!.toUpperCase() }] }],
  ['properties: NOT_IN on a string, values not lower-case', { properties: [{ property: 'country', operator: 'NOT_IN', values: ['Canada', 'United Kingdom'] }] }],
  ['properties: IN on a string, values not lower-case', { properties: [{ property: 'country', operator: 'IN', values: ['Germany', 'France'] }] }],
  ['properties: GTE on a datetime (epoch ms)', { properties: [{ property: 'createdate', operator: 'GTE', value: String(createdAt[100]) }] }],
  ['properties: LT on the id', { properties: [{ property: 'hs_object_id', operator: 'LT', value: CONTACTS[50]!.id }] }],
  [
    'several fields at once',
    { lifecycleStages: ['customer', 'evangelist'], ownerIds: DEMO_OWNERS.slice(0, 4).map((o) => o.id), properties: [{ property: 'loyalty_tier', operator: 'HAS_PROPERTY' }] },
  ],
  ['no field (every contact)', {}],
];

describe('push-down: each field equals the condition worked out over the world', () => {
  it.each(CONDITIONS)('%s', async (name, condition) => {
    const stand = await standIn();
    const { audience } = source(stand);
    const expected = emailsMeeting(CONTACTS, condition);
    // A condition that selects no one (or, but for the last, everyone) would prove nothing.
    expect(expected.size).toBeGreaterThan(0);
    if (name !== 'no field (every contact)') expect(expected.size).toBeLessThan(CONTACTS.length);

    const tally = counting();
    expect(await audience.estimate(condition, tally, never())).toEqual({ count: expected.size, exact: true });
    expect(tally).toMatchObject({ calls: 1, rows: Math.min(1, expected.size) });

    const listing = counting();
    expect(await audience.enumerate(condition, listing, never())).toEqual(expected);
    expect(listing.calls).toBe(audience.enumerationCalls(condition, expected.size));
    expect(listing.rows).toBe(expected.size);

    const checking = counting();
    const met = await audience.check(condition, CANDIDATES, checking, never());
    expect(met).toEqual(expected);
    expect(checking.calls).toBe(audience.checkCalls(condition, CANDIDATES.length));
    expect(checking.calls).toBe(Math.ceil(CANDIDATES.length / 100));
    expect(stand.stats.byEndpoint[SEARCH]).toBe(tally.calls + listing.calls + checking.calls);
    expect(stand.stats.total).toBe(stand.stats.byEndpoint[SEARCH]);
  });

  it('answers lower-cased emails, each once', async () => {
    const stand = await standIn();
    const emails = await source(stand).audience.enumerate({ lifecycleStages: ['customer'] }, counting(), never());
    expect([...emails].every((e) => e === e.toLowerCase() && e.includes('@'))).toBe(true);
    const met = await source(stand).audience.check({}, CANDIDATES.slice(0, 10), counting(), never());
    expect([...met].every((e) => CANDIDATES.slice(0, 10).includes(e))).toBe(true);
  });
});

describe('enumerate: paging', () => {
  it('pages 200 at a time and, past the per-query cap, restarts after the last id seen', async () => {
    const stand = await standIn(BIG);
    // The stand-in refuses to page past 1,000 results, as HubSpot past 10,000.
    stand.searchResultCap = 1000;
    const { audience } = source(stand, { requestsPerSecond: 1000, maxResultsPerQuery: 1000 });
    const contacts = contactsOf(BIG);
    for (const condition of [{}, { lifecycleStages: ['customer'] }] as CrmCondition[]) {
      const expected = emailsMeeting(contacts, condition);
      expect(expected.size).toBeGreaterThan(1200);
      stand.stats.reset();
      const tally = counting();
      expect(await audience.enumerate(condition, tally, never())).toEqual(expected);
      expect(tally.calls).toBe(Math.ceil(expected.size / 200));
      expect(tally.calls).toBe(audience.enumerationCalls(condition, expected.size));
      expect(stand.stats.byStatus).toEqual({ 200: tally.calls });
    }
  });

  it('meets the 400 when it pages past the cap without restarting (what the restart avoids)', async () => {
    const stand = await standIn(BIG);
    stand.searchResultCap = 1000;
    const tally = counting();
    const error = await source(stand)
      .audience.enumerate({}, tally, never())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'crm', kind: 'bad_response' });
    expect((error as Error).message).toMatch(/contacts search: HubSpot rejected the request \(400 VALIDATION_ERROR\)/);
    expect(tally.calls).toBe(6);
    expect(stand.stats.byStatus).toEqual({ 200: 5, 400: 1 });
  });

  it('costs one call for a condition no one meets', async () => {
    const stand = await standIn();
    const tally = counting();
    const { audience } = source(stand);
    expect(await audience.enumerate({ leadStatuses: ['NO_SUCH_STATUS'] }, tally, never())).toEqual(new Set());
    expect(tally.calls).toBe(1);
    expect(audience.enumerationCalls({ leadStatuses: ['NO_SUCH_STATUS'] }, 0)).toBe(1);
  });
});

describe('check', () => {
  it('asks 100 candidates per search', async () => {
    const stand = await standIn();
    const { audience } = source(stand);
    const tally = counting();
    const candidates = CANDIDATES.slice(0, 201);
    await audience.check({ lifecycleStages: ['customer'] }, candidates, tally, never());
    expect(tally.calls).toBe(3);
    expect(audience.checkCalls({}, 201)).toBe(3);
    expect(stand.stats.byEndpoint[SEARCH]).toBe(3);
    expect(await audience.check({}, [], counting(), never())).toEqual(new Set());
  });
});

describe('conditions the source will not send', () => {
  it('refuses a condition needing more filters than fit in one group, naming what to remove, without a call', async () => {
    const stand = await standIn();
    const { audience } = source(stand);
    const condition: CrmCondition = {
      lifecycleStages: ['customer'],
      leadStatuses: ['NEW'],
      ownerIds: [DEMO_OWNERS[0]!.id],
      companies: ['x'],
      properties: [
        { property: 'loyalty_tier', operator: 'HAS_PROPERTY' },
        { property: 'preferred_store', operator: 'HAS_PROPERTY' },
      ],
    };
    for (const call of [
      () => audience.estimate(condition, counting(), never()),
      () => audience.enumerate(condition, counting(), never()),
      () => audience.check(condition, CANDIDATES, counting(), never()),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AudienceRefused);
      expect((error as Error).message).toMatch(/needs 6 HubSpot search filters.*at most 5.*remove 1/);
    }
    await expect(audience.estimate({ ...condition, companies: undefined }, counting(), never())).resolves.toMatchObject({ exact: true });
    expect(stand.stats.total).toBe(1);
  });

  it('refuses a property condition without its value', async () => {
    const stand = await standIn();
    const error = await source(stand)
      .audience.estimate({ properties: [{ property: 'loyalty_tier', operator: 'EQ' }] }, counting(), never())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AudienceRefused);
    expect((error as Error).message).toContain('loyalty_tier');
    expect(stand.stats.total).toBe(0);
  });

  it('answers no one for an empty list, without a call', async () => {
    const stand = await standIn();
    const { audience } = source(stand);
    const tally = counting();
    expect(await audience.estimate({ lifecycleStages: [] }, tally, never())).toEqual({ count: 0, exact: true });
    expect(await audience.enumerate({ companies: [] }, tally, never())).toEqual(new Set());
    expect(await audience.check({ ownerIds: [] }, CANDIDATES, tally, never())).toEqual(new Set());
    expect(audience.enumerationCalls({ lifecycleStages: [] }, 0)).toBe(0);
    expect(tally.calls).toBe(0);
    expect(stand.stats.total).toBe(0);
  });
});

describe('rate limits', () => {
  it('rides out a storm of search 429s, each attempt counted', async () => {
    const stand = await standIn();
    stand.force429 = { times: 3, policy: 'SECONDLY' };
    const tally = counting();
    const expected = emailsMeeting(CONTACTS, { lifecycleStages: ['lead'] });
    expect(await source(stand).audience.estimate({ lifecycleStages: ['lead'] }, tally, never())).toEqual({ count: expected.size, exact: true });
    expect(stand.stats.byStatus).toEqual({ 429: 3, 200: 1 });
    expect(tally.calls).toBe(4);
  });

  it('fails with rate_limited when the 429s outlast the retry budget', async () => {
    const stand = await standIn();
    stand.force429 = { times: 'always', policy: 'SECONDLY' };
    const error = await source(stand, { retryBudgetMs: 300 })
      .audience.estimate({}, counting(), never())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'crm', kind: 'rate_limited' });
  });

  it("keeps a burst under HubSpot's 5 searches per second with its own limiter", async () => {
    const stand = await standIn(WORLD, { searchRateLimit: undefined });
    // HubSpot's own defaults: 4 searches per second and a 10 s wait for a slot.
    const { audience } = source(stand, { requestsPerSecond: undefined, retryBudgetMs: undefined });
    const tally = counting();
    await Promise.all(Array.from({ length: 8 }, () => audience.estimate({ lifecycleStages: ['lead'] }, tally, never())));
    expect(stand.stats.byStatus).toEqual({ 200: 8 });
    expect(tally.calls).toBe(8);
  });

  it('meets 429s in the same burst when its limiter allows more than HubSpot', async () => {
    const stand = await standIn(WORLD, { searchRateLimit: undefined });
    const { audience } = source(stand, { requestsPerSecond: 100 });
    await Promise.allSettled(Array.from({ length: 8 }, () => audience.estimate({ lifecycleStages: ['lead'] }, counting(), never())));
    expect(stand.stats.byStatus[429]).toBeGreaterThan(0);
  });

  it('does not spend the batch reads’ rate limit', async () => {
    const stand = await standIn();
    const crm = supportSource(stand, { retryBudgetMs: 500, rateLimit: { requests: 1, intervalMs: 60_000 }, extraProperties: [], search: { requestsPerSecond: 1000 } });
    await crm.audience.enumerate({ lifecycleStages: ['lead'] }, counting(), never());
    await crm.audience.estimate({}, counting(), never());
    const [contact] = await crm.contactsByEmail([value(CONTACTS[0]!, 'email')!]);
    expect(contact).toMatchObject({ id: CONTACTS[0]!.id });
  });
});

describe('failures', () => {
  it('rejects with a crm SourceError naming no email when HubSpot answers 500', async () => {
    const stand = await standIn();
    stand.errorRate = 1;
    const tally = counting();
    const error = await source(stand, { retryBudgetMs: 300 })
      .audience.check({ lifecycleStages: ['lead'] }, CANDIDATES.slice(0, 5), tally, never())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'crm', kind: 'unavailable', retryable: true });
    expect((error as Error).message).toMatch(/^crm: contacts search: HubSpot answered 500 INTERNAL_ERROR/);
    for (const email of CANDIDATES.slice(0, 5)) expect((error as Error).message).not.toContain(email);
    expect(tally.calls).toBeGreaterThanOrEqual(2);
    expect(tally.calls).toBe(stand.stats.byEndpoint[SEARCH]);
  });

  it('rejects with a crm SourceError when HubSpot cannot be reached', async () => {
    const stand = await standIn();
    await stand.stopListening();
    const error = await source(stand, { retryBudgetMs: 200 })
      .audience.enumerate({}, counting(), never())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'crm', kind: 'unavailable' });
    expect((error as Error).message).toMatch(/could not reach HubSpot/);
  });

  it('makes no call once the signal has aborted', async () => {
    const stand = await standIn();
    const tally = counting();
    const error = await source(stand)
      .audience.estimate({}, tally, AbortSignal.abort())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'crm', kind: 'timeout' });
    expect(tally.calls).toBe(0);
    expect(stand.stats.total).toBe(0);
  });

  it('stops enumerating at the page where the signal aborts', async () => {
    const stand = await standIn(BIG);
    const controller = new AbortController();
    const tally = { calls: 0, call: () => void (++tally.calls === 2 && controller.abort()) };
    const error = await source(stand)
      .audience.enumerate({}, tally, controller.signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'crm', kind: 'timeout' });
    expect(tally.calls).toBe(2);
    expect(stand.stats.byEndpoint[SEARCH]).toBe(2);
  });

  it('fails once the source is closed', async () => {
    const stand = await standIn();
    const crm = source(stand);
    await crm.close();
    await expect(crm.audience.estimate({}, counting(), never())).rejects.toMatchObject({ source: 'crm', kind: 'unavailable' });
    expect(stand.stats.total).toBe(0);
  });
});

describe('without configuration', () => {
  it('answers not_configured on every call, by email, with the costs a configured source would have', async () => {
    const { audience } = crmNotConfigured();
    expect(audience.key).toBe('email');
    for (const call of [
      () => audience.estimate({}, counting(), never()),
      () => audience.enumerate({}, counting(), never()),
      () => audience.check({}, ['a@example.com'], counting(), never()),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceError);
      expect(error).toMatchObject({ source: 'crm', kind: 'not_configured' });
    }
    expect(audience.enumerationCalls({}, 401)).toBe(3);
    expect(audience.checkCalls({}, 101)).toBe(2);
  });
});
