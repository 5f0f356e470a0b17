import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentColumnOf, createWebSource, warehouseDdl, type Queryable, type WebKey, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, MINUTE, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const HOUR = 60 * MINUTE;

let db: TestDatabase;
let web: WebSource;

const user = (userId: string, days = 30): WebKey => ({ userId, anonymousId: null, days });
const GRANTED = { c0002: true, c0004: true };
const REVOKED = { c0002: false, c0004: false };

/**
 * Ann (user 1, browser anon-1): granted both on anon-1 before login (5 d); a page with no consent
 * object and a place (4 d); refused both on a page and analytics on a product view (3 d); granted
 * analytics alone (2 d); a track with only a locale (1 d). Bob (user 2) granted both in Berlin
 * (3 d), then revoked both in Paris (1 d). anon-z, never identified, allowed advertising alone on
 * a search 12 h ago. Carol (user 3) browsed without any consent object or context. anon-r, never
 * identified, refused analytics on its only page.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'web').create();
  const ann = { userId: '1', anonymousId: 'anon-1' };
  await fx.page({ anonymousId: 'anon-1' }, ago(5 * DAY), { consent: GRANTED });
  await fx.identify('anon-1', '1', ago(5 * DAY - MINUTE));
  await fx.page(ann, ago(4 * DAY), {
    locale: 'en-US',
    timezone: 'America/Los_Angeles',
    geo: { country: 'US', region: 'CA', city: 'San Francisco' },
  });
  await fx.page(ann, ago(3 * DAY), { consent: REVOKED, locale: 'fr-FR' });
  await fx.track(ann, 'product_viewed', ago(3 * DAY - MINUTE), { product_id: '7', name: 'Lamp', category: 'Home' }, { consent: { c0002: false } });
  await fx.page(ann, ago(2 * DAY), { consent: { c0002: true } });
  await fx.track(ann, 'products_searched', ago(DAY), { query: 'rug' }, { locale: 'en-GB' });

  const bob = { userId: '2', anonymousId: 'anon-2' };
  await fx.page(bob, ago(3 * DAY), {
    consent: GRANTED,
    locale: 'de-DE',
    geo: { country: 'DE', region: 'BE', city: 'Berlin' },
    timezone: 'Europe/Berlin',
  });
  await fx.page(bob, ago(DAY), { consent: REVOKED, geo: { country: 'FR', region: 'IDF', city: 'Paris' } });

  await fx.track({ anonymousId: 'anon-z' }, 'products_searched', ago(12 * HOUR), { query: 'mug' }, { consent: { c0004: true } });
  await fx.page({ userId: '3' }, ago(DAY));
  await fx.page({ anonymousId: 'anon-r' }, ago(DAY), { consent: REVOKED });

  web = createWebSource(db.pool, { schema: 'web', now: () => NOW });
  await web.ping();
});
afterAll(async () => db?.close());

describe('consent', () => {
  it("is, per purpose, the newest answer any of the subject's events carried, refusals included", async () => {
    const consents = await web.consents([
      { userId: '1', anonymousId: null },
      { userId: '2', anonymousId: null },
      { userId: null, anonymousId: 'anon-z' },
      { userId: '2', anonymousId: 'anon-z' },
      { userId: '3', anonymousId: null },
      { userId: null, anonymousId: 'unknown' },
      { userId: null, anonymousId: 'anon-1' },
    ]);
    expect(consents).toEqual([
      // Ann's newest analytics answer is the grant of 2 d; her newest advertising one the refusal of 3 d.
      { analytics: { granted: true, at: ago(2 * DAY) }, advertising: { granted: false, at: ago(3 * DAY) } },
      { analytics: { granted: false, at: ago(DAY) }, advertising: { granted: false, at: ago(DAY) } },
      { analytics: null, advertising: { granted: true, at: ago(12 * HOUR) } },
      // Bob signed in on anon-z: its newer advertising grant is his newest answer.
      { analytics: { granted: false, at: ago(DAY) }, advertising: { granted: true, at: ago(12 * HOUR) } },
      { analytics: null, advertising: null },
      { analytics: null, advertising: null },
      // The browser alone: its events before login.
      { analytics: { granted: true, at: ago(5 * DAY) }, advertising: { granted: true, at: ago(5 * DAY) } },
    ]);
  });

  it('leaves events that refused analytics out of every family, and counts events without a consent object', async () => {
    const [[summary], [viewed], [searches], [bob]] = await Promise.all([
      web.summaries([user('1')]),
      web.recentlyViewedProducts([{ ...user('1'), first: 5 }]),
      web.searches([{ ...user('1'), first: 5 }]),
      web.summaries([user('2')]),
    ]);
    // Ann: the pages of 5 d, 4 d and 2 d; not the refused page of 3 d, nor its product view.
    expect(summary).toMatchObject({ pageViews: 3 });
    expect(viewed).toEqual([]);
    expect(searches!.map((s) => s.query)).toEqual(['rug']);
    // Bob: his page in Berlin only.
    expect(bob).toMatchObject({ pageViews: 1, lastSeenAt: ago(3 * DAY) });
  });

  it('still knows a browser whose every event refused analytics, and serves none of its browsing', async () => {
    const [[visitor], [summary], [consent]] = await Promise.all([
      web.visitors(['anon-r']),
      web.summaries([{ userId: null, anonymousId: 'anon-r', days: 30 }]),
      web.consents([{ userId: null, anonymousId: 'anon-r' }]),
    ]);
    expect(visitor).toEqual({ anonymousId: 'anon-r', link: 'unlinked', userId: null });
    expect(summary).toBeNull();
    expect(consent).toEqual({ analytics: { granted: false, at: ago(DAY) }, advertising: { granted: false, at: ago(DAY) } });
  });

  it('is read from the columns of the configured categories', async () => {
    expect(consentColumnOf('C0004')).toBe('context_consent_category_preferences_c0004');
    expect(consentColumnOf('performanceCookies')).toBe('context_consent_category_preferences_performance_cookies');
    expect(consentColumnOf('CStringRef')).toBe('context_consent_category_preferences_cstring_ref');
    expect(consentColumnOf('ads-v2.Targeting')).toBe('context_consent_category_preferences_ads_v2_targeting');
    // Analytics is read from OneTrust's C0004 here, so Ann's refused page of 3 d (and Bob's of 1 d) stays out.
    const swapped = createWebSource(db.pool, { schema: 'web', now: () => NOW, consent: { analytics: 'C0004', advertising: null } });
    const [ann, bob] = await swapped.consents([
      { userId: '1', anonymousId: null },
      { userId: '2', anonymousId: null },
    ]);
    expect([ann, bob]).toEqual([
      { analytics: { granted: false, at: ago(3 * DAY) }, advertising: null },
      { analytics: { granted: false, at: ago(DAY) }, advertising: null },
    ]);
    // Ann's product view refused C0002 only: counted now.
    expect((await swapped.recentlyViewedProducts([{ ...user('1'), first: 5 }]))[0]!.map((p) => p.productId)).toEqual(['7']);
  });
});

describe('location', () => {
  it('is the context of the newest event in the window carrying any, leaving out refused events', async () => {
    const locations = await web.locations([user('1'), user('2'), user('3'), user('1', 1), { userId: null, anonymousId: 'anon-1', days: 30 }]);
    expect(locations).toEqual([
      { locale: 'en-GB', timezone: null, country: null, region: null, city: null, at: ago(DAY) },
      // Bob's page in Paris refused analytics: his location is Berlin's.
      { locale: 'de-DE', timezone: 'Europe/Berlin', country: 'DE', region: 'BE', city: 'Berlin', at: ago(3 * DAY) },
      null,
      { locale: 'en-GB', timezone: null, country: null, region: null, city: null, at: ago(DAY) },
      null,
    ]);
  });
});

describe('a warehouse without consent, place or load-time columns', () => {
  let bare: WebSource;
  const bareSent: string[] = [];

  beforeAll(async () => {
    const ddl = await warehouseDdl('bare');
    await db.pool.query(ddl.tables + ddl.indexes);
    const fx = new WarehouseFixture(db.pool, 'bare');
    await fx.page({ userId: '1' }, ago(DAY));
    const columns = [
      'uuid_ts',
      'context_locale',
      'context_timezone',
      'context_geo_country',
      'context_geo_region',
      'context_geo_city',
      'context_consent_category_preferences_c0002',
      'context_consent_category_preferences_c0004',
    ];
    for (const table of ['pages', 'tracks']) {
      await db.pool.query(`ALTER TABLE bare.${table} ${columns.map((c) => `DROP COLUMN ${c} CASCADE`).join(', ')}`);
    }
    const recording: Queryable = { query: (text, values) => (bareSent.push(text), db.pool.query(text, values)) };
    bare = createWebSource(recording, { schema: 'bare', now: () => NOW });
  });

  it('reads them as null without running the statements that would only read them, and does not report them', async () => {
    expect(await bare.checkContract()).toEqual([]);
    bareSent.length = 0;
    expect(await bare.consents([{ userId: '1', anonymousId: null }])).toEqual([{ analytics: null, advertising: null }]);
    expect(await bare.locations([user('1')])).toEqual([null]);
    expect(bareSent).toEqual([]);
    expect(await bare.summaries([user('1')])).toEqual([expect.objectContaining({ pageViews: 1 })]);
    expect(await bare.loadStatus()).toEqual({ newestReceivedAt: ago(DAY), loadedAt: null, checkedAt: NOW });
  });
});

describe('load status', () => {
  it('gives the newest received_at and uuid_ts, read through their indexes', async () => {
    const fx = new WarehouseFixture(db.pool, 'web');
    await fx.page({ anonymousId: 'anon-late' }, ago(3 * DAY), { receivedAt: ago(2 * HOUR), loadedAt: ago(HOUR) });
    await fx.track({ anonymousId: 'anon-late' }, 'products_searched', ago(DAY), { query: 'x' }, { receivedAt: ago(3 * HOUR), loadedAt: ago(50 * MINUTE) });
    const texts: string[] = [];
    const fresh = createWebSource({ query: (text, values) => (texts.push(text), db.pool.query(text, values)) }, { schema: 'web', now: () => NOW });
    expect(await fresh.loadStatus()).toEqual({ newestReceivedAt: ago(2 * HOUR), loadedAt: ago(50 * MINUTE), checkedAt: NOW });

    const client = await db.pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${texts.find((text) => text.includes('AS loaded_at'))}`);
      const plan = JSON.stringify(rows[0]['QUERY PLAN']);
      const indexes = [...new Set([...plan.matchAll(/"Index Name":\s*"([a-z_]+)"/g)].map((m) => m[1]))].sort();
      expect(indexes).toEqual(['pages_loaded_idx', 'pages_received_idx', 'tracks_loaded_idx', 'tracks_received_idx']);
      expect(plan).not.toMatch(/"Seq Scan"/);
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });

  it('is read at most once per refresh interval, concurrent callers sharing one read', async () => {
    let clock = NOW.getTime();
    const counted: string[] = [];
    const source = createWebSource(
      { query: (text, values) => (counted.push(text), db.pool.query(text, values)) },
      { schema: 'web', now: () => new Date(clock), loadStatusRefreshMs: 30_000 },
    );
    const reads = () => counted.filter((text) => text.includes('AS loaded_at')).length;
    const [a, b, c] = await Promise.all([source.loadStatus(), source.loadStatus(), source.loadStatus()]);
    expect(reads()).toBe(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
    clock += 29_999;
    expect(await source.loadStatus()).toBe(a);
    expect(reads()).toBe(1);
    clock += 1;
    const later = await source.loadStatus();
    expect(reads()).toBe(2);
    expect(later.checkedAt).toEqual(new Date(clock));
  });

  it("rejects with the warehouse's SourceError and keeps no failure", async () => {
    let failing = true;
    const flaky: Queryable = {
      query: (text, values) =>
        failing && text.includes('AS loaded_at')
          ? Promise.reject(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))
          : db.pool.query(text, values),
    };
    const source = createWebSource(flaky, { schema: 'web', now: () => NOW });
    await expect(source.loadStatus()).rejects.toMatchObject({ name: 'SourceError', source: 'web', kind: 'unavailable' });
    failing = false;
    await expect(source.loadStatus()).resolves.toMatchObject({ checkedAt: NOW });
  });
});
