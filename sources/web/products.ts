import { groupInKeyOrder, keyParams, ordinals, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { CategoryInterest, ProductSearch, ViewedProduct, WebListKey } from './model.ts';
import { ownRows, sessionsCtes, subjectsCtes } from './stream.ts';

/**
 * `viewed`: each key's Product Viewed events in the window with their time on page. Time on a page
 * is the gap to the person's next page view in the same session; tracks keep a session open but do
 * not end a page, because they are fired from the page being viewed (Product Viewed lands with its
 * page's load, so "the next event" would give every product page about 0 s). A view is timed from
 * its event to that next page; the last page of a session has no known time (null).
 */
export function viewedCtes(w: Relations): string {
  return `${subjectsCtes(w)}, ${sessionsCtes(w)},
    timed AS (
      -- Walking each session backwards, the earliest page seen so far is the next page.
      SELECT ord, id, min(at) FILTER (WHERE kind = 0) OVER (
               PARTITION BY ord, session_no ORDER BY at DESC, kind DESC, id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) - at AS on_page
        FROM sessions),
    views AS (${ownRows(w, 'product_viewed', `x.id, x.product_id, x.name, x.category, x.price, x.currency, x."timestamp" AS at`, 'AND x.product_id IS NOT NULL')}),
    viewed AS (SELECT v.*, t.on_page FROM views v LEFT JOIN timed t ON t.ord = v.ord AND t.id = v.id)`;
}

interface ViewedRow {
  ord: number;
  product_id: string;
  name: string | null;
  category: string | null;
  price: string | null;
  currency: string | null;
  last_viewed_at: Date;
  view_count: number;
  seconds: number;
}

/**
 * Recently viewed products per key, in key order: up to `first` distinct products, most recently
 * viewed first, each with its view count and total time on page in the window. An empty list when
 * nothing was viewed. One statement.
 */
export function recentlyViewedProductsStatement(w: Relations) {
  const text = `WITH ${viewedCtes(w)},
    products AS (
      SELECT ord, product_id, (array_agg(name ORDER BY at DESC))[1] AS name,
             (array_agg(category ORDER BY at DESC))[1] AS category,
             (array_agg(price::text ORDER BY at DESC))[1] AS price,
             (array_agg(currency ORDER BY at DESC))[1] AS currency,
             max(at) AS last_viewed_at, count(*)::int AS view_count,
             coalesce(extract(epoch FROM sum(on_page)), 0)::float8 AS seconds
        FROM viewed GROUP BY ord, product_id),
    ranked AS (
      SELECT p.*, row_number() OVER (PARTITION BY p.ord ORDER BY p.last_viewed_at DESC, p.product_id) AS n FROM products p)
    SELECT r.* FROM ranked r JOIN keys k ON k.ord = r.ord WHERE r.n <= k.first ORDER BY r.ord, r.n`;
  return async (db: Queryable, keys: readonly WebListKey[], now: Date): Promise<ViewedProduct[][]> => {
    if (keys.length === 0) return [];
    const rows = await run<ViewedRow>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) =>
      group.map((row) => ({
        productId: row.product_id,
        name: row.name,
        category: row.category,
        price: row.price,
        currencyCode: row.currency,
        lastViewedAt: row.last_viewed_at,
        viewCount: row.view_count,
        timeOnPageSeconds: row.seconds,
      })),
    );
  };
}

/**
 * Top categories per key, in key order: up to `first` categories of the products viewed in the
 * window, by views (then by seconds spent on those product pages, then by name); both measures
 * are returned. An empty list when nothing was viewed. One statement.
 */
export function topCategoriesStatement(w: Relations) {
  const text = `WITH ${viewedCtes(w)},
    categories AS (
      SELECT ord, category, count(*)::int AS views, coalesce(extract(epoch FROM sum(on_page)), 0)::float8 AS seconds
        FROM viewed WHERE category IS NOT NULL GROUP BY ord, category),
    ranked AS (
      SELECT c.*, row_number() OVER (PARTITION BY c.ord ORDER BY c.views DESC, c.seconds DESC, c.category) AS n
        FROM categories c)
    SELECT r.* FROM ranked r JOIN keys k ON k.ord = r.ord WHERE r.n <= k.first ORDER BY r.ord, r.n`;
  return async (db: Queryable, keys: readonly WebListKey[], now: Date): Promise<CategoryInterest[][]> => {
    if (keys.length === 0) return [];
    const rows = await run<{ ord: number; category: string; views: number; seconds: number }>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) => group.map((row) => ({ category: row.category, views: row.views, secondsSpent: row.seconds })));
  };
}

/**
 * Recent product searches per key, in key order: up to `first`, most recent first. Each index
 * range stops at `first` rows, so a heavy searcher costs no more than a light one. One statement.
 */
export function searchesStatement(w: Relations) {
  const text = `WITH ${subjectsCtes(w)},
    found AS (${ownRows(w, 'products_searched', `x.query, x."timestamp" AS at`, 'AND x.query IS NOT NULL ORDER BY x."timestamp" DESC LIMIT s.first')}),
    ranked AS (SELECT f.*, row_number() OVER (PARTITION BY f.ord ORDER BY f.at DESC, f.query) AS n FROM found f)
    SELECT r.ord, r.query, r.at FROM ranked r JOIN keys k ON k.ord = r.ord WHERE r.n <= k.first ORDER BY r.ord, r.n`;
  return async (db: Queryable, keys: readonly WebListKey[], now: Date): Promise<ProductSearch[][]> => {
    if (keys.length === 0) return [];
    const rows = await run<{ ord: number; query: string; at: Date }>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) => group.map(({ query, at }) => ({ query, at })));
  };
}
