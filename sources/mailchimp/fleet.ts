import { Semaphore } from 'redis-semaphore';
import { redisPause, type RedisClient } from '../../cache/redis-client.ts';

/** How long a permit lasts unless its holder renews it: the permits of a replica that dies come back after this. */
const LEASE_MS = 30_000;
/** Between a waiting call's tries for a permit (each try is one script run in Redis). */
const RETRY_INTERVAL_MS = 20;

/** Releases a permit; safe to call once the permit has expired or when there was none. */
export type Release = () => void;

export interface FleetConnections {
  /**
   * A permit for one Mailchimp connection, counted with every replica that reads the same account.
   * Resolves with its release once one is free, or null when none came within `waitMs` or `signal`
   * aborted first. While Redis does not answer (or is still connecting) it resolves at once with a
   * release that does nothing: the replica then counts on its own in-process limit alone, as
   * without Redis.
   */
  acquire(waitMs: number, signal?: AbortSignal): Promise<Release | null>;
}

/**
 * Mailchimp allows each account 10 simultaneous connections and answers 429 beyond them; replicas
 * that each keep their own 10 would together overrun it. This counts the account's connections in
 * Redis instead, as a counting semaphore (redis-semaphore: a sorted set of leases under one key,
 * so it works on a Redis Cluster too) of `limit` permits, leases renewed while a call runs.
 */
export function fleetConnections(redis: RedisClient, key: string, limit: number, onRedisFailure: (error: unknown) => void): FleetConnections {
  // After Redis failed to answer, calls count on this replica's own limit for a while.
  const pause = redisPause();
  return {
    async acquire(waitMs, signal) {
      if (!pause.asking) return NO_PERMIT;
      if (redis.status !== 'ready') {
        // Still connecting (a replica's first moments) is not a failure; any other state is Redis away.
        if (!CONNECTING.has(redis.status)) onRedisFailure(new Error(`Redis connection ${redis.status}`));
        return NO_PERMIT;
      }
      const semaphore = new Semaphore(redis, key, limit, {
        lockTimeout: LEASE_MS,
        acquireTimeout: Math.max(1, Math.floor(waitMs)),
        retryInterval: RETRY_INTERVAL_MS,
        refreshInterval: LEASE_MS * 0.8,
        // A renewal that fails (Redis away for most of a lease) leaves the call running: it holds
        // a connection either way, and the permit comes back to the fleet when it expires.
        onLockLost: () => undefined,
      });
      try {
        if (!(await semaphore.tryAcquire(signal))) return null;
      } catch (error) {
        // A try this call gave up on may still run: a Redis that stops answering (stuck, or cut
        // off) runs what it was sent once it answers again. Sent after it on the same connection,
        // this release runs after it, and the permit it may take does not sit unused for a lease.
        void redis.zrem(`semaphore:${key}`, semaphore.identifier).catch(() => undefined);
        if (signal?.aborted) return null;
        pause.failed();
        onRedisFailure(error);
        return NO_PERMIT;
      }
      return () => void semaphore.release().catch(() => undefined);
    },
  };
}

const NO_PERMIT: Release = () => undefined;
const CONNECTING = new Set(['wait', 'connecting', 'connect']);
