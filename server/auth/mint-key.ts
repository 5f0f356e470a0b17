/**
 * Mints a credential.
 * - `npm run mint-key -- <client> <scope>[,<scope>...]`: an API key. Prints the key once (for the
 *   client's secret store) and the entry to add to API_KEYS / API_KEYS_FILE, which holds only the
 *   key's SHA-256.
 * - `npm run mint-key -- --visitor <anonymousId> [--ttl <seconds>]`: a visitor token for one
 *   browser, signed with JWT_SECRET (HS256) for JWT_ISSUER and JWT_AUDIENCE from the environment.
 */
import { ConfigError, loadConfig } from '../config.ts';
import { mintApiKey } from './api-keys.ts';
import { isBoundScope, isScope, Scope } from './scopes.ts';
import { signVisitorToken, visitorClaims } from './visitor-token.ts';

const usage = `usage: npm run mint-key -- <client> <scope>[,<scope>...]
  client: letters, digits, . _ - (e.g. personalization)
  scopes: ${Object.values(Scope)
    .filter((scope) => !isBoundScope(scope))
    .join(', ')}
          (customer:read:self and visitor:read:self are for JWTs, bound to their sub)
   or: npm run mint-key -- --visitor <anonymousId> [--ttl <seconds>]
  a visitor token (visitor:read:self) for one browser's analytics anonymous id, signed with
  JWT_SECRET for JWT_ISSUER and JWT_AUDIENCE; --ttl defaults to JWT_VISITOR_MAX_TTL_SECONDS (3600)`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

async function mintVisitorToken(args: readonly string[]): Promise<void> {
  const [anonymousId, flag, ttlText, ...rest] = args;
  if (!anonymousId || rest.length > 0 || (flag !== undefined && (flag !== '--ttl' || ttlText === undefined))) fail(usage);
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error));
  }
  if (!config.JWT_SECRET) {
    fail(
      'JWT_SECRET is not set: this command signs visitor tokens with the HS256 shared secret. With a JWKS ' +
        '(JWT_JWKS_URL or JWT_JWKS_FILE) the storefront backend signs them with its own key, with the claims ' +
        'iss = JWT_ISSUER, aud = JWT_AUDIENCE, sub = the anonymous id, scope = "visitor:read:self", iat = now and ' +
        `exp = iat + at most JWT_VISITOR_MAX_TTL_SECONDS (see visitorClaims in server/auth/visitor-token.ts).`,
    );
  }
  const max = config.JWT_VISITOR_MAX_TTL_SECONDS;
  const ttl = ttlText === undefined ? max : Number(ttlText);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > max) fail(`--ttl: expected whole seconds from 1 to ${max} (JWT_VISITOR_MAX_TTL_SECONDS), got ${ttlText}`);
  let claims;
  try {
    claims = visitorClaims(anonymousId, { issuer: config.JWT_ISSUER!, audience: config.JWT_AUDIENCE!, ttlSeconds: ttl });
  } catch (error) {
    fail(`anonymousId: ${(error as Error).message}`);
  }
  const token = await signVisitorToken(claims, config.JWT_SECRET);
  process.stdout.write(`Visitor token for this browser (visitor:read:self), valid ${ttl} s; send it as Authorization: Bearer <token>:

  ${token}
`);
}

function mintKey(args: readonly string[]): void {
  const [client, scopeList] = args;
  const scopes = (scopeList ?? '').split(',').filter(Boolean);
  if (!client || !/^[\w.-]{1,64}$/.test(client) || args.length > 2 || scopes.length === 0 || !scopes.every(isScope) || scopes.some(isBoundScope)) {
    fail(usage);
  }
  const { key, entry } = mintApiKey(client, scopes);
  process.stdout.write(`API key for ${client} (${scopes.join(', ')}); shown once, keep it in the client's secret store:

  ${key}

Add this entry to the API_KEYS JSON array (or the API_KEYS_FILE) and restart:

  ${JSON.stringify(entry)}
`);
}

const args = process.argv.slice(2);
if (args[0] === '--visitor') await mintVisitorToken(args.slice(1));
else mintKey(args);
