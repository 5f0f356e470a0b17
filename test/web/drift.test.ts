import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSql, sqlError } from '../../sources/sql.ts';
import { createWebSource, expectedOf, warehouseDdl, type Queryable, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, indexUse, MINUTE, planWithoutSeqScan, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

let db: TestDatabase;
let fx: WarehouseFixture;
let web: WebSource;
const sent: Array<{ text: string; values: unknown[] | undefined }> = [];
const failed: string[] = [];
const warnings: string[] = [];

/**
 * A warehouse as a young Segment pipeline leaves it: nobody has removed a product or searched yet
 * (no product_removed, no products_searched table) and no page has carried a campaign name (no
 * pages.context_campaign_name column). User 1 has a page from a newsletter, a product view and an add.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  fx = await new WarehouseFixture(db.pool, 'web').create();
  const u = { userId: '1', anonymousId: 'anon-1' };
  await fx.identify('anon-1', '1', ago(10 * DAY));
  await fx.page(u, ago(2 * DAY), { source: 'newsletter', medium: 'email', path: '/c/home' });
  await fx.track(u, 'product_viewed', ago(2 * DAY - MINUTE), { product_id: '7', name: 'Lamp', category: 'Home', price: '30.00' });
  await fx.track(u, 'product_added', ago(2 * DAY - 2 * MINUTE), { product_id: '7', name: 'Lamp' });
  await db.pool.query('DROP TABLE web.product_removed, web.products_searched');
  await db.pool.query('ALTER TABLE web.pages DROP COLUMN context_campaign_name');
  const recording: Queryable = {
    async query(text, values) {
      sent.push({ text, values });
      try {
        return await db.pool.query(text, values);
      } catch (error) {
        failed.push(String((error as { code?: unknown }).code));
        throw error;
      }
    },
  };
  const logger = { warn: (_: object, message: string) => void warnings.push(message), error: () => {} };
  web = createWebSource(recording, { schema: 'web', now: () => NOW, logger });
});
afterAll(async () => db?.close());

const key = { userId: '1', anonymousId: null, days: 30 };
const listKey = { ...key, first: 10 };

describe('a warehouse missing event tables and columns', () => {
  it('answers every family, with no events of the missing kinds and null for the missing column, without a failed statement', async () => {
    const [identities, cart, searches, touches, summaries, viewed, categories, devices] = await Promise.all([
      web.identities(['1']),
      web.cartActivity([key]),
      web.searches([listKey]),
      web.touches([key]),
      web.summaries([key]),
      web.recentlyViewedProducts([listKey]),
      web.topCategories([listKey]),
      web.devices([key]),
    ]);
    expect(identities[0]?.anonymousIds).toEqual(['anon-1']);
    expect(cart[0]).toEqual({
      productsAdded: [{ productId: '7', name: 'Lamp', quantity: 1, at: ago(2 * DAY - 2 * MINUTE) }],
      productsRemoved: [],
      abandonedCheckouts: [],
    });
    expect(searches).toEqual([[]]);
    expect(touches[0]?.firstTouch).toMatchObject({ source: 'newsletter', medium: 'email', campaign: null, landingPath: '/c/home' });
    expect(summaries[0]).toMatchObject({ sessionCount: 1, pageViews: 1 });
    expect(viewed[0]?.map((p) => p.productId)).toEqual(['7']);
    expect(categories[0]?.map((c) => c.category)).toEqual(['Home']);
    expect(devices[0]).toHaveLength(1);
    expect(failed).toEqual([]);
  });

  it('reports what is missing in words, and logs each finding once however many calls meet it', async () => {
    const expected = [
      'web.pages has no column context_campaign_name: read as null until an event first carries a value for it',
      'web.product_removed is missing: cart removals read as none until the first Product Removed event creates the table',
      'web.products_searched is missing: searches read as none until the first Products Searched event creates the table',
    ];
    expect(web.drift().map((f) => [f.source, f.severity, f.message])).toEqual(expected.map((m) => ['web', 'warning', m]));
    await web.cartActivity([key]);
    await web.checkContract();
    await web.ping();
    expect(warnings).toEqual(expected);
  });

  it('keeps reading present tables through their (user_id, timestamp) indexes', async () => {
    const plans = new Map<string, string>();
    for (const [family, call] of [
      ['cartActivity', () => web.cartActivity([key])],
      ['touches', () => web.touches([key])],
    ] as const) {
      sent.length = 0;
      await call();
      plans.set(family, await planWithoutSeqScan(db.pool, sent[0]!));
    }
    for (const table of ['product_added', 'checkout_started', 'order_completed']) {
      expect(indexUse(plans.get('cartActivity')!, table)).toEqual({
        indexes: expect.arrayContaining([`${table}_user_idx`, `${table}_anonymous_idx`]),
        sequential: false,
      });
    }
    expect(indexUse(plans.get('touches')!, 'pages')).toEqual({
      indexes: expect.arrayContaining(['pages_user_idx', 'pages_anonymous_idx']),
      sequential: false,
    });
  });

  it('reads a table created later once the catalog is read again', async () => {
    const ddl = await warehouseDdl('web');
    await db.pool.query(ddl.tables + ddl.indexes);
    await fx.track({ userId: '1' }, 'product_removed', ago(DAY), { product_id: '7', name: 'Lamp', quantity: 1 });
    // Until the next catalog read (every 60 s, or a contract check) the table still reads as none.
    expect((await web.cartActivity([key]))[0]!.productsRemoved).toEqual([]);
    const findings = await web.checkContract();
    expect(findings.map((f) => f.message)).toEqual(['web.pages has no column context_campaign_name: read as null until an event first carries a value for it']);
    expect((await web.cartActivity([key]))[0]!.productsRemoved).toEqual([{ productId: '7', name: 'Lamp', quantity: 1, at: ago(DAY) }]);
    expect(web.drift()).toEqual(findings);
  });

  it('reads the catalog again and retries once when a table disappears between reads', async () => {
    failed.length = 0;
    await db.pool.query('ALTER TABLE web.products_searched RENAME TO products_searched_old');
    try {
      expect(await web.searches([listKey])).toEqual([[]]);
      expect(failed).toEqual(['42P01']);
      expect(web.drift().map((f) => f.message)).toContain('web.products_searched is missing: searches read as none until the first Products Searched event creates the table');
    } finally {
      await db.pool.query('ALTER TABLE web.products_searched_old RENAME TO products_searched');
      await web.checkContract();
    }
  });
});

describe('a warehouse whose first values fixed other column types', () => {
  it('casts a compatible type, reads an incompatible one as null, and says which', async () => {
    await db.pool.query(`ALTER TABLE web.product_added ALTER COLUMN quantity TYPE text;
                         ALTER TABLE web.product_viewed ALTER COLUMN price TYPE double precision`);
    failed.length = 0;
    const findings = await web.checkContract();
    expect(findings.map((f) => f.message)).toContain(
      'web.product_added has columns of another type (quantity is text, expected integer): read as null, since the first value fixed the type',
    );
    expect(findings.map((f) => f.message).filter((m) => m.includes('product_viewed'))).toEqual([]);
    const [[cart], [viewed]] = await Promise.all([web.cartActivity([key]), web.recentlyViewedProducts([listKey])]);
    expect(cart!.productsAdded.map((change) => change.quantity)).toEqual([1]);
    expect(viewed!.map((product) => product.price)).toEqual(['30']);
    expect(failed).toEqual([]);
  });

  it('says nothing of a missing optional column, and reads one of another type as null and says so', async () => {
    await db.pool.query(`ALTER TABLE web.pages DROP COLUMN context_geo_city, DROP COLUMN uuid_ts;
                         ALTER TABLE web.tracks ALTER COLUMN context_consent_category_preferences_c0002 TYPE text`);
    failed.length = 0;
    const messages = (await web.checkContract()).map((f) => f.message);
    expect(messages.filter((m) => /context_geo_city|uuid_ts/.test(m))).toEqual([]);
    expect(messages).toContain(
      'web.tracks has columns of another type (context_consent_category_preferences_c0002 is text, expected boolean): read as null, since the first value fixed the type',
    );
    const [[location], [consent], load] = await Promise.all([web.locations([key]), web.consents([key]), web.loadStatus()]);
    expect(location).toBeNull();
    expect(consent).toEqual({ analytics: null, advertising: null });
    // The Product Removed of the earlier test is the newest arrival.
    expect(load).toMatchObject({ newestReceivedAt: ago(DAY), loadedAt: null });
    expect(failed).toEqual([]);
  });
});

describe('the declared tables', () => {
  it('are the tables and column types schema.sql creates, with the default consent categories', async () => {
    const ddl = await warehouseDdl('declared');
    await db.pool.query(ddl.tables);
    const { rows } = await db.pool.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = 'declared'`,
    );
    const created = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r.data_type]));
    const declared = Object.entries(expectedOf().tables).flatMap(([table, { columns }]) => Object.entries(columns).map(([column, type]) => [`${table}.${column}`, type] as const));
    expect(declared.map(([name]) => [name, created.get(name)])).toEqual(declared);
    const full = createWebSource(db.pool, { schema: 'declared' });
    expect(await full.checkContract()).toEqual([]);
  });
});

describe('a failed statement', () => {
  const WEB = { name: 'web', database: 'the event warehouse', contract: 'the warehouse layout' } as const;

  it('is a bad_response, not retryable, when the server rejects it, whatever its message names', async () => {
    await expect(runSql(WEB, db.pool, 'SELECT connected_at FROM web.pages', [])).rejects.toMatchObject({
      kind: 'bad_response',
      retryable: false,
    });
    await expect(runSql(WEB, db.pool, 'SELECT 1 FROM web.timeout_log', [])).rejects.toMatchObject({ kind: 'bad_response' });
  });

  it('is unavailable or a timeout only when the database is down or slow', () => {
    const kinds = [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      new Error('timeout exceeded when trying to connect'),
    ].map((error) => [sqlError(WEB, error).kind, sqlError(WEB, error).retryable]);
    expect(kinds).toEqual([
      ['unavailable', true],
      ['unavailable', true],
      ['unavailable', true],
      ['unavailable', true],
      ['timeout', true],
      ['timeout', true],
    ]);
  });
});
