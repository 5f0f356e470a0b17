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

/** The batch function contract: one entry per key, in key order; null = unknown; Error = that key failed. */
export type BatchFn<K, V> = (keys: readonly K[]) => Promise<Array<V | null | Error>>;
