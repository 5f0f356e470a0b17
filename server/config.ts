import { z } from 'zod';
import { ACTIVITY_READS_PER_REQUEST } from '../cache/activity.ts';
import { DEFAULT_ANSWER_CACHE } from '../cache/answers.ts';
import { checkRedisUrl } from '../cache/redis-client.ts';
import { DEFAULT_KEEP_ALIVE_MS } from '../sources/mailchimp/index.ts';

/**
 * Settings from the environment, each documented in docs/configuration.md's settings table. Parsing
 * reports every bad value at once, one line each, and never echoes a secret's value.
 */
const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: z.coerce.number().int().min(0).max(65535).default(4000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(10).max(600_000).default(2000),
    ANALYTICS_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    ANALYTICS_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a plain lower-case schema name')
      .default('web'),
    DEMO_WEB_HISTORY_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    WEB_CONSENT_ANALYTICS_CATEGORY: consentCategory('c0002'),
    WEB_CONSENT_ADVERTISING_CATEGORY: consentCategory('c0004'),
    SHOP_CURRENCY: z
      .string()
      .regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as USD')
      .default('USD'),
    ABANDONED_CART_AFTER_MINUTES: z.coerce.number().min(1).max(43_200).default(60),
    RFM_BOUNDARIES_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
    SHOP_TIME_ZONE: z
      .string()
      .refine((zone) => isTimeZone(zone), 'expected an IANA time zone such as Europe/Berlin')
      .default('UTC'),
    CLV_FIT_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(86_400),
    CLV_FIT_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(120_000),
    CLV_LIFETIME_MONTHS: z.coerce.number().int().min(1).max(120).default(12),
    CLV_ANNUAL_DISCOUNT_RATE: z.coerce.number().min(0).max(1).default(0.1),
    TRAIT_AFFINITY_HALF_LIFE_DAYS: z.coerce.number().min(0.5).max(365).default(14),
    DEMO_CUSTOMERS: z.coerce.number().int().min(1).max(2_000_000).default(3000),
    DEMO_SEED: z.coerce.number().int().min(0).default(360),

    HUBSPOT_ACCESS_TOKEN: z.string().min(10, 'expected a HubSpot private-app token').optional(),
    HUBSPOT_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.hubapi.com'),
    HUBSPOT_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(1500),
    HUBSPOT_RETRY_BUDGET_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    HUBSPOT_RATE_LIMIT_REQUESTS: z.coerce.number().int().min(1).max(10_000).default(100),
    HUBSPOT_RATE_LIMIT_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
    HUBSPOT_EXTRA_PROPERTIES: z
      .string()
      .regex(
        /^[a-z0-9_]+(:(trait|identifier))?(,[a-z0-9_]+(:(trait|identifier))?)*$/,
        'expected comma-separated HubSpot internal property names, each a trait (name, or name:trait) or a direct identifier ' +
          '(name:identifier: in the clear with customer:read:pii only), e.g. preferred_store,loyalty_tier,mobilephone:identifier',
      )
      .transform(crmPropertyList)
      .refine((list) => new Set(list.map(({ name }) => name)).size === list.length, { message: 'expected each property once' })
      .optional(),
    HUBSPOT_SEARCH_REQUESTS_PER_SECOND: z.coerce.number().int().min(1).max(5).default(4),
    HUBSPOT_SEARCH_RETRY_BUDGET_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
    HUBSPOT_OWNERS_TTL_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
    TRAIT_BIRTHDATE_PROPERTY: z
      .string()
      .regex(/^[a-z0-9_]+$/, 'expected a HubSpot internal property name')
      .optional(),
    TRAIT_GENDER_PROPERTY: z
      .string()
      .regex(/^[a-z0-9_]+$/, 'expected a HubSpot internal property name')
      .optional(),

    MAILCHIMP_API_KEY: z
      .string()
      .regex(/^\w+-[a-z]+\d+$/, 'expected a Mailchimp API key ending in its datacenter, e.g. -us21')
      .optional(),
    MAILCHIMP_LIST_ID: z
      .string()
      .regex(/^\w{1,40}$/, 'expected a Mailchimp audience id')
      .optional(),
    MAILCHIMP_SERVER_PREFIX: z
      .string()
      .regex(/^[a-z]+\d+$/, 'expected a datacenter such as us21')
      .optional(),
    MAILCHIMP_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    MAILCHIMP_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(2000),
    MAILCHIMP_RETRY_BUDGET_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    MAILCHIMP_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10).default(10),
    MAILCHIMP_KEEP_ALIVE_MS: z.coerce.number().int().min(0).max(60_000).default(DEFAULT_KEEP_ALIVE_MS),
    MAILCHIMP_ACTIVITY_MAX_PER_REQUEST: z.coerce.number().int().min(0).max(1000).default(ACTIVITY_READS_PER_REQUEST),

    PUBLIC_URL: z
      .url({ protocol: /^https?$/ })
      .transform((url) => url.replace(/\/+$/, ''))
      .optional(),
    HUBSPOT_CLIENT_SECRET: z.string().min(8).optional(),
    MAILCHIMP_WEBHOOK_SECRET: z
      .string()
      .regex(/^[\w-]{16,128}$/, 'expected 16-128 URL-safe characters')
      .optional(),
    REQUEST_BUDGET_MS: z.coerce.number().int().min(10).max(60_000).default(800),
    AUDIENCE_BUDGET_MS: z.coerce.number().int().min(100).max(300_000).default(30_000),
    AUDIENCE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    AUDIENCE_POOL_MAX: z.coerce.number().int().min(1).max(50).default(2),
    AUDIENCE_MAX_CRM_CALLS: z.coerce.number().int().min(1).max(10_000).default(50),
    AUDIENCE_MAX_EMAIL_CALLS: z.coerce.number().int().min(1).max(100_000).default(500),
    AUDIENCE_MAX_CANDIDATES: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
    AUDIENCE_COST_PER_CALL: z.coerce.number().int().min(0).max(10_000).default(10),
    READINESS_PROBE_INTERVAL_MS: z.coerce.number().int().min(1000).max(600_000).default(15_000),
    BREAKER_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
    BREAKER_COOLDOWN_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    SOURCE_MAX_CONCURRENT: z.coerce.number().int().min(1).max(10_000).default(64),
    SOURCE_QUEUE: z.coerce.number().int().min(0).max(100_000).default(1000),

    PUSH_COALESCE_MS: z.coerce.number().int().min(0).max(5000).default(20),
    PUSH_SHOP_CHANGES: z.enum(['off', 'notify', 'logical']).default('off'),
    PUSH_SHOP_SLOT: z
      .string()
      .regex(/^[a-z0-9_]{1,63}$/, 'expected a replication slot name: lower-case letters, digits and underscores')
      .default('c360_changes'),
    PUSH_SHOP_STANDBY_RETRY_SECONDS: z.coerce.number().min(1).max(3600).default(5),
    PUSH_ABANDONED_SWEEP_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
    WAREHOUSE_POLL_INTERVAL_MS: z.coerce
      .number()
      .int()
      .refine((ms) => ms === 0 || (ms >= 100 && ms <= 3_600_000), 'expected 0 (off) or 100 to 3600000')
      .default(5000),
    WAREHOUSE_POLL_MAX_PEOPLE: z.coerce.number().int().min(1).max(100_000).default(5000),
    EVENT_INTAKE_SECRET: z.string().min(16, 'expected at least 16 characters').max(256).optional(),
    TRIGGER_LAPSE_THRESHOLD: z.coerce.number().gt(0).max(1).default(0.5),
    TRIGGER_READ_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    TRIGGER_STATE_TTL_DAYS: z.coerce.number().min(1).max(3650).default(30),
    TRIGGER_STATE_MAX_CUSTOMERS: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
    SUBSCRIPTION_MAX_PER_CLIENT: z.coerce.number().int().min(1).max(100_000).default(20),
    SUBSCRIPTION_MAX_PER_CONNECTION: z.coerce.number().int().min(1).max(1000).default(10),
    SUBSCRIPTION_MAX_PENDING: z.coerce.number().int().min(1).max(10_000).default(100),
    SUBSCRIPTION_MAX_BUFFERED_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(1024 ** 3)
      .default(1024 * 1024),
    SUBSCRIPTION_KEEPALIVE_MS: z.coerce.number().int().min(1000).max(300_000).default(12_000),
    OUTGOING_WEBHOOK_RETRY_SCHEDULE_MS: list(/^\d{1,9}$/, 'expected comma-separated waits in ms, e.g. 5000,300000,1800000')
      .transform((items) => items.map(Number))
      .optional(),
    OUTGOING_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    OUTGOING_WEBHOOK_CLAIM_IDLE_MS: z.coerce.number().int().min(1000).max(86_400_000).default(60_000),
    OUTGOING_WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    OUTGOING_WEBHOOK_MAX_DEAD_LETTERS: z.coerce.number().int().min(1).max(10_000_000).default(10_000),

    // One URL: one server. Comma-separated: a Redis Cluster's seed nodes (cache/redis-client.ts).
    REDIS_URL: z
      .string()
      .superRefine((url, context) => {
        const problem = checkRedisUrl(url);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    CACHE: z.enum(['memory', 'redis', 'off']).optional(),
    CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(100_000),
    CACHE_MAX_MB: z.coerce.number().min(1).default(256),
    CACHE_TTL_COMMERCE_SECONDS: z.coerce.number().min(0).default(15),
    CACHE_TTL_CRM_SECONDS: z.coerce.number().min(0).default(300),
    CACHE_TTL_EMAIL_SECONDS: z.coerce.number().min(0).default(300),
    CACHE_TTL_WEB_SECONDS: z.coerce.number().min(0).default(60),
    CACHE_STALE_WHILE_REVALIDATE_SECONDS: z.coerce.number().min(0).default(60),
    CACHE_STALE_IF_ERROR_SECONDS: z.coerce.number().min(0).default(3600),
    CACHE_NOT_FOUND_TTL_SECONDS: z.coerce.number().min(0).default(30),
    ANSWER_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).default(DEFAULT_ANSWER_CACHE.maxEntries),
    ANSWER_CACHE_MAX_MB: z.coerce
      .number()
      .min(1)
      .default(DEFAULT_ANSWER_CACHE.maxBytes / 2 ** 20),

    METRICS_TOKEN: z
      .string()
      .regex(/^[\x21-\x7e]{16,256}$/, 'expected 16-256 printable characters')
      .optional(),
    METRICS_MAX_OPERATIONS: z.coerce.number().int().min(0).max(10_000).default(100),
    // Read by OpenTelemetry's SDK itself (server/observability/telemetry.ts); checked here so a typo
    // stops start-up instead of silently turning tracing off.
    OTEL_SDK_DISABLED: z.enum(['true', 'false']).optional(),
    OTEL_TRACES_EXPORTER: z
      .string()
      .regex(/^(otlp|console|zipkin|none)(,(otlp|console|zipkin|none))*$/, 'expected otlp, console, zipkin or none')
      .optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).optional(),
    OTEL_SERVICE_NAME: z
      .string()
      .regex(/^[\w.-]{1,100}$/)
      .optional(),
    OTEL_TRACES_SAMPLER: z.enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']).optional(),
    OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
    // Replaced by the standard variables: refused rather than ignored, so tracing does not change unseen.
    TRACING: removed('use OTEL_SDK_DISABLED=true to turn tracing off, or an OTLP endpoint to turn it on'),
    TRACING_SAMPLE_RATIO: removed('use OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG'),

    API_KEYS: z.string().min(2).optional(),
    API_KEYS_FILE: z.string().min(1).optional(),
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).optional(),
    JWT_SECRET: z.string().min(32, 'expected an HS256 secret of at least 32 characters').optional(),
    JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    JWT_JWKS_FILE: z.string().min(1).optional(),
    JWT_ALGORITHMS: list(/^(HS256|RS256|ES256)$/, 'expected a comma-separated list of HS256, RS256, ES256').optional(),
    JWT_SCOPES: list(/^(customer:read:(traits|pii|self)|visitor:read:self|segments:read|admin)$/, 'expected a comma-separated list of scopes').default([
      'customer:read:self',
      'visitor:read:self',
    ]),
    JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    JWT_VISITOR_MAX_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3600),
    CORS_ORIGINS: list(/^https?:\/\/[^/\s,]+$/, 'expected comma-separated origins such as https://shop.example.com').optional(),
    EXPLORER: z.enum(['auto', 'sandbox', 'graphiql', 'none']).default('auto'),
    // Replaced by EXPLORER: refused rather than ignored, so an upgrade does not silently change the page.
    SANDBOX: z.never({ error: 'replaced by EXPLORER (SANDBOX=on is EXPLORER=sandbox, SANDBOX=off is EXPLORER=none)' }).optional(),
    MAX_DEPTH: z.coerce.number().int().min(1).max(100).default(12),
    MAX_ALIASES: z.coerce.number().int().min(0).max(1000).default(20),
    MAX_DIRECTIVES: z.coerce.number().int().min(0).max(1000).default(20),
    MAX_TOKENS: z.coerce.number().int().min(100).max(100_000).default(2000),
    MAX_DOCUMENT_BYTES: z.coerce.number().int().min(256).max(262_144).default(16_384),
    MAX_COST: z.coerce.number().int().min(1).default(10_000),
    COST_DEFAULT_LIST_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
    RATE_LIMIT_COST_PER_SECOND: z.coerce.number().int().min(0).default(1000),
    RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(20_000),
    PERSISTED_QUERIES: z.enum(['apq', 'allowlist', 'off']).default('apq'),
    PERSISTED_QUERIES_MANIFEST: z.string().min(1).optional(),
  })
  .refine((config) => !config.MAILCHIMP_API_KEY || config.MAILCHIMP_LIST_ID, {
    path: ['MAILCHIMP_LIST_ID'],
    message: 'required with MAILCHIMP_API_KEY',
  })
  // A job is claimed from a replica that went away only after it could have finished its POST.
  .refine((config) => config.OUTGOING_WEBHOOK_CLAIM_IDLE_MS > config.OUTGOING_WEBHOOK_TIMEOUT_MS + config.REQUEST_BUDGET_MS, {
    path: ['OUTGOING_WEBHOOK_CLAIM_IDLE_MS'],
    message: 'must exceed OUTGOING_WEBHOOK_TIMEOUT_MS plus REQUEST_BUDGET_MS, or a slow delivery would be made twice',
  })
  .refine((config) => config.PUSH_SHOP_CHANGES === 'off' || config.DATABASE_URL, {
    path: ['PUSH_SHOP_CHANGES'],
    message: 'needs DATABASE_URL (the embedded demo pushes its shop changes on its own)',
  })
  .refine((config) => config.CACHE !== 'redis' || config.REDIS_URL, { path: ['CACHE'], message: 'redis needs REDIS_URL' })
  .refine((config) => !(config.API_KEYS && config.API_KEYS_FILE), { path: ['API_KEYS_FILE'], message: 'give API_KEYS or API_KEYS_FILE, not both' })
  .refine((config) => [config.JWT_SECRET, config.JWT_JWKS_URL, config.JWT_JWKS_FILE].filter(Boolean).length <= 1, {
    path: ['JWT_SECRET'],
    message: 'give one of JWT_SECRET, JWT_JWKS_URL, JWT_JWKS_FILE',
  })
  .refine((config) => !(config.JWT_SECRET || config.JWT_JWKS_URL || config.JWT_JWKS_FILE) || config.JWT_ISSUER, {
    path: ['JWT_ISSUER'],
    message: 'required to verify JWTs',
  })
  .refine((config) => !(config.JWT_SECRET || config.JWT_JWKS_URL || config.JWT_JWKS_FILE) || config.JWT_AUDIENCE, {
    path: ['JWT_AUDIENCE'],
    message: 'required to verify JWTs',
  })
  .refine((config) => config.PERSISTED_QUERIES !== 'allowlist' || config.PERSISTED_QUERIES_MANIFEST, {
    path: ['PERSISTED_QUERIES_MANIFEST'],
    message: 'required with PERSISTED_QUERIES=allowlist',
  })
  .refine((config) => config.RATE_LIMIT_COST_PER_SECOND === 0 || config.RATE_LIMIT_BURST >= config.MAX_COST, {
    path: ['RATE_LIMIT_BURST'],
    message: 'must be at least MAX_COST, or the dearest allowed operation could never run',
  })
  // Demographics read only what is fetched; a birth date is personal data in itself, so outside
  // the trait (CrmContact.properties) it is read in the clear with customer:read:pii only.
  .refine((config) => !config.TRAIT_BIRTHDATE_PROPERTY || config.HUBSPOT_EXTRA_PROPERTIES?.some(({ name, identifier }) => name === config.TRAIT_BIRTHDATE_PROPERTY && identifier), {
    path: ['TRAIT_BIRTHDATE_PROPERTY'],
    message: 'expected a property of HUBSPOT_EXTRA_PROPERTIES marked :identifier, e.g. HUBSPOT_EXTRA_PROPERTIES=date_of_birth:identifier',
  })
  .refine((config) => !config.TRAIT_GENDER_PROPERTY || config.HUBSPOT_EXTRA_PROPERTIES?.some(({ name }) => name === config.TRAIT_GENDER_PROPERTY), {
    path: ['TRAIT_GENDER_PROPERTY'],
    message: 'expected one of HUBSPOT_EXTRA_PROPERTIES (only those are fetched), e.g. HUBSPOT_EXTRA_PROPERTIES=gender',
  })
  // The sources take plain property names; which of them are identifiers is the server's business.
  .transform(({ HUBSPOT_EXTRA_PROPERTIES: properties, ...config }) => ({
    ...config,
    HUBSPOT_EXTRA_PROPERTIES: properties?.map(({ name }) => name),
    /** The HUBSPOT_EXTRA_PROPERTIES marked `:identifier` (not a setting of its own). */
    crmIdentifierProperties: (properties ?? []).filter(({ identifier }) => identifier).map(({ name }) => name),
  }));

/** `name` or `name:trait` (a trait), `name:identifier` (a direct identifier), comma-separated. */
function crmPropertyList(list: string): Array<{ name: string; identifier: boolean }> {
  return list.split(',').map((item) => {
    const [name = '', kind] = item.split(':');
    return { name, identifier: kind === 'identifier' };
  });
}

/**
 * A Segment consent category id as the warehouse's column suffix
 * (`context_consent_category_preferences_<id>`, within PostgreSQL's 63-character names); empty
 * turns the purpose off (null).
 */
function consentCategory(fallback: string) {
  return z
    .string()
    .regex(/^([a-z0-9]+(_[a-z0-9]+)*)?$/, 'expected a Segment consent category id in lower-case snake case, e.g. c0002 (the column suffix), or empty to turn it off')
    .max(26, 'expected at most 26 characters (the column name is limited to 63)')
    .transform((id) => id || null)
    .default(fallback);
}

/** A comma-separated list whose every item matches `item`. */
function list(item: RegExp, message: string) {
  return z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .refine((items) => items.length > 0 && items.every((part) => item.test(part)), { message });
}

/** Settings whose empty value means "off" rather than "unset" (the default). */
const EMPTY_TURNS_OFF = new Set(['WEB_CONSENT_ANALYTICS_CATEGORY', 'WEB_CONSENT_ADVERTISING_CATEGORY']);

/** Names whose values are never printed, even when invalid. */
const SECRET = new Set([
  'DATABASE_URL',
  'ANALYTICS_DATABASE_URL',
  'HUBSPOT_ACCESS_TOKEN',
  'MAILCHIMP_API_KEY',
  'REDIS_URL',
  'HUBSPOT_CLIENT_SECRET',
  'MAILCHIMP_WEBHOOK_SECRET',
  'METRICS_TOKEN',
  'EVENT_INTAKE_SECRET',
  'API_KEYS',
  'JWT_SECRET',
]);

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses and validates the environment; throws ConfigError listing every bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && (value !== '' || EMPTY_TURNS_OFF.has(name))));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const value = env[name];
    const got = value === undefined ? 'nothing' : SECRET.has(name) ? '(value hidden)' : JSON.stringify(value.slice(0, 80));
    return `  ${name}: ${issue.message}, got ${got}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/** A setting that no longer exists: any value is an error that names its replacement. */
function removed(replacement: string) {
  return z.undefined({ error: `removed: ${replacement}` }).optional();
}

/** Whether the runtime knows the IANA time zone (Intl throws a RangeError for one it does not). */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
