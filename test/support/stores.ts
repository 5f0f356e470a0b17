import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { RedisStore, type RedisStoreOptions } from '../../cache/redis-store.ts';
import { MemoryStore, type EntityStore } from '../../cache/store.ts';

/**
 * A Redis store's options for a test (REDIS_URL must be set): small local bounds, a key prefix of
 * its own, so that two stores made with the same options are two replicas of one deployment.
 */
export function redisStoreOptions(localRetainMs: number): RedisStoreOptions {
  return {
    url: process.env.REDIS_URL!,
    keyPrefix: `test:${randomUUID()}:`,
    localRetainMs,
    localMaxEntries: 100,
    localMaxBytes: 1 << 20,
    commandTimeoutMs: 500,
    logger: pino({ level: 'silent' }),
  };
}

/** The shared stores a cache test runs against, by name: the in-process LRU, and Redis when REDIS_URL is given. */
export function storesUnderTest(localRetainMs: number): Array<[string, () => Promise<EntityStore>]> {
  const stores: Array<[string, () => Promise<EntityStore>]> = [['in-process LRU', async () => new MemoryStore({ maxEntries: 1000, maxBytes: 1 << 20 })]];
  if (process.env.REDIS_URL) stores.push(['Redis', () => RedisStore.connect(redisStoreOptions(localRetainMs))]);
  return stores;
}
