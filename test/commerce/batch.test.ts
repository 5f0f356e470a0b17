import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ordersOf } from '../../sandbox/demo/shop.ts';
import { createCommerceSource, type Queryable } from '../../sources/commerce/index.ts';
import { SourceError } from '../../sources/errors.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';

const world: DemoWorld = { seed: 360, customers: 80, asOf: TEST_AS_OF };
const options = { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 60_000, now: () => TEST_AS_OF };
let db: TestDatabase;
const statements: string[] = [];
let source: ReturnType<typeof createCommerceSource>;

beforeAll(async () => {
  db = await createDemoDatabase(world);
  const counting: Queryable = { query: (text, values) => (statements.push(text), db.pool.query(text, values)) };
  source = createCommerceSource(counting, options);
});
afterAll(async () => db?.close());

describe('commerce batch functions', () => {
  it('answer one entry per key, in key order, with duplicates and unknown keys, in one statement', async () => {
    statements.length = 0;
    const found = await source.customersById(['3', '999', '1', '3']);
    expect(found.map((c) => (c instanceof Error ? c : (c?.id ?? null)))).toEqual(['3', null, '1', '3']);
    const emails = [personAt(world, 5).email, 'missing@example.com', personAt(world, 0).email];
    expect((await source.customersByEmail(emails)).map((c) => (c instanceof Error ? c : (c?.id ?? null)))).toEqual(['6', null, '1']);
    expect(statements).toHaveLength(2);
  });

  it('page orders per key with each key its own page size and position', async () => {
    const buyers = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).filter((p) => ordersOf(world, p).length >= 3);
    const [a, b] = buyers as [(typeof buyers)[0], (typeof buyers)[0]];
    const newestA = ordersOf(world, a).reverse();
    statements.length = 0;
    const pages = await source.orderPages([
      { customerId: String(a.customerId), first: 1, after: null },
      { customerId: String(b.customerId), first: 2, after: null },
      { customerId: String(a.customerId), first: 5, after: { placedAt: newestA[0]!.placedAt, id: String(newestA[0]!.id) } },
      { customerId: '999', first: 3, after: null },
    ]);
    expect(statements).toHaveLength(1);
    expect(pages.map((p) => p.orders.length)).toEqual([1, 2, Math.min(5, newestA.length - 1), 0]);
    expect(pages[0]!.orders[0]!.id).toBe(String(newestA[0]!.id));
    expect(pages[2]!.orders[0]!.id).toBe(String(newestA[1]!.id));
    expect(pages[0]!.hasNextPage).toBe(true);
    expect(pages[3]).toEqual({ orders: [], hasNextPage: false });
  });

  it('give empty line items for unknown orders', async () => {
    const items = await source.lineItems(['42', String(personAt(world, 0).customerId! * 1000)]);
    expect(items[0]).toEqual([]);
  });

  it('throw a SourceError for the whole call when the database is unreachable', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/shop' });
    const down = createCommerceSource(pool, options);
    await expect(down.customersById(['1'])).rejects.toMatchObject({ name: 'SourceError', source: 'commerce', kind: 'unavailable' });
    await expect(down.ping()).rejects.toBeInstanceOf(SourceError);
    await pool.end();
  });
});
