import { groupInKeyOrder, run, type Queryable } from './db.ts';
import type { LineItem, Order, OrderPage, OrderPageKey, OrderStatus } from './model.ts';

interface OrderRow {
  ord: string;
  id: string;
  placed_at: Date;
  status: string;
  total_amount: string;
  currency: string;
}

/**
 * One page of each customer's orders, newest first, in key order. One statement for the whole
 * batch: a lateral index range per key, limited to first + 1 rows (the extra row only says
 * whether another page exists), so paging never reads a customer's whole history.
 */
export async function orderPages(db: Queryable, keys: readonly OrderPageKey[]): Promise<OrderPage[]> {
  const rows = await run<OrderRow>(
    db,
    `SELECT k.ord::text AS ord, o.id::text AS id, o.placed_at, o.status, o.total_amount::text AS total_amount,
            o.currency
       FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::bigint[]) WITH ORDINALITY
            AS k(customer_id, first, after_at, after_id, ord)
       CROSS JOIN LATERAL (
         SELECT * FROM orders o
          WHERE o.customer_id = k.customer_id
            AND (k.after_at IS NULL OR (o.placed_at, o.id) < (k.after_at, k.after_id))
          ORDER BY o.placed_at DESC, o.id DESC
          LIMIT k.first + 1) o
      ORDER BY k.ord, o.placed_at DESC, o.id DESC`,
    [keys.map((k) => k.customerId), keys.map((k) => k.first), keys.map((k) => k.after?.placedAt ?? null), keys.map((k) => k.after?.id ?? null)],
  );
  const ordinals = keys.map((_, i) => String(i + 1));
  return groupInKeyOrder(ordinals, rows, (row) => row.ord).map((group, i) => ({
    orders: group.slice(0, keys[i]!.first).map(toOrder),
    hasNextPage: group.length > keys[i]!.first,
  }));
}

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    placedAt: row.placed_at,
    status: row.status.toUpperCase() as OrderStatus,
    total: { amount: row.total_amount, currencyCode: row.currency.trim() },
  };
}

interface LineRow {
  order_id: string;
  quantity: number;
  unit_price: string;
  line_total: string;
  product_id: string;
  sku: string;
  name: string;
  category: string;
  price: string;
  product_currency: string;
  currency: string;
}

/** Line items of each order, in key order (order ids), each list in line order. One statement. */
export async function lineItems(db: Queryable, orderIds: readonly string[]): Promise<LineItem[][]> {
  const rows = await run<LineRow>(
    db,
    `SELECT i.order_id::text AS order_id, i.quantity, i.unit_price::text AS unit_price,
            (i.quantity * i.unit_price)::text AS line_total, p.id::text AS product_id, p.sku, p.name,
            p.category, p.price::text AS price, p.currency AS product_currency, o.currency
       FROM order_items i
       JOIN orders o ON o.id = i.order_id
       JOIN products p ON p.id = i.product_id
      WHERE i.order_id = ANY($1::bigint[])
      ORDER BY i.order_id, i.line_no`,
    [orderIds],
  );
  return groupInKeyOrder(orderIds, rows, (row) => row.order_id).map((group) =>
    group.map((row) => {
      const currencyCode = row.currency.trim();
      return {
        product: {
          id: row.product_id,
          sku: row.sku,
          name: row.name,
          category: row.category,
          price: { amount: row.price, currencyCode: row.product_currency.trim() },
        },
        quantity: row.quantity,
        unitPrice: { amount: row.unit_price, currencyCode },
        total: { amount: row.line_total, currencyCode },
      };
    }),
  );
}
