import { RateLimiterMemory, RateLimiterQueue, RateLimiterRedis } from 'rate-limiter-flexible';
import type { RedisClient } from '../../cache/redis-client.ts';
import { SourceError } from '../errors.ts';

/** Calls that may wait for a slot at once; beyond, a call fails at once rather than queue forever. */
const MAX_WAITING = 1000;

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
 * HubSpot counts a rolling window, while RateLimiterMemory counts fixed windows, which let twice
 * the points through across a window edge. So the interval is cut into k slices of
 * floor(requests / (k + 1)) points: any rolling interval overlaps at most k + 1 slices, hence
 * never sees more than `requests`, at the cost of a tenth of the throughput (90 per 10 s for 100).
 */
export function createLimiter(rateLimit: { readonly requests: number; readonly intervalMs: number }, shared?: SharedQuota): TakeSlot {
  const { requests, intervalMs } = rateLimit;
  if (!(requests >= 1) || !(intervalMs > 0)) {
    throw new RangeError(`expected a rate limit of at least 1 request per positive interval, got ${requests} per ${intervalMs} ms`);
  }
  // Redis counts whole seconds: the fleet's windows are whole-second slices of the interval, so an
  // interval that has none (search's one second) stays counted in process.
  const fleetSlices = shared ? wholeSecondSlices(intervalMs) : null;
  const slices = fleetSlices ?? Math.min(9, Math.max(1, requests - 1));
  const points = Math.max(1, Math.floor(requests / (slices + 1)));
  const duration = intervalMs / slices / 1000;
  const local = new RateLimiterMemory({ points, duration });
  const counter =
    shared && fleetSlices
      ? new RateLimiterRedis({ storeClient: shared.redis, keyPrefix: shared.key, points, duration, rejectIfRedisNotReady: true, insuranceLimiter: local })
      : local;
  const queue = new RateLimiterQueue(counter, { maxQueueSize: MAX_WAITING });
  const overLimit = (what: string, cause?: unknown) =>
    new SourceError('crm', 'rate_limited', `${what}: no request slot within the retry budget (${counter === local ? 'local' : 'fleet'} limit ${requests} per ${intervalMs} ms)`, {
      retryable: true,
      cause,
    });

  return async (what, deadline, signal) => {
    if (signal?.aborted) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // Waiting requests expire by the second: a slot granted after our deadline goes unused.
    const granted = queue.removeTokens(1, undefined, Math.ceil(deadline / 1000));
    granted.catch(() => undefined);
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), Math.max(0, deadline - Date.now()));
    });
    const aborted = new Promise<'aborted'>((resolve) => {
      onAbort = () => resolve('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const outcome = await Promise.race([granted, expired, aborted]);
      if (outcome === 'expired') throw overLimit(what);
    } catch (error) {
      throw error instanceof SourceError ? error : overLimit(what, error);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  };
}

/** The most slices (2 to 10) of whole seconds that `intervalMs` divides into, or null when it has none. */
function wholeSecondSlices(intervalMs: number): number | null {
  const seconds = intervalMs / 1000;
  if (!Number.isInteger(seconds)) return null;
  for (let slices = Math.min(10, seconds); slices >= 2; slices--) if (seconds % slices === 0) return slices;
  return null;
}
