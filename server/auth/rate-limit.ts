import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { createRedisClient, type RedisClient } from '../../cache/redis-client.ts';
import { ErrorCode } from '../../resolvers/errors.ts';
import type { Principal, RateLimitPolicy } from './scopes.ts';

export interface RateLimitOptions {
  /** The default budget of every client; an API key may carry its own. */
  readonly defaults: RateLimitPolicy;
  /** Shared by every replica when set (REDIS_URL: one server or a cluster's seed nodes); in process otherwise. */
  readonly redisUrl?: string;
  readonly logger: Logger;
}

interface Bucket {
  readonly bursty: BurstyRateLimiter;
  readonly burst: RateLimiterAbstract;
  readonly policy: RateLimitPolicy;
}

/**
 * Per-client budgets of query cost, with rate-limiter-flexible's BurstyRateLimiter (its
 * token-bucket-like shape): `costPerSecond` sustained, plus `burst` more that refills every
 * burst / costPerSecond seconds. In Redis when REDIS_URL is set, so every replica spends from one
 * budget per client; if Redis is not ready, each replica falls back to an in-process budget
 * rather than failing requests.
 */
export class CostLimiter {
  private readonly redis: RedisClient | null;
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateLimitOptions) {
    this.redis = options.redisUrl ? createRedisClient(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false }) : null;
    // ioredis reconnects on its own; an error event without a listener would crash the process.
    this.redis?.on('error', (error: Error) => options.logger.warn({ err: { message: error.message } }, 'rate-limit redis error'));
  }

  /** Spends `cost` from the principal's budget; throws a 429 RATE_LIMITED GraphQLError when it is spent. */
  async consume(principal: Principal, cost: number): Promise<void> {
    const bucket = this.bucket(principal.rateLimit ?? this.options.defaults);
    // A request dearer than the whole burst could never pass: it spends the whole burst instead.
    const points = Math.min(cost, bucket.policy.burst);
    try {
      await bucket.bursty.consume(principal.rateLimitKey, points);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      // Bursty reports the sooner of its two windows; a request dearer than one second's budget
      // has to wait for the burst allowance.
      const waitMs = points <= bucket.policy.costPerSecond ? rejection.msBeforeNext : ((await bucket.burst.get(principal.rateLimitKey))?.msBeforeNext ?? rejection.msBeforeNext);
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new GraphQLError(`Rate limit: this client has spent its query budget; retry in ${seconds} s.`, {
        extensions: {
          code: ErrorCode.RateLimited,
          retryAfterMs: seconds * 1000,
          http: { status: 429, headers: new HeaderMap([['retry-after', String(seconds)]]) },
        },
      });
    }
  }

  /**
   * Waits (at most `timeoutMs`) for Redis to be connected, so the first requests after start-up
   * spend from the shared budget rather than the in-process fallback. Never throws.
   */
  async ready(timeoutMs = 2000): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      redis.once('ready', done);
      function done() {
        clearTimeout(timer);
        redis!.off('ready', done);
        resolve();
      }
    });
    // (TypeScript narrowed status before the wait; it may have changed since.)
    if ((redis.status as string) !== 'ready') this.options.logger.warn('rate limits: Redis is not reachable yet; each replica limits on its own until it is');
  }

  async close(): Promise<void> {
    await this.redis?.quit().catch(() => undefined);
  }

  private bucket(policy: RateLimitPolicy): Bucket {
    const id = `${policy.costPerSecond}/${policy.burst}`;
    let bucket = this.buckets.get(id);
    if (!bucket) {
      const burstSeconds = Math.max(1, Math.ceil(policy.burst / policy.costPerSecond));
      const steady = this.limiter(`c360:rl:${id}:steady`, policy.costPerSecond, 1);
      const burst = this.limiter(`c360:rl:${id}:burst`, policy.burst, burstSeconds);
      bucket = { bursty: new BurstyRateLimiter(steady, burst), burst, policy };
      this.buckets.set(id, bucket);
    }
    return bucket;
  }

  private limiter(keyPrefix: string, points: number, duration: number): RateLimiterAbstract {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration });
    if (!this.redis) return memory;
    return new RateLimiterRedis({ storeClient: this.redis, keyPrefix, points, duration, rejectIfRedisNotReady: true, insuranceLimiter: memory });
  }
}
