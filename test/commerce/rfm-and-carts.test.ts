import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLoaders, createUpstreams } from '../../cache/loaders.ts';
import { MemoryStore } from '../../cache/store.ts';
import { crmNotConfigured, emailNotConfigured } from '../../server/sources.ts';
import { createCommerceSource, type Queryable, type RfmScore } from '../../sources/commerce/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { TEST_FRESHNESS } from '../support/server.ts';
import { gridCells, quintile, rfmSegment } from '../../sources/commerce/rfm.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);

/**
 * Five buyers with known quintiles: customer i placed i orders of 100 x i each, the last one
 * 10 x i days ago. Customer 6 never ordered. Carts: 1 abandoned (2 h untouched), 2 active (30 min),
 * 3 old but followed by an order, 4 old and abandoned but older than a newer active cart.
 */
async function seedFixture(db: TestDatabase): Promise<void> {
  await db.pool.query(await readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8'));
  await db.pool.query(`INSERT INTO products VALUES (1, 'SKU-1', 'Mug', 'Kitchen', 10.00, 'USD'), (2, 'SKU-2', 'Tee', 'Apparel', 20.00, 'USD')`);
  for (let i = 1; i <= 6; i++) {
    await db.pool.query(`INSERT INTO customers (id, email, signup_at) VALUES ($1, $2, $3)`, [i, `c${i}@example.com`, ago(400 * DAY)]);
  }
  for (let i = 1; i <= 5; i++) {
    for (let n = 0; n < i; n++) {
      const placed = ago((10 * i + 30 * n) * DAY);
      await db.pool.query(`INSERT INTO orders VALUES ($1, $2, $3, 'completed', $4, 'USD')`, [i * 1000 + n, i, placed, 100 * i]);
      await db.pool.query(`INSERT INTO order_items VALUES ($1, 1, 1, 1, $2)`, [i * 1000 + n, 100 * i]);
    }
  }
  // A refunded order and one in another currency: neither counts.
  await db.pool.query(`INSERT INTO orders VALUES (1900, 1, $1, 'refunded', 999, 'USD'), (1901, 1, $1, 'completed', 999, 'EUR')`, [ago(DAY)]);
  const carts: Array<[number, number, Date]> = [
    [10, 1, ago(2 * 3600_000)],
    [20, 2, ago(30 * 60_000)],
    [30, 3, ago(40 * DAY)],
    [40, 4, ago(3 * DAY)],
    [41, 4, ago(10 * 60_000)],
  ];
  for (const [id, customer, updated] of carts) {
    await db.pool.query(`INSERT INTO carts VALUES ($1, $2, $3, $3, 'open')`, [id, customer, updated]);
    await db.pool.query(`INSERT INTO cart_items VALUES ($1, 1, 2, 10.00, $2), ($1, 2, 1, 20.00, $2)`, [id, updated]);
  }
}

let db: TestDatabase;
const statements: string[] = [];
let clock = NOW;
let source: ReturnType<typeof createCommerceSource>;
/** While set, every statement fails as a refused connection does (and is still counted). */
let databaseDown = false;
const counting: Queryable = {
  query: (text, values) => {
    statements.push(text);
    if (databaseDown) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    return db.pool.query(text, values);
  },
};

beforeAll(async () => {
  db = await createTestDatabase();
  await seedFixture(db);
  source = createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 60_000, now: () => clock });
});
afterAll(async () => db?.close());

describe('RFM scoring', () => {
  it('scores each quintile from 1 to 5, counting only boundaries strictly below', () => {
    expect([0, 1.8, 1.9, 3, 5].map((v) => quintile(v, [1.8, 2.6, 3.4, 4.2]))).toEqual([1, 1, 2, 3, 5]);
  });

  it('places every cell of the grid in one of the eleven segments', () => {
    expect([rfmSegment(5, 5), rfmSegment(1, 1), rfmSegment(2, 1), rfmSegment(5, 1), rfmSegment(4, 1)]).toEqual(['CHAMPIONS', 'LOST', 'HIBERNATING', 'NEW', 'PROMISING']);
    expect([rfmSegment(3, 3), rfmSegment(1, 5), rfmSegment(2, 3), rfmSegment(3, 1), rfmSegment(4, 4), rfmSegment(4, 2)]).toEqual([
      'NEED_ATTENTION',
      'CANNOT_LOSE_THEM',
      'AT_RISK',
      'ABOUT_TO_SLEEP',
      'LOYAL',
      'POTENTIAL_LOYALIST',
    ]);
    expect(
      gridCells(['LOST', 'HIBERNATING', 'CHAMPIONS', 'LOYAL', 'POTENTIAL_LOYALIST', 'NEW', 'PROMISING', 'NEED_ATTENTION', 'ABOUT_TO_SLEEP', 'AT_RISK', 'CANNOT_LOSE_THEM']),
    ).toHaveLength(25);
  });

  it('scores the fixture customers against quintiles of the whole base', async () => {
    const stats = await source.purchaseStats(['1', '2', '3', '4', '5', '6']);
    expect(stats[0]).toMatchObject({ orderCount: 1, totalSpent: { amount: '100.00', currencyCode: 'USD' }, daysSinceLastOrder: 10 });
    expect(stats[5]).toMatchObject({ orderCount: 0, totalSpent: { amount: '0', currencyCode: 'USD' }, averageOrderValue: null, lastOrderAt: null });
    statements.length = 0;
    const scores = await source.rfmScores(stats);
    expect(scores.map((s) => s && [s.recency, s.frequency, s.monetary, s.segment])).toEqual([
      [5, 1, 1, 'NEW'],
      [4, 2, 2, 'POTENTIAL_LOYALIST'],
      [3, 3, 3, 'NEED_ATTENTION'],
      [2, 4, 4, 'AT_RISK'],
      [1, 5, 5, 'CANNOT_LOSE_THEM'],
      null,
    ]);
    expect(statements).toHaveLength(1);
  });

  it('computes the boundaries once, never again on the request path, when start-up did not', async () => {
    const fresh = createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 60_000, now: () => clock });
    const stats = await fresh.purchaseStats(['3']);
    statements.length = 0;
    await Promise.all([fresh.rfmScores(stats), fresh.rfmScores(stats), fresh.rfmScores(stats)]);
    expect(statements).toHaveLength(1);
    clock = new Date(NOW.getTime() + 61_000);
    await fresh.rfmScores(stats);
    expect(statements).toHaveLength(1);
    clock = NOW;
  });

  it('filters a segment in SQL exactly as the scores place customers', async () => {
    const page = (segments: Parameters<typeof gridCells>[0]) => source.segmentPage({ filter: { rfmSegments: segments }, first: 10, afterId: null });
    expect((await page(['NEW'])).customerIds).toEqual(['1']);
    expect((await page(['NEED_ATTENTION', 'CANNOT_LOSE_THEM'])).customerIds).toEqual(['3', '5']);
    expect((await page(['CHAMPIONS'])).customerIds).toEqual([]);
  });
});

describe('RFM boundaries kept in the background', () => {
  /** Background work is awaited by counting, however slow a loaded machine is. */
  const PATIENCE = { timeout: 15_000, interval: 10 };
  const boundaryStatements = () => statements.filter((text) => text.includes('percentile_cont')).length;
  const logged = () => {
    const lines: Array<{ level: string; msg: string }> = [];
    return { lines, warn: (_: object, msg: string) => void lines.push({ level: 'warn', msg }), info: (_: object, msg: string) => void lines.push({ level: 'info', msg }) };
  };
  afterEach(() => {
    databaseDown = false;
    clock = NOW;
  });

  it('computes the boundaries at start-up, so scoring a request runs no statement for them', async () => {
    const started = createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => clock });
    expect(started.rfm.boundaries()).toBeNull();
    statements.length = 0;
    await started.rfm.start();
    expect(boundaryStatements()).toBe(1);
    expect(started.rfm.boundaries()).toEqual({ computedAt: NOW, customers: 5 });
    const stats = await started.purchaseStats(['1', '5']);
    statements.length = 0;
    expect((await started.rfmScores(stats)).map((s) => s?.segment)).toEqual(['NEW', 'CANNOT_LOSE_THEM']);
    expect(statements).toHaveLength(0);
    started.rfm.stop();
  });

  it('recomputes them in the background, and keeps the previous ones while that fails', async () => {
    const log = logged();
    const kept = createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 20, now: () => clock });
    await kept.rfm.start(log);
    const stats = await kept.purchaseStats(['3']);
    clock = new Date(NOW.getTime() + 1000);
    await vi.waitFor(() => expect(kept.rfm.boundaries()?.computedAt).toEqual(clock), PATIENCE);

    databaseDown = true;
    statements.length = 0;
    clock = new Date(NOW.getTime() + 2000);
    await vi.waitFor(() => expect(boundaryStatements()).toBeGreaterThanOrEqual(3), PATIENCE);
    expect(kept.rfm.boundaries()).toEqual({ computedAt: new Date(NOW.getTime() + 1000), customers: 5 });
    const [score] = await kept.rfmScores(stats);
    expect(score).toMatchObject({ segment: 'NEED_ATTENTION', boundariesComputedAt: new Date(NOW.getTime() + 1000) });
    expect(log.lines).toEqual([{ level: 'warn', msg: 'RFM boundaries could not be recomputed: scoring keeps the previous ones' }]);

    databaseDown = false;
    await vi.waitFor(() => expect(kept.rfm.boundaries()?.computedAt).toEqual(clock), PATIENCE);
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    kept.rfm.stop();
  });

  it('computes them on the first request when the database was down at start-up', async () => {
    const late = createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => clock });
    databaseDown = true;
    await late.rfm.start();
    expect(late.rfm.boundaries()).toBeNull();
    databaseDown = false;
    const stats = await late.purchaseStats(['1']);
    statements.length = 0;
    expect((await late.rfmScores(stats))[0]).toMatchObject({ segment: 'NEW' });
    expect(boundaryStatements()).toBe(1);
    late.rfm.stop();
  });

  it('scores purchase stats served from the cache while the commerce breaker is open', async () => {
    const open = createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => clock });
    await open.rfm.start();
    const upstreams = createUpstreams(
      { commerce: open, crm: crmNotConfigured(), email: emailNotConfigured(), web: createWebSource(counting, { schema: 'web' }) },
      {
        store: new MemoryStore({ maxEntries: 1000, maxBytes: 1 << 20 }),
        freshness: TEST_FRESHNESS,
        guard: { breakerFailures: 1, breakerCooldownMs: 600_000, maxConcurrent: 4, queue: 10 },
        logger: pino({ level: 'silent' }),
      },
    );
    await createLoaders(upstreams, {}).purchaseStats.loadMany(['1', '5']);
    databaseDown = true;
    await expect(createLoaders(upstreams, {}).carts.load('1')).rejects.toMatchObject({ source: 'commerce', kind: 'unavailable' });
    expect(upstreams.guards.commerce.state).toBe('open');

    statements.length = 0;
    const loaders = createLoaders(upstreams, { deadline: Date.now() + 5000 });
    const [cached, uncached] = await Promise.all([loaders.rfm.loadMany(['1', '5']), loaders.rfm.load('2').catch((error: Error) => error)]);
    expect(cached.map((score) => (score as RfmScore).segment)).toEqual(['NEW', 'CANNOT_LOSE_THEM']);
    // Stats that were never read fail with the breaker, as they must; scoring itself never did.
    expect(uncached).toMatchObject({ source: 'commerce', kind: 'unavailable', message: expect.stringContaining('circuit open') });
    expect(statements).toHaveLength(0);
    open.rfm.stop();
  });
});

describe('carts', () => {
  it('finds the abandoned cart: untouched past the threshold, with no order after it', async () => {
    const carts = await source.customerCarts(['1', '2', '3', '4', '6']);
    expect(carts.map((c) => c.abandoned?.id ?? null)).toEqual(['10', null, null, '40', null]);
    expect(carts.map((c) => c.open.map((cart) => cart.id))).toEqual([['10'], ['20'], ['30'], ['41', '40'], []]);
    expect(carts[0]!.open[0]).toMatchObject({ value: { amount: '40.00', currencyCode: 'USD' } });
    expect(carts[0]!.open[0]!.items.map((i) => [i.product.sku, i.quantity])).toEqual([
      ['SKU-1', 2],
      ['SKU-2', 1],
    ]);
  });

  it('filters segments by abandoned cart and spend', async () => {
    const page = (filter: object) => source.segmentPage({ filter, first: 10, afterId: null });
    expect((await page({ hasAbandonedCart: true })).customerIds).toEqual(['1', '4']);
    expect((await page({ hasAbandonedCart: false, totalSpentAtLeast: '900' })).customerIds).toEqual(['3', '5']);
    expect((await page({ lastOrderAfter: ago(25 * DAY), lastOrderBefore: ago(5 * DAY) })).customerIds).toEqual(['1', '2']);
  });
});
