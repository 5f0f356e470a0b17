import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Client } from '@hubspot/api-client';
import { createRedisClient } from '../../cache/redis-client.ts';
import type { AudienceSource, CrmCondition } from '../audience.ts';
import type { ContractFinding } from '../contract.ts';
import { SourceError, type BatchFn } from '../errors.ts';
import { crmAudience } from './audience.ts';
import { createCaller } from './caller.ts';
import { companiesForContacts } from './companies.ts';
import { checkTokenScopes } from './contract.ts';
import { contactReaders, type ContactReaders } from './contacts.ts';
import type { CrmCompany, CrmOwner, HubSpotSourceOptions } from './model.ts';
import { ownerReader } from './owners.ts';
import { traceMiddleware } from './transport.ts';

export type * from './model.ts';
export type { ContactReaders } from './contacts.ts';
export { STANDARD_CONTACT_PROPERTIES, BATCH_READ_MAX } from './contacts.ts';
export { NEEDED_SCOPES } from './contract.ts';
export { unconfiguredCrmAudience, CONDITION_FILTERS_MAX } from './audience.ts';

export const DEFAULT_BASE_URL = 'https://api.hubapi.com';
const DEFAULT_OWNERS_TTL_MS = 5 * 60_000;
/** Under HubSpot's 5 search requests per second per account, so a burst never meets its 429. */
const DEFAULT_SEARCH_REQUESTS_PER_SECOND = 4;
/** A search waits its turn behind the others of an audience (a few per second); the caller's deadline still bounds it. */
const DEFAULT_SEARCH_RETRY_BUDGET_MS = 10_000;
/** HubSpot internal property names: lower-case letters, digits and underscores. */
const PROPERTY_NAME = /^[a-z0-9_]{1,100}$/;

/**
 * The CRM source: HubSpot contacts, their companies and owners, read through the official SDK.
 * Its own `contactsByEmail` and `contactsById` fetch the standard properties plus every
 * allow-listed extra.
 */
export interface HubSpotSource extends ContactReaders {
  /** Batch functions that fetch the standard properties plus only `extra` (all allow-listed). */
  withProperties(extra: readonly string[]): ContactReaders;
  /** The extra contact properties callers may ask for (the allow-list). */
  readonly allowedProperties: readonly string[];
  /** Keys: contact ids. See companies.ts: two requests per batch of up to 100 contacts. */
  readonly companiesForContacts: BatchFn<string, CrmCompany>;
  /** Keys: owner ids (`CrmContact.ownerId`). Kept in process, refreshed in the background every `ownersTtlMs` (owners.ts). */
  readonly ownersById: BatchFn<string, CrmOwner>;
  /**
   * Audiences (sources/audience.ts): which contacts, by lower-cased email, meet a CrmCondition,
   * answered by HubSpot's CRM search (audience.ts). Search calls have their own rate limiter
   * (HubSpotSearchOptions), apart from the one the batch reads share.
   */
  readonly audience: AudienceSource<CrmCondition>;
  /**
   * Takes a slot of the batch reads' rate limit for a read about to be made (caller.ts `reserve`),
   * so that the keys concurrent requests ask for while it is awaited leave in that read
   * (cache/family.ts coalescing); rejects with the SourceError the read would meet.
   */
  reserveSlot(deadline: number | undefined): Promise<void>;
  /** Resolves when HubSpot answers a small authenticated read; throws SourceError otherwise. */
  ping(): Promise<void>;
  /**
   * The start-up check (ContractCheck): the scopes HubSpot reports for the token, against
   * NEEDED_SCOPES (contract.ts). Rejects only when HubSpot cannot be reached.
   */
  checkContract(): Promise<ContractFinding[]>;
  /** Drops cached owners; later calls fail with `unavailable`. */
  close(): Promise<void>;
}

/** CRM search settings, beyond HubSpotSourceOptions. */
export interface HubSpotSearchOptions {
  /**
   * Search requests per second this process may send (the fleet together, with `quotaRedisUrl`);
   * 4 by default. HubSpot allows 5 per second per account on the search endpoints, apart from
   * (and not counted in) the ten-secondly limit.
   */
  readonly requestsPerSecond?: number;
  /**
   * Longest one search may wait for a slot or between retries; 10 s by default (the planner's
   * deadline, through the AbortSignal, cuts it shorter). Searches of one audience queue behind
   * each other at `requestsPerSecond`, so the batch reads' budget would be too short.
   */
  readonly retryBudgetMs?: number;
  /** For tests: results one search may page through before the source restarts it (HubSpot: 10,000). */
  readonly maxResultsPerQuery?: number;
}

/**
 * Creates the CRM source. Throws SourceError `not_configured` without a token, and RangeError
 * for an extra property name HubSpot could not have. Calls share one rate limiter, retry and
 * time out as HubSpotSourceOptions says, and fail with SourceError only (see caller.ts).
 */
export function createHubSpotSource(options: HubSpotSourceOptions & { readonly search?: HubSpotSearchOptions }): HubSpotSource {
  if (!options.accessToken) throw new SourceError('crm', 'not_configured', 'no HubSpot access token configured');
  const invalid = options.extraProperties.filter((name) => !PROPERTY_NAME.test(name));
  if (invalid.length > 0) throw new RangeError(`expected HubSpot internal property names, got: ${invalid.join(', ')}`);
  const allowed = [...new Set(options.extraProperties)];

  const basePath = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  // With an agent the SDK (14) sends through node:http rather than fetch: a timed-out attempt can
  // destroy its socket (transport.ts), and the http instrumentation traces every call.
  const agent = basePath.startsWith('https:') ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const client = new Client({
    accessToken: options.accessToken,
    basePath,
    numberOfApiCallRetries: 0,
    httpAgent: agent,
    middleware: [traceMiddleware],
  });
  // The SDK's retry/limiter decorators are one process-wide setting, overwritten by every Client
  // construction and read when an API object is first built (lazily): build ours now, while our
  // setting (none) is the one in force.
  const api = {
    contacts: client.crm.contacts.batchApi,
    associations: client.crm.associations.v4.batchApi,
    companies: client.crm.companies.batchApi,
    owners: client.crm.owners.ownersApi,
    properties: client.crm.properties.coreApi,
    search: client.crm.contacts.searchApi,
  };

  // The quota is the app's (its token's): replicas with the same token count it together, under a
  // key that names the token by a hash (the token itself never leaves the process).
  const quotaRedis = options.quotaRedisUrl
    ? createRedisClient(options.quotaRedisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 200, lazyConnect: false })
    : null;
  quotaRedis?.on('error', () => undefined);
  const quotaKey = `c360:quota:hubspot:${createHash('sha256').update(options.accessToken).digest('hex').slice(0, 16)}`;
  const caller = createCaller({
    timeoutMs: options.timeoutMs,
    retryBudgetMs: options.retryBudgetMs,
    rateLimit: options.rateLimit,
    ...(quotaRedis && { sharedQuota: { redis: quotaRedis, key: `${quotaKey}:calls` } }),
    logger: options.logger,
  });
  // Search has its own quota (per second, per account): its own limiter, and its own 429 cool-down,
  // so a search 429 does not pause the batch reads, nor a batch 429 the searches.
  const searchCaller = createCaller({
    timeoutMs: options.timeoutMs,
    retryBudgetMs: options.search?.retryBudgetMs ?? DEFAULT_SEARCH_RETRY_BUDGET_MS,
    rateLimit: { requests: options.search?.requestsPerSecond ?? DEFAULT_SEARCH_REQUESTS_PER_SECOND, intervalMs: 1000 },
    ...(quotaRedis && { sharedQuota: { redis: quotaRedis, key: `${quotaKey}:search` } }),
    logger: options.logger,
  });
  let closed = false;
  const open = <F extends (...args: never[]) => Promise<unknown>>(fn: F): F => ((...args: Parameters<F>) => (closed ? Promise.reject(closedError()) : fn(...args))) as F;

  const readers = (extra: readonly string[]): ContactReaders => {
    const reader = contactReaders(caller, api.contacts, extra);
    return { contactsByEmail: open(reader.contactsByEmail), contactsById: open(reader.contactsById) };
  };
  const owners = ownerReader(caller, api.owners, options.ownersTtlMs ?? DEFAULT_OWNERS_TTL_MS, options.logger);

  return {
    ...readers(allowed),
    withProperties(extra) {
      const outside = extra.filter((name) => !allowed.includes(name));
      if (outside.length > 0) throw new RangeError(`contact properties outside the allow-list: ${outside.join(', ')}`);
      return readers([...new Set(extra)]);
    },
    allowedProperties: allowed,
    companiesForContacts: open(companiesForContacts(caller, api.associations, api.companies)),
    ownersById: open(owners.ownersById),
    audience: openAudience(crmAudience(searchCaller, api.search, { maxResultsPerQuery: options.search?.maxResultsPerQuery }), open),
    reserveSlot: open((deadline: number | undefined) => caller.reserve('contacts batch read', deadline)),
    ping: open(async () => {
      await caller.call('readiness check', () => api.properties.getByName('contacts', 'email'));
    }),
    checkContract: open(() => checkTokenScopes(caller, client, options.accessToken)),
    async close() {
      closed = true;
      owners.clear();
      quotaRedis?.disconnect();
      agent.destroy();
    },
  };
}

/** The audience with its calls failing once the source is closed. */
function openAudience(audience: AudienceSource<CrmCondition>, open: <F extends (...args: never[]) => Promise<unknown>>(fn: F) => F): AudienceSource<CrmCondition> {
  return {
    key: audience.key,
    estimate: open(audience.estimate),
    enumerationCalls: audience.enumerationCalls,
    enumerate: open(audience.enumerate),
    checkCalls: audience.checkCalls,
    check: open(audience.check),
  };
}

const closedError = () => new SourceError('crm', 'unavailable', 'the HubSpot source is closed', { retryable: false });
