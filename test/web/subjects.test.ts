import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSource, type Queryable, type WebKey, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, indexUse, MINUTE, planWithoutSeqScan, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

let db: TestDatabase;
let web: WebSource;
const sent: Array<{ text: string; values: unknown[] | undefined }> = [];

const user = (userId: string, days = 30): WebKey => ({ userId, anonymousId: null, days });
const browser = (anonymousId: string, days = 30): WebKey => ({ userId: null, anonymousId, days });
const both = (userId: string, anonymousId: string, days = 30): WebKey => ({ userId, anonymousId, days });

/**
 * Ann (user 1) browsed anonymously on anon-1 before logging in there, then browsed as herself.
 * Eve (user 5) browsed on five browsers, anon-5a..e, one page each, and logged in on each later.
 * anon-x never logged in: two visits (a page, a product view, a search, an add, a checkout), a
 * third after Ann's session began (below). anon-shared was identified as Ann and as Eve
 * (ambiguous) and browsed anonymously before. anon-new is the browser Ann signed in on just now:
 * its anonymous page loaded, its identify call has not.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'web').create();
  await fx.page({ anonymousId: 'anon-1' }, ago(3 * DAY));
  await fx.identify('anon-1', '1', ago(3 * DAY - MINUTE));
  await fx.page({ anonymousId: 'anon-1', userId: '1' }, ago(3 * DAY - 2 * MINUTE));
  await fx.page({ anonymousId: 'anon-1', userId: '1' }, ago(DAY));
  await fx.track({ anonymousId: 'anon-1', userId: '1' }, 'products_searched', ago(DAY - MINUTE), { query: 'lamp' });

  for (const [n, letter] of [...'abcde'].entries()) {
    await fx.page({ anonymousId: `anon-5${letter}` }, ago((10 - n) * DAY));
    await fx.identify(`anon-5${letter}`, '5', ago((10 - n) * DAY - MINUTE));
  }

  const x = { anonymousId: 'anon-x' };
  await fx.page(x, ago(5 * DAY), { source: 'google', medium: 'cpc', path: '/products/3' });
  await fx.track(x, 'product_viewed', ago(5 * DAY - MINUTE), { product_id: '3', name: 'Kettle', category: 'Kitchen' });
  await fx.track(x, 'products_searched', ago(5 * DAY - 2 * MINUTE), { query: 'teapot' });
  await fx.track(x, 'product_added', ago(5 * DAY - 3 * MINUTE), { product_id: '3', name: 'Kettle' });
  await fx.track(x, 'checkout_started', ago(5 * DAY - 4 * MINUTE), { value: '25.00', currency: 'EUR' });
  await fx.page(x, ago(2 * DAY), { path: '/' });

  await fx.page({ anonymousId: 'anon-shared' }, ago(4 * DAY));
  await fx.identify('anon-shared', '1', ago(4 * DAY - MINUTE));
  await fx.identify('anon-shared', '5', ago(4 * DAY - 2 * MINUTE));

  await fx.page({ anonymousId: 'anon-new' }, ago(10 * MINUTE));
  await fx.page({ anonymousId: 'anon-new', userId: '1' }, ago(5 * MINUTE));

  const recording: Queryable = { query: (text, values) => (sent.push({ text, values }), db.pool.query(text, values)) };
  web = createWebSource(recording, { schema: 'web', now: () => NOW });
});
afterAll(async () => db?.close());

const pageViews = async (keys: readonly WebKey[]) => (await web.summaries(keys)).map((s) => s?.pageViews ?? null);

describe('an anonymous visitor', () => {
  it('reads its not-yet-identified events in every family', async () => {
    const key = browser('anon-x');
    const [[summary], [viewed], [searches], [cart], [devices], [touches]] = await Promise.all([
      web.summaries([key]),
      web.recentlyViewedProducts([{ ...key, first: 5 }]),
      web.searches([{ ...key, first: 5 }]),
      web.cartActivity([key]),
      web.devices([key]),
      web.touches([key]),
    ]);
    expect(summary).toMatchObject({ sessionCount: 2, pageViews: 2, lastSeenAt: ago(2 * DAY) });
    expect(viewed!.map((p) => [p.productId, p.name])).toEqual([['3', 'Kettle']]);
    expect(searches).toEqual([{ query: 'teapot', at: ago(5 * DAY - 2 * MINUTE) }]);
    expect(cart!.productsAdded.map((c) => c.productId)).toEqual(['3']);
    expect(cart!.abandonedCheckouts).toEqual([{ at: ago(5 * DAY - 4 * MINUTE), value: '25.00', currencyCode: 'EUR' }]);
    expect(devices!.map((d) => d.sessions)).toEqual([2]);
    expect(touches!.firstTouch).toMatchObject({ source: 'google', medium: 'cpc', landingPath: '/products/3' });
  });

  it('reads only the rows before login of a linked or ambiguous browser, and nothing of an unknown one', async () => {
    // anon-1: one page before Ann logged in there (her two later pages are hers, not the browser's).
    expect(await pageViews([browser('anon-1'), browser('anon-shared'), browser('anon-5c'), browser('unknown')])).toEqual([1, 1, 1, null]);
  });

  it('answers in key order when anonymous and user keys share a batch, in one statement', async () => {
    sent.length = 0;
    expect(await pageViews([browser('anon-x'), user('1'), browser('anon-x', 3), both('5', 'anon-x'), user('404')])).toEqual([2, 4, 1, 7, null]);
    expect(sent).toHaveLength(1);
  });
});

describe('a signed-in customer with the browser of their session', () => {
  it("adds the session browser's anonymous events before its identify call has loaded", async () => {
    // Ann: anon-1's page before login, her three own pages (one on anon-new); anon-new's anonymous page.
    expect(await pageViews([user('1'), both('1', 'anon-new')])).toEqual([4, 5]);
  });

  it('does not merge a session browser linked to someone else, or to several people', async () => {
    // anon-shared is Ann's and Eve's: merged into neither. anon-5a is Eve's alone: not Ann's.
    expect(await pageViews([both('1', 'anon-shared'), both('1', 'anon-5a'), both('5', 'anon-1')])).toEqual([4, 4, 5]);
  });

  it('counts a session browser already linked to them once', async () => {
    expect(await pageViews([both('1', 'anon-1'), both('5', 'anon-5e')])).toEqual([4, 5]);
  });
});

describe('the statements', () => {
  it('are the same one statement for a person with one linked browser and one with five', async () => {
    const texts = [];
    for (const key of [user('1'), user('5')]) {
      sent.length = 0;
      await web.summaries([key]);
      expect(sent).toHaveLength(1);
      texts.push(sent[0]!.text);
    }
    expect(texts[1]).toBe(texts[0]);
    expect(await pageViews([user('5')])).toEqual([5]);
  });

  it('read events through the user and the partial anonymous indexes for every kind of key, and browsers through their own', async () => {
    const plan = async (call: () => Promise<unknown>) => {
      sent.length = 0;
      await call();
      return planWithoutSeqScan(db.pool, sent[0]!);
    };
    const touches = await plan(() => web.touches([user('1'), browser('anon-x'), both('1', 'anon-new')]));
    for (const table of ['pages', 'tracks']) {
      expect(indexUse(touches, table)).toEqual({ indexes: [`${table}_anonymous_idx`, `${table}_user_idx`], sequential: false });
    }
    expect(indexUse(touches, 'identifies')).toEqual({ indexes: ['identifies_anonymous_idx', 'identifies_user_idx'], sequential: false });

    const visitors = await plan(() => web.visitors(['anon-1', 'anon-x']));
    for (const table of ['pages', 'tracks']) {
      expect(indexUse(visitors, table)).toEqual({ indexes: [`${table}_anonymous_idx`, `${table}_anonymous_identified_idx`].sort(), sequential: false });
    }
    expect(indexUse(visitors, 'identifies')).toEqual({ indexes: ['identifies_anonymous_idx'], sequential: false });
  });
});
