import { randomBytes } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { createHubSpotSource, type HubSpotSource } from '../../sources/hubspot/index.ts';
import { silentLogger, WORLD } from './support.ts';

// Two sources with one token are two replicas of one app: HubSpot counts their requests together.
const redisUrl = process.env.REDIS_URL;
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
});

async function app(): Promise<{ stand: HubSpotStandIn; replica: (quotaRedisUrl?: string) => HubSpotSource }> {
  // A token of this test's own: the fleet's quota key in the shared Redis is derived from it.
  const accessToken = `pat-na1-${randomBytes(8).toString('hex')}`;
  const stand = await startHubSpotStandIn({ world: WORLD, accessToken, rateLimit: { max: 6, intervalMs: 2000 } });
  open.push(stand);
  return {
    stand,
    replica: (quotaRedisUrl) => {
      const source = createHubSpotSource({
        accessToken,
        baseUrl: stand.url,
        timeoutMs: 2000,
        retryBudgetMs: 10_000,
        rateLimit: { requests: 6, intervalMs: 2000 },
        extraProperties: [],
        logger: silentLogger(),
        ...(quotaRedisUrl && { quotaRedisUrl }),
      });
      open.push(source);
      return source;
    },
  };
}

const burst = (replicas: HubSpotSource[]) => Promise.all(replicas.flatMap((replica) => Array.from({ length: 4 }, () => replica.ping())));

describe.skipIf(!redisUrl)("HubSpot's rate limit across replicas (Redis)", () => {
  it('keeps two replicas within the one quota together, where each alone would overrun it', async () => {
    const fleet = await app();
    const replicas = [fleet.replica(redisUrl), fleet.replica(redisUrl)];
    // Until its Redis connection is up, a replica counts on its own (as while Redis is down).
    await setTimeout(500);
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
});
