import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError } from '../../sources/errors.ts';
import { createWebSource, type Queryable, type WebListKey, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, MINUTE, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

let db: TestDatabase;
let web: WebSource;
const statements: string[] = [];

/** Users 1..5: user n has n sessions, each a page, a product view and a search, n days apart. */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'shop_events').create();
  for (let n = 1; n <= 5; n++) {
    const u = { userId: String(n), anonymousId: `anon-${n}` };
    await fx.identify(`anon-${n}`, String(n), ago(40 * DAY));
    for (let d = 1; d <= n; d++) {
      await fx.page(u, ago(d * DAY));
      await fx.track(u, 'product_viewed', ago(d * DAY - MINUTE), { product_id: String(d), name: `P${d}`, category: 'Home' });
      await fx.track(u, 'products_searched', ago(d * DAY - 2 * MINUTE), { query: `q${d}` });
      await fx.track(u, 'product_added', ago(d * DAY - 3 * MINUTE), { product_id: String(d) });
    }
  }
  const counting: Queryable = { query: (text, values) => (statements.push(text), db.pool.query(text, values)) };
  web = createWebSource(counting, { schema: 'shop_events', now: () => NOW });
});
afterAll(async () => db?.close());

/** Every family, called once with `keys`. */
function everyFamily(keys: readonly WebListKey[]) {
  const userIds = keys.map((k) => k.userId ?? k.anonymousId!.slice('anon-'.length));
  return [
    web.identities(userIds),
    web.visitors(userIds.map((id) => `anon-${id}`)),
    web.consents(keys),
    web.locations(keys),
    web.summaries(keys),
    web.recentlyViewedProducts(keys),
    web.topCategories(keys),
    web.cartActivity(keys),
    web.devices(keys),
    web.touches(keys),
    web.searches(keys),
  ];
}

describe('web batch functions', () => {
  it('run one statement per family whatever the batch size, mixing subjects, windows and page sizes', async () => {
    for (const size of [1, 10, 100]) {
      const keys = Array.from({ length: size }, (_, i) => {
        const n = String((i % 7) + 1);
        // A user, a browser alone, and a user with their session's browser, in turn.
        const subject = [
          { userId: n, anonymousId: null },
          { userId: null, anonymousId: `anon-${n}` },
          { userId: n, anonymousId: `anon-${n}` },
        ][i % 3]!;
        return { ...subject, days: 1 + (i % 30), first: 1 + (i % 5) };
      });
      statements.length = 0;
      const answers: unknown[][] = await Promise.all(everyFamily(keys));
      expect(statements).toHaveLength(11);
      for (const answer of answers) expect(answer).toHaveLength(size);
    }
  });

  it('answer in key order, with duplicates and unknown users, each key with its own window and first', async () => {
    const keys = [
      { userId: '5', anonymousId: null, days: 30, first: 2 },
      { userId: '404', anonymousId: null, days: 30, first: 2 },
      { userId: '3', anonymousId: null, days: 2, first: 5 },
      { userId: '5', anonymousId: null, days: 30, first: 2 },
    ];
    const summaries = await web.summaries(keys);
    expect(summaries.map((s) => s?.sessionCount ?? null)).toEqual([5, null, 2, 5]);
    const searches = await web.searches(keys);
    expect(searches.map((list) => list.map((s) => s.query))).toEqual([['q1', 'q2'], [], ['q1', 'q2'], ['q1', 'q2']]);
    const identities = await web.identities(['2', '404', '2']);
    expect(identities.map((i) => i?.anonymousIds ?? null)).toEqual([['anon-2'], null, ['anon-2']]);
  });

  it('run no statement for no keys', async () => {
    statements.length = 0;
    const answers: unknown[][] = await Promise.all(everyFamily([]));
    expect(answers.every((a) => a.length === 0)).toBe(true);
    expect(statements).toEqual([]);
  });

  it('refuse a key with neither id, or a window or page size out of range, before any SQL', async () => {
    statements.length = 0;
    const neither = 'expected a user id or an anonymous id (or both), got neither';
    await expect(
      web.devices([
        { userId: '1', anonymousId: null, days: 30 },
        { userId: null, anonymousId: null, days: 30 },
      ]),
    ).rejects.toThrow(neither);
    await expect(web.consents([{ userId: null, anonymousId: null }])).rejects.toThrow(neither);
    await expect(web.locations([{ userId: null, anonymousId: null, days: 1 }])).rejects.toBeInstanceOf(RangeError);
    await expect(web.summaries([{ userId: '1', anonymousId: null, days: 0 }])).rejects.toThrow('expected days between 1 and 365, got 0');
    await expect(web.searches([{ userId: '1', anonymousId: null, days: 366, first: 1 }])).rejects.toBeInstanceOf(RangeError);
    await expect(web.searches([{ userId: '1', anonymousId: null, days: 30, first: 101 }])).rejects.toThrow('expected first between 1 and 100, got 101');
    expect(statements).toEqual([]);
  });

  it('refuse a schema name that is not a plain identifier, and a consent category that makes no column name', () => {
    expect(() => createWebSource(db.pool, { schema: 'web"; DROP TABLE x; --' })).toThrow(TypeError);
    expect(() => createWebSource(db.pool, { schema: 'Web' })).toThrow(/expected a warehouse schema name/);
    expect(() => createWebSource(db.pool, { schema: 'web', consent: { analytics: '--', advertising: null } })).toThrow(
      'expected a consent category id with letters or digits (such as C0002), got "--"',
    );
  });

  it('throw a SourceError for the whole call when the warehouse is unreachable or the schema missing', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/warehouse' });
    const down = createWebSource(pool, { schema: 'web' });
    await expect(down.summaries([{ userId: '1', anonymousId: null, days: 30 }])).rejects.toMatchObject({ name: 'SourceError', source: 'web', kind: 'unavailable' });
    await pool.end();
    const missing = createWebSource(db.pool, { schema: 'no_such_schema' });
    await expect(missing.ping()).rejects.toMatchObject({ source: 'web', kind: 'bad_response', retryable: false });
    await expect(missing.devices([{ userId: '1', anonymousId: null, days: 30 }])).rejects.toBeInstanceOf(SourceError);
    await expect(web.ping()).resolves.toBeUndefined();
  });
});
