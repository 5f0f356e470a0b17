import { groupInKeyOrder, keyParams, ordinals, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { CartActivity, WebKey } from './model.ts';
import { ownRows, SESSION_TIMEOUT, subjectsCtes } from './stream.ts';

/** Each list keeps the most recent entries: a person who adds hundreds of items is not a bigger answer. */
export const CART_LIST_LIMIT = 50;

interface CartRow {
  ord: number;
  list: 'added' | 'removed' | 'abandoned';
  product_id: string | null;
  name: string | null;
  quantity: number | null;
  amount: string | null;
  currency: string | null;
  at: Date;
}

/**
 * Cart activity per key, in key order (never null: empty lists when nothing happened): Product
 * Added and Product Removed events in the window, and abandoned checkouts: a Checkout Started in
 * the window with no Order Completed at or after it, once it is older than the 30-minute session
 * timeout (a checkout still in progress is not abandoned yet). Each list most recent first, at
 * most CART_LIST_LIMIT long. One statement.
 */
export function cartActivityStatement(w: Relations) {
  const product = `x.product_id, x.name, coalesce(x.quantity, 1) AS quantity, x."timestamp" AS at`;
  const text = `WITH ${subjectsCtes(w)},
    added AS (${ownRows(w, 'product_added', product, `AND x.product_id IS NOT NULL ORDER BY x."timestamp" DESC LIMIT ${CART_LIST_LIMIT}`)}),
    removed AS (${ownRows(w, 'product_removed', product, `AND x.product_id IS NOT NULL ORDER BY x."timestamp" DESC LIMIT ${CART_LIST_LIMIT}`)}),
    checkouts AS (${ownRows(w, 'checkout_started', `coalesce(x.value, x.revenue)::text AS amount, x.currency, x."timestamp" AS at`)}),
    orders AS (${ownRows(w, 'order_completed', `x."timestamp" AS at`)}),
    changes AS (
      SELECT ord, 'added' AS list, product_id, name, quantity, NULL::text AS amount, NULL::text AS currency, at FROM added
      UNION ALL
      SELECT ord, 'removed', product_id, name, quantity, NULL, NULL, at FROM removed
      UNION ALL
      SELECT c.ord, 'abandoned', NULL::text, NULL::text, NULL::int, c.amount, c.currency, c.at FROM checkouts c
       WHERE c.at < $4::timestamptz - ${SESSION_TIMEOUT}
         AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.ord = c.ord AND o.at >= c.at)),
    ranked AS (SELECT c.*, row_number() OVER (PARTITION BY c.ord, c.list ORDER BY c.at DESC) AS n FROM changes c)
    SELECT ord, list, product_id, name, quantity, amount, currency, at FROM ranked
     WHERE n <= ${CART_LIST_LIMIT} ORDER BY ord, list, n`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<CartActivity[]> => {
    if (keys.length === 0) return [];
    const rows = await run<CartRow>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) => {
      const change = (row: CartRow) => ({ productId: row.product_id!, name: row.name, quantity: row.quantity!, at: row.at });
      return {
        productsAdded: group.filter((row) => row.list === 'added').map(change),
        productsRemoved: group.filter((row) => row.list === 'removed').map(change),
        abandonedCheckouts: group.filter((row) => row.list === 'abandoned').map((row) => ({ at: row.at, value: row.amount, currencyCode: row.currency })),
      };
    });
  };
}
