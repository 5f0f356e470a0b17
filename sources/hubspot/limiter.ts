import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisClient } from '../../cache/redis-client.ts';
import { pause } from '../deadline.ts';
import { SourceError } from '../errors.ts';

/** The one key of a source's count in process (its limiter is its own). */
const KEY = 'calls';

/**
 * A request slot before `deadline` (epoch ms), or a `rate_limited` SourceError; resolves at once,
 * without a slot, when `signal` aborts while waiting (the caller checks `signal.aborted`).
 */
export type TakeSlot = (what: string, deadline: number, signal?: AbortSignal) => Promise<void>;

/** Where a fleet of replicas counts one quota together: a Redis and the quota's key there. */
export interface SharedQuota {
  /** One server or a cluster: the count is one key, so it lives on one node either way. */
  readonly redis: RedisClient;
  readonly key: string;
}

/**
 * The limiter one source shares between all its calls, so the process stays within HubSpot's
 * per-app limit (`requests` per `intervalMs`, e.g. 100 per 10 s). With `shared`, the count is kept
 * in Redis, so every replica takes its slots from one quota: a busy replica may use what idle ones
 * leave, and the fleet together stays within the limit. While Redis does not answer, each replica
 * counts on its own again (the whole quota each, as without Redis) rather than fail its calls.
 *
 * HubSpot counts a rolling window, while fixed windows let twice the points through across a
 * window edge, so the slots are paced evenly: one per slice of interval / k, plus a burst of b for
 * an idle moment's few calls at once (b = floor(requests / 20), k = max(1, requests - 1 - 2b)).
 * In process (rate-limiter-flexible), a rolling interval overlaps at most k + 1 slices and two
 * burst windows, so it never sees more than k + 1 + 2b <= `requests`. In Redis, the same pace is a
 * GCRA (see GCRA below) with emission interval T = interval / k and burst tolerance tau = b * T:
 * any two calls it admits, the i-th and the j-th, are at least (j - i) * T - tau apart, so a
 * rolling interval (k * T) holds at most 1 + k + b <= `requests` from 2 requests up (95 of 100 per
 * 10 s: the other 5 absorb the spread of the network between Redis admitting a call and HubSpot
 * counting it).
 * Both give one slot every 112 ms and 5 at once for 100 per 10 s. Even pacing matters under load:
 * keys that find no slot wait for the next one, a tenth of a second away, and leave together in it
 * (cache/family.ts coalescing), where slices of 10 slots each (1.1 s) let one-key calls take a
 * slice at once and the keys after wait past a request's budget.
 */
export function createLimiter(rateLimit: { readonly requests: number; readonly intervalMs: number }, shared?: SharedQuota): TakeSlot {
  const { requests, intervalMs } = rateLimit;
  if (!(requests >= 1) || !(intervalMs > 0)) {
    throw new RangeError(`expected a rate limit of at least 1 request per positive interval, got ${requests} per ${intervalMs} ms`);
  }
  const { burst, slices } = pacing(requests);
  const emissionMs = intervalMs / slices;
  const local = paced(burst, emissionMs, intervalMs);

  const count = async (): Promise<Counted> => {
    if (shared) {
      try {
        return { wait: await gcra(shared, emissionMs, burst * emissionMs), by: 'fleet' };
      } catch {
        // Redis did not answer (down, not yet connected, past the client's command timeout): the
        // whole quota in process, as without Redis, rather than fail the call.
      }
    }
    try {
      await local.consume(KEY, 1);
      return { wait: 0, by: 'local' };
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      return { wait: Math.max(1, error.msBeforeNext), by: 'local' };
    }
  };
  const overLimit = (what: string, by: 'fleet' | 'local', cause?: unknown) =>
    new SourceError('crm', 'rate_limited', `${what}: no request slot within the retry budget (${by} limit ${requests} per ${intervalMs} ms)`, {
      retryable: true,
      cause,
    });

  // A waiting call asks again when the count says the next slot opens, and gives up as soon as
  // that is past its deadline: nothing is left queued for a caller that is gone (a queued request
  // would take a slot for nobody when its turn came).
  return async (what, deadline, signal) => {
    for (;;) {
      if (signal?.aborted) return;
      let counted: Counted;
      try {
        counted = await count();
      } catch (error) {
        throw overLimit(what, 'local', error);
      }
      if (counted.wait === 0) return;
      if (Date.now() + counted.wait > deadline) throw overLimit(what, counted.by);
      await pause(counted.wait, signal);
    }
  };
}

/** One call counted: `wait` 0 when it took a slot, else the ms until the next one opens; `by` which count answered. */
interface Counted {
  readonly wait: number;
  readonly by: 'fleet' | 'local';
}

/** The burst b and the slices k of an interval for `requests` (see createLimiter). */
function pacing(requests: number): { readonly burst: number; readonly slices: number } {
  const burst = Math.floor(requests / 20);
  return { burst, slices: Math.max(1, requests - 1 - 2 * burst) };
}

/** In process: one slot per `emissionMs` and a burst of `burst` per `intervalMs` (see createLimiter). */
function paced(burst: number, emissionMs: number, intervalMs: number): RateLimiterMemory | BurstyRateLimiter {
  const even = new RateLimiterMemory({ points: 1, duration: emissionMs / 1000 });
  return burst > 0 ? new BurstyRateLimiter(even, new RateLimiterMemory({ points: burst, duration: intervalMs / 1000 })) : even;
}

// The generic cell rate algorithm on one key: the key holds the theoretical arrival time (TAT, ms
// on Redis' clock) of the next call at the even pace; a call is admitted while it comes no more
// than the tolerance before it, and moves it one emission interval on. Redis' own clock, so the
// replicas' clocks do not matter (Redis 7 replicates the script's SET, not the script). The key
// lives until the TAT has passed, when it no longer holds anything back. Returns 0 when admitted,
// else the whole ms until the call would be.
const GCRA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
tat = tat + emission
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
return 0`;

/** One call counted by the GCRA in `shared`: 0 when admitted, else the ms until the next slot. Rejects when Redis does not answer. */
async function gcra(shared: SharedQuota, emissionMs: number, toleranceMs: number): Promise<number> {
  const wait = await shared.redis.eval(GCRA, 1, shared.key, emissionMs, toleranceMs);
  if (typeof wait !== 'number' || !(wait >= 0)) throw new TypeError(`expected the GCRA script to answer a wait in ms, got ${typeof wait}`);
  return wait;
}
