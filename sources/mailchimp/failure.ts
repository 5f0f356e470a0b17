import { parseRetryAfter } from '../cooldown.ts';
import { SourceError } from '../errors.ts';

/** How an upstream failure may be retried: with backoff (429), once (5xx, reset), or not at all. */
export type RetryRule = 'backoff' | 'once' | 'never';

export interface Failure {
  readonly error: SourceError;
  readonly retry: RetryRule;
  /** Mailchimp refused the API key: every call will fail until the configuration changes. */
  readonly keyRejected: boolean;
  /** For a 429: the Retry-After Mailchimp sent, in ms, when it sent one. */
  readonly retryAfterMs?: number;
}

/** What a rejected SDK call carries (a superagent error); all optional, as any error may come. */
interface SdkError {
  readonly status?: number;
  readonly timeout?: number;
  readonly code?: string;
  readonly response?: {
    readonly body?: { readonly title?: unknown; readonly instance?: unknown };
    readonly headers?: Readonly<Record<string, unknown>>;
  };
}

const failure = (error: SourceError, retry: RetryRule = 'never', keyRejected = false): Failure => ({
  error,
  retry,
  keyRejected,
});

/**
 * Turns a rejected SDK call into our error, or 'not_found' for a 404 (an unknown member is not a
 * failure). The superagent error is not kept as the cause: it holds the request and its
 * Authorization header. The cause is a summary (status, problem title and instance, for support).
 */
export function classify(raw: unknown): Failure | 'not_found' {
  const sdk = (typeof raw === 'object' && raw !== null ? raw : {}) as SdkError;
  const status = sdk.status;
  if (status === 404) return 'not_found';
  if (sdk.timeout !== undefined) {
    return failure(new SourceError('email', 'timeout', `Mailchimp did not answer within ${sdk.timeout} ms`));
  }
  if (status === undefined) {
    const code = typeof sdk.code === 'string' ? sdk.code : 'unknown error';
    const error = new SourceError('email', 'unavailable', `could not reach Mailchimp (${code})`);
    return failure(error, code === 'ECONNRESET' ? 'once' : 'never');
  }
  const problem = sdk.response?.body;
  const title = typeof problem?.title === 'string' ? ` ${problem.title}` : '';
  const cause = new Error(`HTTP ${status}${title}, instance ${String(problem?.instance ?? 'unknown')}`);
  if (status === 401 || status === 403) {
    const error = new SourceError('email', 'unavailable', `Mailchimp rejected the API key (HTTP ${status})`, { cause, retryable: false });
    return failure(error, 'never', true);
  }
  if (status === 429) {
    const header = sdk.response?.headers?.['retry-after'];
    const retryAfterMs = parseRetryAfter(typeof header === 'string' ? header : undefined);
    const error = new SourceError('email', 'rate_limited', 'Mailchimp kept answering 429 Too Many Requests', { cause, retryable: true, retryAfterMs });
    return { ...failure(error, 'backoff'), ...(retryAfterMs !== undefined && { retryAfterMs }) };
  }
  if (status >= 500) return failure(new SourceError('email', 'unavailable', `Mailchimp answered HTTP ${status}`, { cause }), 'once');
  return failure(new SourceError('email', 'bad_response', `Mailchimp answered HTTP ${status}`, { cause }));
}
