import {
  bulkhead,
  BulkheadPolicy,
  circuitBreaker,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isTaskCancelledError,
} from 'cockatiel';
import { deadlineSignal } from '../sources/deadline.ts';
import { SourceError, type SourceName } from '../sources/errors.ts';

export interface GuardOptions {
  /** Consecutive failed calls that open the breaker. */
  readonly breakerFailures: number;
  /** How long an open breaker fails fast before letting one probe call through. */
  readonly breakerCooldownMs: number;
  /** Calls of this source in flight at once; more wait in a queue of `queue`. */
  readonly maxConcurrent: number;
  readonly queue: number;
  /**
   * The time budget of a call made for no request (a background refresh of a stale entry), in ms;
   * 5000 by default. Every call has a deadline, so none can hold a bulkhead slot or a probe forever.
   */
  readonly backgroundBudgetMs?: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

const DEFAULT_BACKGROUND_BUDGET_MS = 5000;

/**
 * Whether a failure says the source is down, and so counts towards opening its breaker: `timeout`
 * and `unavailable` do; `bad_response` only when `retryable` (an answer a healthy upstream would
 * not send, such as a body cut off mid-way, which a retry may read), never as a contract error
 * (`retryable: false`: a warehouse without a table, a request HubSpot rejects), which would open
 * the breaker for every field of the source over one missing table. `rate_limited` and
 * `not_configured` never count: they say how we use the source, not how it is.
 */
export function countsAgainstSource(error: unknown): boolean {
  if (!(error instanceof SourceError)) return false;
  if (error.kind === 'timeout' || error.kind === 'unavailable') return true;
  return error.kind === 'bad_response' && error.retryable;
}

/** A statement or request the upstream refuses as such: it would fail again the same way. */
const isContractError = (error: unknown): error is SourceError => error instanceof SourceError && error.kind === 'bad_response' && !error.retryable;

/** The reasons the guard aborts calls with: the caller gave up, which says nothing about the source. */
const callerGaveUp = new WeakSet<object>();

/** What a caller gets when its deadline passes first: every deadline of a call, shared or not, answers with it. */
export function pastBudget(source: SourceName): SourceError {
  return new SourceError(source, 'timeout', 'did not answer within the request time budget');
}

/**
 * One source's protection, shared by every request of the process: a circuit breaker (after
 * `breakerFailures` failed calls in a row, counted by `countsAgainstSource`, it fails fast for a
 * cool-down, then lets one probe call through), a bulkhead (a slow source cannot pile up sockets
 * and memory), and the call's deadline (a source that misses it gives SOURCE_TIMEOUT while the
 * rest of the response goes out on time), which also reaches the call as an AbortSignal.
 */
export class SourceGuard {
  private readonly breaker: CircuitBreakerPolicy;
  private readonly bulkhead: BulkheadPolicy;
  private readonly backgroundBudgetMs: number;
  /**
   * Families whose last call the upstream refused as such (a contract error: a view that lost a
   * column): they fail fast with that error until a cool-down passes, then one call tries again.
   * The breaker does not count these (one family's broken statement is not the source being down),
   * but without this every request would send the same doomed statement.
   */
  private readonly refused = new Map<string, { until: number; error: SourceError }>();

  constructor(
    readonly source: SourceName,
    private readonly options: GuardOptions,
  ) {
    this.breaker = circuitBreaker(
      handleWhen((error) => !(error instanceof Error && callerGaveUp.has(error)) && countsAgainstSource(error)),
      { halfOpenAfter: options.breakerCooldownMs, breaker: new ConsecutiveBreaker(options.breakerFailures) },
    );
    this.bulkhead = bulkhead(options.maxConcurrent, options.queue);
    this.backgroundBudgetMs = options.backgroundBudgetMs ?? DEFAULT_BACKGROUND_BUDGET_MS;
  }

  get state(): BreakerState {
    const state = this.breaker.state;
    return state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half-open' : 'open';
  }

  /**
   * Runs one upstream call under the breaker and bulkhead, and within `deadline` (epoch ms; the
   * background budget from now when absent). `call` receives an AbortSignal that aborts at the
   * deadline, with a SourceError the breaker does not count (the caller gave up). Rejects with
   * SourceError only: `timeout` at the deadline without waiting for the call, `unavailable` when
   * the breaker is open (or half-open: one probe is testing the source, and every other call fails
   * fast rather than wait for it) or the bulkhead is full. With `family` (the batch function's
   * name), a contract error of the family's last call is thrown again without a call until the
   * breaker's cool-down has passed since.
   */
  async run<T>(call: (signal: AbortSignal) => Promise<T>, deadline: number = Date.now() + this.backgroundBudgetMs, family?: string): Promise<T> {
    if (deadline <= Date.now()) throw this.timeout();
    if (family === undefined) return this.guarded(call, deadline);
    const refused = this.refused.get(family);
    if (refused && refused.until > Date.now()) throw refused.error;
    try {
      const value = await this.guarded(call, deadline);
      this.refused.delete(family);
      return value;
    } catch (error) {
      if (isContractError(error)) this.refused.set(family, { until: Date.now() + this.options.breakerCooldownMs, error });
      throw error;
    }
  }

  private async guarded<T>(call: (signal: AbortSignal) => Promise<T>, deadline: number): Promise<T> {
    // cockatiel's half-open breaker makes every other call await the probe, then run: against
    // a hanging upstream, every request would wait its whole budget each cool-down.
    if (this.breaker.state === CircuitState.HalfOpen) throw this.broken('a probe call is testing the source');
    // Open now means: fail fast, or (cool-down over) become the probe, synchronously in execute.
    const probe = this.breaker.state === CircuitState.Open;
    // The deadline's error, made only when it passes (an error captures a stack, which every call
    // would pay for): the abort reason, the answer, and what the breaker does not count.
    let reason: SourceError | undefined;
    const gaveUp = (): SourceError => {
      if (!reason) {
        reason = this.timeout();
        callerGaveUp.add(reason);
      }
      return reason;
    };
    const { signal, dispose } = deadlineSignal(deadline, gaveUp);
    // Listening before anything else does, so the deadline settles the races below first.
    const late = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(gaveUp()), { once: true }));
    late.catch(() => undefined);
    const running = this.breaker
      .execute(({ signal: inner }) => {
        const work = this.bulkhead.execute(({ signal: slot }) => call(slot), inner);
        if (!probe) return work;
        // The probe holds the half-open state, so it ends at its deadline as a failure (the source
        // did not show it is back) while its request may still finish and fill the cache.
        return Promise.race([late.catch(() => Promise.reject(this.timeout())), work]);
      }, signal)
      .catch((error: unknown) => {
        throw this.translate(error, gaveUp);
      });
    try {
      return await Promise.race([running, late]);
    } finally {
      dispose();
      // The call goes on past the deadline (its own timeout ends it); its failure is no one's now.
      running.catch(() => undefined);
    }
  }

  private timeout(): SourceError {
    return pastBudget(this.source);
  }

  private broken(detail?: string, cause?: unknown): SourceError {
    const message = `circuit open after repeated failures${detail ? ` (${detail})` : ''}`;
    return new SourceError(this.source, 'unavailable', message, { retryAfterMs: this.options.breakerCooldownMs, cause });
  }

  private translate(error: unknown, gaveUp: () => SourceError): unknown {
    if (isBrokenCircuitError(error)) return this.broken(undefined, error);
    if (isBulkheadRejectedError(error)) {
      return new SourceError(this.source, 'unavailable', 'too many calls in flight', { cause: error });
    }
    // Still queued for a bulkhead slot at the deadline: never started.
    if (isTaskCancelledError(error)) return gaveUp();
    return error;
  }
}
