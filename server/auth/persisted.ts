import { createHash } from 'node:crypto';
import type { PersistedQueryOptions } from '@apollo/server';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { ErrorCode } from '../../resolvers/errors.ts';
import { isLandingPageRequest } from './authenticate.ts';

/**
 * Persisted queries. `apq`: Apollo's automatic persisted queries (a client registers a document by
 * its SHA-256 and later sends only the hash; in-memory, per replica). `allowlist`: only operations
 * of a manifest run, addressed by their hash, and nothing can be registered. `off`: documents only.
 */
export type PersistedQueryMode = 'apq' | 'allowlist' | 'off';

/** Operations by SHA-256 (hex) of their document. */
export type PersistedQueryManifest = ReadonlyMap<string, string>;

const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(z.object({ id: z.string(), body: z.string(), name: z.string().optional(), type: z.string().optional() })),
});

/**
 * Parses an Apollo persisted query manifest (what `generate-persisted-query-manifest` writes):
 * `{ format: "apollo-persisted-query-manifest", version: 1, operations: [{ id, name, type, body }] }`,
 * where each `id` must be the SHA-256 of its `body`.
 */
export function parseManifest(json: string): PersistedQueryManifest {
  const result = manifestSchema.safeParse(JSON.parse(json));
  if (!result.success) throw new Error(`not an Apollo persisted query manifest: ${result.error.issues[0]!.message}`);
  const operations = new Map<string, string>();
  for (const { id, body, name } of result.data.operations) {
    if (sha256(body) !== id) throw new Error(`operation ${name ?? id}: id is not the SHA-256 of its body`);
    operations.set(id, body);
  }
  return operations;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The manifest as Apollo's APQ cache: a hash-only request finds its document here; registering
 * (a document sent with its hash) stores nothing.
 */
export function manifestCache(manifest: PersistedQueryManifest): NonNullable<PersistedQueryOptions['cache']> {
  return {
    // Apollo prefixes APQ keys with `apq:`.
    get: async (key) => manifest.get(key.replace(/^apq:/, '')),
    set: async () => undefined,
    delete: async () => false,
  };
}

/**
 * Allow-list mode, before Apollo: a request must name a manifest operation by
 * `extensions.persistedQuery.sha256Hash`, and a document sent along must be that operation's.
 * Anything else is 400 PERSISTED_QUERY_NOT_IN_LIST, with no parsing or execution.
 */
export function allowListGate(manifest: PersistedQueryManifest): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (isLandingPageRequest(req) || Array.isArray(req.body)) return next(); // the page; batches are refused by Apollo
    const { query, extensions } = requestParts(req);
    const hash = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
    const registered = typeof hash === 'string' ? manifest.get(hash) : undefined;
    if (registered !== undefined && (query === undefined || query === registered)) return next();
    res.status(400).json({
      errors: [
        {
          message: 'Only registered operations run here: send `extensions.persistedQuery.sha256Hash` of an operation in the manifest.',
          extensions: { code: ErrorCode.PersistedQueryNotInList },
        },
      ],
    });
  };
}

/** `query` and `extensions` of a POST body or GET query string. */
export function requestParts(req: Request): { query: unknown; extensions: unknown } {
  if (req.method === 'GET') {
    let extensions: unknown;
    try {
      extensions = typeof req.query.extensions === 'string' ? JSON.parse(req.query.extensions) : undefined;
    } catch {
      extensions = undefined;
    }
    return { query: req.query.query, extensions };
  }
  const body = (req.body ?? {}) as { query?: unknown; extensions?: unknown };
  return { query: body.query, extensions: body.extensions };
}
