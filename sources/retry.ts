import { handleWhen, retry, type IBackoff, type IRetryBackoffContext } from 'cockatiel';

/**
 * Runs `attempt` under cockatiel's retry policy, with the wait before each retry decided by the
 * source from the failure itself: `waitAfter` sees every failure and the number of failures so far,
 * and returns the ms to wait before the next attempt (the Retry-After the upstream sent, a backoff,
 * or 0 when the next attempt waits on a shared cool-down of its own), or null to stop and throw that
 * failure. A source's judgement of its upstream's answers (which are worth another try, what a 429
 * means for the rest of its calls, how long its budget lasts) stays its own; the retrying is the
 * library's. Once `signal` has aborted no further attempt starts: the last failure is thrown.
 */
export function retrying<T>(attempt: () => Promise<T>, waitAfter: (error: unknown, failures: number) => number | null, signal?: AbortSignal): Promise<T> {
  let failures = 0;
  let wait = 0;
  // cockatiel reads `duration` right after `next`, which comes after the filter below has set it.
  const backoff: IBackoff<IRetryBackoffContext<unknown>> = {
    get duration() {
      return wait;
    },
    next: () => backoff,
  };
  const policy = retry(
    handleWhen((error) => {
      const next = waitAfter(error, ++failures);
      if (next === null) return false;
      wait = next;
      return true;
    }),
    { maxAttempts: Number.POSITIVE_INFINITY, backoff },
  );
  return policy.execute(attempt, signal);
}
