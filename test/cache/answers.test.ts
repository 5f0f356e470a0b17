import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerCache, AnswerRecording, type RememberedAnswer } from '../../cache/answers.ts';
import { family, type FreshnessPolicy } from '../../cache/family.ts';
import { SourceGuard } from '../../cache/guard.ts';
import { RedisStore } from '../../cache/redis-store.ts';
import { MemoryStore, type EntityStore } from '../../cache/store.ts';
import { redisStoreOptions, storesUnderTest } from '../support/stores.ts';

const logger = pino({ level: 'silent' });
const policy = (ttlMs: number): FreshnessPolicy => ({ ttlMs, staleWhileRevalidateMs: 60_000, staleIfErrorMs: 3_600_000, notFoundTtlMs: 5_000 });
const guard = () => new SourceGuard('crm', { breakerFailures: 100, breakerCooldownMs: 1000, maxConcurrent: 100, queue: 1000 });

/** A cached family over `store` answering `value:<key>`, and a count of its upstream calls. */
function cachedFamily(store: EntityStore, ttlMs = 60_000) {
  const calls: string[][] = [];
  const run = family<string, string>({
    source: 'crm',
    name: `answers-${randomUUID()}`,
    batch: async (keys) => {
      calls.push([...keys]);
      return keys.map((key) => `value:${key}`);
    },
    guard: guard(),
    logger,
    cache: { store, policy: policy(ttlMs), keyOf: (key) => key },
  });
  return { run, calls };
}

/** What the server remembers of a request that recorded `recording`. */
const answerOf = (recording: AnswerRecording, answeredAt = Date.now()): RememberedAnswer => ({
  json: '{"answer":1}',
  sources: {},
  audit: { fields: [], customers: [], masked: [] },
  dependencies: recording.dependencies,
  answeredAt,
  freshUntil: recording.freshUntil,
});

/** Runs `run` once to fill the cache, then once more recording: the second call's answer depends on what it read. */
async function recorded(...families: Array<ReturnType<typeof cachedFamily>>): Promise<AnswerRecording> {
  for (const { run } of families) await run(['a', 'b'], {});
  const recording = new AnswerRecording();
  recording.key = 'q';
  for (const { run } of families) await run(['a', 'b'], { dependsOn: recording.dependsOn });
  return recording;
}

const stores = storesUnderTest(5000);

describe.each(stores)('a remembered answer over the shared cache (%s)', (_, makeStore) => {
  let store: EntityStore;
  beforeAll(async () => {
    store = await makeStore();
  });
  afterAll(async () => store?.close());

  it('depends on the entries a call served fresh from the cache, not on those it read live', async () => {
    const crm = cachedFamily(store);
    const live = new AnswerRecording();
    live.key = 'q';
    await crm.run(['a', 'b'], { dependsOn: live.dependsOn });
    expect(live.dependencies).toEqual([]);
    const cached = await recorded(crm);
    expect(cached.dependencies.map((d) => ('key' in d ? d.key : null))).toEqual([expect.stringMatching(/:a$/), expect.stringMatching(/:b$/)]);
    expect(crm.calls).toEqual([['a', 'b']]);
  });

  it('records nothing for a request whose operation may not be remembered', async () => {
    const crm = cachedFamily(store);
    await crm.run(['a'], {});
    const recording = new AnswerRecording();
    await crm.run(['a'], { dependsOn: recording.dependsOn });
    expect(recording.dependencies).toEqual([]);
  });

  it('holds until an entry it was made from is replaced or deleted', async () => {
    const crm = cachedFamily(store);
    const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20 });
    cache.set('q', answerOf(await recorded(crm)));
    expect(cache.get('q', Date.now())?.json).toBe('{"answer":1}');
    const [first] = (await recorded(crm)).dependencies;
    if (!first || !('key' in first)) throw new Error('expected an entry dependency');
    // A refresh writes a new entry under the same key.
    await store.setMany([{ key: first.key, entry: { value: 'value:a', storedAt: Date.now() }, retainMs: 60_000 }]);
    expect(cache.get('q', Date.now())).toBeUndefined();
    expect(cache.counts()).toMatchObject({ hits: 1, invalid: 1, stored: 1 });

    cache.set('q', answerOf(await recorded(crm)));
    cache.set('other', answerOf(await recorded(cachedFamily(store))));
    await store.delete([first.key]);
    // Dropped with the entry, before anyone asks: what was made from a forgotten entry leaves memory with it.
    expect(cache.size).toBe(1);
    expect(cache.get('q', Date.now())).toBeUndefined();
    expect(cache.get('other', Date.now())).toBeDefined();
  });

  it('ends when the first of its entries stops being fresh', async () => {
    const [short, long] = [cachedFamily(store, 1_000), cachedFamily(store, 60_000)];
    const recording = await recorded(short, long);
    const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20 });
    const answer = answerOf(recording);
    expect(answer.freshUntil).toBeLessThanOrEqual(Date.now() + 1_000);
    cache.set('q', answer);
    expect(cache.get('q', answer.freshUntil)).toBeDefined();
    expect(cache.get('q', answer.freshUntil + 1)).toBeUndefined();
  });
});

describe('a remembered answer', () => {
  it('holds while state kept in process is still the one it was computed with', () => {
    let boundaries = { computedAt: 1 };
    const recording = new AnswerRecording();
    recording.key = 'q';
    recording.dependsOnKept(() => boundaries, boundaries);
    recording.freshUntil = Date.now() + 60_000;
    const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20 });
    cache.set('q', answerOf(recording));
    expect(cache.get('q', Date.now())).toBeDefined();
    boundaries = { computedAt: 2 };
    expect(cache.get('q', Date.now())).toBeUndefined();
  });

  it('is not made over a store that cannot say what it serves now', async () => {
    const memory = new MemoryStore({ maxEntries: 100, maxBytes: 1 << 20 });
    const blind: EntityStore = {
      getMany: (keys) => memory.getMany(keys),
      setMany: (entries) => memory.setMany(entries),
      delete: (keys) => memory.delete(keys),
      claim: (key, ttlMs) => memory.claim(key, ttlMs),
      close: () => memory.close(),
    };
    const recording = await recorded(cachedFamily(blind));
    expect(recording.uncheckable).toBe(true);
    expect(recording.dependencies).toEqual([]);
  });

  it('is bounded in number, the least recently used dropped first', async () => {
    const store = new MemoryStore({ maxEntries: 100, maxBytes: 1 << 20 });
    const recording = await recorded(cachedFamily(store));
    const cache = new AnswerCache({ maxEntries: 2, maxBytes: 1 << 20 });
    for (const key of ['q1', 'q2']) cache.set(key, answerOf(recording));
    cache.get('q1', Date.now());
    cache.set('q3', answerOf(recording));
    expect(cache.size).toBe(2);
    expect(cache.get('q2', Date.now())).toBeUndefined();
    expect(cache.get('q1', Date.now())).toBeDefined();
  });
});

describe.skipIf(!process.env.REDIS_URL)('a remembered answer across replicas (Redis)', () => {
  it('is dropped on this replica when another evicts an entry it was made from', async () => {
    const options = redisStoreOptions(60_000);
    const [here, there] = await Promise.all([RedisStore.connect(options), RedisStore.connect(options)]);
    try {
      const crm = cachedFamily(here);
      const recording = await recorded(crm);
      const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20 });
      cache.set('q', answerOf(recording));
      expect(cache.get('q', Date.now())).toBeDefined();
      const [first] = recording.dependencies;
      await there.delete(['key' in first! ? first.key : '']);
      // Dropped when the eviction arrives, without being asked for.
      for (let i = 0; i < 50 && cache.size > 0; i++) await sleep(20);
      expect(cache.size).toBe(0);
      expect(cache.get('q', Date.now())).toBeUndefined();
    } finally {
      await Promise.all([here.close(), there.close()]);
    }
  });
});
