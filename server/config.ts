import { z } from 'zod';

/**
 * Settings from the environment, each documented in the README's configuration table. Parsing
 * reports every bad value at once, one line each, and never echoes a secret's value.
 */
const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(10).max(600_000).default(2000),
  SHOP_CURRENCY: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as USD').default('USD'),
  ABANDONED_CART_AFTER_MINUTES: z.coerce.number().min(1).max(43_200).default(60),
  RFM_BOUNDARIES_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
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
    .regex(/^[a-z0-9_]+(,[a-z0-9_]+)*$/, 'expected comma-separated HubSpot internal property names')
    .transform((list) => list.split(','))
    .optional(),
  HUBSPOT_OWNERS_TTL_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),

  MAILCHIMP_API_KEY: z.string().regex(/^\w+-[a-z]+\d+$/, 'expected a Mailchimp API key ending in its datacenter, e.g. -us21').optional(),
  MAILCHIMP_LIST_ID: z.string().regex(/^\w{1,40}$/, 'expected a Mailchimp audience id').optional(),
  MAILCHIMP_SERVER_PREFIX: z.string().regex(/^[a-z]+\d+$/, 'expected a datacenter such as us21').optional(),
  MAILCHIMP_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  MAILCHIMP_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(2000),
  MAILCHIMP_RETRY_BUDGET_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  MAILCHIMP_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10).default(10),

  PUBLIC_URL: z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, '')).optional(),
  HUBSPOT_CLIENT_SECRET: z.string().min(8).optional(),
  MAILCHIMP_WEBHOOK_SECRET: z.string().regex(/^[\w-]{16,128}$/, 'expected 16-128 URL-safe characters').optional(),
  REQUEST_BUDGET_MS: z.coerce.number().int().min(10).max(60_000).default(800),
  BREAKER_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
  BREAKER_COOLDOWN_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  SOURCE_MAX_CONCURRENT: z.coerce.number().int().min(1).max(10_000).default(64),
  SOURCE_QUEUE: z.coerce.number().int().min(0).max(100_000).default(1000),

  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
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
})
  .refine((config) => !config.MAILCHIMP_API_KEY || config.MAILCHIMP_LIST_ID, {
    path: ['MAILCHIMP_LIST_ID'],
    message: 'required with MAILCHIMP_API_KEY',
  })
  .refine((config) => config.CACHE !== 'redis' || config.REDIS_URL, { path: ['CACHE'], message: 'redis needs REDIS_URL' });

/** Names whose values are never printed, even when invalid. */
const SECRET = new Set(['DATABASE_URL', 'HUBSPOT_ACCESS_TOKEN', 'MAILCHIMP_API_KEY', 'REDIS_URL', 'HUBSPOT_CLIENT_SECRET', 'MAILCHIMP_WEBHOOK_SECRET']);

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses and validates the environment; throws ConfigError listing every bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const value = env[name];
    const got = value === undefined ? 'nothing' : SECRET.has(name) ? '(value hidden)' : JSON.stringify(value.slice(0, 80));
    return `  ${name}: ${issue.message}, got ${got}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}
