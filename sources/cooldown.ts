/**
 * One upstream's shared pause after it answered 429, so a rate-limited source backs off as a whole
 * instead of every call retrying on its own: `trip` after a 429 sets (or extends) the pause to what
 * the upstream asked for (Retry-After) or, when it said nothing, to a jittered backoff that grows
 * with each 429 of the same episode; any other answer ends the episode. Callers read `remaining()`
 * before each request: a call that cannot wait that long (its retry budget, its deadline) fails at
 * once with `rate_limited` without a request, one that can waits and then goes.
 */
export class Cooldown {
  private until = 0;
  private strikes = 0;

  constructor(private readonly backoff: { readonly baseMs: number; readonly maxMs: number }) {}

  /** Ms left of the pause; 0 when requests may go out. */
  remaining(): number {
    return Math.max(0, this.until - Date.now());
  }

  /**
   * After a 429: pauses for `retryAfterMs` when the upstream said, otherwise for the episode's next
   * backoff step (capped by `capMs`, e.g. the rate-limit window the upstream reported). Never
   * shortens a pause already running, and a 429 without Retry-After during a pause does not
   * lengthen it. Returns the ms left.
   */
  trip(retryAfterMs?: number, capMs = Number.POSITIVE_INFINITY): number {
    // The 429s of calls that were already under way when the pause began are one strike, not many.
    if (retryAfterMs === undefined && this.remaining() > 0) return this.remaining();
    this.strikes++;
    const step = Math.min(this.backoff.maxMs, capMs, this.backoff.baseMs * 2 ** (this.strikes - 1));
    // Equal jitter: half fixed, half random, so replicas sharing a quota do not come back in step.
    const pauseMs = retryAfterMs ?? step / 2 + Math.random() * (step / 2);
    this.until = Math.max(this.until, Date.now() + pauseMs);
    return this.remaining();
  }

  /** An answer other than 429: the next 429 starts a new episode at the smallest step. */
  settle(): void {
    this.strikes = 0;
  }
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
