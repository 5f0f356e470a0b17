import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { RequestLimitError } from '../cache/activity.ts';
import { SourceError, type SourceErrorKind } from '../sources/errors.ts';
import { CODE_OF_KIND, ErrorCode } from '../resolvers/errors.ts';

const MESSAGE_OF_KIND: Record<SourceErrorKind, string> = {
  timeout: 'did not answer in time',
  unavailable: 'is unavailable',
  bad_response: 'is unavailable',
  rate_limited: 'is rate limited',
  not_configured: 'is not configured',
};

/**
 * Codes a client may see as they are: ours (set deliberately on a GraphQLError) and Apollo's own
 * request errors (parse, validation, variable coercion, persisted queries, CSRF).
 */
const PUBLIC_CODES = new Set<string>([
  ErrorCode.BadUserInput,
  ErrorCode.Unauthenticated,
  ErrorCode.Forbidden,
  ErrorCode.OperationLimitExceeded,
  ErrorCode.PersistedQueryNotInList,
  ErrorCode.AudienceStoreUnavailable,
  // A client's own rate limit (HTTP 429); a source's arrives as a SourceError (see formatError).
  ErrorCode.RateLimited,
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
]);

/** True when an error reaches the client as it is, so there is nothing to log about it. */
export function isExpected(error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof SourceError || original instanceof RequestLimitError) return true;
  const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
  return typeof code === 'string' && PUBLIC_CODES.has(code);
}

/**
 * Apollo's formatError: a SourceError becomes SOURCE_* / RATE_LIMITED with the source's name; our
 * own and Apollo's request errors pass; anything else is masked as INTERNAL_SERVER_ERROR (it was
 * logged with the request id by the error-logging plugin), so no message, SQL or stack leaks.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const base = { ...(formatted.locations && { locations: formatted.locations }), ...(formatted.path && { path: formatted.path }) };
  if (original instanceof SourceError) {
    return {
      ...base,
      message: `The ${original.source} source ${MESSAGE_OF_KIND[original.kind]}.`,
      extensions: {
        code: CODE_OF_KIND[original.kind],
        source: original.source,
        retryable: original.retryable,
        ...(original.retryAfterMs !== undefined && { retryAfterMs: original.retryAfterMs }),
      },
    };
  }
  if (original instanceof RequestLimitError) {
    // Its message is written for the client: which limit, and how to get the rest.
    return { ...base, message: original.message, extensions: { code: ErrorCode.ResultLimited, source: original.source, limit: original.limit } };
  }
  if (isExpected(formatted)) {
    const { stacktrace: _, exception: __, ...extensions } = formatted.extensions ?? {};
    return { ...base, message: formatted.message, extensions };
  }
  return { ...base, message: 'Internal server error.', extensions: { code: ErrorCode.InternalServerError } };
}
