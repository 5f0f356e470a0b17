import {
  bulkhead,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  wrap,
  type IPolicy,
} from 'cockatiel';
import { SourceError, type SourceName } from '../sources/errors.ts';

export interface GuardOptions {
  /** Consecutive failed calls that open the breaker. */
  readonly breakerFailures: number;
  /** How long an open breaker fails fast before letting one probe call through. */
  readonly breakerCooldownMs: number;
  /** Calls of this source in flight at once; more wait in a queue of `queue`. */
  readonly maxConcurrent: number;
  readonly queue: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * One source's protection, shared by every request of the process: a circuit breaker (after
 * `breakerFailures` failed calls in a row it fails fast for a cool-down, then probes), a bulkhead
 * (a slow source cannot pile up sockets and memory), and the request's deadline (a source that
 * misses it gives SOURCE_TIMEOUT while the rest of the response goes out on time).
 */
export class SourceGuard {
  private readonly policy: IPolicy;
  private readonly breaker;

  constructor(
    readonly source: SourceName,
    private readonly options: GuardOptions,
  ) {
    // Only the upstream's own failures count against it: a caller's bad luck (rate limit, missing
    // configuration) says nothing about its health.
    const failures = handleWhen((error) => error instanceof SourceError && ['timeout', 'unavailable', 'bad_response'].includes(error.kind));
    this.breaker = circuitBreaker(failures, {
      halfOpenAfter: options.breakerCooldownMs,
      breaker: new ConsecutiveBreaker(options.breakerFailures),
    });
    this.policy = wrap(this.breaker, bulkhead(options.maxConcurrent, options.queue));
  }

  get state(): BreakerState {
    const state = this.breaker.state;
    return state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half-open' : 'open';
  }

  /**
   * Runs one upstream call under the breaker and bulkhead, and within `deadline` (epoch ms) when
   * given. Rejects with SourceError only.
   */
  async run<T>(call: () => Promise<T>, deadline?: number): Promise<T> {
    const remaining = deadline === undefined ? Infinity : deadline - Date.now();
    if (remaining <= 0) throw this.timeout();
    const running = this.policy.execute(call).catch((error: unknown) => {
      throw this.translate(error);
    });
    if (remaining === Infinity) return running;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        running,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(this.timeout()), remaining);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      // The call goes on past the deadline (its own timeout ends it); its failure is no one's now.
      running.catch(() => undefined);
    }
  }

  private timeout(): SourceError {
    return new SourceError(this.source, 'timeout', 'did not answer within the request time budget');
  }

  private translate(error: unknown): unknown {
    if (isBrokenCircuitError(error)) {
      return new SourceError(this.source, 'unavailable', 'circuit open after repeated failures', {
        retryAfterMs: this.options.breakerCooldownMs,
        cause: error,
      });
    }
    if (isBulkheadRejectedError(error)) {
      return new SourceError(this.source, 'unavailable', 'too many calls in flight', { cause: error });
    }
    return error;
  }
}
