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
});

/** Names whose values are never printed, even when invalid. */
const SECRET = new Set(['DATABASE_URL']);

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
    const got = SECRET.has(name) ? '(value hidden)' : JSON.stringify(String(env[name]).slice(0, 80));
    return `  ${name}: ${issue.message}, got ${got}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}
