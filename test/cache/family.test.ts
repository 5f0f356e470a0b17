import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cacheKey, family, type CallReport, type FreshnessPolicy } from '../../cache/family.ts';
import { SourceGuard } from '../../cache/guard.ts';
import { RedisStore } from '../../cache/redis-store.ts';
import { MemoryStore, type EntityStore } from '../../cache/store.ts';
import { timeLeft } from '../../sources/deadline.ts';
import { SourceError } from '../../sources/errors.ts';
import { redisStoreOptions, storesUnderTest } from '../support/stores.ts';

const logger = pino({ level: 'silent' });
const policy: FreshnessPolicy = { ttlMs: 60_000, staleWhileRevalidateMs: 60_000, staleIfErrorMs: 3_600_000, notFoundTtlMs: 5_000 };
const guardOptions = { breakerFailures: 100, breakerCooldownMs: 1000, maxConcurrent: 100, queue: 1000 };

/** An upstream that records every batch it is asked for, answers `value:<key>`, or fails on demand. */
function upstream() {
  const calls: string[][] = [];
  let failing = false;
  let delayMs = 0;
  return {
    calls,
    fail: (on: boolean) => void (failing = on),
    delay: (ms: number) => void (delayMs = ms),
    batch: async (keys: readonly string[]) => {
      calls.push([...keys]);
      if (delayMs) await sleep(delayMs);
      if (failing) throw new SourceError('crm', 'unavailable', 'down');
      return keys.map((key) => (key.startsWith('missing') ? null : `value:${key}`));
    },
  };
}

const stores = storesUnderTest(1000);

describe.each(stores)('the shared cache (%s)', (_, makeStore) => {
  let store: EntityStore;
  beforeAll(async () => {
    store = await makeStore();
  });
  afterAll(async () => store?.close());

  const setup = (name = randomUUID()) => {
    const source = upstream();
    const reports: CallReport[] = [];
    const load = family({ source: 'crm', name, batch: source.batch, guard: new SourceGuard('crm', guardOptions), logger, cache: { store, policy, keyOf: (k: string) => k } });
    return { source, reports, name, load: (keys: string[]) => load(keys, { report: (r) => reports.push(r) }) };
  };
  /** Writes an entry as if it had been stored `ageMs` ago. */
  const age = (name: string, key: string, value: unknown, ageMs: number) =>
    store.setMany([{ key: cacheKey('crm', name, key), entry: { value, storedAt: Date.now() - ageMs }, retainMs: 3_600_000 }]);

  it('sends only the misses upstream, in one batch, and reports what was cached', async () => {
    const { source, reports, load } = setup();
    expect(await load(['a', 'b'])).toEqual(['value:a', 'value:b']);
    expect(await load(['a', 'c', 'b', 'd'])).toEqual(['value:a', 'value:c', 'value:b', 'value:d']);
    expect(source.calls).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(reports[1]).toMatchObject({ keys: 4, live: 2, cached: 2, stale: 0, failed: 0 });
  });

  it('keeps "not found" only briefly', async () => {
    const { source, name, load } = setup();
    await age(name, 'missing-1', null, 6_000);
    expect(await load(['missing-1'])).toEqual([null]);
    expect(source.calls).toEqual([['missing-1']]);
  });

  it('never caches an error', async () => {
    const { source, load } = setup();
    source.fail(true);
    expect((await load(['e']))[0]).toBeInstanceOf(SourceError);
    source.fail(false);
    expect(await load(['e'])).toEqual(['value:e']);
    expect(source.calls).toEqual([['e'], ['e']]);
  });

  it('serves a stale value to 50 concurrent requests and refreshes it upstream exactly once', async () => {
    const { source, name, load, reports } = setup();
    await age(name, 'hot', 'old', 90_000);
    source.delay(50);
    const answers = await Promise.all(Array.from({ length: 50 }, () => load(['hot'])));
    expect(answers.every(([value]) => value === 'old')).toBe(true);
    expect(reports.every((r) => r.stale === 1 && r.live === 0)).toBe(true);
    for (let i = 0; i < 50 && (await load(['hot']))[0] !== 'value:hot'; i++) await sleep(20);
    expect(source.calls).toEqual([['hot']]);
  });

  it('lets 50 concurrent requests for a cold key share one upstream call', async () => {
    const { source, load } = setup();
    source.delay(50);
    const answers = await Promise.all(Array.from({ length: 50 }, () => load(['cold'])));
    expect(answers.every(([value]) => value === 'value:cold')).toBe(true);
    expect(source.calls).toEqual([['cold']]);
  });

  it('serves a value past its stale window, marked stale, while the source is down', async () => {
    const { source, name, load, reports } = setup();
    await age(name, 'k', 'remembered', 30 * 60_000);
    source.fail(true);
    expect(await load(['k', 'unknown'])).toEqual(['remembered', expect.any(SourceError)]);
    expect(reports[0]).toMatchObject({ stale: 1, failed: 1, live: 0 });
    expect(reports[0]!.maxAgeMs).toBeGreaterThanOrEqual(30 * 60_000);
  });

  it('gives up at the request deadline while the fetch goes on to fill the cache', async () => {
    const { source } = setup();
    source.delay(200);
    const loadWithin = family({
      source: 'crm',
      name: randomUUID(),
      batch: source.batch,
      guard: new SourceGuard('crm', guardOptions),
      logger,
      cache: { store, policy, keyOf: (k: string) => k },
    });
    const [late] = await loadWithin(['slow'], { deadline: Date.now() + 20 });
    expect(late).toMatchObject({ kind: 'timeout', source: 'crm' });
    await sleep(300);
    expect(await loadWithin(['slow'], {})).toEqual(['value:slow']);
    expect(source.calls).toEqual([['slow']]);
  });

  it('aborts the batch function at the deadline of the call that started it, and bounds a background refresh', async () => {
    const signals: AbortSignal[] = [];
    const batch = async (keys: readonly string[], signal?: AbortSignal) => {
      signals.push(signal!);
      await sleep(100);
      return keys.map((key) => `value:${key}`);
    };
    const name = randomUUID();
    const load = family({ source: 'crm', name, batch, guard: new SourceGuard('crm', guardOptions), logger, cache: { store, policy, keyOf: (k: string) => k } });
    const [late] = await load(['k'], { deadline: Date.now() + 20 });
    expect(late).toMatchObject({ kind: 'timeout' });
    // The caller's answer and the signal's abort are two timers due at the same deadline; on a busy
    // machine the answer's may run first, by a millisecond. The batch is aborted either way, long
    // before its own 100 ms end.
    await vi.waitFor(() => expect(signals[0]!.aborted).toBe(true), { timeout: 50, interval: 1 });

    await age(name, 'old', 'remembered', 90_000);
    expect(await load(['old'], { deadline: Date.now() + 20 })).toEqual(['remembered']);
    await vi.waitFor(() => expect(signals).toHaveLength(2));
    expect(signals[1]!.aborted).toBe(false);
    expect(timeLeft(signals[1])).toBeLessThanOrEqual(5000);
  });
});

describe.skipIf(!process.env.REDIS_URL)('evictions across replicas (Redis)', () => {
  it('reach a second instance through Redis', async () => {
    const options = redisStoreOptions(60_000);
    const [a, b] = await Promise.all([RedisStore.connect(options), RedisStore.connect(options)]);
    try {
      await a.setMany([{ key: 'crm:x:1', entry: { value: 'v', storedAt: Date.now() }, retainMs: 60_000 }]);
      expect((await b.getMany(['crm:x:1']))[0]?.value).toBe('v'); // now in b's local copy too
      await a.delete(['crm:x:1']);
      let seen: unknown = 'v';
      for (let i = 0; i < 50 && seen !== undefined; i++) {
        await sleep(20);
        seen = (await b.getMany(['crm:x:1']))[0]?.value;
      }
      expect(seen).toBeUndefined();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('coalescing with a slot taken first (a rate-limited source)', () => {
  /** A family whose batches each need a slot from `slots`: a slot is handed out when the test calls `open()`. */
  const admitted = (breakerFailures = guardOptions.breakerFailures) => {
    const source = upstream();
    const pending: Array<{ deadline: number | undefined; resolve: () => void; reject: (error: unknown) => void }> = [];
    const run = family({
      source: 'crm',
      name: randomUUID(),
      batch: source.batch,
      guard: new SourceGuard('crm', { ...guardOptions, breakerFailures }),
      logger,
      coalesce: {
        maxKeys: 5,
        maxInFlight: 2,
        admit: (deadline) => new Promise<void>((resolve, reject) => pending.push({ deadline, resolve, reject })),
      },
    });
    const open = () => pending.shift()!.resolve();
    return { source, run, pending, open };
  };
  const soon = () => ({ deadline: Date.now() + 5000 });

  it("chooses a batch's keys when its slot comes: every caller that came while it was awaited goes in it", async () => {
    const { source, run, pending, open } = admitted();
    const calls = [run(['a'], soon()), run(['b'], soon())];
    // One slot awaited at a time, for the first caller alone; the second waits with it.
    expect(pending).toHaveLength(1);
    calls.push(run(['c', 'a'], soon()));
    open();
    expect(await Promise.all(calls)).toEqual([['value:a'], ['value:b'], ['value:c', 'value:a']]);
    expect(source.calls).toEqual([['a', 'b', 'c']]);
  });

  it('awaits the next slot while a batch is out, and gives what waited meanwhile to it', async () => {
    const { source, run, pending, open } = admitted();
    source.delay(30);
    const first = run(['a'], soon());
    open();
    await vi.waitFor(() => expect(source.calls).toEqual([['a']]));
    const more = [run(['b'], soon()), run(['c'], soon())];
    expect(pending).toHaveLength(1);
    open();
    expect(await Promise.all([first, ...more])).toEqual([['value:a'], ['value:b'], ['value:c']]);
    expect(source.calls).toEqual([['a'], ['b', 'c']]);
  });

  it('asks for the next slot at once for the callers beyond maxKeys', async () => {
    const { source, run, pending, open } = admitted();
    source.delay(2000);
    const calls = [run(['a', 'b', 'c'], soon()), run(['d', 'e', 'f'], soon()), run(['g'], soon())];
    open();
    // The first batch is still out (2 s) when the rest ask for their slot.
    await vi.waitFor(() => expect(pending).toHaveLength(1), { timeout: 500 });
    expect(source.calls).toEqual([['a', 'b', 'c']]);
    open();
    await Promise.all(calls);
    expect(source.calls).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e', 'f', 'g'],
    ]);
  });

  it('takes no slot while the breaker is open: the call fails at once, as without coalescing', async () => {
    const { source, run, pending, open } = admitted(1);
    source.fail(true);
    const failed = run(['a'], soon());
    open();
    await expect(failed).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(run(['b'], soon())).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('circuit open') });
    expect(pending).toHaveLength(0);
    expect(source.calls).toEqual([['a']]);
  });

  it('fails the callers the refused slot was for, and asks again for a caller with more time', async () => {
    const { source, run, pending, open } = admitted();
    const impatient = run(['a'], { deadline: Date.now() + 1000 });
    expect(pending[0]!.deadline).toBeLessThanOrEqual(Date.now() + 1000);
    const patient = run(['b'], { deadline: Date.now() + 5000 });
    pending.shift()!.reject(new SourceError('crm', 'rate_limited', 'no request slot within the retry budget'));
    await expect(impatient).rejects.toMatchObject({ kind: 'rate_limited' });
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    open();
    expect(await patient).toEqual(['value:b']);
    expect(source.calls).toEqual([['b']]);
  });
});

describe('coalescing concurrent calls (a quota-bound source)', () => {
  const coalescing = (cache?: EntityStore, breakerFailures = guardOptions.breakerFailures) => {
    const source = upstream();
    const guard = new SourceGuard('crm', { ...guardOptions, breakerFailures });
    const run = family({
      source: 'crm',
      name: randomUUID(),
      batch: source.batch,
      guard,
      logger,
      coalesce: { maxKeys: 5, maxInFlight: 1 },
      ...(cache && { cache: { store: cache, policy, keyOf: (key: string) => key } }),
    });
    return { source, run };
  };

  it('leaves at once when nothing is under way, and sends what waited meanwhile together, repeats once', async () => {
    const { source, run } = coalescing();
    source.delay(30);
    const first = run(['a'], { deadline: Date.now() + 5000 });
    // While the first batch is out, three calls wait: they leave as one batch when it is back.
    const waiting = [run(['b', 'c'], { deadline: Date.now() + 5000 }), run(['c', 'd'], { deadline: Date.now() + 5000 }), run(['e'], { deadline: Date.now() + 5000 })];
    expect(await first).toEqual(['value:a']);
    expect(await Promise.all(waiting)).toEqual([['value:b', 'value:c'], ['value:c', 'value:d'], ['value:e']]);
    expect(source.calls).toEqual([['a'], ['b', 'c', 'd', 'e']]);
  });

  it('splits what waited at maxKeys, keeping each call whole', async () => {
    const { source, run } = coalescing();
    source.delay(20);
    const first = run(['a'], { deadline: Date.now() + 5000 });
    const waiting = [run(['b', 'c', 'd'], { deadline: Date.now() + 5000 }), run(['e', 'f', 'g'], { deadline: Date.now() + 5000 }), run(['h'], { deadline: Date.now() + 5000 })];
    await Promise.all([first, ...waiting]);
    expect(source.calls).toEqual([['a'], ['b', 'c', 'd'], ['e', 'f', 'g', 'h']]);
  });

  it('answers each caller SOURCE_TIMEOUT at its own deadline, and leaves a caller that gave up while waiting out of the batch', async () => {
    const { source, run } = coalescing();
    source.delay(60);
    const first = run(['a'], { deadline: Date.now() + 5000 });
    const impatient = run(['b'], { deadline: Date.now() + 20 });
    const patient = run(['c'], { deadline: Date.now() + 5000 });
    await expect(impatient).rejects.toMatchObject({ source: 'crm', kind: 'timeout' });
    expect(await patient).toEqual(['value:c']);
    await first;
    expect(source.calls).toEqual([['a'], ['c']]);
  });

  it('is one call for the breaker: a failed shared batch fails each of its callers, and counts once', async () => {
    // Three failures open it: two batches for three callers must leave it closed.
    const { source, run } = coalescing(undefined, 3);
    source.delay(20);
    source.fail(true);
    const calls = [run(['a'], { deadline: Date.now() + 5000 }), run(['b'], { deadline: Date.now() + 5000 }), run(['c'], { deadline: Date.now() + 5000 })];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(source.calls).toEqual([['a'], ['b', 'c']]);
    source.fail(false);
    expect(await run(['d'], { deadline: Date.now() + 5000 })).toEqual(['value:d']);
  });

  it('fills the cache from a shared batch, also for a caller whose deadline passed', async () => {
    const cache = new MemoryStore({ maxEntries: 100, maxBytes: 1 << 20 });
    const { source, run } = coalescing(cache);
    source.delay(40);
    const answer = await run(['late'], { deadline: Date.now() + 10 });
    expect(answer[0]).toBeInstanceOf(SourceError);
    await vi.waitFor(() => expect(source.calls).toEqual([['late']]));
    await sleep(60);
    expect(await run(['late'], { deadline: Date.now() + 5000 })).toEqual(['value:late']);
    expect(source.calls).toEqual([['late']]);
  });
});
