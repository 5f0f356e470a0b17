import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisClient, type RedisClient } from '../../cache/redis-client.ts';
import { ENDPOINTS, startHubSpotStandIn, type HubSpotStandIn, type RollingLimit } from '../../sandbox/hubspot/index.ts';
import { createHubSpotSource, type HubSpotSource } from '../../sources/hubspot/index.ts';
import { createLimiter, type TakeSlot } from '../../sources/hubspot/limiter.ts';
import { ownRedisWithClient } from '../support/own-redis.ts';
import { silentLogger, WORLD } from './support.ts';

// Two sources with one token are two replicas of one app: HubSpot counts their requests together.
const redisUrl = process.env.REDIS_URL;
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
});

/** A stand-in enforcing `limit` (and HubSpot's 5 searches per second), and replicas of one app against it that allow themselves as much. */
async function app(limit: RollingLimit = { max: 6, intervalMs: 2000 }): Promise<{ stand: HubSpotStandIn; replica: (quotaRedisUrl?: string) => HubSpotSource }> {
  // A token of this test's own: the fleet's quota key in the shared Redis is derived from it.
  const accessToken = `pat-na1-${randomBytes(8).toString('hex')}`;
  const stand = await startHubSpotStandIn({ world: WORLD, accessToken, rateLimit: limit });
  open.push(stand);
  return {
    stand,
    replica: (quotaRedisUrl) => {
      const source = createHubSpotSource({
        accessToken,
        baseUrl: stand.url,
        timeoutMs: 2000,
        retryBudgetMs: 10_000,
        rateLimit: { requests: limit.max, intervalMs: limit.intervalMs },
        extraProperties: [],
        logger: silentLogger(),
        ...(quotaRedisUrl && { quotaRedisUrl }),
      });
      open.push(source);
      return source;
    },
  };
}

const burst = (replicas: HubSpotSource[], each = 4) => Promise.all(replicas.flatMap((replica) => Array.from({ length: each }, () => replica.ping())));

/** `each` audience estimates from every replica at once: one search apiece. */
const searches = (replicas: HubSpotSource[], each: number) =>
  Promise.allSettled(
    replicas.flatMap((replica) =>
      Array.from({ length: each }, () => replica.audience.estimate({ lifecycleStages: ['lead'] }, { call: () => undefined }, new AbortController().signal)),
    ),
  );

/** Until its Redis connection is up, a replica counts on its own (as while Redis is down). */
const connecting = () => setTimeout(500);

describe.skipIf(!redisUrl)("HubSpot's rate limit across replicas (Redis)", () => {
  it('keeps two replicas within the one quota together, where each alone would overrun it', async () => {
    const fleet = await app();
    const replicas = [fleet.replica(redisUrl), fleet.replica(redisUrl)];
    await connecting();
    await burst(replicas);
    expect(fleet.stand.stats.byStatus).toEqual({ 200: 8 });

    const apart = await app();
    await burst([apart.replica(), apart.replica()]);
    expect(apart.stand.stats.byStatus[429]).toBeGreaterThan(0);
  });

  it('limits each replica on its own while Redis does not answer, failing no call', async () => {
    const fleet = await app();
    await burst([fleet.replica('redis://127.0.0.1:1')]);
    expect(fleet.stand.stats.byStatus).toEqual({ 200: 4 });
  });

  it('counts in process for a second once Redis stops answering, rather than wait for it on every call', async () => {
    // A Redis of this test's own, frozen (SIGSTOP) and thawed as one stuck for a while.
    const { own, redis, close } = await ownRedisWithClient();
    open.push({ close });
    const take = createLimiter({ requests: 100, intervalMs: 10_000 }, { redis, key: `test:${randomBytes(8).toString('hex')}` });
    await take('a call', Date.now() + 1000); // a turn of the fleet's count

    own.freeze();
    await take('a call', Date.now() + 1000); // asked, not answered within 200 ms: counted in process
    await take('a call', Date.now() + 1000); // counted in process without asking
    own.thaw();
    // What the frozen Redis was sent runs now, in order; this is answered after all of it.
    await redis.ping();
    expect(/^cmdstat_eval:calls=(\d+),/m.exec(await redis.info('commandstats'))?.[1]).toBe('2');
  });

  it('paces three replicas below a second through Redis, so a tight rolling limit never answers 429', async () => {
    // 20 per second, a sub-second pace: one slot every 59 ms and 1 at once for the fleet.
    const fleet = await app({ max: 20, intervalMs: 1000 });
    const replicas = [fleet.replica(redisUrl), fleet.replica(redisUrl), fleet.replica(redisUrl)];
    await connecting();
    await burst(replicas, 8);
    expect(fleet.stand.stats.byStatus).toEqual({ 200: 24 });

    const apart = await app({ max: 20, intervalMs: 1000 });
    await burst([apart.replica(), apart.replica(), apart.replica()], 8);
    expect(apart.stand.stats.byStatus[429]).toBeGreaterThan(0);
  });

  it("shares HubSpot's per-second search limit between two replicas, where each alone would overrun it", async () => {
    // Each replica allows itself 4 searches a second (the default), the stand-in 5 for the account.
    const fleet = await app();
    const replicas = [fleet.replica(redisUrl), fleet.replica(redisUrl)];
    await connecting();
    const answers = await searches(replicas, 4);
    expect(answers.filter((answer) => answer.status === 'fulfilled')).toHaveLength(8);
    expect(fleet.stand.stats.byEndpoint).toEqual({ [ENDPOINTS.contactsSearch]: 8 });
    expect(fleet.stand.stats.byStatus).toEqual({ 200: 8 });

    const apart = await app();
    await searches([apart.replica(), apart.replica()], 4);
    expect(apart.stand.stats.byStatus[429]).toBeGreaterThan(0);
  });

  it('admits at most `requests` in any rolling interval to two limiters counting in Redis', async () => {
    const redis = await connectedRedis();
    const shared = { redis, key: `c360:test:quota:${randomBytes(8).toString('hex')}` };
    // 6 per 600 ms: one slot every 120 ms, no burst; two limiters in process would admit twice that.
    const rateLimit = { requests: 6, intervalMs: 600 };
    const limiters = [createLimiter(rateLimit, shared), createLimiter(rateLimit, shared)];
    const admitted: number[] = [];
    await Promise.all(
      limiters.flatMap((takeSlot) => Array.from({ length: 7 }, () => takeSlot('contacts batch read', Date.now() + 10_000).then(() => void admitted.push(Date.now())))),
    );
    expect(admitted).toHaveLength(14);
    // Every rolling interval that ends at an admission, as the stand-in counts: (end - 600 ms, end].
    const busiest = Math.max(...admitted.map((end) => admitted.filter((at) => at > end - rateLimit.intervalMs && at <= end).length));
    expect(busiest).toBeLessThanOrEqual(rateLimit.requests);
  });

  it('serves the replicas first come, first served: one asking while two others take every slot waits only for their turns', async () => {
    const redis = await connectedRedis();
    const shared = { redis, key: `c360:test:quota:${randomBytes(8).toString('hex')}` };
    // 6 per 600 ms: one slot every 120 ms, no burst.
    const rateLimit = { requests: 6, intervalMs: 600 };
    let busy = true;
    const greedy = async (takeSlot: TakeSlot) => {
      while (busy) await takeSlot('contacts batch read', Date.now() + 10_000);
    };
    const others = [greedy(createLimiter(rateLimit, shared)), greedy(createLimiter(rateLimit, shared))];
    const patient = createLimiter(rateLimit, shared);
    const outcomes: string[] = [];
    try {
      // Each of the others holds at most one turn ahead of it, so three slots' time is enough; had
      // every replica asked again as each slot opened, the first to reach Redis would take it.
      for (let i = 0; i < 6; i++) {
        outcomes.push(
          await patient('contacts batch read', Date.now() + 3 * 120 + 100).then(
            () => 'granted',
            (error: unknown) => String(error),
          ),
        );
      }
    } finally {
      busy = false;
      await Promise.all(others);
    }
    expect(outcomes).toEqual(Array.from({ length: 6 }, () => 'granted'));
  });
});

/** A client as the source opens it (nothing queued while Redis is away), once it is connected. */
async function connectedRedis(): Promise<RedisClient> {
  const redis = createRedisClient(redisUrl!, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 200 });
  open.push({ close: async () => redis.disconnect() });
  if (redis.status !== 'ready') await once(redis, 'ready');
  return redis;
}
