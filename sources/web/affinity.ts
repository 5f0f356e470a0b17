import { groupInKeyOrder, keyParams, ordinals, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { WebKey } from './model.ts';
import { viewedCtes } from './products.ts';
import { ownRows } from './stream.ts';

/**
 * A view's time on page counts up to this many seconds in `timedSeconds`: a tab left open over
 * lunch is not worth a dozen attentive views.
 */
export const VIEW_SECONDS_CAP = 600;

/**
 * One key's browsing of one category at one price, on one day of age: Product Viewed and Product
 * Added events whose product had that category, price and currency. Undecayed counts.
 */
export interface BrowsingEvidence {
  readonly category: string;
  /** The product's price as the events carried it (NUMERIC as text); null when they carried none. */
  readonly price: string | null;
  readonly currencyCode: string | null;
  /** Whole days between the events and the read (0: the last 24 hours). */
  readonly ageDays: number;
  /** Product Viewed events. */
  readonly views: number;
  /** Time on those product pages (products.ts: the gap to the next page of the session; the last page of a session counts 0). */
  readonly seconds: number;
  /** The same with each view's time counted up to VIEW_SECONDS_CAP. */
  readonly timedSeconds: number;
  /** Units added to the cart (Product Added quantity, 1 when it carries none). */
  readonly cartAdds: number;
}

interface EvidenceRow {
  ord: number;
  category: string;
  price: string | null;
  currency: string | null;
  age_days: number;
  views: number;
  seconds: number;
  timed_seconds: number;
  cart_adds: number;
}

/**
 * Browsing evidence per key, in key order: the window's product views (with their time on page)
 * and cart additions of products with a category, per (category, price, currency, age in whole
 * days at the read); an empty list when there were none. Grouped in SQL so Node receives a row
 * per product price and day, not per event; decay is the caller's (it needs only the age). One
 * statement.
 */
export function affinityEvidenceStatement(w: Relations) {
  const text = `WITH ${viewedCtes(w)},
    added AS (${ownRows(w, 'product_added', `x.category, x.price, x.currency, coalesce(x.quantity, 1) AS quantity, x."timestamp" AS at`, 'AND x.product_id IS NOT NULL AND x.category IS NOT NULL')}),
    evidence AS (
      SELECT ord, category, price, currency, at, 1 AS views, extract(epoch FROM on_page)::float8 AS seconds, 0 AS units
        FROM viewed WHERE category IS NOT NULL
      UNION ALL
      SELECT ord, category, price, currency, at, 0, NULL, quantity FROM added)
    SELECT ord, category, price::text AS price, currency,
           floor(extract(epoch FROM ($4::timestamptz - at)) / 86400)::int AS age_days,
           sum(views)::int AS views, coalesce(sum(seconds), 0)::float8 AS seconds,
           coalesce(sum(least(seconds, ${VIEW_SECONDS_CAP})), 0)::float8 AS timed_seconds, sum(units)::int AS cart_adds
      FROM evidence
     GROUP BY ord, category, price, currency, age_days
     ORDER BY ord, category, price, currency, age_days`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<BrowsingEvidence[][]> => {
    if (keys.length === 0) return [];
    const rows = await run<EvidenceRow>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) =>
      group.map((row) => ({
        category: row.category,
        price: row.price,
        currencyCode: row.currency,
        ageDays: row.age_days,
        views: row.views,
        seconds: row.seconds,
        timedSeconds: row.timed_seconds,
        cartAdds: row.cart_adds,
      })),
    );
  };
}
