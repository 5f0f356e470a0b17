import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisClient } from '../../cache/redis-client.ts';
import { pause } from '../deadline.ts';
import { SourceError } from '../errors.ts';

/** The one key of a source's count (its limiter is its own). */
const KEY = 'calls';

/**
 * A request slot before `deadline` (epoch ms), or a `rate_limited` SourceError; resolves at once,
 * without a slot, when `signal` aborts while waiting (the caller checks `signal.aborted`).
 */
export type TakeSlot = (what: string, deadline: number, signal?: AbortSignal) => Promise<void>;

/** Where a fleet of replicas counts one quota together: a Redis and the quota's key there. */
export interface SharedQuota {
  /** One server or a cluster: each count is one key, so it lives on one node either way. */
  readonly redis: RedisClient;
  readonly key: string;
}

/**
 * The limiter one source shares between all its calls, so the process stays within HubSpot's
 * per-app limit (`requests` per `intervalMs`, e.g. 100 per 10 s). With `shared`, the count is kept
 * in Redis, so every replica takes its slots from one quota: a busy replica may use what idle ones
 * leave, and the fleet together stays within the limit. While Redis does not answer, each replica
 * counts on its own again (the whole quota each, as without Redis) rather than fail its calls.
 * Only an interval of at least two whole seconds is shared (Redis counts seconds): HubSpot's 100
 * per 10 s is; search's per-second limit stays per process.
 *
 * HubSpot counts a rolling window, while rate-limiter-flexible counts fixed windows, which let
 * twice the points through across a window edge. In process, the slots are paced evenly: one per
 * slice of interval / k, plus a burst of b per interval for an idle moment's few calls at once
 * (b = requests / 20, k = requests - 1 - 2b). A rolling interval overlaps at most k + 1 slices and
 * two burst windows, so it never sees more than `requests` (100 per 10 s: one slot every 112 ms
 * and 5 at once). Even pacing matters under load: keys that find no slot wait for the next one,
 * a tenth of a second away, and leave together in it (cache/family.ts coalescing), where slices
 * of 10 slots each (1.1 s) let one-key calls take a slice at once and the keys after wait past
 * a request's budget. Redis counts whole seconds, so the fleet's count slices the interval into
 * k whole seconds of floor(requests / (k + 1)) points each (90 per 10 s for 100).
 */
export function createLimiter(rateLimit: { readonly requests: number; readonly intervalMs: number }, shared?: SharedQuota): TakeSlot {
  const { requests, intervalMs } = rateLimit;
  if (!(requests >= 1) || !(intervalMs > 0)) {
    throw new RangeError(`expected a rate limit of at least 1 request per positive interval, got ${requests} per ${intervalMs} ms`);
  }
  // Redis counts whole seconds: the fleet's windows are whole-second slices of the interval, so an
  // interval that has none (search's one second) stays counted in process.
  const fleetSlices = shared ? wholeSecondSlices(intervalMs) : null;
  const local = paced(requests, intervalMs);
  let counter: RateLimiterAbstract | BurstyRateLimiter = local;
  if (shared && fleetSlices) {
    const points = Math.max(1, Math.floor(requests / (fleetSlices + 1)));
    const duration = intervalMs / fleetSlices / 1000;
    // While Redis does not answer, the same count in process (whole-second slices: RateLimiterRedis
    // takes a RateLimiterAbstract as its insurance).
    const insuranceLimiter = new RateLimiterMemory({ points, duration });
    counter = new RateLimiterRedis({ storeClient: shared.redis, keyPrefix: shared.key, points, duration, rejectIfRedisNotReady: true, insuranceLimiter });
  }
  const overLimit = (what: string, cause?: unknown) =>
    new SourceError('crm', 'rate_limited', `${what}: no request slot within the retry budget (${counter === local ? 'local' : 'fleet'} limit ${requests} per ${intervalMs} ms)`, {
      retryable: true,
      cause,
    });

  // A waiting call asks again when the count says the next slot opens, and gives up as soon as
  // that is past its deadline: nothing is left queued for a caller that is gone (a queued request
  // would take a slot for nobody when its turn came).
  return async (what, deadline, signal) => {
    for (;;) {
      if (signal?.aborted) return;
      let rejection: RateLimiterRes;
      try {
        await counter.consume(KEY, 1);
        return;
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw overLimit(what, error);
        rejection = error;
      }
      const wait = Math.max(1, rejection.msBeforeNext);
      if (Date.now() + wait > deadline) throw overLimit(what);
      await pause(wait, signal);
    }
  };
}

/** Even slots with a small burst, never more than `requests` in any rolling `intervalMs` (see createLimiter). */
function paced(requests: number, intervalMs: number): RateLimiterMemory | BurstyRateLimiter {
  const burst = Math.floor(requests / 20);
  const slices = Math.max(1, requests - 1 - 2 * burst);
  const even = new RateLimiterMemory({ points: 1, duration: intervalMs / slices / 1000 });
  return burst > 0 ? new BurstyRateLimiter(even, new RateLimiterMemory({ points: burst, duration: intervalMs / 1000 })) : even;
}

/** The most slices (2 to 10) of whole seconds that `intervalMs` divides into, or null when it has none. */
function wholeSecondSlices(intervalMs: number): number | null {
  const seconds = intervalMs / 1000;
  if (!Number.isInteger(seconds)) return null;
  for (let slices = Math.min(10, seconds); slices >= 2; slices--) if (seconds % slices === 0) return slices;
  return null;
}
