import { run, type Queryable } from './db.ts';
import { kept, type Kept } from './kept.ts';

/** Where a product's price sits among its category's prices in the catalogue. */
export type PriceTier = 'BUDGET' | 'MID' | 'PREMIUM';

/** A category needs this many priced products for its tertiles to say anything. */
export const MIN_TIER_PRODUCTS = 3;

/**
 * Price tertiles per category over the shop's catalogue (`products` in the shop currency): a
 * price up to the first tertile is BUDGET, up to the second MID, above it PREMIUM.
 */
export interface PriceTierBoundaries {
  readonly currencyCode: string;
  /** [p33, p67] by category; only categories with at least MIN_TIER_PRODUCTS priced products. */
  readonly byCategory: ReadonlyMap<string, readonly [number, number]>;
  /** Products the boundaries were computed over. */
  readonly products: number;
  readonly computedAt: Date;
}

/** Reads the catalogue's tertiles: one statement over `products` (kept in process by priceTierModel). */
export async function priceTierBoundaries(db: Queryable, options: { currency: string; now: Date }): Promise<PriceTierBoundaries> {
  const rows = await run<{ category: string; bounds: [number, number]; products: number }>(
    db,
    `SELECT category, percentile_cont(ARRAY[1.0 / 3, 2.0 / 3]) WITHIN GROUP (ORDER BY price) AS bounds, count(*)::int AS products
       FROM products
      WHERE currency = $1 AND price IS NOT NULL AND category IS NOT NULL
      GROUP BY category
     HAVING count(*) >= ${MIN_TIER_PRODUCTS}`,
    [options.currency],
  );
  return {
    currencyCode: options.currency,
    byCategory: new Map(rows.map((row) => [row.category, [row.bounds[0], row.bounds[1]] as const])),
    products: rows.reduce((sum, row) => sum + row.products, 0),
    computedAt: options.now,
  };
}

/**
 * The tier of a price in a category (pure); null when the category has no boundaries, the price
 * is not a number, or it is in another currency than the catalogue's.
 */
export function tierOf(boundaries: PriceTierBoundaries, category: string, price: number | null, currencyCode: string | null = null): PriceTier | null {
  const bounds = boundaries.byCategory.get(category);
  if (!bounds || price === null || !Number.isFinite(price)) return null;
  if (currencyCode !== null && currencyCode !== boundaries.currencyCode) return null;
  if (price <= bounds[0]) return 'BUDGET';
  return price <= bounds[1] ? 'MID' : 'PREMIUM';
}

/** How often the tertiles are read again by default: catalogue prices move slowly. */
export const DEFAULT_PRICE_TIERS_TTL_MS = 3_600_000;

/**
 * The boundaries this process tiers prices against, kept like the RFM boundaries (kept.ts): read
 * at start-up and again every `refreshMs` in the background, so a request only reads them; a
 * failed read keeps the previous ones.
 */
export function priceTierModel(db: Queryable, options: { currency: string; refreshMs: number; now: () => Date }): Kept<PriceTierBoundaries> {
  return kept({
    compute: () => priceTierBoundaries(db, { currency: options.currency, now: options.now() }),
    refreshMs: options.refreshMs,
    name: 'price tiers',
    whenFailing: { kept: 'affinities keep the previous ones', none: 'affinities are unavailable until they are' },
    describe: (boundaries) => ({ computedAt: boundaries.computedAt, categories: boundaries.byCategory.size, products: boundaries.products }),
  });
}
