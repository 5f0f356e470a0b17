import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { createRedisClient, redisPause, type RedisClient } from '../../cache/redis-client.ts';
import { ErrorCode } from '../../resolvers/errors.ts';
import type { Principal, RateLimitPolicy } from './scopes.ts';

export interface RateLimitOptions {
  /** The default budget of every client; an API key may carry its own. */
  readonly defaults: RateLimitPolicy;
  /** Shared by every replica when set (REDIS_URL: one server or a cluster's seed nodes); in process otherwise. */
  readonly redisUrl?: string;
  readonly logger: Logger;
}

/** One policy's budgets: in Redis (null without it) and in process, each steady + burst. */
interface Bucket {
  readonly shared: Budget | null;
  readonly local: Budget;
  readonly policy: RateLimitPolicy;
}

interface Budget {
  readonly bursty: BurstyRateLimiter;
  readonly burst: RateLimiterAbstract;
}

/** The shared budget's client gives up on a command after this (a Redis that stops answering keeps its connection open). */
const REDIS_COMMAND_TIMEOUT_MS = 100;

/**
 * Per-client budgets of query cost, with rate-limiter-flexible's BurstyRateLimiter (its
 * token-bucket-like shape): `costPerSecond` sustained, plus `burst` more that refills every
 * burst / costPerSecond seconds. In Redis when REDIS_URL is set, so every replica spends from one
 * budget per client; when Redis does not answer (not connected, or not within 100 ms), each replica
 * spends from an in-process budget rather than fail or hold requests, and asks Redis again a
 * second later.
 */
export class CostLimiter {
  private readonly redis: RedisClient | null;
  private readonly buckets = new Map<string, Bucket>();
  private readonly pause = redisPause();
  private failureLogged = false;

  constructor(private readonly options: RateLimitOptions) {
    this.redis = options.redisUrl
      ? createRedisClient(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: REDIS_COMMAND_TIMEOUT_MS, lazyConnect: false })
      : null;
    // ioredis reconnects on its own; an error event without a listener would crash the process.
    this.redis?.on('error', (error: Error) => options.logger.warn({ err: { message: error.message } }, 'rate-limit redis error'));
  }

  /** Spends `cost` from the principal's budget; throws a 429 RATE_LIMITED GraphQLError when it is spent. */
  async consume(principal: Principal, cost: number): Promise<void> {
    const bucket = this.bucket(principal.rateLimit ?? this.options.defaults);
    // A request dearer than the whole burst could never pass: it spends the whole burst instead.
    const points = Math.min(cost, bucket.policy.burst);
    const { budget, rejection } = await this.spend(bucket, principal.rateLimitKey, points);
    if (!rejection) return;
    // Bursty reports the sooner of its two windows; a request dearer than one second's budget
    // has to wait for the burst allowance.
    const burstLeft = points <= bucket.policy.costPerSecond ? null : await budget.burst.get(principal.rateLimitKey).catch(() => null);
    const waitMs = burstLeft?.msBeforeNext ?? rejection.msBeforeNext;
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new GraphQLError(`Rate limit: this client has spent its query budget; retry in ${seconds} s.`, {
      extensions: {
        code: ErrorCode.RateLimited,
        retryAfterMs: seconds * 1000,
        http: { status: 429, headers: new HeaderMap([['retry-after', String(seconds)]]) },
      },
    });
  }

  /**
   * Spends from the shared budget while Redis answers, else from this process's: the budget that
   * answered, with its refusal when it refused.
   */
  private async spend(bucket: Bucket, key: string, points: number): Promise<{ budget: Budget; rejection?: RateLimiterRes }> {
    if (bucket.shared && this.pause.asking) {
      const outcome = await attempt(bucket.shared, key, points).catch((error: unknown) => this.redisFailed(error));
      if (outcome) {
        this.failureLogged = false;
        return outcome;
      }
    }
    return attempt(bucket.local, key, points);
  }

  /** Redis did not answer: budgets in process for a while, said once per outage. */
  private redisFailed(error: unknown): null {
    this.pause.failed();
    if (!this.failureLogged) {
      this.failureLogged = true;
      const reason = error instanceof Error ? error.message : String(error);
      this.options.logger.warn({ err: { message: reason } }, 'rate limits: Redis did not answer; each replica spends from its own budget until it does');
    }
    return null;
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
      const redis = this.redis;
      const budget = (limiter: (keyPrefix: string, points: number, duration: number) => RateLimiterAbstract): Budget => {
        const steady = limiter(`c360:rl:${id}:steady`, policy.costPerSecond, 1);
        const burst = limiter(`c360:rl:${id}:burst`, policy.burst, burstSeconds);
        return { bursty: new BurstyRateLimiter(steady, burst), burst };
      };
      bucket = {
        shared: redis && budget((keyPrefix, points, duration) => new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration, rejectIfRedisNotReady: true })),
        local: budget((keyPrefix, points, duration) => new RateLimiterMemory({ keyPrefix, points, duration })),
        policy,
      };
      this.buckets.set(id, bucket);
    }
    return bucket;
  }
}

/** Spends `points` of `key` from `budget`: its refusal when it refuses; rejects when its store does not answer. */
async function attempt(budget: Budget, key: string, points: number): Promise<{ budget: Budget; rejection?: RateLimiterRes }> {
  try {
    await budget.bursty.consume(key, points);
    return { budget };
  } catch (error) {
    if (error instanceof RateLimiterRes) return { budget, rejection: error };
    throw error;
  }
}
