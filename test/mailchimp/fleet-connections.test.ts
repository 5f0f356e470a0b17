import { randomBytes } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { fleetConnections } from '../../sources/mailchimp/fleet.ts';
import { createMailchimpSource, type MailchimpSource } from '../../sources/mailchimp/index.ts';
import { ownRedisWithClient } from '../support/own-redis.ts';
import { LIST_ID, memberEmails, WORLD } from './helpers.ts';

// Two sources with one API key are two replicas reading one account: Mailchimp counts their
// connections together (10 at once) and answers 429 beyond them.
const redisUrl = process.env.REDIS_URL;
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
});

interface Account {
  readonly stand: MailchimpStandIn;
  replica(connectionsRedisUrl?: string): { source: MailchimpSource; warnings: string[] };
}

async function account(): Promise<Account> {
  // A key of this test's own: the fleet's count in the shared Redis is named by its hash.
  const apiKey = `${randomBytes(16).toString('hex')}-us21`;
  const stand = await startMailchimpStandIn({ world: WORLD, apiKey, listId: LIST_ID, knobs: { latencyMs: 80, jitterMs: 0, connectionLimit: 10 } });
  open.push(stand);
  return {
    stand,
    replica: (connectionsRedisUrl) => {
      const warnings: string[] = [];
      const source = createMailchimpSource({
        apiKey,
        baseUrl: stand.url,
        listId: LIST_ID,
        timeoutMs: 5_000,
        retryBudgetMs: 10_000,
        logger: { warn: (_, msg) => void warnings.push(msg), error: (_, msg) => void warnings.push(msg) },
        ...(connectionsRedisUrl && { connectionsRedisUrl }),
      });
      open.push(source);
      return { source, warnings };
    },
  };
}

const emails = memberEmails(24);
/** Every replica reads the 24 members at once; resolves with the keys that failed. */
async function burst(replicas: MailchimpSource[]): Promise<Error[]> {
  const results = await Promise.all(replicas.map((replica) => replica.membersByEmail(emails)));
  return results.flat().filter((result): result is Error => result instanceof Error);
}

describe.skipIf(!redisUrl)("Mailchimp's connection limit across replicas (Redis)", () => {
  it('keeps two replicas within the account’s 10 connections together, where each alone would overrun them', async () => {
    const fleet = await account();
    const replicas = [fleet.replica(redisUrl), fleet.replica(redisUrl)];
    // Until its Redis connection is up, a replica counts on its own (as while Redis is down).
    await setTimeout(500);
    expect(await burst(replicas.map((r) => r.source))).toEqual([]);
    expect(fleet.stand.stats.peakInFlight).toBeLessThanOrEqual(10);
    expect(fleet.stand.stats.byStatus).toEqual({ 200: 48 });
    expect(replicas.flatMap((r) => r.warnings)).toEqual([]);

    const apart = await account();
    await burst([apart.replica().source, apart.replica().source]);
    expect(apart.stand.stats.peakInFlight).toBeGreaterThan(10);
    expect(apart.stand.stats.byStatus[429]).toBeGreaterThan(0);
  });

  it('counts on each replica’s own limit while Redis does not answer, failing no read, and says so once', async () => {
    const fleet = await account();
    const replica = fleet.replica('redis://127.0.0.1:1');
    // Refused connections: Redis is away once the first attempt has failed.
    await vi.waitFor(async () => {
      expect(await burst([replica.source])).toEqual([]);
      expect(replica.warnings).toHaveLength(1);
    });
    expect(await burst([replica.source])).toEqual([]);
    expect(fleet.stand.stats.byStatus[429]).toBeUndefined();
    expect(fleet.stand.stats.peakInFlight).toBeLessThanOrEqual(10);
    expect(replica.warnings).toEqual(["Redis did not answer for the fleet's Mailchimp connection count: this replica counts its own until it does"]);
  });

  it('gives back the permit a Redis that stopped answering hands out after this replica stopped waiting for it', async () => {
    // A Redis of this test's own, frozen (SIGSTOP) and thawed as one stuck for a while.
    const { own, redis, close } = await ownRedisWithClient();
    open.push({ close });
    const key = `test:${randomBytes(8).toString('hex')}`;
    const failures: unknown[] = [];
    const fleet = fleetConnections(redis, key, 10, (error) => failures.push(error));
    // A permit taken and given back while Redis answers (its script is loaded then).
    (await fleet.acquire(1000))!();

    own.freeze();
    // The try is sent and not answered within the command timeout: the call counts on this
    // replica's own limit, with a release that does nothing.
    const release = await fleet.acquire(1000);
    expect(release).toEqual(expect.any(Function));
    release!();
    expect(failures).toHaveLength(1);

    own.thaw();
    // What the frozen Redis was sent runs now, in order; this is answered after all of it.
    await redis.ping();
    expect(await redis.zcard(`semaphore:${key}`)).toBe(0);
  });
});
