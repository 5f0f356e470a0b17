import type { Client } from '@hubspot/api-client';
import type { BatchFn } from '../errors.ts';
import { batchParts, chunk, malformed, text, validDate } from './batch.ts';
import type { Caller } from './caller.ts';
import type { CrmCompany } from './model.ts';

type AssociationsBatchApi = Client['crm']['associations']['v4']['batchApi'];
type CompaniesBatchApi = Client['crm']['companies']['batchApi'];

/** HubSpot's limits on inputs per call: associations v4 batch read, companies batch read. */
const ASSOCIATIONS_MAX = 1000;
const COMPANIES_MAX = 100;
/** The HUBSPOT_DEFINED contact-to-company association type that marks the primary company. */
const PRIMARY_CONTACT_TO_COMPANY = 1;
const COMPANY_PROPERTIES = ['name', 'domain', 'website', 'industry', 'numberofemployees', 'createdate', 'hs_lastmodifieddate'];
const NUMERIC_ID = /^\d{1,20}$/;

/**
 * The primary company of each contact (keys: contact ids): one associations v4 batch read, then
 * one companies batch read for the distinct companies found, per batch of up to 100 contacts,
 * however many contacts there are. A contact without a company, or unknown to HubSpot, gets
 * null; with several companies and none marked primary, the first one listed. Throws when either
 * read fails, since every key depends on both. The optional signal bounds retries (see BatchFn).
 */
export function companiesForContacts(caller: Caller, associations: AssociationsBatchApi, companies: CompaniesBatchApi): BatchFn<string, CrmCompany> {
  return async (contactIds, signal) => {
    const ids = [...new Set(contactIds)].filter((id) => NUMERIC_ID.test(id));
    const companyOf = new Map<string, string>();
    for (const part of chunk(ids, ASSOCIATIONS_MAX)) {
      for (const [contactId, companyId] of await primaryCompanies(caller, associations, part, signal)) companyOf.set(contactId, companyId);
    }
    const found = new Map<string, CrmCompany>();
    const companyIds = [...new Set(companyOf.values())];
    for (const part of chunk(companyIds, COMPANIES_MAX)) {
      for (const company of await readCompanies(caller, companies, part, signal)) found.set(company.id, company);
    }
    return contactIds.map((id) => found.get(companyOf.get(id) ?? '') ?? null);
  };
}

async function primaryCompanies(caller: Caller, api: AssociationsBatchApi, contactIds: string[], signal?: AbortSignal): Promise<Map<string, string>> {
  const what = 'contact-company associations batch read';
  const response = await caller.call(what, () => api.getPage('contacts', 'companies', { inputs: contactIds.map((id) => ({ id })) }), signal);
  // Contacts without companies come back as 207 errors; they simply have no entry here.
  const { results } = batchParts(what, response);
  const companyOf = new Map<string, string>();
  for (const result of results) {
    // The SDK renames `from` to `_from`.
    const entry = result as { _from?: { id?: unknown }; from?: { id?: unknown }; to?: unknown } | null;
    const from = entry?._from?.id ?? entry?.from?.id;
    if (typeof from !== 'string' || !Array.isArray(entry?.to)) throw malformed(what, 'a result without from.id or to');
    // Only the first page of a contact's companies is read: the primary one is listed on it.
    const to = entry.to as Array<{ toObjectId?: unknown; associationTypes?: Array<{ typeId?: unknown; category?: unknown }> }>;
    const primary = to.find((t) => t.associationTypes?.some((a) => a.typeId === PRIMARY_CONTACT_TO_COMPANY && a.category === 'HUBSPOT_DEFINED')) ?? to[0];
    // The spec says string; HubSpot has been seen sending numbers.
    const companyId = primary?.toObjectId;
    if (typeof companyId === 'string' || typeof companyId === 'number') companyOf.set(from, String(companyId));
  }
  return companyOf;
}

async function readCompanies(caller: Caller, api: CompaniesBatchApi, companyIds: string[], signal?: AbortSignal): Promise<CrmCompany[]> {
  const what = 'companies batch read';
  const body = { inputs: companyIds.map((id) => ({ id })), properties: COMPANY_PROPERTIES, propertiesWithHistory: [] };
  const response = await caller.call(what, () => api.read(body, false), signal);
  return batchParts(what, response).results.map((result) => toCompany(what, result));
}

function toCompany(what: string, result: unknown): CrmCompany {
  const object = result as { id?: unknown; properties?: unknown; createdAt?: unknown; updatedAt?: unknown } | null;
  if (typeof object?.id !== 'string' || typeof object.properties !== 'object' || object.properties === null) {
    throw malformed(what, 'a result without id or properties');
  }
  const createdAt = validDate(object.createdAt);
  const updatedAt = validDate(object.updatedAt);
  if (!createdAt || !updatedAt) throw malformed(what, 'a result without valid createdAt/updatedAt');
  const p = object.properties as Record<string, unknown>;
  const employees = Number(text(p.numberofemployees) ?? Number.NaN);
  return {
    id: object.id,
    name: text(p.name),
    domain: text(p.domain),
    website: text(p.website),
    industry: text(p.industry),
    employees: Number.isFinite(employees) ? employees : null,
    createdAt,
    updatedAt,
  };
}
