import type { Logger } from 'pino';
import { AnswerCache } from '../cache/answers.ts';
import { createUpstreams, type Sources, type Upstreams } from '../cache/loaders.ts';
import type { FamilyObserver, FreshnessPolicy } from '../cache/family.ts';
import { RedisStore } from '../cache/redis-store.ts';
import { MemoryStore, type EntityStore } from '../cache/store.ts';
import type { DemoUpstreams } from '../sandbox/demo.ts';
import { createCommerceSource, type Queryable } from '../sources/commerce/index.ts';
import { SourceError, type SourceName } from '../sources/errors.ts';
import { createHubSpotSource, unconfiguredCrmAudience, type HubSpotSource } from '../sources/hubspot/index.ts';
import { createMailchimpSource, emailAudienceNotConfigured, type MailchimpSource } from '../sources/mailchimp/index.ts';
import { createWebSource } from '../sources/web/index.ts';
import type { Config } from './config.ts';

/**
 * Every source, from configuration: a configured upstream wins; in the embedded demo the stand-ins
 * fill in for what is not configured; otherwise the source answers SOURCE_NOT_CONFIGURED.
 */
export function createSources(
  config: Config,
  deps: { db: Queryable; analyticsDb?: Queryable; fitDb?: Queryable; audienceDb?: Queryable; audienceAnalyticsDb?: Queryable; logger: Logger; demo?: DemoUpstreams },
): Sources {
  const { demo, logger } = deps;
  return {
    commerce: createCommerceSource(deps.db, {
      currency: config.SHOP_CURRENCY,
      abandonedAfterMs: config.ABANDONED_CART_AFTER_MINUTES * 60_000,
      rfmBoundariesTtlMs: config.RFM_BOUNDARIES_TTL_SECONDS * 1000,
      clvFitTtlMs: config.CLV_FIT_TTL_SECONDS * 1000,
      timeZone: config.SHOP_TIME_ZONE,
      ...(deps.fitDb && { fitDb: deps.fitDb }),
      ...(deps.audienceDb && { audienceDb: deps.audienceDb }),
    }),
    crm: crmSource(config, logger.child({ source: 'crm' }), demo?.hubspot),
    email: emailSource(config, logger.child({ source: 'email' }), demo?.mailchimp),
    // The warehouse defaults to the shop database (the demo keeps both in one PostgreSQL).
    web: createWebSource(deps.analyticsDb ?? deps.db, {
      schema: config.ANALYTICS_SCHEMA,
      logger: logger.child({ source: 'web' }),
      // An empty category id turns that purpose off.
      consent: { analytics: config.WEB_CONSENT_ANALYTICS_CATEGORY || null, advertising: config.WEB_CONSENT_ADVERTISING_CATEGORY || null },
      ...((deps.audienceAnalyticsDb ?? deps.audienceDb) && { audienceDb: (deps.audienceAnalyticsDb ?? deps.audienceDb)! }),
    }),
  };
}

/**
 * The sources behind their guards and the shared cache, as configured: Redis when REDIS_URL is set
 * (unless CACHE says otherwise), an in-process LRU by default, none with CACHE=off.
 */
export async function createConfiguredUpstreams(config: Config, sources: Sources, logger: Logger, observer?: FamilyObserver): Promise<Upstreams> {
  return createUpstreams(sources, {
    ...(observer && { observer }),
    store: await createStore(config, logger),
    freshness: freshness(config),
    activityReadsPerRequest: config.MAILCHIMP_ACTIVITY_MAX_PER_REQUEST,
    guard: {
      breakerFailures: config.BREAKER_FAILURES,
      breakerCooldownMs: config.BREAKER_COOLDOWN_MS,
      maxConcurrent: config.SOURCE_MAX_CONCURRENT,
      queue: config.SOURCE_QUEUE,
    },
    logger,
  });
}

/** The configured answer cache (server/answers.ts): off with ANSWER_CACHE_MAX_ENTRIES=0. */
export function configuredAnswers(config: Config): AnswerCache | false {
  return config.ANSWER_CACHE_MAX_ENTRIES > 0 && new AnswerCache({ maxEntries: config.ANSWER_CACHE_MAX_ENTRIES, maxBytes: config.ANSWER_CACHE_MAX_MB * 2 ** 20 });
}

/**
 * The configured store. Never rejects for Redis: unreachable at start-up, the server starts with
 * the store degraded (`health().state === 'down'`, at most `connectTimeoutMs` later), serving from
 * the in-process copy, and the store connects by itself once Redis answers.
 */
async function createStore(config: Config, logger: Logger): Promise<EntityStore | null> {
  const kind = config.CACHE ?? (config.REDIS_URL ? 'redis' : 'memory');
  if (kind === 'off') return null;
  const bytes = config.CACHE_MAX_MB * 1024 * 1024;
  if (kind === 'memory') return new MemoryStore({ maxEntries: config.CACHE_MAX_ENTRIES, maxBytes: bytes });
  return RedisStore.connect({
    url: config.REDIS_URL!,
    localRetainMs: 1000,
    // Also the bounds while Redis is down: the pod is sized for the copy, not for a full cache.
    localMaxEntries: Math.min(config.CACHE_MAX_ENTRIES, 10_000),
    localMaxBytes: Math.min(bytes, 64 * 1024 * 1024),
    commandTimeoutMs: 100,
    connectTimeoutMs: 2000,
    reconnectMaxDelayMs: 2000,
    logger: logger.child({ component: 'cache' }),
  });
}

function freshness(config: Config): Record<'commerce' | 'crm' | 'email' | 'web', FreshnessPolicy> {
  const policy = (ttlSeconds: number): FreshnessPolicy => ({
    ttlMs: ttlSeconds * 1000,
    staleWhileRevalidateMs: config.CACHE_STALE_WHILE_REVALIDATE_SECONDS * 1000,
    staleIfErrorMs: config.CACHE_STALE_IF_ERROR_SECONDS * 1000,
    notFoundTtlMs: Math.min(ttlSeconds, config.CACHE_NOT_FOUND_TTL_SECONDS) * 1000,
  });
  return {
    commerce: policy(config.CACHE_TTL_COMMERCE_SECONDS),
    crm: policy(config.CACHE_TTL_CRM_SECONDS),
    email: policy(config.CACHE_TTL_EMAIL_SECONDS),
    web: policy(config.CACHE_TTL_WEB_SECONDS),
  };
}

function crmSource(config: Config, logger: Logger, demo: DemoUpstreams['hubspot'] | undefined): HubSpotSource {
  const upstream = config.HUBSPOT_ACCESS_TOKEN
    ? { accessToken: config.HUBSPOT_ACCESS_TOKEN, baseUrl: config.HUBSPOT_BASE_URL, extraProperties: config.HUBSPOT_EXTRA_PROPERTIES }
    : demo;
  if (!upstream) return crmNotConfigured();
  return createHubSpotSource({
    accessToken: upstream.accessToken,
    baseUrl: upstream.baseUrl,
    extraProperties: config.HUBSPOT_EXTRA_PROPERTIES ?? upstream.extraProperties ?? [],
    timeoutMs: config.HUBSPOT_TIMEOUT_MS,
    retryBudgetMs: config.HUBSPOT_RETRY_BUDGET_MS,
    rateLimit: { requests: config.HUBSPOT_RATE_LIMIT_REQUESTS, intervalMs: config.HUBSPOT_RATE_LIMIT_INTERVAL_MS },
    ownersTtlMs: config.HUBSPOT_OWNERS_TTL_MS,
    search: { requestsPerSecond: config.HUBSPOT_SEARCH_REQUESTS_PER_SECOND, retryBudgetMs: config.HUBSPOT_SEARCH_RETRY_BUDGET_MS },
    // The quotas are the app's, not the process's: with Redis, the fleet counts them together.
    ...(config.REDIS_URL && { quotaRedisUrl: config.REDIS_URL }),
    logger,
  });
}

function emailSource(config: Config, logger: Logger, demo: DemoUpstreams['mailchimp'] | undefined): MailchimpSource {
  const upstream = config.MAILCHIMP_API_KEY ? { apiKey: config.MAILCHIMP_API_KEY, listId: config.MAILCHIMP_LIST_ID!, baseUrl: config.MAILCHIMP_BASE_URL } : demo;
  // The audience push-down fails as not_configured too (sources/mailchimp/audience.ts).
  if (!upstream) return emailNotConfigured();
  return createMailchimpSource({
    ...upstream,
    ...(config.MAILCHIMP_SERVER_PREFIX && { serverPrefix: config.MAILCHIMP_SERVER_PREFIX }),
    timeoutMs: config.MAILCHIMP_TIMEOUT_MS,
    retryBudgetMs: config.MAILCHIMP_RETRY_BUDGET_MS,
    maxInFlight: config.MAILCHIMP_MAX_IN_FLIGHT,
    keepAliveMs: config.MAILCHIMP_KEEP_ALIVE_MS,
    ...(config.REDIS_URL && { connectionsRedisUrl: config.REDIS_URL }),
    logger,
  });
}

/**
 * Sources with no upstream: every call fails with `not_configured`, so their fields are null with
 * SOURCE_NOT_CONFIGURED and the rest of the customer answers.
 */
function failing(source: SourceName, setting: string) {
  return () => Promise.reject(new SourceError(source, 'not_configured', `not configured (set ${setting})`, { retryable: false }));
}

export function crmNotConfigured(): HubSpotSource {
  const fail = failing('crm', 'HUBSPOT_ACCESS_TOKEN');
  return {
    contactsByEmail: fail,
    contactsById: fail,
    withProperties: () => ({ contactsByEmail: fail, contactsById: fail }),
    allowedProperties: [],
    companiesForContacts: fail,
    ownersById: fail,
    audience: unconfiguredCrmAudience(fail),
    // No limit to wait for: the read itself says not configured.
    reserveSlot: async () => {},
    ping: fail,
    // Not configured is not a contract problem: the source says so on every call.
    checkContract: async () => [],
    close: async () => {},
  };
}

export function emailNotConfigured(): MailchimpSource {
  const fail = failing('email', 'MAILCHIMP_API_KEY');
  return {
    membersByEmail: fail,
    activityByEmail: () => fail,
    tagsByEmail: fail,
    ping: fail,
    checkContract: async () => [],
    audience: emailAudienceNotConfigured(),
    close: async () => {},
  };
}
