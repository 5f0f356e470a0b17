import { readFile } from 'node:fs/promises';
import type { Pool } from 'pg';
import { BulkInsert } from './bulk-insert.ts';
import { CATEGORIES, personAt, type DemoPerson, type DemoWorld } from './people.ts';
import { poisson, Rng, Stream } from './random.ts';

/**
 * The demo shop: catalog, orders and carts derived per customer from the demo world, written to a
 * database that follows the commerce contract (sources/commerce/schema.sql). Orders and carts are
 * pure functions of (world, person), so the event-warehouse generator can replay what each person
 * bought and left in a cart, and ids encode the customer (order = customer * 1000 + n) so no
 * counter is shared across the stream.
 */

export const SHOP_CURRENCY = 'USD';
const PRODUCTS_PER_CATEGORY = 24;
const DAY_MS = 86_400_000;

export interface DemoProduct {
  readonly id: number;
  readonly sku: string;
  readonly name: string;
  readonly category: string;
  /** In cents: integer arithmetic keeps order totals exact. */
  readonly priceCents: number;
}

export interface DemoOrder {
  readonly id: number;
  readonly placedAt: Date;
  readonly status: 'completed' | 'refunded' | 'cancelled';
  readonly items: ReadonlyArray<{ readonly product: DemoProduct; readonly quantity: number }>;
  /** What was paid: the line items at catalogue prices. */
  readonly totalCents: number;
  /**
   * What a discount took off (`orders.discount_amount`), 0 when none: drawn after the orders (see
   * discountsOf), so the demo's value before a discount is totalCents + discountCents.
   */
  readonly discountCents: number;
}

export interface DemoCart {
  readonly id: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly items: ReadonlyArray<{ readonly product: DemoProduct; readonly quantity: number; readonly addedAt: Date }>;
}

const rng = new Rng();
// The catalog has a generator of its own: built lazily inside ordersOf or cartsOf, it must not
// move the stream those are drawing from.
const catalogRng = new Rng();
const catalogs = new Map<number, readonly DemoProduct[]>();
// Discounts draw from a stream of their own (as companies do, Stream.company + 100), added after
// the orders: drawing them from the orders' stream would have moved every later draw, and so
// every order, cart and event of the demo world other tests and benchmarks rely on.
const discountRng = new Rng();
const DISCOUNT_STREAM = Stream.orders + 100;
const DISCOUNT_RATES = [0.1, 0.15, 0.2, 0.25, 0.3] as const;

/** The catalog: the same products for every world of one seed (ids 1..N, grouped by category). */
export function catalog(world: Pick<DemoWorld, 'seed'>): readonly DemoProduct[] {
  let products = catalogs.get(world.seed);
  if (products) return products;
  products = CATEGORIES.flatMap((category, c) =>
    Array.from({ length: PRODUCTS_PER_CATEGORY }, (_, i) => {
      const id = c * PRODUCTS_PER_CATEGORY + i + 1;
      const f = catalogRng.reset(world.seed, Stream.catalog, id);
      return {
        id,
        sku: `${category.slice(0, 3).toUpperCase()}-${String(id).padStart(5, '0')}`,
        name: `${f.commerce.productAdjective()} ${f.commerce.productMaterial()} ${f.commerce.product()}`,
        category,
        priceCents: Math.round((4 + f.number.float() ** 2 * 296) * 100) - 1,
      };
    }),
  );
  catalogs.set(world.seed, products);
  return products;
}

/** What this person ordered, oldest first (none for prospects). */
export function ordersOf(world: DemoWorld, person: DemoPerson): DemoOrder[] {
  if (person.customerId === null) return [];
  const f = rng.reset(world.seed, Stream.orders, person.index);
  const activeYears = (world.asOf.getTime() - person.signupAt.getTime()) / (365 * DAY_MS);
  const count = Math.min(
    999,
    poisson(person.ordersPerYear * activeYears, () => f.number.float()),
  );
  const times = Array.from({ length: count }, () => person.signupAt.getTime() + f.number.float() * (world.asOf.getTime() - person.signupAt.getTime())).sort((a, b) => a - b);
  const orders = times.map((time, n) => {
    const items = pickItems(world, person, () => f.number.float(), 1 + Math.floor(f.number.float() ** 2 * 4));
    const roll = f.number.float();
    return {
      id: person.customerId! * 1000 + n,
      placedAt: new Date(time),
      status: roll < 0.93 ? ('completed' as const) : roll < 0.97 ? ('refunded' as const) : ('cancelled' as const),
      items,
      totalCents: items.reduce((sum, item) => sum + item.product.priceCents * item.quantity, 0),
    };
  });
  const discounts = discountsOf(
    world,
    person,
    orders.map((order) => order.totalCents),
  );
  return orders.map((order, n) => ({ ...order, discountCents: discounts[n]! }));
}

/**
 * How likely this person is to order with a discount (the ground truth of discount sensitivity):
 * one in five hunts deals (0.5 to 0.9 of their orders), the rest rarely use one (0 to 0.2).
 */
export function discountPropensity(world: DemoWorld, person: DemoPerson): number {
  return propensity(discountRng.reset(world.seed, DISCOUNT_STREAM, person.index));
}

const propensity = (f: ReturnType<Rng['reset']>): number => (f.number.float() < 0.2 ? 0.5 + f.number.float() * 0.4 : f.number.float() * 0.2);

/**
 * Each order's discount, in order: with the person's propensity, 10 to 30 % off the value before
 * the discount, so discount = paid * rate / (1 - rate). Every order draws twice, used or not, so
 * an order's discount depends only on its position.
 */
function discountsOf(world: DemoWorld, person: DemoPerson, paidCents: readonly number[]): number[] {
  const f = discountRng.reset(world.seed, DISCOUNT_STREAM, person.index);
  const chance = propensity(f);
  return paidCents.map((paid) => {
    const discounted = f.number.float() < chance;
    const rate = DISCOUNT_RATES[Math.floor(f.number.float() * DISCOUNT_RATES.length)]!;
    return discounted ? Math.round((paid * rate) / (1 - rate)) : 0;
  });
}

/**
 * Open carts: about one customer in six left one behind days ago, and a few are shopping right
 * now (a cart touched in the last half hour, which is not abandoned yet).
 */
export function cartsOf(world: DemoWorld, person: DemoPerson): DemoCart[] {
  if (person.customerId === null) return [];
  const f = rng.reset(world.seed, Stream.carts, person.index);
  const roll = f.number.float();
  if (roll > 0.2) return [];
  const ageMs = roll < 0.03 ? f.number.float() * 30 * 60_000 : 2 * 3600_000 + f.number.float() * 20 * DAY_MS;
  const updatedAt = new Date(world.asOf.getTime() - ageMs);
  const createdAt = new Date(updatedAt.getTime() - f.number.float() * 2 * 3600_000);
  const items = pickItems(world, person, () => f.number.float(), 1 + Math.floor(f.number.float() * 3));
  return [
    {
      id: person.customerId * 10,
      createdAt,
      updatedAt,
      items: items.map((item, i) => ({
        ...item,
        addedAt: new Date(createdAt.getTime() + ((updatedAt.getTime() - createdAt.getTime()) * (i + 1)) / items.length),
      })),
    },
  ];
}

function pickItems(world: DemoWorld, person: DemoPerson, random: () => number, lines: number) {
  const products = catalog(world);
  const chosen = new Map<number, { product: DemoProduct; quantity: number }>();
  for (let line = 0; line < lines; line++) {
    // Most of what people buy comes from the few categories they like.
    const category =
      random() < 0.75 ? person.web.favouriteCategories[Math.floor(random() * person.web.favouriteCategories.length)]! : CATEGORIES[Math.floor(random() * CATEGORIES.length)]!;
    const start = CATEGORIES.indexOf(category as (typeof CATEGORIES)[number]) * PRODUCTS_PER_CATEGORY;
    const product = products[start + Math.floor(random() ** 1.5 * PRODUCTS_PER_CATEGORY)]!;
    const quantity = random() < 0.85 ? 1 : 2;
    chosen.set(product.id, { product, quantity: (chosen.get(product.id)?.quantity ?? 0) + quantity });
  }
  return [...chosen.values()];
}

export interface SeedProgress {
  readonly customers: number;
  readonly total: number;
}

/**
 * Creates the commerce tables (if missing) and writes the demo shop, streaming: rows are flushed in
 * batches of `batchSize`, so memory stays flat whatever the size of the world.
 */
export async function seedShop(pool: Pool, world: DemoWorld, options: { batchSize?: number; onProgress?: (progress: SeedProgress) => void } = {}): Promise<void> {
  const batchSize = options.batchSize ?? 5000;
  await pool.query(await readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8'));
  const products = new BulkInsert(pool, 'products', { id: 'bigint', sku: 'text', name: 'text', category: 'text', price: 'numeric', currency: 'text' });
  for (const p of catalog(world)) products.add([p.id, p.sku, p.name, p.category, cents(p.priceCents), SHOP_CURRENCY]);
  await products.flush();

  const tables = {
    customers: new BulkInsert(pool, 'customers', {
      id: 'bigint',
      email: 'text',
      first_name: 'text',
      last_name: 'text',
      phone: 'text',
      city: 'text',
      region: 'text',
      postal_code: 'text',
      country_code: 'text',
      signup_at: 'timestamptz',
      signup_channel: 'text',
    }),
    orders: new BulkInsert(pool, 'orders', {
      id: 'bigint',
      customer_id: 'bigint',
      placed_at: 'timestamptz',
      status: 'text',
      total_amount: 'numeric',
      currency: 'text',
      discount_amount: 'numeric',
    }),
    order_items: new BulkInsert(pool, 'order_items', {
      order_id: 'bigint',
      line_no: 'integer',
      product_id: 'bigint',
      quantity: 'integer',
      unit_price: 'numeric',
    }),
    carts: new BulkInsert(pool, 'carts', {
      id: 'bigint',
      customer_id: 'bigint',
      created_at: 'timestamptz',
      updated_at: 'timestamptz',
      status: 'text',
    }),
    cart_items: new BulkInsert(pool, 'cart_items', {
      cart_id: 'bigint',
      product_id: 'bigint',
      quantity: 'integer',
      unit_price: 'numeric',
      added_at: 'timestamptz',
    }),
  };
  // Parents before children, so the foreign keys hold at every flush.
  const flushAll = async () => {
    for (const table of Object.values(tables)) await table.flush();
  };

  for (let index = 0; index < world.customers; index++) {
    const person = personAt(world, index);
    const id = person.customerId!;
    tables.customers.add([
      id,
      person.email,
      person.firstName,
      person.lastName,
      person.phone,
      person.city,
      person.region,
      person.postalCode,
      person.countryCode,
      person.signupAt,
      person.signupChannel,
    ]);
    for (const order of ordersOf(world, person)) {
      tables.orders.add([order.id, id, order.placedAt, order.status, cents(order.totalCents), SHOP_CURRENCY, order.discountCents ? cents(order.discountCents) : null]);
      order.items.forEach((item, line) => tables.order_items.add([order.id, line + 1, item.product.id, item.quantity, cents(item.product.priceCents)]));
    }
    for (const cart of cartsOf(world, person)) {
      tables.carts.add([cart.id, id, cart.createdAt, cart.updatedAt, 'open']);
      for (const item of cart.items) {
        tables.cart_items.add([cart.id, item.product.id, item.quantity, cents(item.product.priceCents), item.addedAt]);
      }
    }
    if (Object.values(tables).some((table) => table.size >= batchSize)) await flushAll();
    if ((index + 1) % 10_000 === 0) options.onProgress?.({ customers: index + 1, total: world.customers });
  }
  await flushAll();
  await pool.query('ANALYZE');
  options.onProgress?.({ customers: world.customers, total: world.customers });
}

const cents = (value: number): string => (value / 100).toFixed(2);
