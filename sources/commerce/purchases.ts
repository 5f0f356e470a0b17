import { inKeyOrder, run, type Queryable } from './db.ts';
import type { CategorySpend, PurchaseStats } from './model.ts';

const DAY_MS = 86_400_000;

interface StatsRow {
  customer_id: string;
  order_count: number;
  total_spent: string;
  average_order_value: string | null;
  first_order_at: Date | null;
  last_order_at: Date | null;
  top_categories: Array<{ category: string; spent: string; order_count: number }>;
}

/**
 * Purchase aggregates per customer id, in key order (customers without orders get zeros, so the
 * entry is never null). One statement for the whole batch: each customer's completed orders are a
 * range of the (customer_id, placed_at) index, never a scan of the orders table.
 */
export async function purchaseStats(db: Queryable, ids: readonly string[], options: { currency: string; now: Date }): Promise<PurchaseStats[]> {
  const rows = await run<StatsRow>(
    db,
    `SELECT k.id::text AS customer_id, s.order_count, s.total_spent, s.average_order_value,
            s.first_order_at, s.last_order_at, c.top_categories
       FROM unnest($1::bigint[]) AS k(id)
       CROSS JOIN LATERAL (
         SELECT count(*)::int AS order_count,
                coalesce(sum(o.total_amount), 0)::text AS total_spent,
                round(avg(o.total_amount), 2)::text AS average_order_value,
                min(o.placed_at) AS first_order_at, max(o.placed_at) AS last_order_at
           FROM orders o
          WHERE o.customer_id = k.id AND o.status = 'completed' AND o.currency = $2) s
       CROSS JOIN LATERAL (
         SELECT coalesce(json_agg(json_build_object('category', t.category, 'spent', t.spent::text,
                                                    'order_count', t.order_count)
                                  ORDER BY t.spent DESC, t.category), '[]') AS top_categories
           FROM (SELECT p.category, sum(i.quantity * i.unit_price) AS spent,
                        count(DISTINCT o.id)::int AS order_count
                   FROM orders o
                   JOIN order_items i ON i.order_id = o.id
                   JOIN products p ON p.id = i.product_id
                  WHERE o.customer_id = k.id AND o.status = 'completed' AND o.currency = $2
                  GROUP BY p.category
                  ORDER BY spent DESC, p.category
                  LIMIT 10) t) c`,
    [ids, options.currency],
  );
  return inKeyOrder(ids, rows, (row) => row.customer_id).map((row) => toStats(row!, options));
}

function toStats(row: StatsRow, { currency, now }: { currency: string; now: Date }): PurchaseStats {
  const money = (amount: string) => ({ amount, currencyCode: currency });
  return {
    orderCount: row.order_count,
    totalSpent: money(row.total_spent),
    averageOrderValue: row.average_order_value === null ? null : money(row.average_order_value),
    firstOrderAt: row.first_order_at,
    lastOrderAt: row.last_order_at,
    daysSinceLastOrder: row.last_order_at && Math.floor((now.getTime() - row.last_order_at.getTime()) / DAY_MS),
    topCategories: row.top_categories.map((c): CategorySpend => ({ category: c.category, spent: money(c.spent), orderCount: c.order_count })),
  };
}
