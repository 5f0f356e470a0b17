import { GraphQLError } from 'graphql';

/** Every `extensions.code` this server puts on an error. */
export const ErrorCode = {
  BadUserInput: 'BAD_USER_INPUT',
  SourceUnavailable: 'SOURCE_UNAVAILABLE',
  SourceTimeout: 'SOURCE_TIMEOUT',
  RateLimited: 'RATE_LIMITED',
  SourceNotConfigured: 'SOURCE_NOT_CONFIGURED',
  InternalServerError: 'INTERNAL_SERVER_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A client error found before any upstream call; the message says what was expected and what came. */
export function badUserInput(message: string, argument?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BadUserInput, ...(argument && { argument }) } });
}
