import { CATEGORIES, type DemoPerson } from '../people.ts';
import type { DemoCart, DemoOrder, DemoProduct } from '../shop.ts';
import { SessionBuilder, type DemoDevice } from './session.ts';
import { drawTraffic, type Traffic } from './traffic.ts';

const SECOND = 1000;
const MINUTE = 60_000;

/** What every kind of visit draws on: one person's random stream, devices, catalog and tastes. */
export interface VisitContext {
  readonly person: DemoPerson;
  readonly random: () => number;
  readonly devices: readonly DemoDevice[];
  /** The catalog by category, each list in catalog order. */
  readonly products: ReadonlyMap<string, readonly DemoProduct[]>;
  readonly subscribed: boolean;
}

/** Browsing: a landing page, then a few pages (products mostly) and sometimes a search; an item put in the cart is taken out again. */
export function browseVisit(ctx: VisitContext, start: number, options: { mayLogIn: boolean }): SessionBuilder {
  const { random } = ctx;
  let category = pickCategory(ctx);
  const s = land(ctx, pickDevice(ctx), start, category);
  const pages = 1 + Math.min(24, Math.floor(Math.log(1 - random()) / Math.log(0.78)));
  const loginAt = options.mayLogIn && random() < 0.1 ? 1 + Math.floor(random() * pages) : -1;
  let searched = false;
  let added: DemoProduct | null = null;
  for (let page = 1; page < pages; page++) {
    if (page === loginAt) s.visit({ kind: 'account' }, dwell(random)).login();
    const roll = random();
    if (!searched && roll < 0.12) {
      searched = true;
      const query = queryFor(ctx, category);
      s.visit({ kind: 'search', query }, dwell(random)).track({ name: 'products_searched', query }, 200 + random() * 800);
    } else if (roll < 0.62) {
      const product = productIn(ctx, category);
      viewProduct(s, product, dwell(random), random);
      if (added === null && random() < 0.06) {
        added = product;
        s.track({ name: 'product_added', product, quantity: 1 }, 5 * SECOND + random() * 55 * SECOND);
      }
    } else if (roll < 0.85) {
      if (random() < 0.3) category = pickCategory(ctx);
      s.visit({ kind: 'category', category }, dwell(random));
    } else {
      s.visit({ kind: 'home' }, dwell(random));
    }
  }
  // The shop has no cart for this visit: whatever went in came out again.
  if (added !== null) {
    s.visit({ kind: 'cart' }, dwell(random)).track({ name: 'product_removed', product: added, quantity: 1 }, 3 * SECOND + random() * 20 * SECOND);
  }
  return s;
}

/** Looking before buying: the order's products (at least the first), and a few others like them. */
export function researchVisit(ctx: VisitContext, order: DemoOrder, start: number): SessionBuilder {
  const { random } = ctx;
  const first = order.items[0]!.product;
  const s = land(ctx, pickDevice(ctx), start, first.category, first);
  const landedOnFirst = lastViewed(s) === first;
  order.items.forEach((item, i) => {
    if (i > 0 && random() < 0.3) return;
    if (!(i === 0 && landedOnFirst)) {
      if (random() < 0.4) s.visit({ kind: 'category', category: item.product.category }, dwell(random));
      viewProduct(s, item.product, dwell(random), random);
    }
    for (let n = Math.floor(random() * 3); n > 0; n--) viewProduct(s, productIn(ctx, item.product.category), dwell(random), random);
  });
  return s;
}

/**
 * The visit that placed an order: each product viewed and added, the cart, checkout (logging in
 * there if this browser is not known yet), and Order Completed at exactly the order's time.
 */
export function purchaseVisit(ctx: VisitContext, order: DemoOrder): SessionBuilder {
  const { random } = ctx;
  const first = order.items[0]!.product;
  // Built from about when the visit began, then moved so the order lands at its exact time.
  const s = land(ctx, pickDevice(ctx), order.placedAt.getTime() - 15 * MINUTE, first.category, first);
  const landedOnFirst = lastViewed(s) === first;
  order.items.forEach((item, i) => {
    if (!(i === 0 && landedOnFirst)) {
      if (random() < 0.3) s.visit({ kind: 'category', category: item.product.category }, dwell(random));
      viewProduct(s, item.product, dwell(random), random);
    }
    s.track({ name: 'product_added', product: item.product, quantity: item.quantity }, 5 * SECOND + random() * 60 * SECOND);
  });
  s.visit({ kind: 'cart' }, dwell(random)).visit({ kind: 'checkout' }, dwell(random)).login();
  s.track({ name: 'checkout_started', orderId: order.id, valueCents: order.totalCents }, SECOND + random() * 2 * SECOND);
  s.visit({ kind: 'confirmation' }, 30 * SECOND + random() * 150 * SECOND);
  s.track({ name: 'order_completed', orderId: order.id, totalCents: order.totalCents }, 300 + random() * 700);
  return s.shift(order.placedAt.getTime() - s.now);
}

/**
 * The visit that left an open cart: logged in (the shop files the cart under the customer), each
 * item viewed and then added at the cart's own time, sometimes something added and removed first,
 * and in two carts of five a checkout started that no order followed.
 */
export function cartVisit(ctx: VisitContext, cart: DemoCart): SessionBuilder {
  const { random } = ctx;
  const items = [...cart.items].sort((a, b) => a.addedAt.getTime() - b.addedAt.getTime());
  const firstAt = items[0]!.addedAt.getTime();
  const category = items[0]!.product.category;
  const s = land(ctx, pickDevice(ctx), firstAt - 3 * MINUTE - random() * 5 * MINUTE, category).login();
  if (random() < 0.15) {
    const product = productIn(ctx, category);
    viewProduct(s, product, dwell(random), random).track({ name: 'product_added', product, quantity: 1 }, 10 * SECOND);
    s.visit({ kind: 'cart' }, 15 * SECOND).track({ name: 'product_removed', product, quantity: 1 }, 5 * SECOND);
  }
  for (const item of items) {
    const at = item.addedAt.getTime();
    const viewAt = at - 5 * SECOND - random() * 60 * SECOND;
    viewProduct(s, item.product, Math.max(SECOND, viewAt - s.now), random);
    s.track({ name: 'product_added', product: item.product, quantity: item.quantity }, Math.max(500, at - s.now));
  }
  if (random() < 0.4) {
    const valueCents = items.reduce((sum, item) => sum + item.product.priceCents * item.quantity, 0);
    s.visit({ kind: 'cart' }, dwell(random)).visit({ kind: 'checkout' }, dwell(random));
    s.track({ name: 'checkout_started', orderId: null, valueCents }, SECOND + random() * 2 * SECOND);
  }
  return s;
}

/** A short visit to log in on the first device (the two people sharing a computer both do). */
export function loginVisit(ctx: VisitContext, start: number): SessionBuilder {
  const s = new SessionBuilder(ctx.devices[0]!, start, { referrer: null, campaign: null, lands: 'home' });
  s.visit({ kind: 'home' }, 0).visit({ kind: 'account' }, dwell(ctx.random)).login();
  return s.visit({ kind: 'category', category: pickCategory(ctx) }, dwell(ctx.random));
}

function land(ctx: VisitContext, device: DemoDevice, start: number, category: string, product?: DemoProduct): SessionBuilder {
  const month = new Date(start).toISOString().slice(0, 7);
  const traffic: Traffic = drawTraffic(ctx.random, { subscribed: ctx.subscribed, month, category });
  const s = new SessionBuilder(device, start, traffic);
  if (traffic.lands === 'home') return s.visit({ kind: 'home' }, 0);
  if (traffic.lands === 'category') return s.visit({ kind: 'category', category }, 0);
  return viewProduct(s, product ?? productIn(ctx, category), 0, ctx.random);
}

function viewProduct(s: SessionBuilder, product: DemoProduct, afterMs: number, random: () => number): SessionBuilder {
  // Product Viewed fires as the product page loads, a moment after its page call.
  return s.visit({ kind: 'product', product }, afterMs).track({ name: 'product_viewed', product }, 100 + random() * 900);
}

/** Time on a page: log-normal around half a minute, never near the 30-minute session timeout. */
function dwell(random: () => number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.min(15 * MINUTE, Math.max(3 * SECOND, Math.exp(3.4 + 0.9 * normal) * SECOND));
}

function pickDevice(ctx: VisitContext): DemoDevice {
  // The first device is the everyday one; the others share what is left.
  const { devices, random } = ctx;
  if (devices.length === 1 || random() < 0.6) return devices[0]!;
  return devices[1 + Math.floor(random() * (devices.length - 1))]!;
}

function pickCategory(ctx: VisitContext): string {
  const favourites = ctx.person.web.favouriteCategories;
  return ctx.random() < 0.75 ? favourites[Math.floor(ctx.random() * favourites.length)]! : CATEGORIES[Math.floor(ctx.random() * CATEGORIES.length)]!;
}

function lastViewed(s: SessionBuilder): DemoProduct | null {
  const last = s.events.at(-1);
  return last?.type === 'track' && last.event.name === 'product_viewed' ? last.event.product : null;
}

function productIn(ctx: VisitContext, category: string): DemoProduct {
  const inCategory = ctx.products.get(category)!;
  // A few products in each category get most of the views.
  return inCategory[Math.floor(ctx.random() ** 1.5 * inCategory.length)]!;
}

function queryFor(ctx: VisitContext, category: string): string {
  const words = productIn(ctx, category).name.toLowerCase().split(' ');
  return ctx.random() < 0.3 ? category.toLowerCase() : words.slice(ctx.random() < 0.3 ? -2 : -1).join(' ');
}
