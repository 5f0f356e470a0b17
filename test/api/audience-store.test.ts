import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryAudienceStore, RedisAudienceStore, type AudienceStore } from '../../audiences/store.ts';

const redisUrl = process.env.REDIS_URL;
const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : null;
afterAll(() => redis?.disconnect());

const stores: Array<[string, () => AudienceStore]> = [['in process', () => new MemoryAudienceStore()]];
// A prefix of this run's own: the shared Redis is never touched outside it.
if (redis) stores.push(['Redis', () => new RedisAudienceStore(redis, `c360-test:${randomBytes(4).toString('hex')}:audience`)]);

describe.each(stores)('the audience store (%s)', (_, make) => {
  const version = (definition: string) => ({ description: null, definition, savedAt: Date.now() });

  it('numbers versions in order and keeps each readable', async () => {
    const store = make();
    expect(await store.get('a')).toBeNull();
    await store.save('a', version('{"v":1}'));
    const second = await store.save('a', version('{"v":2}'));
    expect(second).toMatchObject({ name: 'a', version: 2, versions: [1, 2], definition: '{"v":2}' });
    expect(await store.get('a', 1)).toMatchObject({ version: 1, definition: '{"v":1}' });
    expect(await store.get('a', 3)).toBeNull();
    await store.save('b', version('{}'));
    expect((await store.list()).map((a) => [a.name, a.version])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(await store.delete('a')).toBe(true);
    expect(await store.delete('a')).toBe(false);
    expect((await store.list()).map((a) => a.name)).toEqual(['b']);
  });

  it('gives concurrent saves distinct versions', async () => {
    const store = make();
    const saved = await Promise.all(Array.from({ length: 20 }, (_, i) => store.save('c', version(`{"i":${i}}`))));
    expect(saved.map((a) => a.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

describe.skipIf(!redisUrl)('the Redis audience store when Redis is unreachable', () => {
  it('says the store is unavailable, naming no host', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => undefined);
    try {
      const store = new RedisAudienceStore(dead);
      await expect(store.list()).rejects.toMatchObject({
        message: 'Saved audiences are unavailable: their store (Redis) did not answer. Try again.',
        extensions: { code: 'AUDIENCE_STORE_UNAVAILABLE' },
      });
    } finally {
      dead.disconnect();
    }
  });
});
