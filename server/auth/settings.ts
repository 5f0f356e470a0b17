import { readFileSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import type { Config } from '../config.ts';
import { ConfigError } from '../config.ts';
import { parseApiKeys, type ApiKeyEntry } from './api-keys.ts';
import { DEFAULT_RATE_LIMIT, securityDefaults, type SecurityOptions } from './index.ts';
import type { JwtAlgorithm, JwtOptions } from './jwt.ts';
import { parseManifest } from './persisted.ts';
import type { Scope } from './scopes.ts';

/**
 * The security policy from the environment (see docs/security.md). Reads the files
 * it names (API keys, JWKS, persisted query manifest); a bad one is a ConfigError naming the
 * setting, never echoing its content.
 */
export function securityFromConfig(config: Config): SecurityOptions {
  const production = config.NODE_ENV === 'production';
  const defaults = securityDefaults(production);
  return {
    ...defaults,
    apiKeys: apiKeys(config),
    jwt: jwt(config),
    limits: {
      maxDepth: config.MAX_DEPTH,
      maxAliases: config.MAX_ALIASES,
      maxDirectives: config.MAX_DIRECTIVES,
      maxTokens: config.MAX_TOKENS,
      maxDocumentBytes: config.MAX_DOCUMENT_BYTES,
      maxCost: config.MAX_COST,
      defaultListSize: config.COST_DEFAULT_LIST_SIZE,
    },
    rateLimit: config.RATE_LIMIT_COST_PER_SECOND === 0 ? null : { ...DEFAULT_RATE_LIMIT, costPerSecond: config.RATE_LIMIT_COST_PER_SECOND, burst: config.RATE_LIMIT_BURST },
    ...(config.REDIS_URL && { redisUrl: config.REDIS_URL }),
    corsOrigins: config.CORS_ORIGINS ?? defaults.corsOrigins,
    persistedQueries: config.PERSISTED_QUERIES,
    ...(config.PERSISTED_QUERIES === 'allowlist' && {
      manifest: readSetting('PERSISTED_QUERIES_MANIFEST', config.PERSISTED_QUERIES_MANIFEST!, parseManifest),
    }),
    explorer: config.EXPLORER === 'auto' ? defaults.explorer : config.EXPLORER,
  };
}

function apiKeys(config: Config): ApiKeyEntry[] {
  if (config.API_KEYS) return parse('API_KEYS', () => parseApiKeys(config.API_KEYS!));
  if (config.API_KEYS_FILE) return readSetting('API_KEYS_FILE', config.API_KEYS_FILE, parseApiKeys);
  return [];
}

function jwt(config: Config): JwtOptions | null {
  const key: JwtOptions['key'] | null = config.JWT_SECRET
    ? { secret: config.JWT_SECRET }
    : config.JWT_JWKS_URL
      ? { jwksUrl: config.JWT_JWKS_URL }
      : config.JWT_JWKS_FILE
        ? { jwks: readSetting('JWT_JWKS_FILE', config.JWT_JWKS_FILE, (text) => JSON.parse(text) as JSONWebKeySet) }
        : null;
  if (!key) return null;
  const algorithms = config.JWT_ALGORITHMS as JwtAlgorithm[] | undefined;
  const hmac = algorithms?.map((alg) => alg === 'HS256');
  if (hmac && ('secret' in key ? hmac.includes(false) : hmac.includes(true))) {
    throw new ConfigError('invalid configuration:\n  JWT_ALGORITHMS: HS256 goes with JWT_SECRET, RS256 and ES256 with a JWKS');
  }
  return {
    issuer: config.JWT_ISSUER!,
    audience: config.JWT_AUDIENCE!,
    key,
    ...(algorithms && { algorithms }),
    allowedScopes: config.JWT_SCOPES as Scope[],
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
    visitorMaxTtlSeconds: config.JWT_VISITOR_MAX_TTL_SECONDS,
  };
}

function readSetting<T>(name: string, path: string, read: (text: string) => T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`invalid configuration:\n  ${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parse(name, () => read(text));
}

function parse<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    // Messages of our parsers never quote the content; JSON.parse's can, so it is not passed on.
    const message = error instanceof SyntaxError ? 'not valid JSON' : (error as Error).message;
    throw new ConfigError(`invalid configuration:\n  ${name}: ${message}`);
  }
}
