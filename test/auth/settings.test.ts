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
      anonymousScopes: ['customer:read:traits', 'customer:read:pii', 'segments:read'],
      sandbox: true,
      corsOrigins: ['https://studio.apollographql.com'],
      persistedQueries: 'apq',
      rateLimit: { costPerSecond: 1000, burst: 20_000 },
      limits: { maxDepth: 12, maxAliases: 20, maxDirectives: 20, maxTokens: 2000, maxDocumentBytes: 16_384, maxCost: 10_000 },
    });
  });

  it('in production: no anonymous access, no Sandbox, no CORS origin, field suggestions hidden', () => {
    expect(settings({ NODE_ENV: 'production' })).toMatchObject({ anonymousScopes: null, sandbox: false, corsOrigins: [], hideSchemaDetails: true });
    expect(settings({ NODE_ENV: 'production', SANDBOX: 'on', CORS_ORIGINS: 'https://shop.example.com, https://m.shop.example.com' })).toMatchObject({
      sandbox: true,
      corsOrigins: ['https://shop.example.com', 'https://m.shop.example.com'],
    });
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
    expect(failure(() => settings({ API_KEYS: '[{"client":"app","scopes":["customer:read:self"],"sha256":"' + 'a'.repeat(64) + '"}]' }))).toContain('is for JWTs');
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
      allowedScopes: ['customer:read:self'],
    });
  });

  it('needs a valid manifest in allow-list mode, and a burst that fits the dearest operation', () => {
    expect(failure(() => loadConfig({ PERSISTED_QUERIES: 'allowlist' }))).toContain('PERSISTED_QUERIES_MANIFEST: required');
    const dir = mkdtempSync(join(tmpdir(), 'c360-'));
    const body = '{ __typename }';
    writeFileSync(join(dir, 'good.json'), JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: sha256(body), body, name: 'T', type: 'query' }] }));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'abc', body, name: 'T' }] }));
    expect(settings({ PERSISTED_QUERIES: 'allowlist', PERSISTED_QUERIES_MANIFEST: join(dir, 'good.json') }).manifest).toEqual(new Map([[sha256(body), body]]));
    expect(failure(() => settings({ PERSISTED_QUERIES: 'allowlist', PERSISTED_QUERIES_MANIFEST: join(dir, 'bad.json') }))).toContain('operation T: id is not the SHA-256 of its body');
    expect(failure(() => loadConfig({ MAX_COST: '50000' }))).toContain('RATE_LIMIT_BURST: must be at least MAX_COST');
    expect(settings({ RATE_LIMIT_COST_PER_SECOND: '0' }).rateLimit).toBeNull();
  });
});
