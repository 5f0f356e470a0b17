import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isBoundScope, isScope, type Principal, type RateLimitPolicy, type Scope } from './scopes.ts';

/** Every key starts with this, so a bearer token is told from a JWT (and from a leaked secret of another system) at a glance. */
export const API_KEY_PREFIX = 'c360_';

/** One configured key: who it is for, what it may read, and the SHA-256 of the key (never the key). */
export interface ApiKeyEntry {
  readonly client: string;
  readonly scopes: readonly Scope[];
  /** Lower-case hex SHA-256 of the whole key, prefix included. */
  readonly sha256: string;
  readonly rateLimit?: RateLimitPolicy;
}

const entrySchema = z.object({
  client: z.string().regex(/^[\w.-]{1,64}$/, 'expected a client name of letters, digits, . _ -'),
  scopes: z
    .array(z.string().refine(isScope, { message: 'unknown scope' }))
    .min(1)
    // A self scope needs a person to be bound to, which only a JWT's `sub` gives.
    .refine((scopes) => !scopes.some(isBoundScope), {
      message: 'customer:read:self and visitor:read:self are for JWTs (bound to their sub), not API keys',
    }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected the key's SHA-256 as 64 lower-case hex digits"),
  rateLimit: z.object({ costPerSecond: z.number().int().min(1), burst: z.number().int().min(1) }).optional(),
});

/**
 * Parses the `API_KEYS` document: a JSON array of `{ client, scopes, sha256, rateLimit? }`. Throws
 * an Error naming the first bad entry, without echoing the document.
 */
export function parseApiKeys(json: string): ApiKeyEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('expected a JSON array of { client, scopes, sha256 }, got text that is not JSON');
  }
  const result = z.array(entrySchema).safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`entry ${issue.path.join('.')}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const entry of result.data) {
    if (seen.has(entry.sha256)) throw new Error(`the key hash of client ${entry.client} is listed twice`);
    seen.add(entry.sha256);
  }
  return result.data;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key (256 bits) and the entry to configure for it. The key is shown once and never stored. */
export function mintApiKey(client: string, scopes: readonly Scope[]): { key: string; entry: ApiKeyEntry } {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, entry: { client, scopes, sha256: hashApiKey(key) } };
}

/**
 * Looks keys up by their hash. A lookup by hash leaks nothing through timing that matters: the
 * attacker would have to find a key whose SHA-256 shares a prefix with a configured one.
 */
export class ApiKeys {
  /** One principal per key, made once: requests share it (nothing writes to a principal). */
  private readonly byHash: Map<string, Principal>;

  constructor(entries: readonly ApiKeyEntry[]) {
    this.byHash = new Map(
      entries.map((entry) => [
        entry.sha256,
        {
          kind: 'api-key',
          client: entry.client,
          rateLimitKey: `key:${entry.client}`,
          scopes: new Set(entry.scopes),
          customerId: null,
          anonymousId: null,
          ...(entry.rateLimit && { rateLimit: entry.rateLimit }),
        },
      ]),
    );
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The principal of a presented key, or null when no configured key matches. */
  principal(key: string): Principal | null {
    return this.byHash.get(hashApiKey(key)) ?? null;
  }
}
