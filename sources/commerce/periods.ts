import { inKeyOrder, run, type Queryable } from './db.ts';
import type { Money } from './model.ts';

/** A customer and the length of each of the two periods compared, in days. */
export interface OrderPeriodsKey {
  readonly customerId: string;
  readonly days: number;
}

/** Completed orders and their value in one period. */
export interface OrderPeriodCounts {
  readonly orders: number;
  readonly spend: Money;
}

/** A customer's two periods of `days` each, ending at `asOf` (the source's clock when read). */
export interface OrderPeriods {
  readonly asOf: Date;
  /** [asOf - days, asOf]. */
  readonly current: OrderPeriodCounts;
  /** [asOf - 2 days, asOf - days). */
  readonly previous: OrderPeriodCounts;
}

interface PeriodRow {
  ord: string;
  current_orders: number;
  current_spend: string;
  previous_orders: number;
  previous_spend: string;
}

/**
 * Completed orders in the shop currency and their total, per key in key order, in the last `days`
 * days and in the `days` before them (never null: zeros without orders). One statement for the
 * batch, each customer's orders a range of the (customer_id, placed_at) index.
 */
export async function orderPeriods(db: Queryable, keys: readonly OrderPeriodsKey[], options: { currency: string; now: Date }): Promise<OrderPeriods[]> {
  if (keys.length === 0) return [];
  const rows = await run<PeriodRow>(
    db,
    `SELECT k.ord::text AS ord,
            count(*) FILTER (WHERE o.current)::int AS current_orders,
            coalesce(sum(o.total_amount) FILTER (WHERE o.current), 0)::text AS current_spend,
            count(*) FILTER (WHERE NOT o.current)::int AS previous_orders,
            coalesce(sum(o.total_amount) FILTER (WHERE NOT o.current), 0)::text AS previous_spend
       FROM unnest($1::bigint[], $2::int[]) WITH ORDINALITY AS k(id, days, ord)
       LEFT JOIN LATERAL (
         SELECT o.total_amount, o.placed_at >= $3::timestamptz - make_interval(days => k.days) AS current
           FROM orders o
          WHERE o.customer_id = k.id AND o.status = 'completed' AND o.currency = $4
            AND o.placed_at >= $3::timestamptz - make_interval(days => 2 * k.days) AND o.placed_at <= $3) o ON true
      GROUP BY k.ord`,
    [keys.map((k) => k.customerId), keys.map((k) => k.days), options.now, options.currency],
  );
  const money = (amount: string): Money => ({ amount, currencyCode: options.currency });
  return inKeyOrder(
    keys.map((_, i) => String(i + 1)),
    rows,
    (row) => row.ord,
  ).map((row) => ({
    asOf: options.now,
    current: { orders: row!.current_orders, spend: money(row!.current_spend) },
    previous: { orders: row!.previous_orders, spend: money(row!.previous_spend) },
  }));
}
