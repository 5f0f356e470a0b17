import express, { Router } from 'express';
import type { Logger } from 'pino';
import { SHOP_CURRENCY } from './shop.ts';

/** What placing an order needs of the embedded database: PGlite's in-process transactions. */
export interface InProcessDatabase {
  transaction<T>(callback: (tx: { query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }> }) => Promise<T>): Promise<T>;
}

export interface PlacedOrder {
  readonly orderId: string;
  readonly customerId: string;
  /** What was paid, in the shop currency, e.g. "59.97". */
  readonly total: string;
  readonly lines: number;
  /** The id of the open cart the order came from (now `converted`), or null when there was none. */
  readonly cartId: string | null;
}

/**
 * Places a completed order for a demo customer (by email or id), in one transaction run
 * in-process, so the push triggers' NOTIFYs reach the in-process listener (statements over the
 * socket would not: see push/shop/pglite.ts): the customer's latest open cart becomes the order
 * and is marked `converted`; without one, two products of the catalogue. Null when there is no
 * such customer.
 */
export async function placeOrder(db: InProcessDatabase, who: { readonly email: string } | { readonly customerId: string }): Promise<PlacedOrder | null> {
  return db.transaction(async (tx) => {
    const { rows: customers } = await tx.query<{ id: string }>(
      'email' in who ? `SELECT id::text AS id FROM customers WHERE lower(email) = lower($1)` : `SELECT id::text AS id FROM customers WHERE id = $1::bigint`,
      ['email' in who ? who.email : who.customerId],
    );
    const customerId = customers[0]?.id;
    if (customerId === undefined) return null;
    const { rows: carts } = await tx.query<{ id: string }>(
      `SELECT id::text AS id FROM carts WHERE customer_id = $1 AND status = 'open' ORDER BY updated_at DESC, id DESC LIMIT 1`,
      [customerId],
    );
    const cartId = carts[0]?.id ?? null;
    const { rows: lines } = await tx.query<{ product_id: string; quantity: number; unit_price: string }>(
      cartId === null
        ? `SELECT id::text AS product_id, 1 AS quantity, price::text AS unit_price FROM products ORDER BY random() LIMIT 2`
        : `SELECT product_id::text AS product_id, quantity, unit_price::text AS unit_price FROM cart_items WHERE cart_id = $1 ORDER BY added_at, product_id`,
      cartId === null ? [] : [cartId],
    );
    // Demo order ids encode the customer (customer * 1000 + n, sandbox/demo/shop.ts): the next n.
    const { rows: next } = await tx.query<{ id: string }>(`SELECT (coalesce(max(id), $1::bigint * 1000 - 1) + 1)::text AS id FROM orders WHERE customer_id = $1`, [customerId]);
    const orderId = next[0]!.id;
    const { rows: inserted } = await tx.query<{ total: string }>(
      `INSERT INTO orders (id, customer_id, placed_at, status, total_amount, currency)
       SELECT $1, $2, now(), 'completed', coalesce(sum(quantity * unit_price), 0), $3
         FROM unnest($4::int[], $5::numeric[]) AS line (quantity, unit_price)
       RETURNING total_amount::text AS total`,
      [orderId, customerId, SHOP_CURRENCY, lines.map((line) => line.quantity), lines.map((line) => line.unit_price)],
    );
    await tx.query(
      `INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price)
       SELECT $1, line_no, product_id, quantity, unit_price FROM unnest($2::bigint[], $3::int[], $4::numeric[]) WITH ORDINALITY AS line (product_id, quantity, unit_price, line_no)`,
      [orderId, lines.map((line) => line.product_id), lines.map((line) => line.quantity), lines.map((line) => line.unit_price)],
    );
    if (cartId !== null) await tx.query(`UPDATE carts SET status = 'converted' WHERE id = $1`, [cartId]);
    return { orderId, customerId, total: inserted[0]!.total, lines: lines.length, cartId };
  });
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}$/;

/**
 * The demo's write endpoint, mounted only when the embedded demo runs (it places real orders in
 * the demo shop, for anyone who can reach the server): `POST /demo/orders` with `{"email": "..."}`
 * places an order (placeOrder) and answers 201 with it, 404 when no customer has that email, 400
 * for a body without a plausible email. The email is never logged.
 */
export function demoRoutes(options: { readonly db: InProcessDatabase; readonly logger: Logger }): Router {
  const router = Router();
  router.post('/demo/orders', express.json({ limit: '4kb' }), async (req, res) => {
    const email: unknown = (req.body as { email?: unknown } | undefined)?.email;
    if (typeof email !== 'string' || !EMAIL.test(email)) {
      res.status(400).json({ error: 'expected a JSON body {"email": "<a demo customer\'s email>"}' });
      return;
    }
    try {
      const order = await placeOrder(options.db, { email });
      if (!order) {
        res.status(404).json({ error: 'no customer of the demo shop has that email' });
        return;
      }
      options.logger.info({ customerId: order.customerId, orderId: order.orderId }, 'demo order placed');
      res.status(201).json(order);
    } catch (error) {
      options.logger.error({ err: error }, 'demo order failed');
      res.status(500).json({ error: 'the demo order failed (see the server log)' });
    }
  });
  return router;
}
