import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterEach, describe, expect, it } from 'vitest';
import { contactIdOf, populationSize } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, startHubSpotStandIn, type HubSpotStandIn, type HubSpotStandInOptions } from '../../sandbox/hubspot/index.ts';
import { contactById, type StoredObject } from '../../sandbox/hubspot/records.ts';
import { TOKEN, WORLD } from './support.ts';

/**
 * The stand-in's CRM search against HubSpot's search guide (shared/reference/search-and-webhooks.md
 * §1) and the contacts OpenAPI document: filter groups, operators, limits, paging, the 10,000 cap
 * and the search endpoints' own 5-per-second limit. Expected answers are worked out from the
 * generated world itself, contact by contact.
 */

const running: HubSpotStandIn[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

/** No search limit unless a test sets one, so the conformance checks can send what they like. */
async function standIn(options: Partial<HubSpotStandInOptions> = {}): Promise<HubSpotStandIn> {
  const stand = await startHubSpotStandIn({ world: WORLD, accessToken: TOKEN, rateLimit: null, searchRateLimit: null, ...options });
  running.push(stand);
  return stand;
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function search(stand: HubSpotStandIn, body: unknown): Promise<Answer> {
  const response = await fetch(`${stand.url}/crm/v3/objects/contacts/search`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Every contact of WORLD, in id order: the ground truth. */
const CONTACTS: StoredObject[] = Array.from({ length: populationSize(WORLD) }, (_, i) => contactById(WORLD, contactIdOf(i))).filter((c) => c !== null);
const value = (c: StoredObject, name: string) => c.properties[name] ?? null;
const idsWhere = (test: (c: StoredObject) => boolean) => CONTACTS.filter(test).map((c) => c.id);

const group = (...filters: object[]) => ({ filters });
const filter = (propertyName: string, operator: string, extra: object = {}) => ({ propertyName, operator, ...extra });

/** Every id the query matches, walking its pages (sorted by id). */
async function allIds(stand: HubSpotStandIn, filterGroups: object[]): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined = '0';
  while (after !== undefined) {
    const { status, body } = await search(stand, { filterGroups, sorts: ['hs_object_id'], properties: ['email'], limit: 200, after });
    expect(status).toBe(200);
    ids.push(...body.results.map((r: { id: string }) => r.id));
    after = body.paging?.next?.after;
  }
  return ids;
}

const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (ajv: Ajv) => void)(ajv);
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
const spec = JSON.parse(readFileSync(new URL('./specs/contacts-v3.json', import.meta.url), 'utf8'));
// Requested properties without a value come back null (see conformance.test.ts).
spec.components.schemas.SimplePublicObject.properties.properties = { type: 'object', additionalProperties: { type: 'string', nullable: true } };
ajv.addSchema(spec, 'contacts');

describe('POST /crm/v3/objects/contacts/search: answers', () => {
  it('answers CollectionResponseWithTotalSimplePublicObject with the requested properties and the defaults', async () => {
    const stand = await standIn();
    const { status, body, headers } = await search(stand, { filterGroups: [], properties: ['email', 'loyalty_tier'], limit: 3 });
    expect(status).toBe(200);
    const validate = ajv.getSchema('contacts#/components/schemas/CollectionResponseWithTotalSimplePublicObject')!;
    expect(validate(body) ? [] : validate.errors).toEqual([]);
    expect(body.total).toBe(CONTACTS.length);
    expect(body.results).toHaveLength(3);
    const first = CONTACTS[0]!;
    expect(body.results[0]).toEqual({
      id: first.id,
      properties: {
        createdate: value(first, 'createdate'),
        lastmodifieddate: value(first, 'lastmodifieddate'),
        hs_object_id: first.id,
        email: value(first, 'email'),
        loyalty_tier: value(first, 'loyalty_tier'),
      },
      createdAt: first.createdAt.toISOString(),
      updatedAt: first.updatedAt.toISOString(),
      archived: false,
    });
    expect(body.paging).toEqual({ next: { after: '3', link: '?after=3' } });
    // HubSpot sends no rate-limit headers on search answers.
    expect(headers.get('x-hubspot-ratelimit-max')).toBeNull();
    expect(stand.stats.byEndpoint[ENDPOINTS.contactsSearch]).toBe(1);
  });

  it('ANDs the filters of a group and ORs the groups', async () => {
    const stand = await standIn();
    const groups = [
      group(filter('lifecyclestage', 'EQ', { value: 'customer' }), filter('loyalty_tier', 'EQ', { value: 'gold' })),
      group(filter('lifecyclestage', 'EQ', { value: 'lead' })),
    ];
    const expected = idsWhere((c) => (value(c, 'lifecyclestage') === 'customer' && value(c, 'loyalty_tier') === 'gold') || value(c, 'lifecyclestage') === 'lead');
    expect(expected.length).toBeGreaterThan(5);
    expect(await allIds(stand, groups)).toEqual(expected);
  });
});

describe('operators', () => {
  const lower = (c: StoredObject, name: string) => value(c, name)?.toLowerCase() ?? null;
  const some = CONTACTS.find((c) => value(c, 'company') !== null)!;
  const created = CONTACTS.map((c) => Date.parse(value(c, 'createdate')!)).sort((a, b) => a - b);
  const [low, high] = [created[40]!, created[120]!];
  const middleId = CONTACTS[80]!.id;

  const cases: Array<[string, object, (c: StoredObject) => boolean]> = [
    ['EQ on a string, case-insensitive', filter('company', 'EQ', { value: value(some, 'company')!.toUpperCase() }), (c) => lower(c, 'company') === lower(some, 'company')],
    ['EQ on an enumeration, exact', filter('hs_lead_status', 'EQ', { value: 'NEW' }), (c) => value(c, 'hs_lead_status') === 'NEW'],
    ['EQ on an enumeration in another case matches nothing', filter('hs_lead_status', 'EQ', { value: 'new' }), () => false],
    ['NEQ, contacts without a value included', filter('loyalty_tier', 'NEQ', { value: 'bronze' }), (c) => value(c, 'loyalty_tier') !== 'bronze'],
    ['IN on a string with lower-case values', filter('country', 'IN', { values: ['canada', 'germany'] }), (c) => ['canada', 'germany'].includes(lower(c, 'country')!)],
    ['IN on a string with upper-case values matches nothing', filter('country', 'IN', { values: ['Canada'] }), () => false],
    ['IN on an enumeration', filter('lifecyclestage', 'IN', { values: ['lead', 'opportunity'] }), (c) => ['lead', 'opportunity'].includes(value(c, 'lifecyclestage')!)],
    ['NOT_IN', filter('preferred_store', 'NOT_IN', { values: ['online', 'airport'] }), (c) => !['online', 'airport'].includes(value(c, 'preferred_store')!)],
    ['HAS_PROPERTY', filter('jobtitle', 'HAS_PROPERTY'), (c) => value(c, 'jobtitle') !== null],
    ['NOT_HAS_PROPERTY', filter('hubspot_owner_id', 'NOT_HAS_PROPERTY'), (c) => value(c, 'hubspot_owner_id') === null],
    ['GT on the id, numerically', filter('hs_object_id', 'GT', { value: middleId }), (c) => Number(c.id) > Number(middleId)],
    ['LTE on a datetime in epoch ms', filter('createdate', 'LTE', { value: String(low) }), (c) => Date.parse(value(c, 'createdate')!) <= low],
    [
      'BETWEEN on a datetime',
      filter('createdate', 'BETWEEN', { value: String(low), highValue: String(high) }),
      (c) => Date.parse(value(c, 'createdate')!) >= low && Date.parse(value(c, 'createdate')!) <= high,
    ],
    ['GTE on a string property, compared lower-cased', filter('lastname', 'GTE', { value: 'M' }), (c) => value(c, 'lastname') !== null && lower(c, 'lastname')! >= 'm'],
    ['LT on a property the index does not hold (zip)', filter('zip', 'LT', { value: '5' }), (c) => value(c, 'zip') !== null && lower(c, 'zip')! < '5'],
    ['CONTAINS_TOKEN with a wildcard', filter('email', 'CONTAINS_TOKEN', { value: '*@example.org' }), (c) => value(c, 'email')!.endsWith('@example.org')],
    [
      'email IN, a few people',
      filter('email', 'IN', { values: [value(CONTACTS[3]!, 'email'), value(CONTACTS[9]!, 'email'), 'stranger@elsewhere.test'] }),
      (c) => c === CONTACTS[3] || c === CONTACTS[9],
    ],
  ];

  it.each(cases)('%s', async (name, f, test) => {
    const stand = await standIn();
    const expected = idsWhere(test);
    // A case that selects everyone (or, unless it says so, no one) would prove nothing.
    expect(expected.length).toBeLessThan(CONTACTS.length);
    if (!name.includes('nothing')) expect(expected.length).toBeGreaterThan(0);
    expect(await allIds(stand, [group(f)])).toEqual(expected);
    const { body } = await search(stand, { filterGroups: [group(f)], limit: 1 });
    expect(body.total).toBe(expected.length);
  });

  it('rejects an unknown operator, an unknown property and a missing value with 400 VALIDATION_ERROR', async () => {
    const stand = await standIn();
    for (const f of [filter('email', 'LIKE', { value: 'x' }), filter('no_such_property', 'EQ', { value: 'x' }), filter('email', 'EQ'), filter('email', 'IN', { values: [] })]) {
      const { status, body } = await search(stand, { filterGroups: [group(f)] });
      expect(status).toBe(400);
      expect(body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR', message: expect.any(String), correlationId: expect.any(String) });
    }
  });
});

describe('limits', () => {
  const f = filter('lifecyclestage', 'HAS_PROPERTY');

  it('takes 5 groups, 6 filters in a group and 18 in all', async () => {
    const stand = await standIn();
    expect((await search(stand, { filterGroups: Array.from({ length: 5 }, () => group(f)) })).status).toBe(200);
    expect((await search(stand, { filterGroups: Array.from({ length: 3 }, () => group(f, f, f, f, f, f)) })).status).toBe(200);
  });

  it.each([
    ['6 groups', Array.from({ length: 6 }, () => group(f))],
    ['7 filters in a group', [group(f, f, f, f, f, f, f)]],
    ['19 filters in all', [...Array.from({ length: 3 }, () => group(f, f, f, f, f, f)), group(f)]],
  ])('answers 400 VALIDATION_ERROR for %s', async (_name, filterGroups) => {
    const stand = await standIn();
    const { status, body } = await search(stand, { filterGroups });
    expect(status).toBe(400);
    expect(body.category).toBe('VALIDATION_ERROR');
  });

  it('pages 10 by default, at most 200, and refuses a second sort', async () => {
    const stand = await standIn();
    expect((await search(stand, {})).body.results).toHaveLength(10);
    expect((await search(stand, { limit: 200 })).body.results).toHaveLength(Math.min(200, CONTACTS.length));
    expect((await search(stand, { limit: 201 })).status).toBe(400);
    expect((await search(stand, { sorts: ['email', 'createdate'] })).status).toBe(400);
    expect((await search(stand, { after: 'abc' })).status).toBe(400);
  });
});

describe('paging and sorting', () => {
  it('walks every match once with integer after cursors, and ends without paging', async () => {
    const stand = await standIn();
    const seen: string[] = [];
    let after: string | undefined = '0';
    let pages = 0;
    while (after !== undefined) {
      const { body } = await search(stand, { filterGroups: [], sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }], limit: 50, after });
      expect(body.total).toBe(CONTACTS.length);
      seen.push(...body.results.map((r: { id: string }) => r.id));
      after = body.paging?.next?.after;
      if (after !== undefined) expect(after).toBe(String(seen.length));
      pages++;
    }
    expect(seen).toEqual(CONTACTS.map((c) => c.id));
    expect(pages).toBe(Math.ceil(CONTACTS.length / 50));
  });

  it('sorts by one property, descending', async () => {
    const stand = await standIn();
    const { body } = await search(stand, { sorts: ['-createdate'], limit: 200, properties: ['createdate'] });
    const dates = body.results.map((r: any) => Date.parse(r.properties.createdate));
    expect(dates).toEqual([...dates].sort((a, b) => b - a));
    const { body: ascending } = await search(stand, { sorts: [{ propertyName: 'createdate', direction: 'ASCENDING' }], limit: 1 });
    expect(ascending.results[0].id).toBe(body.results.at(-1).id);
  });

  it('refuses to page past the first 10,000 results with 400', async () => {
    const stand = await standIn();
    expect((await search(stand, { limit: 200, after: '9800' })).status).toBe(200);
    const { status, body } = await search(stand, { limit: 200, after: '9801' });
    expect(status).toBe(400);
    expect(body.category).toBe('VALIDATION_ERROR');
    // The cap is a knob, so a client's way around it can be tested on a small world.
    stand.searchResultCap = 100;
    expect((await search(stand, { limit: 50, after: '50' })).status).toBe(200);
    expect((await search(stand, { limit: 50, after: '51' })).status).toBe(400);
  });
});

describe('the search rate limit', () => {
  it('answers 429 with the secondly-limit body past 5 requests in a second, without rate headers', async () => {
    const stand = await standIn({ searchRateLimit: undefined });
    const answers = await Promise.all(Array.from({ length: 7 }, () => search(stand, { limit: 1 })));
    const limited = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    expect(limited).toHaveLength(2);
    expect(limited[0]!.body).toMatchObject({ status: 'error', errorType: 'RATE_LIMIT', policyName: 'SECONDLY', message: 'You have reached your secondly limit.' });
    expect(limited[0]!.headers.get('x-hubspot-ratelimit-remaining')).toBeNull();
    expect(stand.stats.byEndpoint[ENDPOINTS.contactsSearch]).toBe(7);
    expect(stand.stats.byStatus).toEqual({ 200: 5, 429: 2 });
  });

  it('is apart from the ten-secondly limit, which search requests do not use up', async () => {
    const stand = await standIn({ rateLimit: { max: 2, intervalMs: 10_000 } });
    for (let i = 0; i < 4; i++) expect((await search(stand, { limit: 1 })).status).toBe(200);
    const read = await fetch(`${stand.url}/crm/v3/objects/contacts/batch/read`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ id: CONTACTS[0]!.id }], properties: [], propertiesWithHistory: [] }),
    });
    expect(read.status).toBe(200);
    expect(read.headers.get('x-hubspot-ratelimit-remaining')).toBe('1');
  });

  it('sends forced 429s to search too', async () => {
    const stand = await standIn();
    stand.force429 = { times: 1, policy: 'SECONDLY' };
    expect((await search(stand, { limit: 1 })).status).toBe(429);
    expect((await search(stand, { limit: 1 })).status).toBe(200);
  });
});
