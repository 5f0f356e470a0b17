import { groupInKeyOrder, run, type Queryable } from './db.ts';
import type { Cart, CustomerCarts } from './model.ts';

interface CartRow {
  customer_id: string;
  id: string;
  created_at: Date;
  updated_at: Date;
  ordered_after: boolean;
  value: string;
  items: Array<{
    product_id: string;
    sku: string;
    name: string;
    category: string;
    price: string;
    product_currency: string;
    quantity: number;
    unit_price: string;
    added_at: string;
  }>;
}

/**
 * Open carts per customer id, in key order, with the abandoned one picked out: the latest open cart
 * untouched for longer than `abandonedAfterMs` with no order placed after its last change. One
 * statement for the whole batch.
 */
export async function customerCarts(db: Queryable, ids: readonly string[], options: { currency: string; now: Date; abandonedAfterMs: number }): Promise<CustomerCarts[]> {
  const rows = await run<CartRow>(
    db,
    `SELECT c.customer_id::text AS customer_id, c.id::text AS id, c.created_at, c.updated_at,
            EXISTS (SELECT 1 FROM orders o
                     WHERE o.customer_id = c.customer_id AND o.placed_at > c.updated_at) AS ordered_after,
            coalesce((SELECT sum(i.quantity * i.unit_price) FROM cart_items i WHERE i.cart_id = c.id), 0)::text AS value,
            coalesce((SELECT json_agg(json_build_object(
                        'product_id', p.id::text, 'sku', p.sku, 'name', p.name, 'category', p.category,
                        'price', p.price::text, 'product_currency', p.currency, 'quantity', i.quantity,
                        'unit_price', i.unit_price::text, 'added_at', i.added_at) ORDER BY i.added_at, p.id)
                        FROM cart_items i JOIN products p ON p.id = i.product_id
                       WHERE i.cart_id = c.id), '[]') AS items
       FROM carts c
      WHERE c.customer_id = ANY($1::bigint[]) AND c.status = 'open'
      ORDER BY c.customer_id, c.updated_at DESC, c.id DESC`,
    [ids],
  );
  const staleBefore = options.now.getTime() - options.abandonedAfterMs;
  return groupInKeyOrder(ids, rows, (row) => row.customer_id).map((group) => {
    const open = group.map((row) => toCart(row, options.currency));
    const abandonedAt = group.findIndex((row) => row.updated_at.getTime() < staleBefore && !row.ordered_after);
    return { open, abandoned: abandonedAt === -1 ? null : open[abandonedAt]!, asOf: options.now };
  });
}

function toCart(row: CartRow, currencyCode: string): Cart {
  return {
    id: row.id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    value: { amount: row.value, currencyCode },
    items: row.items.map((item) => ({
      product: {
        id: item.product_id,
        sku: item.sku,
        name: item.name,
        category: item.category,
        price: { amount: item.price, currencyCode: item.product_currency.trim() },
      },
      quantity: item.quantity,
      unitPrice: { amount: item.unit_price, currencyCode },
      addedAt: new Date(item.added_at),
    })),
  };
}
