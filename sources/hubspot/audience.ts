import type { Client } from '@hubspot/api-client';
import { AudienceRefused, type AudienceSource, type CrmCondition, type Estimate, type PropertyCondition, type Tally } from '../audience.ts';
import { deadlinePassed } from '../deadline.ts';
import { malformed } from './batch.ts';
import type { Caller } from './caller.ts';

type SearchApi = Client['crm']['contacts']['searchApi'];
type SearchRequest = Parameters<SearchApi['doSearch']>[0];
type SearchResponse = Awaited<ReturnType<SearchApi['doSearch']>>;
type Filter = NonNullable<SearchRequest['filterGroups']>[number]['filters'][number];

/** HubSpot's CRM search limits (search guide): filters in one group, results per page and per query. */
export const SEARCH_FILTERS_PER_GROUP = 6;
export const SEARCH_PAGE_MAX = 200;
export const SEARCH_RESULTS_PER_QUERY = 10_000;
/** Candidate emails per `check` search (one `email IN` filter each). */
export const CHECK_CHUNK = 100;
/** Check searches in flight at once. */
const CHECK_CONCURRENCY = 4;

/**
 * Filters a condition may use: one of HubSpot's six per group is kept for the source's own filter
 * (`hs_object_id GT` to page past 10,000 results, `email IN` for the candidates of `check`).
 */
export const CONDITION_FILTERS_MAX = SEARCH_FILTERS_PER_GROUP - 1;

export interface CrmAudienceOptions {
  /**
   * Results one query may page through before the source restarts it with `hs_object_id GT` the
   * last id seen (HubSpot answers 400 beyond 10,000). Lowered by tests only.
   */
  readonly maxResultsPerQuery?: number;
}

const WHAT = 'contacts search';
// The documented sort form ({propertyName, direction}); the SDK types sorts as strings but sends them as given.
const BY_ID = { propertyName: 'hs_object_id', direction: 'ASCENDING' } as unknown as string;

/**
 * The CRM audience: a CrmCondition becomes one search filter group, evaluated by HubSpot's CRM
 * search (`POST /crm/v3/objects/contacts/search`, through `caller`, which brings the search rate
 * limit, retries and the deadline). Keys are lower-cased emails; contacts without one are skipped.
 *
 * - `estimate`: one search with limit 1, its `total` (exact).
 * - `enumerate`: pages of 200 sorted by hs_object_id; past 10,000 results the query restarts with
 *   `hs_object_id GT` the last id, so ceil(n / 200) calls (at least one).
 * - `check`: the condition plus `email IN` 100 candidates per search, ceil(n / 100) calls.
 *
 * A condition with more than CONDITION_FILTERS_MAX filters is refused (AudienceRefused); so is one
 * whose property condition lacks its value. A condition with an empty list matches no one, without
 * a call. Every HTTP attempt (retries included) is one `tally.call(rows)`.
 */
export function crmAudience(caller: Caller, api: SearchApi, options: CrmAudienceOptions = {}): AudienceSource<CrmCondition> {
  const perQuery = options.maxResultsPerQuery ?? SEARCH_RESULTS_PER_QUERY;
  if (!(perQuery >= SEARCH_PAGE_MAX)) throw new RangeError(`expected at least ${SEARCH_PAGE_MAX} results per query, got ${perQuery}`);

  async function searchOnce(request: SearchRequest, tally: Tally, signal: AbortSignal): Promise<SearchResponse> {
    const response = await caller.call(
      WHAT,
      () =>
        api.doSearch(request).then(
          (answer) => {
            tally.call(Array.isArray(answer?.results) ? answer.results.length : 0);
            return answer;
          },
          (error: unknown) => {
            tally.call(0);
            throw error;
          },
        ),
      signal,
    );
    if (!response || !Array.isArray(response.results) || typeof response.total !== 'number') throw malformed(WHAT, 'no results array or total');
    return response;
  }

  return {
    key: 'email',

    async estimate(condition, tally, signal): Promise<Estimate> {
      const filters = filtersOf(condition);
      if (filters === null) return { count: 0, exact: true };
      const response = await searchOnce({ filterGroups: groups(filters), properties: ['hs_object_id'], limit: 1, after: '0', sorts: [] }, tally, signal);
      return { count: response.total, exact: true };
    },

    enumerationCalls(condition, estimated) {
      if (filtersOrNull(condition) === null) return 0;
      return Math.max(1, Math.ceil(estimated / SEARCH_PAGE_MAX));
    },

    async enumerate(condition, tally, signal) {
      const filters = filtersOf(condition);
      const emails = new Set<string>();
      if (filters === null) return emails;
      // Keyset: the query restarts after `lastId` whenever the next page would pass HubSpot's cap.
      let lastId: string | null = null;
      let after = '0';
      let seen = 0;
      for (;;) {
        if (signal.aborted) throw deadlinePassed(signal, 'crm', WHAT);
        const keyset: Filter[] = lastId === null ? [] : [{ propertyName: 'hs_object_id', operator: 'GT' as Filter['operator'], value: lastId }];
        const request = { filterGroups: groups([...filters, ...keyset]), sorts: [BY_ID], properties: ['email'], limit: SEARCH_PAGE_MAX, after };
        const response = await searchOnce(request, tally, signal);
        for (const contact of response.results) {
          const email = contact.properties?.email?.trim().toLowerCase();
          if (email) emails.add(email);
        }
        seen += response.results.length;
        const next = response.paging?.next?.after;
        if (!next || response.results.length === 0) return emails;
        if (seen + SEARCH_PAGE_MAX > perQuery) {
          // The page's highest id, whatever order the page came in.
          lastId = response.results.map((contact) => contact.id).reduce((a, b) => (Number(b) > Number(a) ? b : a));
          after = '0';
          seen = 0;
        } else {
          after = next;
        }
      }
    },

    checkCalls(condition, candidates) {
      if (filtersOrNull(condition) === null) return 0;
      return Math.ceil(candidates / CHECK_CHUNK);
    },

    async check(condition, candidates, tally, signal) {
      const filters = filtersOf(condition);
      const met = new Set<string>();
      if (filters === null || candidates.length === 0) return met;
      const pending: string[][] = [];
      for (let i = 0; i < candidates.length; i += CHECK_CHUNK) pending.push(candidates.slice(i, i + CHECK_CHUNK).map((email) => email.toLowerCase()));
      // A few searches at a time (the search limiter paces them anyway); the first failure fails the
      // check, and the chunks not yet sent are not sent.
      let failed = false;
      const worker = async () => {
        for (let chunk = pending.shift(); chunk && !failed; chunk = pending.shift()) {
          const wanted = new Set(chunk);
          const filter: Filter = { propertyName: 'email', operator: 'IN' as Filter['operator'], values: chunk };
          const request = { filterGroups: groups([...filters, filter]), properties: ['email'], limit: CHECK_CHUNK, after: '0', sorts: [] };
          const response = await searchOnce(request, tally, signal).catch((error: unknown) => {
            failed = true;
            throw error;
          });
          for (const contact of response.results) {
            const email = contact.properties?.email?.trim().toLowerCase();
            if (email && wanted.has(email)) met.add(email);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, pending.length) }, worker));
      return met;
    },
  };
}

const groups = (filters: Filter[]) => (filters.length === 0 ? [] : [{ filters }]);

// HubSpot's own property types for the typed fields: enumerations compare exactly, strings
// case-insensitively, and `IN` values of a string property must be lower-case (search guide).
const FIELDS = [
  { field: 'lifecycleStages', property: 'lifecyclestage', enumeration: true },
  { field: 'leadStatuses', property: 'hs_lead_status', enumeration: true },
  { field: 'ownerIds', property: 'hubspot_owner_id', enumeration: true },
  { field: 'companies', property: 'company', enumeration: false },
] as const;

/**
 * The condition's filters, or null when it matches no one (an empty list). Throws AudienceRefused
 * for a condition HubSpot cannot take in one group next to the source's own filter.
 */
function filtersOf(condition: CrmCondition): Filter[] | null {
  const filters: Filter[] = [];
  for (const { field, property, enumeration } of FIELDS) {
    const values = condition[field];
    if (values === undefined) continue;
    if (values.length === 0) return null;
    const given = enumeration ? values : values.map((v) => v.toLowerCase());
    filters.push({ propertyName: property, operator: 'IN' as Filter['operator'], values: [...new Set(given)] });
  }
  for (const property of condition.properties ?? []) filters.push(propertyFilter(property));
  if (filters.length > CONDITION_FILTERS_MAX) {
    throw new AudienceRefused(
      `the CRM condition needs ${filters.length} HubSpot search filters (one per list field and per property condition), ` +
        `at most ${CONDITION_FILTERS_MAX} fit (HubSpot allows ${SEARCH_FILTERS_PER_GROUP} in one group and the source needs one to page or to check candidates): ` +
        `remove ${filters.length - CONDITION_FILTERS_MAX} of the property conditions or list fields, or split them into separate CRM conditions combined with "and"`,
    );
  }
  return filters;
}

/** filtersOf for the cost functions, which answer numbers and leave refusals to the calls. */
function filtersOrNull(condition: CrmCondition): Filter[] | null | 'refused' {
  try {
    return filtersOf(condition);
  } catch {
    return 'refused';
  }
}

function propertyFilter(condition: PropertyCondition): Filter {
  const { property, operator } = condition;
  const op = operator as Filter['operator'];
  switch (operator) {
    case 'HAS_PROPERTY':
    case 'NOT_HAS_PROPERTY':
      return { propertyName: property, operator: op };
    case 'IN':
    case 'NOT_IN': {
      if (!condition.values || condition.values.length === 0) throw refusedValue(property, operator, 'values');
      // The source does not know whether the property is a string (IN needs lower-case values) or an
      // enumeration (exact): each value goes as given and lower-cased, which is right for both.
      return { propertyName: property, operator: op, values: [...new Set(condition.values.flatMap((v) => [v, v.toLowerCase()]))] };
    }
    default:
      if (condition.value === undefined) throw refusedValue(property, operator, 'value');
      return { propertyName: property, operator: op, value: condition.value };
  }
}

const refusedValue = (property: string, operator: string, needs: string) =>
  new AudienceRefused(`the CRM property condition on ${property} (${operator}) has no ${needs}: give ${needs === 'values' ? 'at least one value' : 'a value'}`);

/**
 * The audience of a source with no upstream: every call rejects as `fail` does (SourceError
 * `not_configured`); the cost functions answer as the configured source would.
 */
export function unconfiguredCrmAudience(fail: () => Promise<never>): AudienceSource<CrmCondition> {
  return {
    key: 'email',
    estimate: fail,
    enumerationCalls: (_condition, estimated) => Math.max(1, Math.ceil(estimated / SEARCH_PAGE_MAX)),
    enumerate: fail,
    checkCalls: (_condition, candidates) => Math.ceil(candidates / CHECK_CHUNK),
    check: fail,
  };
}
