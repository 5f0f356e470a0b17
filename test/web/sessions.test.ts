import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSource, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, MINUTE, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const at = (iso: string) => new Date(iso);
const SECOND = 1000;

let db: TestDatabase;
let web: WebSource;

/**
 * User 1: three pages 30 min apart exactly (one session), then 30 min + 1 s later a page (a second
 * session). User 2: a session running across midnight. User 3: an event just outside a 7-day window
 * and one just inside. User 4: time on page: page A, a Product Viewed 1 s into it, page B 90 s
 * after A, page C 40 s after B (last of its session: no time). User 5: see below.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'web').create();
  const u1 = { userId: '1' };
  const t0 = at('2026-06-09T08:00:00Z').getTime();
  await fx.page(u1, new Date(t0));
  await fx.page(u1, new Date(t0 + 30 * MINUTE));
  await fx.page(u1, new Date(t0 + 60 * MINUTE));
  await fx.page(u1, new Date(t0 + 90 * MINUTE + SECOND));

  const u2 = { userId: '2' };
  await fx.page(u2, at('2026-06-08T23:50:00Z'));
  await fx.track(u2, 'product_viewed', at('2026-06-08T23:59:30Z'), { product_id: '7', name: 'Mug', category: 'Kitchen' });
  await fx.page(u2, at('2026-06-09T00:10:00Z'));

  const u3 = { userId: '3' };
  await fx.page(u3, new Date(NOW.getTime() - 7 * DAY - 1));
  await fx.page(u3, new Date(NOW.getTime() - 7 * DAY));
  await fx.page(u3, new Date(NOW.getTime() + 1)); // after the clock: not in any window

  const u4 = { userId: '4' };
  const a = at('2026-06-09T10:00:00Z').getTime();
  await fx.page(u4, new Date(a), { path: '/products/9' });
  await fx.track(u4, 'product_viewed', new Date(a + SECOND), { product_id: '9', name: 'Lamp', category: 'Home', price: '19.99', currency: 'USD' });
  await fx.page(u4, new Date(a + 90 * SECOND), { path: '/products/10' });
  await fx.track(u4, 'product_viewed', new Date(a + 91 * SECOND), { product_id: '10', name: 'Rug', category: 'Home' });
  await fx.page(u4, new Date(a + 130 * SECOND), { path: '/products/9' });
  await fx.track(u4, 'product_viewed', new Date(a + 131 * SECOND), { product_id: '9', name: 'Lamp', category: 'Home', price: '17.99', currency: 'USD' });

  // User 5: a product page whose next page comes 31 minutes later, in another session.
  const u5 = { userId: '5' };
  const b = at('2026-06-09T10:00:00Z').getTime();
  await fx.page(u5, new Date(b));
  await fx.track(u5, 'product_viewed', new Date(b + SECOND), { product_id: '7', name: 'Mug', category: 'Kitchen' });
  await fx.page(u5, new Date(b + 31 * MINUTE));

  web = createWebSource(db.pool, { schema: 'web', now: () => NOW });
});
afterAll(async () => db?.close());

describe('sessions', () => {
  it('continue across a gap of exactly 30 minutes and split after 30 minutes and 1 second', async () => {
    const [summary] = await web.summaries([{ userId: '1', anonymousId: null, days: 30 }]);
    expect(summary).toEqual({
      lastSeenAt: new Date(at('2026-06-09T08:00:00Z').getTime() + 90 * MINUTE + SECOND),
      sessionCount: 2,
      pageViews: 4,
      // One session of 60 minutes, one of a single page (0 s).
      averageSessionSeconds: 1800,
    });
  });

  it('count a session across midnight once, tracks included', async () => {
    const [summary] = await web.summaries([{ userId: '2', anonymousId: null, days: 30 }]);
    expect(summary).toMatchObject({ sessionCount: 1, pageViews: 2, averageSessionSeconds: 1200 });
  });

  it('include an event exactly at the window start and exclude one a millisecond before it, or after now', async () => {
    const [inside, nothing] = await web.summaries([
      { userId: '3', anonymousId: null, days: 7 },
      { userId: '3', anonymousId: null, days: 1 },
    ]);
    expect(inside).toMatchObject({ sessionCount: 1, pageViews: 1, lastSeenAt: new Date(NOW.getTime() - 7 * DAY) });
    expect(nothing).toBeNull();
  });
});

describe('time on page', () => {
  it('is the gap to the next page in the session; the last page of a session has none', async () => {
    const [products] = await web.recentlyViewedProducts([{ userId: '4', anonymousId: null, days: 30, first: 10 }]);
    expect(products).toEqual([
      {
        productId: '9',
        name: 'Lamp',
        category: 'Home',
        price: '17.99',
        currencyCode: 'USD',
        lastViewedAt: at('2026-06-09T10:02:11Z'),
        viewCount: 2,
        // Timed from the view (1 s into the page) to the next page; the second view is the last page.
        timeOnPageSeconds: 89,
      },
      {
        productId: '10',
        name: 'Rug',
        category: 'Home',
        price: null,
        currencyCode: null,
        lastViewedAt: at('2026-06-09T10:01:31Z'),
        viewCount: 1,
        timeOnPageSeconds: 39,
      },
    ]);
  });

  it('runs across midnight within a session', async () => {
    const [products] = await web.recentlyViewedProducts([{ userId: '2', anonymousId: null, days: 30, first: 10 }]);
    expect(products!.map((p) => [p.productId, p.timeOnPageSeconds])).toEqual([['7', 630]]);
  });

  it('does not cross a session boundary (a view with no later page in its session has no time)', async () => {
    const [products] = await web.recentlyViewedProducts([{ userId: '5', anonymousId: null, days: 30, first: 10 }]);
    expect(products!.map((p) => [p.productId, p.viewCount, p.timeOnPageSeconds])).toEqual([['7', 1, 0]]);
  });

  it('adds up per category, by views', async () => {
    const [categories] = await web.topCategories([{ userId: '4', anonymousId: null, days: 30, first: 5 }]);
    expect(categories).toEqual([{ category: 'Home', views: 3, secondsSpent: 128 }]);
  });

  it("pages each list to its own key's first", async () => {
    const [one, two] = await web.recentlyViewedProducts([
      { userId: '4', anonymousId: null, days: 30, first: 1 },
      { userId: '4', anonymousId: null, days: 30, first: 2 },
    ]);
    expect([one!.map((p) => p.productId), two!.map((p) => p.productId)]).toEqual([['9'], ['9', '10']]);
  });
});
