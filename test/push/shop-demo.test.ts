import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import express from 'express';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pgliteProducer } from '../../push/shop/pglite.ts';
import { setupNotify } from '../../push/shop/setup.ts';
import type { Signal, SignalProducer } from '../../push/signals.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { demoRoutes, placeOrder } from '../../sandbox/demo/place-order.ts';
import { cartsOf, ordersOf, seedShop } from '../../sandbox/demo/shop.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../sandbox/embedded-postgres.ts';
import { TEST_AS_OF } from '../support/database.ts';

const world: DemoWorld = { seed: 360, customers: 60, asOf: TEST_AS_OF };
const people = Array.from({ length: world.customers }, (_, index) => personAt(world, index));
const withCart = people.find((person) => cartsOf(world, person).length > 0)!;
const withoutCart = people.find((person) => cartsOf(world, person).length === 0)!;

describe('demo orders push through the in-process PGlite listener', () => {
  let embedded: EmbeddedPostgres;
  let producer: SignalProducer;
  const signals: Signal[] = [];
  const lines: string[] = [];
  let server: Server;
  let base: string;

  beforeAll(async () => {
    embedded = await startEmbeddedPostgres();
    // The server's side of the demo: seeding and set-up over the socket, as sandbox/demo.ts does.
    const pool = new pg.Pool({ connectionString: embedded.url, max: 1 });
    await seedShop(pool, world);
    await setupNotify(pool);
    await pool.end();
    producer = pgliteProducer({ db: embedded.db, logger: pino({ level: 'silent' }) });
    await producer.start((signal) => void signals.push(signal));
    const app = express();
    app.use(demoRoutes({ db: embedded.db, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) }));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await producer?.stop();
    await embedded?.close();
  });

  it('places an order from the open cart in one transaction: an order and a cart signal, with the same transaction id', async () => {
    signals.length = 0;
    const cart = cartsOf(world, withCart)[0]!;
    const order = await placeOrder(embedded.db, { email: withCart.email.toUpperCase() });
    const expectedTotal = cart.items.reduce((sum, item) => sum + item.product.priceCents * item.quantity, 0);
    expect(order).toEqual({
      orderId: String(withCart.customerId! * 1000 + ordersOf(world, withCart).length),
      customerId: String(withCart.customerId),
      total: (expectedTotal / 100).toFixed(2),
      lines: cart.items.length,
      cartId: String(cart.id),
    });
    await vi.waitFor(() => expect(signals).toHaveLength(2));
    const txid = signals[0]!.id.split(':').at(-1);
    expect(signals.map(({ id, kind, subject }) => ({ id, kind, subject }))).toEqual([
      { id: `commerce:orders:${order!.orderId}:INSERT:${txid}`, kind: 'order', subject: { customerId: order!.customerId } },
      { id: `commerce:carts:${cart.id}:UPDATE:${txid}`, kind: 'cart', subject: { customerId: order!.customerId } },
    ]);
    const { rows } = await embedded.db.query<{ status: string; items: number }>(
      `SELECT (SELECT status FROM carts WHERE id = $1) AS status, (SELECT count(*)::int FROM order_items WHERE order_id = $2) AS items`,
      [cart.id, order!.orderId],
    );
    expect(rows).toEqual([{ status: 'converted', items: cart.items.length }]);
  });

  it('without an open cart, orders from the catalogue: one order signal', async () => {
    signals.length = 0;
    const order = await placeOrder(embedded.db, { customerId: String(withoutCart.customerId) });
    expect(order).toMatchObject({ customerId: String(withoutCart.customerId), lines: 2, cartId: null });
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    expect(signals[0]).toMatchObject({ kind: 'order', subject: { customerId: String(withoutCart.customerId) } });
  });

  it('POST /demo/orders answers 201 with the order, 404 for an unknown customer, 400 without an email, and never logs the email', async () => {
    signals.length = 0;
    const post = (body: unknown) => fetch(`${base}/demo/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const placed = await post({ email: withoutCart.email });
    expect(placed.status).toBe(201);
    const order = (await placed.json()) as { orderId: string; customerId: string };
    expect(order.customerId).toBe(String(withoutCart.customerId));
    await vi.waitFor(() => expect(signals.map((signal) => signal.id)).toEqual([expect.stringMatching(new RegExp(`^commerce:orders:${order.orderId}:INSERT:\\d+$`))]));

    const unknown = await post({ email: 'nobody@example.com' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'no customer of the demo shop has that email' });
    const invalid = await post({ name: 'x' });
    expect(invalid.status).toBe(400);

    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ msg: 'demo order placed', customerId: order.customerId, orderId: order.orderId }),
    ]);
    expect(lines.join('')).not.toContain(withoutCart.email);
    expect(signals).toHaveLength(1);
  });
});
