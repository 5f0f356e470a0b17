import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisAudienceStore } from '../../audiences/store.ts';
import { Invalidator } from '../../cache/invalidation.ts';
import { createUpstreams, type Upstreams } from '../../cache/loaders.ts';
import { checkRedisUrl, createRedisClient, getBuffers, type RedisClient } from '../../cache/redis-client.ts';
import { RedisStore } from '../../cache/redis-store.ts';
import { MemoryStore } from '../../cache/store.ts';
import { PushHub } from '../../push/hub.ts';
import type { CustomerChange, Signal, TriggerEvent } from '../../push/signals.ts';
import { redisTriggerStateStore } from '../../push/trigger-state.ts';
import { RedisEndpointStore, type Endpoint } from '../../push/webhooks/endpoints.ts';
import { RedisQueue, type Job } from '../../push/webhooks/queue.ts';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { CostLimiter } from '../../server/auth/rate-limit.ts';
import type { Principal } from '../../server/auth/scopes.ts';
import { loadConfig } from '../../server/config.ts';
import { createCommerceSource } from '../../sources/commerce/index.ts';
import { SourceError } from '../../sources/errors.ts';
import { createLimiter } from '../../sources/hubspot/limiter.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { TEST_FRESHNESS } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// CI starts a three-node cluster (.ci/run) and names its nodes here; without it the cluster tests skip.
const clusterUrl = process.env.REDIS_CLUSTER_URL;
const logger = pino({ level: 'silent' });

describe('REDIS_URL naming a cluster', () => {
  it('is one server for one URL and a cluster for comma-separated seed nodes', () => {
    const single = createRedisClient('redis://127.0.0.1:6379', { lazyConnect: true });
    const cluster = createRedisClient('redis://user:secret@127.0.0.1:7001, 127.0.0.1:7002,redis://127.0.0.1:7003', { lazyConnect: true });
    expect([single.isCluster, cluster.isCluster]).toEqual([false, true]);
    expect((cluster as Cluster).options.redisOptions).toMatchObject({ username: 'user', password: 'secret' });
    single.disconnect();
    cluster.disconnect();
  });

  it('refuses what is neither, saying why without quoting the URL', () => {
    expect(checkRedisUrl('redis://127.0.0.1:6379')).toBeNull();
    expect(checkRedisUrl('rediss://:pw@a.example:7001,b.example:7001')).toBeNull();
    expect(checkRedisUrl('http://127.0.0.1:6379')).toBe('expected a redis:// or rediss:// URL');
    expect(checkRedisUrl('redis://a:7001,')).toBe('expected comma-separated cluster nodes, got an empty one');
    expect(checkRedisUrl('redis://a:7001,http://b:7002')).toBe('expected cluster node 2 as host:port or a redis:// URL');
    expect(checkRedisUrl('redis://a:7001/2,b:7002')).toBe('expected no database number in cluster node 1 (a cluster has database 0 only)');
    expect(checkRedisUrl('redis://a:7001,redis://u:pw@b:7002')).toBe("expected the credentials in the first cluster node's URL only, got some in node 2");
    expect(() => loadConfig({ REDIS_URL: 'redis://:hunter22@a:7001,ftp://b' })).toThrow(/REDIS_URL: expected cluster node 2 .*\(value hidden\)/);
    expect(loadConfig({ REDIS_URL: 'redis://a:7001,b:7002' }).REDIS_URL).toBe('redis://a:7001,b:7002');
  });
});

describe.skipIf(!clusterUrl)('shared state on a Redis Cluster', () => {
  // Every key of this run carries this token, so the clean-up finds them on whichever node.
  const token = `c360-test-${randomBytes(4).toString('hex')}`;
  const prefix = `${token}:`;
  const clients: RedisClient[] = [];
  let raw: RedisClient;

  /** A client on the cluster, connected, closed after the run. */
  async function connected(options: Parameters<typeof createRedisClient>[1] = {}): Promise<RedisClient> {
    const client = createRedisClient(clusterUrl!, { lazyConnect: true, ...options });
    clients.push(client);
    await client.connect();
    return client;
  }

  beforeAll(async () => {
    raw = await connected();
  });
  afterAll(async () => {
    const keys = (await Promise.all((raw as Cluster).nodes('master').map((node) => node.keys(`*${token}*`)))).flat();
    await Promise.all(keys.map((key) => raw.del(key)));
    for (const client of clients) client.disconnect();
  });

  it('runs on a cluster whose slots are spread over several nodes', () => {
    expect(raw).toBeInstanceOf(Cluster);
    expect((raw as Cluster).nodes('master').length).toBeGreaterThan(1);
  });

  it('shares cache entries and evictions between two stores, over keys of many slots', async () => {
    const options = {
      url: clusterUrl!,
      keyPrefix: prefix,
      localRetainMs: 60_000,
      localMaxEntries: 100,
      localMaxBytes: 1 << 20,
      commandTimeoutMs: 1000,
      connectTimeoutMs: 5000,
      logger,
    };
    const [a, b] = await Promise.all([RedisStore.connect(options), RedisStore.connect(options)]);
    try {
      expect([a.health().state, b.health().state]).toEqual(['up', 'up']);
      const keys = Array.from({ length: 20 }, (_, i) => `crm:contact:${i}`);
      await a.setMany(keys.map((key, i) => ({ key, entry: { value: { i }, storedAt: 1 }, retainMs: 60_000 })));
      // b never saw them: each comes from Redis.
      expect((await b.getMany(keys)).map((entry) => entry?.value)).toEqual(keys.map((_, i) => ({ i })));

      await a.delete(keys);
      expect(
        await getBuffers(
          raw,
          keys.map((key) => prefix + key),
        ),
      ).toEqual(keys.map(() => null));
      // b's local copy is dropped by the eviction a published.
      await expect.poll(async () => (await b.getMany(keys)).filter(Boolean).length).toBe(0);

      expect(await a.claim('refresh:1', 60_000)).toBe(true);
      expect(await b.claim('refresh:1', 60_000)).toBe(false);
      expect([a.stats(), b.stats()]).toEqual([
        { droppedMessages: 0, corruptEntries: 0, failedCommands: 0 },
        { droppedMessages: 0, corruptEntries: 0, failedCommands: 0 },
      ]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('spends one query budget from two replicas', async () => {
    const defaults = { costPerSecond: 1, burst: 50 };
    const [a, b] = [new CostLimiter({ defaults, redisUrl: clusterUrl!, logger }), new CostLimiter({ defaults, redisUrl: clusterUrl!, logger })];
    try {
      await Promise.all([a.ready(5000), b.ready(5000)]);
      const principal: Principal = { kind: 'api-key', client: token, rateLimitKey: `key:${token}`, scopes: new Set(), customerId: null, anonymousId: null };
      await a.consume(principal, 50);
      // In process, b would still have its whole burst: on the shared budget it has none left.
      await expect(b.consume(principal, 50)).rejects.toMatchObject({ extensions: { code: 'RATE_LIMITED' } });
      expect(await raw.exists(`c360:rl:1/50:burst:key:${token}`)).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("counts HubSpot's quota for two replicas together", async () => {
    // 22 per 100 s, counted in Redis: a slot every 5.3 s and one more at once, so two calls go and the third waits.
    const rateLimit = { requests: 22, intervalMs: 100_000 };
    const shared = { redis: await connected({ enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000 }), key: `${prefix}quota` };
    const [a, b] = [createLimiter(rateLimit, shared), createLimiter(rateLimit, shared)];
    await a('first', Date.now() + 1000);
    await b('second', Date.now() + 1000);
    const refused = await a('third', Date.now() + 200).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SourceError);
    expect(refused).toMatchObject({ kind: 'rate_limited', message: expect.stringContaining('fleet limit') });
  });

  it('keeps saved audiences', async () => {
    const store = new RedisAudienceStore(await connected({ maxRetriesPerRequest: 1 }), `${prefix}audience`);
    const version = (definition: string) => ({ description: null, definition, savedAt: 1 });
    for (const name of ['a', 'b', 'c']) await store.save(name, version('{}'));
    await store.save('a', version('{"v":2}'));
    expect((await store.list()).map((audience) => [audience.name, audience.version])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 1],
    ]);
    expect(await store.delete('b')).toBe(true);
    expect((await store.list()).map((audience) => audience.name)).toEqual(['a', 'c']);
  });

  it('keeps trigger states with compare-and-set', async () => {
    const store = redisTriggerStateStore({ redis: raw, keyPrefix: `${prefix}trigger-state:`, ttlMs: 60_000 });
    expect(await store.compareAndSet('1', null, '{"segment":"CHAMPIONS"}')).toBe(true);
    expect(await store.compareAndSet('1', null, '{}')).toBe(false);
    expect(await store.get('1')).toBe('{"segment":"CHAMPIONS"}');
  });

  describe('outgoing webhooks', () => {
    const job = (n: number): Job => ({
      webhookId: `msg_${token}_${n}`,
      endpointId: 'endpoint-1',
      event: { id: `event-${n}`, trigger: 'CART_ABANDONED', customerId: String(n), at: new Date(0).toISOString(), receivedAt: 0 },
    });
    async function queue(consumer: string, claimIdleMs = 60_000): Promise<RedisQueue> {
      const options = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2000 };
      const [redis, blocking] = [await connected(options), await connected({ ...options, commandTimeout: 5000 })];
      return new RedisQueue({ redis, blocking, prefix: `${prefix}webhooks:`, consumer, claimIdleMs, dedupeMs: 60_000, maxDeadLetters: 100 });
    }

    it('enqueues once, retries, dead-letters, replays and settles', async () => {
      const q = await queue('a');
      expect(await q.enqueue(job(1))).toBe(true);
      expect(await q.enqueue(job(1))).toBe(false);
      expect(await q.enqueue(job(2))).toBe(true);

      const taken = await q.take(10, 0);
      expect(taken.map((entry) => [entry.job.webhookId, entry.attempts])).toEqual([
        [job(1).webhookId, 0],
        [job(2).webhookId, 0],
      ]);
      await q.retry(taken[0]!, 1, Date.now() - 1);
      await q.deadLetter(taken[1]!, 3, 'gone');

      const retried = await q.take(10, 0);
      expect(retried.map((entry) => [entry.job.webhookId, entry.attempts])).toEqual([[job(1).webhookId, 1]]);
      await q.done(retried[0]!);

      const [letter] = await q.deadLetters('endpoint-1', 10);
      expect(letter).toMatchObject({ job: job(2), attempts: 3, reason: 'gone' });
      expect(await q.replay(letter!.id)).toBe(true);
      expect(await q.replay(letter!.id)).toBe(false);
      const replayed = await q.take(10, 0);
      expect(replayed.map((entry) => [entry.job.webhookId, entry.attempts])).toEqual([[job(2).webhookId, 0]]);
      await q.done(replayed[0]!);

      // Nothing left: the blocking read waits its time and comes back empty.
      expect(await q.take(10, 50)).toEqual([]);
      expect(await q.deadLetters('endpoint-1', 10)).toEqual([]);
      await q.close();
    });

    it('hands a job another consumer left unsettled to the next one', async () => {
      const [dying, next] = [await queue('dying'), await queue('next', 1)];
      await dying.enqueue(job(3));
      expect((await dying.take(10, 0)).length).toBe(1);
      await expect.poll(async () => (await next.take(10, 0)).map((entry) => entry.job.webhookId)).toEqual([job(3).webhookId]);
    });

    it('keeps endpoints', async () => {
      const store = new RedisEndpointStore(raw, `${prefix}webhooks:endpoints`);
      const endpoint: Endpoint = {
        id: 'endpoint-1',
        url: 'https://hooks.example.com/c360',
        triggers: ['CART_ABANDONED'],
        selection: '{ id }',
        scopes: [],
        description: null,
        secret: 'whsec_test',
        createdAt: 1,
        secretRotatedAt: 1,
        disabledAt: null,
      };
      await store.put(endpoint);
      expect(await store.list()).toEqual([endpoint]);
      expect(await store.remove('endpoint-1')).toBe(true);
      expect(await store.get('endpoint-1')).toBeNull();
    });
  });

  describe('the push hub', () => {
    const world: DemoWorld = { seed: 14, customers: 40, asOf: TEST_AS_OF };
    let db: TestDatabase;
    let standIns: StandIns;
    let upstreams: Upstreams;
    beforeAll(async () => {
      [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
      upstreams = createUpstreams(
        {
          commerce: createCommerceSource(db.pool, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => TEST_AS_OF }),
          ...standIns.sources(),
          web: createWebSource(db.pool, { schema: 'web', now: () => TEST_AS_OF }),
        },
        {
          store: new MemoryStore({ maxEntries: 10_000, maxBytes: 10_000_000 }),
          freshness: TEST_FRESHNESS,
          guard: { breakerFailures: 5, breakerCooldownMs: 10_000, maxConcurrent: 64, queue: 1000 },
          logger,
        },
      );
    });
    afterAll(async () => {
      await standIns?.close();
      await db?.close();
    });

    let sequence = 0;
    const signal = (customerId: string, id = `${token}:${sequence++}`): Signal => ({ id, source: 'commerce', kind: 'order', subject: { customerId }, receivedAt: Date.now() });

    it("tells one replica's changes to the other and evaluates a batch every replica receives once", async () => {
      const evaluated: string[] = [];
      const evaluator = {
        evaluate: async (change: CustomerChange): Promise<TriggerEvent[]> => {
          evaluated.push(change.customerId);
          return [];
        },
      };
      const hub = () =>
        new PushHub({ upstreams, invalidator: new Invalidator(upstreams, logger), logger, coalesceMs: 5, redis: { url: clusterUrl!, keyPrefix: prefix }, evaluator });
      const [a, b] = [hub(), hub()];
      try {
        await Promise.all([a.start(), b.start()]);
        const heardByB: CustomerChange[] = [];
        b.onChange(null, (change) => heardByB.push(change));
        // Until b's subscription is up, a's changes are not heard: send until one is.
        await expect
          .poll(async () => {
            a.emit(signal('4'));
            await a.settled();
            return heardByB.length;
          })
          .toBeGreaterThan(0);

        // The same signals reach both (a NOTIFY): their claim keys lie in different slots.
        evaluated.length = 0;
        const batch = ['1', '2', '3', '5'].map((customerId) => signal(customerId));
        for (const each of batch) {
          a.emit(each);
          b.emit(each);
        }
        await Promise.all([a.settled(), b.settled()]);
        expect(evaluated.sort()).toEqual(['1', '2', '3', '5']);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    });
  });
});
