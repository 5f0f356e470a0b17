import { randomUUID } from 'node:crypto';

/** Response bodies HubSpot sends when something is wrong, in its own words and shapes. */

/** SECONDLY: the CRM search endpoints' own per-account limit (5 requests per second). */
export type RateLimitPolicy = 'TEN_SECONDLY_ROLLING' | 'DAILY' | 'SECONDLY';

/** A status code and the JSON body to send with it. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The `Error` schema every HubSpot API shares. */
export function errorBody(category: string, message: string, context?: Record<string, string[]>): Record<string, unknown> {
  return { status: 'error', message, correlationId: randomUUID(), category, ...(context ? { context } : {}) };
}

export const unauthorized = (): Reply => ({
  status: 401,
  body: errorBody(
    'INVALID_AUTHENTICATION',
    'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
  ),
});

export const validationError = (message: string): Reply => ({ status: 400, body: errorBody('VALIDATION_ERROR', message) });

export const notFound = (message: string, context?: Record<string, string[]>): Reply => ({
  status: 404,
  body: errorBody('OBJECT_NOT_FOUND', message, context),
});

export const internalError = (): Reply => ({
  status: 500,
  body: errorBody('INTERNAL_ERROR', 'internal error'),
});

const RATE_LIMIT_MESSAGES: Record<RateLimitPolicy, string> = {
  DAILY: 'You have reached your daily limit.',
  TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
  SECONDLY: 'You have reached your secondly limit.',
};

/** The 429 body: note it has `errorType` and `policyName` and no `category`. */
export function rateLimitedBody(policy: RateLimitPolicy): Record<string, unknown> {
  return {
    status: 'error',
    message: RATE_LIMIT_MESSAGES[policy],
    errorType: 'RATE_LIMIT',
    correlationId: randomUUID(),
    policyName: policy,
    requestId: randomUUID(),
  };
}

/** One entry of a 207's `errors` (the `StandardError` schema). */
export function batchError(category: string, message: string, context: Record<string, string[]>): Record<string, unknown> {
  return { status: 'error', category, message, context, errors: [], links: {} };
}

/**
 * A batch answer: 200 `{status, results, startedAt, completedAt}`, or 207 with `numErrors` and
 * `errors` when some inputs failed.
 */
export function batchReply(results: unknown[], errors: Array<Record<string, unknown>>, startedAt: Date): Reply {
  const body: Record<string, unknown> = {
    status: 'COMPLETE',
    results,
    startedAt: startedAt.toISOString(),
    completedAt: new Date().toISOString(),
  };
  if (errors.length === 0) return { status: 200, body };
  return { status: 207, body: { ...body, numErrors: errors.length, errors } };
}
