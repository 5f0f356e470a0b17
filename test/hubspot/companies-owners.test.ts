import { describe, expect, it, vi } from 'vitest';
import { DEMO_OWNERS, companyAt, contactIdOf, populationSize } from '../../sandbox/demo/people.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { SourceError } from '../../sources/errors.ts';
import type { CrmCompany, CrmOwner } from '../../sources/hubspot/index.ts';
import { WORLD, capturingLogger, everyone, source, standIn } from './support.ts';

describe('companiesForContacts', () => {
  it("finds each contact's primary company with one associations call and one companies call", async () => {
    const stand = await standIn();
    const people = everyone()
      .filter((p) => p.crm !== null)
      .slice(0, 100);
    const results = await source(stand).companiesForContacts(people.map((p) => p.crm!.contactId));
    expect(stand.stats.byEndpoint).toEqual({
      [ENDPOINTS.contactCompanyAssociationsBatchRead]: 1,
      [ENDPOINTS.companiesBatchRead]: 1,
    });
    people.forEach((person, i) => {
      const index = person.crm!.companyIndex;
      if (index === null) return expect(results[i]).toBeNull();
      const company = companyAt(WORLD, index);
      expect(results[i]).toMatchObject({ id: company.companyId, name: company.name, domain: company.domain, industry: company.industry, employees: company.employees });
    });
    expect(results.filter((r) => r !== null).length).toBeGreaterThan(0);
  });

  it('returns null for contacts without a company and for contacts HubSpot does not know', async () => {
    const stand = await standIn();
    const loner = everyone().find((p) => p.crm !== null && p.crm.companyIndex === null)!;
    const results = await source(stand).companiesForContacts([loner.crm!.contactId, contactIdOf(populationSize(WORLD) + 3), 'abc']);
    expect(results).toEqual([null, null, null]);
    expect(stand.stats.byEndpoint[ENDPOINTS.companiesBatchRead]).toBeUndefined();
  });

  it('answers a shared company once upstream and at every contact that has it', async () => {
    const stand = await standIn();
    const byCompany = new Map<number, string[]>();
    for (const p of everyone()) if (p.crm?.companyIndex != null) byCompany.set(p.crm.companyIndex, [...(byCompany.get(p.crm.companyIndex) ?? []), p.crm.contactId]);
    const shared = [...byCompany.values()].find((ids) => ids.length >= 2)!;
    const results = await source(stand).companiesForContacts(shared);
    expect(new Set(results.map((r) => (r as CrmCompany).id)).size).toBe(1);
    expect(stand.stats.inputsPerCall(ENDPOINTS.companiesBatchRead)).toEqual([1]);
  });

  it('throws when the associations read fails', async () => {
    const stand = await standIn();
    stand.errorRate = 1;
    await expect(source(stand, { retryBudgetMs: 0 }).companiesForContacts([contactIdOf(0)])).rejects.toBeInstanceOf(SourceError);
  });
});

describe('ownersById', () => {
  /** Background work is awaited by counting, however slow a loaded machine is. */
  const PATIENCE = { timeout: 15_000, interval: 10 };
  const [ada, grace] = DEMO_OWNERS;

  it('fetches each owner once and serves repeats from its cache', async () => {
    const stand = await standIn();
    const crm = source(stand);
    const first = await crm.ownersById([ada!.id, grace!.id, ada!.id]);
    expect(first.map((o) => (o as CrmOwner).email)).toEqual([ada!.email, grace!.email, ada!.email]);
    expect(stand.stats.byEndpoint[ENDPOINTS.ownerGet]).toBe(2);
    const again = await crm.ownersById([grace!.id, ada!.id]);
    expect(again).toEqual([first[1], first[0]]);
    expect(stand.stats.byEndpoint[ENDPOINTS.ownerGet]).toBe(2);
  });

  it('refreshes known owners in the background and answers them from memory, also while refreshes fail', async () => {
    const stand = await standIn();
    const logger = capturingLogger();
    const crm = source(stand, { ownersTtlMs: 20, retryBudgetMs: 0, logger });
    const gets = () => stand.stats.byEndpoint[ENDPOINTS.ownerGet] ?? 0;
    const first = await crm.ownersById([ada!.id, grace!.id]);
    expect(gets()).toBe(2);
    await vi.waitFor(() => expect(gets()).toBeGreaterThanOrEqual(4), PATIENCE);

    // HubSpot now fails every read: one on the request path would be an Error in the answer.
    stand.errorRate = 1;
    const before = gets();
    await vi.waitFor(() => expect(gets()).toBeGreaterThanOrEqual(before + 4), PATIENCE);
    expect(await crm.ownersById([grace!.id, ada!.id])).toEqual([first[1], first[0]]);
    expect(logger.lines.filter((line) => line.msg.startsWith('HubSpot owners could not be refreshed'))).toHaveLength(1);
  });

  it('reads only owners never seen on the request path, once however many ask', async () => {
    const stand = await standIn();
    const crm = source(stand, { ownersTtlMs: 600_000 });
    await crm.ownersById([ada!.id]);
    const [a, b] = await Promise.all([crm.ownersById([ada!.id, grace!.id]), crm.ownersById([grace!.id])]);
    expect((a[1] as CrmOwner).id).toBe(grace!.id);
    expect(b[0]).toEqual(a[1]);
    expect(stand.stats.byEndpoint[ENDPOINTS.ownerGet]).toBe(2);
  });

  it('returns null for owners HubSpot does not know, and for ids that cannot be owners', async () => {
    const stand = await standIn();
    const results = await source(stand).ownersById(['12345', 'x', ada!.id]);
    expect(results[0]).toBeNull();
    expect(results[1]).toBeNull();
    expect((results[2] as CrmOwner).firstName).toBe(ada!.firstName);
    expect(stand.stats.byEndpoint[ENDPOINTS.ownerGet]).toBe(2);
  });

  it('does not cache a failure', async () => {
    const stand = await standIn();
    const crm = source(stand, { retryBudgetMs: 0 });
    stand.errorRate = 1;
    await expect(crm.ownersById([ada!.id])).rejects.toMatchObject({ kind: 'unavailable' });
    stand.errorRate = 0;
    const [owner] = await crm.ownersById([ada!.id]);
    expect((owner as CrmOwner).id).toBe(ada!.id);
  });
});
