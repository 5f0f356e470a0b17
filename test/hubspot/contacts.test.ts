import { describe, expect, it } from 'vitest';
import { DEMO_OWNERS, companyAt, populationSize, personAt, contactIdOf } from '../../sandbox/demo/people.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { SourceError } from '../../sources/errors.ts';
import type { CrmContact } from '../../sources/hubspot/index.ts';
import { WORLD, crmPeople, everyone, peopleOutsideCrm, source, standIn, strangerEmails } from './support.ts';

const READ = ENDPOINTS.contactsBatchRead;

function contactsOf(results: Array<CrmContact | null | Error>): CrmContact[] {
  return results.filter((r): r is CrmContact => r !== null && !(r instanceof Error));
}

describe('contactsByEmail', () => {
  it('reads one email with one batch call', async () => {
    const stand = await standIn();
    const [person] = crmPeople(1);
    const [contact] = await source(stand).contactsByEmail([person!.email]);
    expect(stand.stats.byEndpoint[READ]).toBe(1);
    expect(stand.stats.total).toBe(1);
    expect((contact as CrmContact).email).toBe(person!.email);
  });

  it('reads 100 emails with one batch call', async () => {
    const stand = await standIn();
    const emails = crmPeople(100).map((p) => p.email);
    const results = await source(stand).contactsByEmail(emails);
    expect(stand.stats.inputsPerCall(READ)).toEqual([100]);
    expect(contactsOf(results)).toHaveLength(100);
  });

  it('splits 150 emails into two batch calls of 100 and 50', async () => {
    const stand = await standIn();
    const emails = crmPeople(150).map((p) => p.email);
    const results = await source(stand).contactsByEmail(emails);
    expect(stand.stats.inputsPerCall(READ).sort((a, b) => b - a)).toEqual([100, 50]);
    expect(contactsOf(results).map((c) => c.email)).toEqual(emails);
  });

  it('splits 250 emails into three batch calls', async () => {
    const stand = await standIn();
    const emails = [...everyone().map((p) => p.email), ...strangerEmails(250 - populationSize(WORLD))];
    expect(emails).toHaveLength(250);
    const results = await source(stand).contactsByEmail(emails);
    expect(stand.stats.inputsPerCall(READ).sort((a, b) => b - a)).toEqual([100, 100, 50]);
    expect(results).toHaveLength(250);
  });

  it('returns null for emails HubSpot does not know', async () => {
    const stand = await standIn();
    const unknown = [
      ...strangerEmails(3),
      ...peopleOutsideCrm()
        .slice(0, 3)
        .map((p) => p.email),
    ];
    const results = await source(stand).contactsByEmail(unknown);
    expect(results).toEqual(unknown.map(() => null));
    expect(stand.stats.byStatus[207]).toBe(1);
  });

  it('matches a mixed 207 back by email although HubSpot shuffles the results', async () => {
    const stand = await standIn();
    const known = crmPeople(40).map((p) => p.email);
    const keys = known.flatMap((email, i) => [email, strangerEmails(40)[i]!]);
    const results = await source(stand).contactsByEmail(keys);
    expect(stand.stats.byStatus[207]).toBe(1);
    keys.forEach((key, i) => {
      const result = results[i];
      if (i % 2 === 1) expect(result).toBeNull();
      else expect((result as CrmContact).email).toBe(key);
    });
  });

  it('asks once for a duplicated email and answers it at every position', async () => {
    const stand = await standIn();
    const [a, b] = crmPeople(2).map((p) => p.email);
    const results = await source(stand).contactsByEmail([a!, b!, a!, a!]);
    expect(stand.stats.inputsPerCall(READ)).toEqual([2]);
    expect(results.map((r) => (r as CrmContact).email)).toEqual([a, b, a, a]);
  });

  it('makes no request for an empty batch', async () => {
    const stand = await standIn();
    expect(await source(stand).contactsByEmail([])).toEqual([]);
    expect(stand.stats.total).toBe(0);
  });

  it("maps HubSpot's properties onto the contact model", async () => {
    const stand = await standIn();
    const people = everyone().filter((p) => p.crm !== null);
    const results = await source(stand).contactsByEmail(people.map((p) => p.email));
    people.forEach((person, i) => {
      const contact = results[i] as CrmContact;
      const crm = person.crm!;
      const company = crm.companyIndex === null ? null : companyAt(WORLD, crm.companyIndex);
      expect(contact).toMatchObject({
        id: crm.contactId,
        email: person.email,
        firstName: person.firstName,
        lastName: person.lastName,
        phone: person.phone,
        company: company?.name ?? null,
        jobTitle: crm.jobTitle,
        lifecycleStage: crm.lifecycleStage,
        leadStatus: crm.leadStatus,
        ownerId: crm.ownerId,
        city: person.city,
        state: person.region,
        zip: person.postalCode,
      });
      expect(contact.createdAt.getTime()).toBe(crm.createdAt.getTime());
      expect(contact.updatedAt.getTime()).toBe(crm.updatedAt.getTime());
      expect(Object.keys(contact.properties).sort()).toEqual(['loyalty_tier', 'preferred_store']);
    });
    expect(new Set(contactsOf(results).map((c) => c.lifecycleStage))).toContain('customer');
    expect(DEMO_OWNERS.map((o) => o.id)).toEqual(expect.arrayContaining(contactsOf(results).flatMap((c) => c.ownerId ?? [])));
  });

  it('serves every CRM person of the world, prospects included, and nobody else', async () => {
    const stand = await standIn();
    const people = everyone();
    const beyond = [populationSize(WORLD), populationSize(WORLD) + 1].map((i) => personAt(WORLD, i).email);
    const results = await source(stand).contactsByEmail([...people.map((p) => p.email), ...beyond]);
    people.forEach((person, i) => expect(results[i] === null).toBe(person.crm === null));
    expect(results.slice(people.length)).toEqual([null, null]);
    const prospects = contactsOf(results.slice(WORLD.customers, people.length));
    expect(prospects.length).toBe(populationSize(WORLD) - WORLD.customers);
    expect(prospects.every((c) => c.lifecycleStage !== 'customer' && c.lifecycleStage !== 'evangelist')).toBe(true);
  });

  it('serves a 1,000,000-customer world by regenerating people on demand', async () => {
    const big = { ...WORLD, customers: 1_000_000 };
    const stand = await standIn(big);
    const indexes = [0, 999_999, 1_000_000, populationSize(big) - 1, populationSize(big)];
    const people = indexes.map((i) => personAt(big, i));
    const results = await source(stand).contactsByEmail(people.map((p) => p.email));
    people.forEach((person, i) => {
      const expected = i === people.length - 1 || person.crm === null ? null : person.crm.contactId;
      expect(results[i] === null ? null : (results[i] as CrmContact).id).toBe(expected);
    });
  });

  it("keeps the contacts of a chunk that succeeded when another chunk's request fails", async () => {
    const stand = await standIn();
    const emails = crmPeople(150).map((p) => p.email);
    stand.force429 = { times: 1, policy: 'TEN_SECONDLY_ROLLING' };
    const results = await source(stand, { retryBudgetMs: 0 }).contactsByEmail(emails);
    const failed = results.filter((r) => r instanceof Error);
    expect([50, 100]).toContain(failed.length);
    expect(contactsOf(results)).toHaveLength(150 - failed.length);
    expect(failed.every((e) => e instanceof SourceError && e.kind === 'rate_limited')).toBe(true);
  });

  it('throws when every chunk fails', async () => {
    const stand = await standIn();
    stand.errorRate = 1;
    const emails = crmPeople(150).map((p) => p.email);
    await expect(source(stand, { retryBudgetMs: 0 }).contactsByEmail(emails)).rejects.toMatchObject({ kind: 'unavailable' });
  });
});

describe('contactsById', () => {
  it('reads contacts by id in one batch call and matches them back by id', async () => {
    const stand = await standIn();
    const people = crmPeople(30);
    const ids = [...people.map((p) => p.crm!.contactId), contactIdOf(populationSize(WORLD) + 5)];
    const results = await source(stand).contactsById(ids);
    expect(stand.stats.byEndpoint[READ]).toBe(1);
    expect(results.slice(0, 30).map((r) => (r as CrmContact).email)).toEqual(people.map((p) => p.email));
    expect(results[30]).toBeNull();
  });

  it('answers null for an id that is not a number without asking HubSpot', async () => {
    const stand = await standIn();
    const results = await source(stand).contactsById(['not-a-number', '']);
    expect(results).toEqual([null, null]);
    expect(stand.stats.total).toBe(0);
  });
});

describe('withProperties', () => {
  it('fetches only the allow-listed extras it names', async () => {
    const stand = await standIn();
    const reader = source(stand).withProperties(['loyalty_tier']);
    const [contact] = await reader.contactsByEmail([crmPeople(1)[0]!.email]);
    expect(Object.keys((contact as CrmContact).properties)).toEqual(['loyalty_tier']);
  });

  it('refuses a property outside the allow-list', async () => {
    const stand = await standIn();
    expect(() => source(stand).withProperties(['hs_analytics_source'])).toThrow(RangeError);
  });
});
