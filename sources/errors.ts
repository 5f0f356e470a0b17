/** What went wrong with an upstream, as far as a caller needs to know. */
export type SourceErrorKind = 'timeout' | 'unavailable' | 'rate_limited' | 'bad_response' | 'not_configured';

/** Names of the upstreams. A source uses its own name in every SourceError it throws. */
export type SourceName = 'commerce' | 'crm' | 'email' | 'web';

export interface SourceErrorOptions {
  readonly retryable?: boolean;
  /** When the upstream said to try again (Retry-After, a rate-limit reset), in ms from now. */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

/**
 * The one error a source throws (whole call) or puts at a key's position (that key alone). The
 * message is safe to log: it names the source and what happened, never a key, a value or a secret.
 * The GraphQL layer turns it into a field error with a public code; the cause stays internal.
 */
export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly source: SourceName,
    readonly kind: SourceErrorKind,
    message: string,
    options: SourceErrorOptions = {},
  ) {
    super(`${source}: ${message}`, { cause: options.cause });
    this.retryable = options.retryable ?? (kind === 'timeout' || kind === 'unavailable');
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The batch function contract (DESIGN, Contracts): one entry per key, in key order; null = the
 * system does not know this key (not an error); an Error at a position = that key failed; a thrown
 * SourceError = the whole call failed. Keys arrive normalized and within the upstream's batch limit.
 *
 * `signal` aborts at the caller's deadline (sources/deadline.ts: `timeLeft(signal)` says when).
 * Once it has aborted a batch function starts no request and no retry, and its retry budget is
 * never longer than the time left; a request already under way may finish (bounded by the source's
 * own timeout), so a late answer can still fill the shared cache. A batch function that stops
 * because of the signal rejects with `deadlinePassed(signal, ...)`. Sources whose own limits
 * bound them (SQL's statement_timeout) may ignore the signal.
 */
export type BatchFn<K, V> = (keys: readonly K[], signal?: AbortSignal) => Promise<Array<V | null | Error>>;
