import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { DEMO_OWNERS, contactIdOf, populationSize } from '../../sandbox/demo/people.ts';
import type { HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { TOKEN, WORLD, crmPeople, everyone, standIn, strangerEmails } from './support.ts';

/**
 * The stand-in's answers, success and error, checked against HubSpot's own OpenAPI documents:
 * contacts (specs/contacts-v3.json: HubSpot/HubSpot-public-api-spec-collection,
 * PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json, copied so a fresh clone can run this),
 * and the subsets under specs/ for associations v4,
 * properties v3, owners and the 429 body. Companies answers are checked against the contacts
 * document's batch schemas: HubSpot's companies v3 document (same repository,
 * PublicApiSpecs/CRM/Companies/Rollouts/424/v3/companies.json) defines SimplePublicObject the
 * same way except that it marks property values nullable and does not require `archived`, so it
 * is the looser of the two.
 */

const specFile = (name: string) => new URL(`./specs/${name}`, import.meta.url);
const CONTACTS_SPEC = specFile('contacts-v3.json');
const readJson = (url: URL) => JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;

const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (ajv: Ajv) => void)(ajv);
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
ajv.addSchema(withNullablePropertyValues(readJson(CONTACTS_SPEC)), 'contacts');
ajv.addSchema(readJson(specFile('associations-v4.json')), 'associations');
ajv.addSchema(readJson(specFile('properties-v3.json')), 'properties');
ajv.addSchema(readJson(specFile('owners-v3.json')), 'owners');
ajv.addSchema(readJson(specFile('rate-limit-error.json')), 'limits');

/**
 * The contacts document types property values as plain strings, yet the API sends null for a
 * requested property without a value (the SDK types them `string | null`, and the companies
 * document says `nullable: true`): allow exactly that.
 */
function withNullablePropertyValues(spec: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(spec) as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
  for (const name of ['SimplePublicObject', 'SimplePublicObjectWithAssociations']) {
    copy.components.schemas[name]!.properties.properties = { type: 'object', additionalProperties: { type: 'string', nullable: true } };
  }
  return copy;
}

function schema(ref: string): ValidateFunction {
  const validate = ajv.getSchema(ref);
  if (!validate) throw new Error(`no schema ${ref}`);
  return validate;
}

function expectValid(ref: string, body: unknown): void {
  const validate = schema(ref);
  const valid = validate(body);
  expect(valid ? [] : validate.errors).toEqual([]);
}

interface Raw {
  status: number;
  headers: Headers;
  body: unknown;
}

async function call(stand: HubSpotStandIn, method: 'GET' | 'POST', path: string, body?: unknown, token = TOKEN): Promise<Raw> {
  const response = await fetch(`${stand.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const CONTACTS_READ = '/crm/v3/objects/contacts/batch/read?archived=false';
const readBody = (ids: string[], extra: Record<string, unknown> = {}) => ({
  inputs: ids.map((id) => ({ id })),
  properties: ['email', 'firstname', 'phone', 'jobtitle', 'not_a_property'],
  propertiesWithHistory: [],
  ...extra,
});

describe('the validator', () => {
  it('rejects a contact whose property value is a number', () => {
    const validate = schema('contacts#/components/schemas/SimplePublicObject');
    const contact = { id: '1', properties: { email: 7 }, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', archived: false };
    expect(validate(contact)).toBe(false);
  });
});

describe('POST /crm/v3/objects/contacts/batch/read', () => {
  it('answers 200 with BatchResponseSimplePublicObject, values as strings or null', async () => {
    const stand = await standIn();
    const people = crmPeople(5);
    const { status, body } = await call(
      stand,
      'POST',
      CONTACTS_READ,
      readBody(
        people.map((p) => p.email),
        { idProperty: 'email' },
      ),
    );
    expect(status).toBe(200);
    expectValid('contacts#/components/schemas/BatchResponseSimplePublicObject', body);
    const results = (body as { results: Array<{ properties: Record<string, unknown> }> }).results;
    expect(results.some((r) => Object.values(r.properties).includes(null))).toBe(true);
  });

  it("returns only the requested properties that exist, plus HubSpot's defaults", async () => {
    const stand = await standIn();
    const { body } = await call(stand, 'POST', CONTACTS_READ, readBody([contactIdOf(crmPeople(1)[0]!.index)]));
    const [result] = (body as { results: Array<{ properties: Record<string, unknown> }> }).results;
    expect(Object.keys(result!.properties).sort()).toEqual(['createdate', 'email', 'firstname', 'hs_object_id', 'jobtitle', 'lastmodifieddate', 'phone']);
  });

  it('returns results in an order other than the inputs', async () => {
    const stand = await standIn();
    const people = crmPeople(10);
    const { body } = await call(
      stand,
      'POST',
      CONTACTS_READ,
      readBody(
        people.map((p) => p.email),
        { idProperty: 'email' },
      ),
    );
    const order = (body as { results: Array<{ properties: { email: string } }> }).results.map((r) => r.properties.email);
    expect(order.sort()).toEqual(people.map((p) => p.email).sort());
    expect((body as { results: Array<{ properties: { email: string } }> }).results.map((r) => r.properties.email)).not.toEqual(people.map((p) => p.email));
  });

  it('answers 207 with OBJECT_NOT_FOUND for unknown inputs', async () => {
    const stand = await standIn();
    const ids = [crmPeople(1)[0]!.email, ...strangerEmails(2)];
    const { status, body } = await call(stand, 'POST', CONTACTS_READ, readBody(ids, { idProperty: 'email' }));
    expect(status).toBe(207);
    expectValid('contacts#/components/schemas/BatchResponseSimplePublicObjectWithErrors', body);
    expect(body).toMatchObject({ numErrors: 1, errors: [{ category: 'OBJECT_NOT_FOUND', context: { ids: strangerEmails(2) } }] });
  });

  it('answers 400 VALIDATION_ERROR for more than 100 inputs', async () => {
    const stand = await standIn();
    const ids = everyone()
      .slice(0, 101)
      .map((p) => p.email);
    const { status, body } = await call(stand, 'POST', CONTACTS_READ, readBody(ids, { idProperty: 'email' }));
    expect(status).toBe(400);
    expectValid('contacts#/components/schemas/Error', body);
    expect(body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR', message: 'The maximum number of inputs supported in a batch is 100' });
  });

  it('answers 401 with the Error body for a missing or wrong token', async () => {
    const stand = await standIn();
    for (const token of ['', 'pat-na1-wrong']) {
      const { status, body } = await call(stand, 'POST', CONTACTS_READ, readBody(['1']), token);
      expect(status).toBe(401);
      expectValid('contacts#/components/schemas/Error', body);
      expect(body).toMatchObject({ category: 'INVALID_AUTHENTICATION' });
    }
  });
});

describe('GET /crm/v3/objects/contacts/{contactId}', () => {
  it('answers 200 with SimplePublicObjectWithAssociations, by id and by email', async () => {
    const stand = await standIn();
    const [person] = crmPeople(1);
    for (const path of [
      `/crm/v3/objects/contacts/${person!.crm!.contactId}?properties=email,lifecyclestage`,
      `/crm/v3/objects/contacts/${encodeURIComponent(person!.email)}?idProperty=email`,
    ]) {
      const { status, body } = await call(stand, 'GET', path);
      expect(status).toBe(200);
      expectValid('contacts#/components/schemas/SimplePublicObjectWithAssociations', body);
      expect(body).toMatchObject({ id: person!.crm!.contactId, properties: { email: person!.email } });
    }
  });

  it('answers 404 with the Error body for an unknown contact', async () => {
    const stand = await standIn();
    const { status, body } = await call(stand, 'GET', `/crm/v3/objects/contacts/${contactIdOf(populationSize(WORLD) + 1)}`);
    expect(status).toBe(404);
    expectValid('contacts#/components/schemas/Error', body);
  });
});

describe('POST /crm/v4/associations/contacts/companies/batch/read', () => {
  it('answers 207 with BatchResponsePublicAssociationMultiWithLabelWithErrors for a mixed batch', async () => {
    const stand = await standIn();
    const withCompany = everyone().find((p) => p.crm?.companyIndex != null)!;
    const without = everyone().find((p) => p.crm !== null && p.crm.companyIndex === null)!;
    const { status, body } = await call(stand, 'POST', '/crm/v4/associations/contacts/companies/batch/read', {
      inputs: [{ id: withCompany.crm!.contactId }, { id: without.crm!.contactId }],
    });
    expect(status).toBe(207);
    expectValid('associations#/components/schemas/BatchResponsePublicAssociationMultiWithLabelWithErrors', body);
  });

  it('answers 200 with BatchResponsePublicAssociationMultiWithLabel when every contact has a company', async () => {
    const stand = await standIn();
    const ids = everyone()
      .filter((p) => p.crm?.companyIndex != null)
      .slice(0, 5)
      .map((p) => ({ id: p.crm!.contactId }));
    const { status, body } = await call(stand, 'POST', '/crm/v4/associations/contacts/companies/batch/read', { inputs: ids });
    expect(status).toBe(200);
    expectValid('associations#/components/schemas/BatchResponsePublicAssociationMultiWithLabel', body);
  });
});

describe('POST /crm/v3/objects/companies/batch/read', () => {
  it('answers 200 and 207 with the batch response schemas', async () => {
    const stand = await standIn();
    const known = { inputs: [{ id: '90000000000' }, { id: '90000000001' }], properties: ['name', 'domain'], propertiesWithHistory: [] };
    const ok = await call(stand, 'POST', '/crm/v3/objects/companies/batch/read', known);
    expect(ok.status).toBe(200);
    expectValid('contacts#/components/schemas/BatchResponseSimplePublicObject', ok.body);
    const mixed = await call(stand, 'POST', '/crm/v3/objects/companies/batch/read', { ...known, inputs: [...known.inputs, { id: '1' }] });
    expect(mixed.status).toBe(207);
    expectValid('contacts#/components/schemas/BatchResponseSimplePublicObjectWithErrors', mixed.body);
  });
});

describe('GET /crm/v3/owners/{ownerId}', () => {
  it('answers 200 with PublicOwner, and 404 with the Error body for an unknown owner', async () => {
    const stand = await standIn();
    const found = await call(stand, 'GET', `/crm/v3/owners/${DEMO_OWNERS[2]!.id}?idProperty=id&archived=false`);
    expect(found.status).toBe(200);
    expectValid('owners#/components/schemas/PublicOwner', found.body);
    const missing = await call(stand, 'GET', '/crm/v3/owners/123');
    expect(missing.status).toBe(404);
    expectValid('contacts#/components/schemas/Error', missing.body);
  });
});

describe('GET /crm/v3/properties/contacts', () => {
  it('answers with CollectionResponsePropertyNoPaging covering the standard and demo custom properties', async () => {
    const stand = await standIn();
    const { status, body } = await call(stand, 'GET', '/crm/v3/properties/contacts');
    expect(status).toBe(200);
    expectValid('properties#/components/schemas/CollectionResponsePropertyNoPaging', body);
    const names = (body as { results: Array<{ name: string }> }).results.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['email', 'lifecyclestage', 'hs_lead_status', 'hubspot_owner_id', 'zip', 'preferred_store']));
  });

  it('answers one property with the Property schema, and 404 for an unknown one', async () => {
    const stand = await standIn();
    const found = await call(stand, 'GET', '/crm/v3/properties/contacts/lifecyclestage');
    expectValid('properties#/components/schemas/Property', found.body);
    const missing = await call(stand, 'GET', '/crm/v3/properties/contacts/no_such_property');
    expect(missing.status).toBe(404);
    expectValid('contacts#/components/schemas/Error', missing.body);
  });
});

describe('faults', () => {
  it('sends 429s with the rate-limit body, X-HubSpot-RateLimit headers and Retry-After when asked', async () => {
    const stand = await standIn();
    for (const policy of ['TEN_SECONDLY_ROLLING', 'DAILY'] as const) {
      stand.force429 = { times: 1, policy, retryAfterSeconds: 1 };
      const { status, headers, body } = await call(stand, 'GET', '/crm/v3/properties/contacts/email');
      expect(status).toBe(429);
      expectValid('limits#/components/schemas/RateLimitError', body);
      expect(body).toMatchObject({ policyName: policy });
      expect(headers.get('retry-after')).toBe('1');
      for (const name of ['max', 'remaining', 'interval-milliseconds', 'daily', 'daily-remaining']) {
        expect(headers.get(`x-hubspot-ratelimit-${name}`)).toMatch(/^\d+$/);
      }
    }
    expect((await call(stand, 'GET', '/crm/v3/properties/contacts/email')).status).toBe(200);
  });

  it("enforces a rolling limit like HubSpot's TEN_SECONDLY_ROLLING", async () => {
    const stand = await standIn();
    stand.rateLimit = { max: 2, intervalMs: 10_000 };
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(stand, 'GET', '/crm/v3/properties/contacts/email')).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('answers 500 with the Error body', async () => {
    const stand = await standIn();
    stand.errorRate = 1;
    const { status, body } = await call(stand, 'POST', CONTACTS_READ, readBody(['1']));
    expect(status).toBe(500);
    expectValid('contacts#/components/schemas/Error', body);
  });

  it('answers 404 with the Error body for an unknown route', async () => {
    const stand = await standIn();
    const { status, body } = await call(stand, 'GET', '/crm/v3/objects/deals/1/nowhere');
    expect(status).toBe(404);
    expectValid('contacts#/components/schemas/Error', body);
    expect(stand.stats.byEndpoint.unknown).toBe(1);
  });
});
