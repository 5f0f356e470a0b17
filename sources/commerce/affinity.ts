import { groupInKeyOrder, run, type Queryable } from './db.ts';
import type { Decimal } from './model.ts';

/** How far back purchase evidence is read: the longest affinity window (the warehouse's too). */
export const PURCHASE_EVIDENCE_DAYS = 365;

/** Units of one category bought at one unit price on one day of age, from completed orders. */
export interface PurchaseEvidenceRow {
  readonly category: string;
  /** `order_items.unit_price`, in the shop currency. */
  readonly price: Decimal;
  /** Whole days between the orders and the read (0: the last 24 hours). */
  readonly ageDays: number;
  readonly units: number;
}

/** A customer's purchase evidence over the last PURCHASE_EVIDENCE_DAYS days, and when it was read. */
export interface PurchaseEvidence {
  readonly asOf: Date;
  /** Empty when the customer completed no order in the period. */
  readonly rows: readonly PurchaseEvidenceRow[];
}

interface Row {
  customer_id: string;
  category: string;
  price: string;
  age_days: number;
  units: number;
}

/**
 * Purchase evidence per customer id, in key order (never null): units of completed orders in the
 * shop currency placed in the last PURCHASE_EVIDENCE_DAYS days, per (category, unit price, age in
 * whole days). The whole period is read whatever window a caller asks (it filters by age), so one
 * entry per customer serves every window and caches like the other purchase aggregates. Each
 * customer's orders are a range of the (customer_id, placed_at) index. One statement.
 */
export async function purchaseEvidence(db: Queryable, ids: readonly string[], options: { currency: string; now: Date }): Promise<PurchaseEvidence[]> {
  if (ids.length === 0) return [];
  const rows = await run<Row>(
    db,
    `SELECT o.customer_id::text AS customer_id, p.category, i.unit_price::text AS price,
            floor(extract(epoch FROM ($3::timestamptz - o.placed_at)) / 86400)::int AS age_days, sum(i.quantity)::int AS units
       FROM orders o
       JOIN order_items i ON i.order_id = o.id
       JOIN products p ON p.id = i.product_id
      WHERE o.customer_id = ANY($1::bigint[]) AND o.status = 'completed' AND o.currency = $2
        AND o.placed_at > $3::timestamptz - make_interval(days => $4) AND o.placed_at <= $3::timestamptz
      GROUP BY o.customer_id, p.category, i.unit_price, age_days
      ORDER BY o.customer_id, p.category, i.unit_price, age_days`,
    [ids, options.currency, options.now, PURCHASE_EVIDENCE_DAYS],
  );
  return groupInKeyOrder(ids, rows, (row) => row.customer_id).map((group) => ({
    asOf: options.now,
    rows: group.map((row) => ({ category: row.category, price: row.price, ageDays: row.age_days, units: row.units })),
  }));
}
