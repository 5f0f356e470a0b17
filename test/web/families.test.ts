import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSource, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, MINUTE, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

const AGENTS = {
  macChrome: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  macChromeOlder: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  ipad: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
};

let db: TestDatabase;
let web: WebSource;

/**
 * User 1, six sessions a day apart: 5 d ago on a Mac in Chrome 126, from the June newsletter; 4 d
 * on an iPhone; 3 d on the Mac in Chrome 125 (the same device); 2 d on an iPad; 1 d on the Mac,
 * from Google; 10 min ago on the iPhone. Cart: two adds and a removal 5 d ago, a checkout then
 * followed by an order (not abandoned), a checkout 3 d ago with no order after it (abandoned). Three
 * searches. User 3: a checkout 31 min ago (abandoned) and one 10 min ago (still in progress).
 * User 2 has nothing.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'web').create();
  const u = { userId: '1' };
  await fx.page(u, ago(5 * DAY), { userAgent: AGENTS.macChrome, source: 'newsletter', medium: 'email', campaign: 'june-picks', path: '/c/home' });
  await fx.page(u, ago(5 * DAY - MINUTE), { userAgent: AGENTS.macChrome, path: '/products/1' });
  await fx.track(u, 'product_added', ago(5 * DAY - 2 * MINUTE), { product_id: '1', name: 'Tee', quantity: 2 });
  await fx.track(u, 'product_added', ago(5 * DAY - 3 * MINUTE), { product_id: '2', name: 'Cap' });
  await fx.track(u, 'product_removed', ago(5 * DAY - 4 * MINUTE), { product_id: '2', name: 'Cap', quantity: 1 });
  await fx.track(u, 'checkout_started', ago(5 * DAY - 5 * MINUTE), { value: '40.00', currency: 'USD' });
  await fx.track(u, 'order_completed', ago(5 * DAY - 6 * MINUTE), { order_id: '1000', total: '40.00', currency: 'USD' });
  await fx.page(u, ago(4 * DAY), { userAgent: AGENTS.iphone });
  await fx.track(u, 'products_searched', ago(4 * DAY - MINUTE), { query: 'linen shirt' });
  await fx.page(u, ago(3 * DAY), { userAgent: AGENTS.macChromeOlder });
  await fx.track(u, 'checkout_started', ago(3 * DAY - MINUTE), { revenue: '12.50', currency: 'USD' });
  await fx.page(u, ago(2 * DAY), { userAgent: AGENTS.ipad });
  await fx.track(u, 'products_searched', ago(2 * DAY - MINUTE), { query: 'rug' });
  await fx.page(u, ago(DAY), { userAgent: AGENTS.macChrome, referrer: 'https://www.google.com/', path: '/products/2' });
  await fx.track(u, 'products_searched', ago(DAY - MINUTE), { query: 'lamp' });
  await fx.page(u, ago(10 * MINUTE), { userAgent: AGENTS.iphone, path: '/' });

  const u3 = { userId: '3' };
  await fx.track(u3, 'checkout_started', ago(31 * MINUTE), { value: '5.00', currency: 'USD' });
  await fx.track(u3, 'checkout_started', ago(10 * MINUTE), { value: '6.00', currency: 'USD' });
  web = createWebSource(db.pool, { schema: 'web', now: () => NOW });
});
afterAll(async () => db?.close());

describe('devices', () => {
  it("parse each session's user agent, merge browser versions into one device, and give each its share", async () => {
    const [devices, none] = await web.devices([
      { userId: '1', anonymousId: null, days: 30 },
      { userId: '2', anonymousId: null, days: 30 },
    ]);
    expect(devices).toEqual([
      { type: 'desktop', os: 'Mac OS', browser: 'Chrome', sessions: 3, share: 0.5, lastSeenAt: ago(DAY) },
      { type: 'mobile', os: 'iOS', browser: 'Mobile Safari', sessions: 2, share: 2 / 6, lastSeenAt: ago(10 * MINUTE) },
      { type: 'tablet', os: 'iOS', browser: 'Mobile Safari', sessions: 1, share: 1 / 6, lastSeenAt: ago(2 * DAY) },
    ]);
    expect(none).toEqual([]);
  });

  it('count only the sessions in the window', async () => {
    const [devices] = await web.devices([{ userId: '1', anonymousId: null, days: 1 }]); // from exactly 1 day ago: the Mac session is in
    expect(devices!.map((d) => [d.type, d.share])).toEqual([
      ['mobile', 0.5],
      ['desktop', 0.5],
    ]);
  });
});

describe('touches', () => {
  it('give the campaign, referrer and landing page of the first and the last session in the window', async () => {
    const [touches, none] = await web.touches([
      { userId: '1', anonymousId: null, days: 30 },
      { userId: '2', anonymousId: null, days: 30 },
    ]);
    expect(touches).toEqual({
      firstTouch: { at: ago(5 * DAY), source: 'newsletter', medium: 'email', campaign: 'june-picks', referrer: null, landingPath: '/c/home' },
      lastTouch: { at: ago(10 * MINUTE), source: null, medium: null, campaign: null, referrer: null, landingPath: '/' },
    });
    expect(none).toBeNull();
    const [[recent]] = [await web.touches([{ userId: '1', anonymousId: null, days: 1 }])];
    expect(recent!.firstTouch).toMatchObject({ at: ago(DAY), referrer: 'https://www.google.com/', landingPath: '/products/2' });
  });
});

describe('cart activity', () => {
  it('lists adds and removals most recent first, and checkouts with no order after them', async () => {
    const [cart, nothing] = await web.cartActivity([
      { userId: '1', anonymousId: null, days: 30 },
      { userId: '2', anonymousId: null, days: 30 },
    ]);
    expect(cart).toEqual({
      productsAdded: [
        { productId: '2', name: 'Cap', quantity: 1, at: ago(5 * DAY - 3 * MINUTE) },
        { productId: '1', name: 'Tee', quantity: 2, at: ago(5 * DAY - 2 * MINUTE) },
      ],
      productsRemoved: [{ productId: '2', name: 'Cap', quantity: 1, at: ago(5 * DAY - 4 * MINUTE) }],
      // Its value is its revenue, as it carried no value.
      abandonedCheckouts: [{ at: ago(3 * DAY - MINUTE), value: '12.50', currencyCode: 'USD' }],
    });
    expect(nothing).toEqual({ productsAdded: [], productsRemoved: [], abandonedCheckouts: [] });
  });

  it('does not call a checkout abandoned until the session timeout has passed', async () => {
    const [cart] = await web.cartActivity([{ userId: '3', anonymousId: null, days: 1 }]);
    expect(cart!.abandonedCheckouts).toEqual([{ at: ago(31 * MINUTE), value: '5.00', currencyCode: 'USD' }]);
  });
});

describe('searches', () => {
  it('list the most recent first, up to first', async () => {
    const [two, none] = await web.searches([
      { userId: '1', anonymousId: null, days: 30, first: 2 },
      { userId: '2', anonymousId: null, days: 30, first: 2 },
    ]);
    expect(two).toEqual([
      { query: 'lamp', at: ago(DAY - MINUTE) },
      { query: 'rug', at: ago(2 * DAY - MINUTE) },
    ]);
    expect(none).toEqual([]);
  });
});
