import { ExponentialBackoff, handleAll, retry, type IPolicy, type Policy, type RetryPolicy } from 'cockatiel';

/** How a producer that lost its connection to the shop database tries again. */
export interface ReconnectOptions {
  /** The first delay, ms (500 by default); each failed attempt about doubles it, with jitter. */
  readonly initialDelayMs: number;
  /** The longest delay between attempts, ms (30 000 by default). */
  readonly maxDelayMs: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = { initialDelayMs: 500, maxDelayMs: 30_000 };

/**
 * Retries forever, with exponential backoff, the failures `handles` selects (all by default),
 * until the AbortSignal given to `execute` is aborted. Its timer is unreferenced, so a producer
 * waiting to reconnect never holds the process open.
 */
export function reconnectPolicy(options: ReconnectOptions = DEFAULT_RECONNECT, handles: Policy = handleAll): RetryPolicy {
  return retry(handles, { maxAttempts: Infinity, backoff: new ExponentialBackoff({ initialDelay: options.initialDelayMs, maxDelay: options.maxDelayMs }) }).dangerouslyUnref();
}

/**
 * Runs `attempt` under `policy` in the background until it succeeds or `signal` is aborted.
 * Resolves when the first attempt is over, whether it succeeded or failed (the retries go on):
 * what `SignalProducer.start` promises. Never rejects.
 */
export function connectInBackground(policy: IPolicy, attempt: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise((firstAttemptOver) => {
    const run = async ({ signal: aborted }: { signal: AbortSignal }) => {
      try {
        if (!aborted.aborted) await attempt(aborted);
      } finally {
        firstAttemptOver();
      }
    };
    // Rejects only once stopped (the policy retries everything else): nothing is waiting for it then.
    policy.execute(run, signal).catch(() => undefined);
  });
}
