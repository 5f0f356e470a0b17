import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { redisPause, type RedisClient } from '../../cache/redis-client.ts';
import { pause } from '../deadline.ts';
import { SourceError } from '../errors.ts';

/** The one key of a source's count in process (its limiter is its own). */
const KEY = 'calls';

/**
 * A request slot before `deadline` (epoch ms), or a `rate_limited` SourceError; resolves at once
 * when `signal` aborts while waiting (the caller checks `signal.aborted`; a slot the fleet had
 * reserved for it lapses unused).
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

  const fleetPause = redisPause();
  /** The fleet's count: a slot at most `maxWait` ms ahead, reserved (`wait` until it opens) or not. */
  const fleet = async (maxWait: number): Promise<Counted | undefined> => {
    if (!shared || !fleetPause.asking) return undefined;
    try {
      const { granted, wait } = await gcra(shared, emissionMs, burst * emissionMs, maxWait);
      return { wait, by: 'fleet', reserved: granted };
    } catch {
      // Redis did not answer (down, not yet connected, past the client's command timeout): the
      // whole quota in process, as without Redis, rather than fail the call; for a while without
      // asking (a turn Redis runs late holds back the calls after it).
      fleetPause.failed();
      return undefined;
    }
  };
  const inProcess = async (): Promise<Counted> => {
    try {
      await local.consume(KEY, 1);
      return { wait: 0, by: 'local', reserved: true };
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      return { wait: Math.max(1, error.msBeforeNext), by: 'local', reserved: false };
    }
  };
  const overLimit = (what: string, by: 'fleet' | 'local', cause?: unknown) =>
    new SourceError('crm', 'rate_limited', `${what}: no request slot within the retry budget (${by} limit ${requests} per ${intervalMs} ms)`, {
      retryable: true,
      cause,
    });

  // In Redis a call takes the next slot of the fleet's pace when it opens before its deadline,
  // and waits for it: the replicas queue first come, first served, where asking again when a slot
  // opens would hand it to whichever replica's retry reached Redis first, and a replica could lose
  // that race until its callers' budgets ran out. In process (one replica's own calls), a waiting
  // call asks again when the count says the next slot opens. Either way a call gives up as soon as
  // the next slot is past its deadline: nothing is left queued for a caller that is gone.
  return async (what, deadline, signal) => {
    for (;;) {
      if (signal?.aborted) return;
      let counted: Counted;
      try {
        counted = (await fleet(deadline - Date.now())) ?? (await inProcess());
      } catch (error) {
        throw overLimit(what, 'local', error);
      }
      if (counted.reserved) {
        // A reserved slot is the caller's even when its signal aborts while it waits: it lapses.
        if (counted.wait > 0) await pause(counted.wait, signal);
        return;
      }
      if (Date.now() + counted.wait > deadline) throw overLimit(what, counted.by);
      await pause(counted.wait, signal);
    }
  };
}

/**
 * One call counted, by the fleet's count or the replica's own (`by`): `reserved` when a slot is the
 * call's, `wait` ms from now (0: at once); else `wait` is the ms until the next slot opens.
 */
interface Counted {
  readonly wait: number;
  readonly by: 'fleet' | 'local';
  readonly reserved: boolean;
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

// The generic cell rate algorithm on one key, as a schedule: the key holds the theoretical
// arrival time (TAT, ms on Redis' clock) of the next call at the even pace; a call may go once it
// comes no more than the tolerance before the TAT. A call whose turn comes within its `maxWait`
// takes that turn now (the TAT moves one emission interval on) and waits for it; a later one is
// refused and takes nothing. Calls go at their turn or after it, never before, so the bound of
// createLimiter holds. Redis' own clock, so the replicas' clocks do not matter (Redis 7 replicates
// the script's SET, not the script). The key lives until the TAT has passed, when it no longer
// holds anything back. Answers { 1 when the turn is taken else 0, the whole ms until the turn }.
const GCRA = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = math.max(0, tat - tolerance - now)
if wait > maxWait then return {0, math.ceil(wait)} end
tat = tat + emission
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
return {1, math.ceil(wait)}`;

/** A turn of the GCRA in `shared` within `maxWait` ms: taken (`granted`) or not, and the ms until it. Rejects when Redis does not answer. */
async function gcra(shared: SharedQuota, emissionMs: number, toleranceMs: number, maxWait: number): Promise<{ granted: boolean; wait: number }> {
  const answer = await shared.redis.eval(GCRA, 1, shared.key, emissionMs, toleranceMs, Math.max(0, Math.floor(maxWait)));
  if (!Array.isArray(answer) || answer.length !== 2 || !answer.every((n) => typeof n === 'number' && n >= 0)) {
    throw new TypeError('expected the GCRA script to answer { granted, wait in ms }');
  }
  return { granted: answer[0] === 1, wait: answer[1] as number };
}
