import { GraphQLError } from 'graphql';
import type { SourceErrorKind } from '../sources/errors.ts';

/** Every `extensions.code` this server puts on an error. */
export const ErrorCode = {
  BadUserInput: 'BAD_USER_INPUT',
  SourceUnavailable: 'SOURCE_UNAVAILABLE',
  SourceTimeout: 'SOURCE_TIMEOUT',
  RateLimited: 'RATE_LIMITED',
  SourceNotConfigured: 'SOURCE_NOT_CONFIGURED',
  /**
   * The request reached its share of an upstream's uncached reads (e.g. email activity on a big
   * page): this field was not read, the rest of the response is whole. Select it on fewer items.
   */
  ResultLimited: 'RESULT_LIMITED',
  InternalServerError: 'INTERNAL_SERVER_ERROR',
  /** No credentials where they are required, or credentials that do not verify (HTTP 401). */
  Unauthenticated: 'UNAUTHENTICATED',
  /** The caller's scopes do not cover this field (or this customer): the field is null. */
  Forbidden: 'FORBIDDEN',
  /** Depth, aliases, directives, document size or cost over its limit, before any execution. */
  OperationLimitExceeded: 'OPERATION_LIMIT_EXCEEDED',
  /** Saved audiences' store (Redis) did not answer: the audience fields fail, nothing else does. */
  AudienceStoreUnavailable: 'AUDIENCE_STORE_UNAVAILABLE',
  /** Allow-list mode: the operation is not a registered persisted query. */
  PersistedQueryNotInList: 'PERSISTED_QUERY_NOT_IN_LIST',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The public code of each way a source fails (a contract error reads as unavailable). */
export const CODE_OF_KIND: Record<SourceErrorKind, ErrorCode> = {
  timeout: ErrorCode.SourceTimeout,
  unavailable: ErrorCode.SourceUnavailable,
  bad_response: ErrorCode.SourceUnavailable,
  rate_limited: ErrorCode.RateLimited,
  not_configured: ErrorCode.SourceNotConfigured,
};

/** A client error found before any upstream call; the message says what was expected and what came. */
export function badUserInput(message: string, argument?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BadUserInput, ...(argument && { argument }) } });
}
