import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mintApiKey } from '../../server/auth/api-keys.ts';
import { sha256 } from '../../server/auth/persisted.ts';
import { securityFromConfig } from '../../server/auth/settings.ts';
import { ConfigError, loadConfig } from '../../server/config.ts';

const settings = (env: Record<string, string>) => securityFromConfig(loadConfig(env));
const failure = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('security settings', () => {
  it('outside production: anonymous read scopes, the Sandbox, Apollo Studio as a CORS origin', () => {
    expect(settings({})).toMatchObject({
      anonymousScopes: ['customer:read:traits', 'customer:read:pii', 'segments:read', 'audiences:write'],
      explorer: 'sandbox',
      corsOrigins: ['https://studio.apollographql.com'],
      persistedQueries: 'apq',
      rateLimit: { costPerSecond: 1000, burst: 20_000 },
      limits: { maxDepth: 12, maxAliases: 20, maxDirectives: 20, maxTokens: 2000, maxDocumentBytes: 16_384, maxCost: 10_000 },
    });
  });

  it('in production: no anonymous access, no explorer page, no CORS origin, field suggestions hidden', () => {
    expect(settings({ NODE_ENV: 'production' })).toMatchObject({ anonymousScopes: null, explorer: 'none', corsOrigins: [], hideSchemaDetails: true });
    expect(settings({ NODE_ENV: 'production', EXPLORER: 'graphiql', CORS_ORIGINS: 'https://shop.example.com, https://m.shop.example.com' })).toMatchObject({
      explorer: 'graphiql',
      corsOrigins: ['https://shop.example.com', 'https://m.shop.example.com'],
    });
    expect(settings({ EXPLORER: 'none' })).toMatchObject({ explorer: 'none' });
  });

  it('refuses the retired SANDBOX setting, naming its replacement', () => {
    expect(failure(() => settings({ SANDBOX: 'on' }))).toContain('SANDBOX: replaced by EXPLORER (SANDBOX=on is EXPLORER=sandbox, SANDBOX=off is EXPLORER=none)');
  });

  it('reads API keys from the variable or a file, and never echoes a bad document', () => {
    const { entry } = mintApiKey('personalization', ['customer:read:traits']);
    expect(settings({ API_KEYS: JSON.stringify([entry]) }).apiKeys).toEqual([entry]);
    const file = join(mkdtempSync(join(tmpdir(), 'c360-')), 'keys.json');
    writeFileSync(file, JSON.stringify([entry]));
    expect(settings({ API_KEYS_FILE: file }).apiKeys).toEqual([entry]);
    const secretish = '[{"client":"x","scopes":["customer:read:traits"],"sha256":"c360_plain-key-by-mistake"}]';
    const message = failure(() => settings({ API_KEYS: secretish }));
    expect(message).toContain("API_KEYS: entry 0.sha256: expected the key's SHA-256");
    expect(message).not.toContain('plain-key');
    for (const scope of ['customer:read:self', 'visitor:read:self']) {
      expect(failure(() => settings({ API_KEYS: `[{"client":"app","scopes":["${scope}"],"sha256":"${'a'.repeat(64)}"}]` }))).toContain('are for JWTs');
    }
    expect(failure(() => settings({ API_KEYS: '{not json' }))).toContain('not JSON');
  });

  it('needs an issuer and an audience with any JWT key, one key source, and algorithms that fit it', () => {
    const message = failure(() => loadConfig({ JWT_SECRET: 'x'.repeat(40) }));
    expect(message).toContain('JWT_ISSUER: required to verify JWTs');
    expect(message).toContain('JWT_AUDIENCE: required to verify JWTs');
    expect(message).not.toContain('x'.repeat(40));
    expect(failure(() => loadConfig({ JWT_SECRET: 'short' }))).toContain('JWT_SECRET: expected an HS256 secret of at least 32 characters, got (value hidden)');
    const base = { JWT_ISSUER: 'https://login.example', JWT_AUDIENCE: 'c360' };
    expect(failure(() => loadConfig({ ...base, JWT_SECRET: 'x'.repeat(40), JWT_JWKS_URL: 'https://login.example/jwks' }))).toContain('give one of');
    expect(failure(() => settings({ ...base, JWT_JWKS_URL: 'https://login.example/jwks', JWT_ALGORITHMS: 'HS256' }))).toContain('HS256 goes with JWT_SECRET');
    expect(settings({ ...base, JWT_JWKS_URL: 'https://login.example/jwks' }).jwt).toMatchObject({
      issuer: 'https://login.example',
      audience: 'c360',
      key: { jwksUrl: 'https://login.example/jwks' },
      allowedScopes: ['customer:read:self', 'visitor:read:self'],
      visitorMaxTtlSeconds: 3600,
    });
  });

  it('lets JWT_SCOPES and JWT_VISITOR_MAX_TTL_SECONDS narrow what frontend tokens may be', () => {
    const base = { JWT_ISSUER: 'https://login.example', JWT_AUDIENCE: 'c360', JWT_SECRET: 'x'.repeat(40) };
    expect(settings({ ...base, JWT_SCOPES: 'customer:read:self', JWT_VISITOR_MAX_TTL_SECONDS: '600' }).jwt).toMatchObject({
      allowedScopes: ['customer:read:self'],
      visitorMaxTtlSeconds: 600,
    });
    expect(settings({ ...base, JWT_SCOPES: 'visitor:read:self' }).jwt?.allowedScopes).toEqual(['visitor:read:self']);
    expect(failure(() => loadConfig({ JWT_SCOPES: 'visitor:read:all' }))).toContain('JWT_SCOPES: expected a comma-separated list of scopes');
    expect(failure(() => loadConfig({ JWT_VISITOR_MAX_TTL_SECONDS: '0' }))).toContain('JWT_VISITOR_MAX_TTL_SECONDS');
  });

  it('needs a valid manifest in allow-list mode, and a burst that fits the dearest operation', () => {
    expect(failure(() => loadConfig({ PERSISTED_QUERIES: 'allowlist' }))).toContain('PERSISTED_QUERIES_MANIFEST: required');
    const dir = mkdtempSync(join(tmpdir(), 'c360-'));
    const body = '{ __typename }';
    writeFileSync(
      join(dir, 'good.json'),
      JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: sha256(body), body, name: 'T', type: 'query' }] }),
    );
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'abc', body, name: 'T' }] }));
    expect(settings({ PERSISTED_QUERIES: 'allowlist', PERSISTED_QUERIES_MANIFEST: join(dir, 'good.json') }).manifest).toEqual(new Map([[sha256(body), body]]));
    expect(failure(() => settings({ PERSISTED_QUERIES: 'allowlist', PERSISTED_QUERIES_MANIFEST: join(dir, 'bad.json') }))).toContain(
      'operation T: id is not the SHA-256 of its body',
    );
    expect(failure(() => loadConfig({ MAX_COST: '50000' }))).toContain('RATE_LIMIT_BURST: must be at least MAX_COST');
    expect(settings({ RATE_LIMIT_COST_PER_SECOND: '0' }).rateLimit).toBeNull();
  });
});

describe('source settings owned by the security layer', () => {
  it('classifies each allow-listed HubSpot property as a trait (plain or :trait) or a direct identifier (:identifier)', () => {
    const config = loadConfig({ HUBSPOT_EXTRA_PROPERTIES: 'preferred_store,loyalty_tier:trait,mobilephone:identifier' });
    // The sources get plain names; which are identifiers is the server's business.
    expect(config.HUBSPOT_EXTRA_PROPERTIES).toEqual(['preferred_store', 'loyalty_tier', 'mobilephone']);
    expect(config.crmIdentifierProperties).toEqual(['mobilephone']);
    expect(loadConfig({ HUBSPOT_EXTRA_PROPERTIES: 'preferred_store' }).crmIdentifierProperties).toEqual([]);
    expect(loadConfig({})).toMatchObject({ HUBSPOT_EXTRA_PROPERTIES: undefined, crmIdentifierProperties: [] });
  });

  it('explains the property list format when it is wrong, and refuses a property listed twice', () => {
    const message = failure(() => loadConfig({ HUBSPOT_EXTRA_PROPERTIES: 'mobilephone:pii' }));
    expect(message).toContain('HUBSPOT_EXTRA_PROPERTIES: expected comma-separated HubSpot internal property names');
    expect(message).toContain('mobilephone:identifier');
    expect(failure(() => loadConfig({ HUBSPOT_EXTRA_PROPERTIES: 'mobilephone,mobilephone:identifier' }))).toContain('expected each property once');
  });

  it('reads the consent categories as warehouse column suffixes, c0002 and c0004 by default, empty turning one off', () => {
    expect(loadConfig({})).toMatchObject({ WEB_CONSENT_ANALYTICS_CATEGORY: 'c0002', WEB_CONSENT_ADVERTISING_CATEGORY: 'c0004' });
    expect(loadConfig({ WEB_CONSENT_ANALYTICS_CATEGORY: 'performance_cookies', WEB_CONSENT_ADVERTISING_CATEGORY: '' })).toMatchObject({
      WEB_CONSENT_ANALYTICS_CATEGORY: 'performance_cookies',
      WEB_CONSENT_ADVERTISING_CATEGORY: null,
    });
    for (const bad of ['C0002', 'c0002;drop', 'a__b', '_a', 'x'.repeat(27)]) {
      expect(
        failure(() => loadConfig({ WEB_CONSENT_ANALYTICS_CATEGORY: bad })),
        bad,
      ).toContain('WEB_CONSENT_ANALYTICS_CATEGORY: expected');
    }
  });
});
