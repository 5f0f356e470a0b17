import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../sandbox/embedded-postgres.ts';
import { notifyProducer } from '../../push/shop/notify.ts';
import { pgliteProducer } from '../../push/shop/pglite.ts';
import { setupNotify } from '../../push/shop/setup.ts';
import type { Signal, SignalProducer } from '../../push/signals.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/** Runs one statement where its NOTIFY reaches the producer under test. */
type Run = (text: string) => Promise<unknown>;

const schema = () => readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8');

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, logger };
}

const collect = () => {
  const signals: Signal[] = [];
  return { signals, sink: (signal: Signal) => void signals.push(signal) };
};

/** The same changes through either producer: the triggers make the signals, whoever listens. */
function signalsFromTriggers(setup: () => Promise<{ run: Run; producer: (logger: pino.Logger) => SignalProducer }>) {
  let run: Run;
  let producer: SignalProducer;
  const { signals, sink } = collect();
  const { lines, logger } = capturingLogger();

  beforeAll(async () => {
    const made = await setup();
    run = made.run;
    producer = made.producer(logger);
    await producer.start(sink);
  });
  afterAll(async () => {
    await producer?.stop();
  });

  it('emits a signal per inserted, updated or deleted row of orders, carts and customers, about its customer', async () => {
    signals.length = 0;
    await run(`INSERT INTO customers (id, email, signup_at) VALUES (50, 'new@example.com', now())`);
    await run(`INSERT INTO orders VALUES (500, 50, now(), 'completed', 10, 'USD')`);
    await run(`INSERT INTO carts VALUES (60, 50, now(), now(), 'open')`);
    await run(`UPDATE carts SET updated_at = now() + interval '1 minute' WHERE id = 60`);
    await run(`UPDATE customers SET city = 'Oslo' WHERE id = 50`);
    await run(`DELETE FROM carts WHERE id = 60`);
    await vi.waitFor(() => expect(signals).toHaveLength(6));
    expect(signals.map(({ id, kind, source, subject }) => ({ id: id.replace(/:\d+$/, ':<txid>'), kind, source, subject }))).toEqual([
      { id: 'commerce:customers:50:INSERT:<txid>', kind: 'customer', source: 'commerce', subject: { customerId: '50' } },
      { id: 'commerce:orders:500:INSERT:<txid>', kind: 'order', source: 'commerce', subject: { customerId: '50' } },
      { id: 'commerce:carts:60:INSERT:<txid>', kind: 'cart', source: 'commerce', subject: { customerId: '50' } },
      { id: 'commerce:carts:60:UPDATE:<txid>', kind: 'cart', source: 'commerce', subject: { customerId: '50' } },
      { id: 'commerce:customers:50:UPDATE:<txid>', kind: 'customer', source: 'commerce', subject: { customerId: '50' } },
      { id: 'commerce:carts:60:DELETE:<txid>', kind: 'cart', source: 'commerce', subject: { customerId: '50' } },
    ]);
    // Each statement ran in a transaction of its own.
    expect(new Set(signals.map((signal) => signal.id.split(':').at(-1))).size).toBe(6);
    for (const signal of signals) expect(Date.parse(signal.at!)).not.toBeNaN();
    // No personal data in what travels: the payload carries ids only.
    expect(JSON.stringify(signals)).not.toContain('example.com');
  });

  it('emits nothing for a rolled-back change, an update that changed nothing, or a line item', async () => {
    signals.length = 0;
    await run(`BEGIN; INSERT INTO orders VALUES (501, 50, now(), 'completed', 10, 'USD'); ROLLBACK;`);
    await run(`UPDATE customers SET city = 'Oslo' WHERE id = 50`);
    await run(`INSERT INTO products VALUES (1, 'SKU-1', 'Mug', 'Kitchen', 10, 'USD'); INSERT INTO order_items VALUES (500, 1, 1, 1, 10)`);
    // Notifications arrive in commit order: once this one is here, the others would have been.
    await run(`UPDATE orders SET status = 'refunded' WHERE id = 500`);
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    expect(signals[0]!.id).toMatch(/^commerce:orders:500:UPDATE:\d+$/);
  });

  it('ignores a notification on its channel that the triggers did not write, without logging its text', async () => {
    signals.length = 0;
    await run(`NOTIFY c360_changes, 'secret@example.com'`);
    await run(`UPDATE orders SET status = 'completed' WHERE id = 500`);
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    expect(lines.filter((line) => line.msg === 'ignored a notification the triggers did not write')).toEqual([expect.objectContaining({ bytes: 18, level: 40 })]);
    expect(JSON.stringify(lines)).not.toContain('secret');
  });
}

describe('PGlite producer (the embedded demo: in-process listen)', () => {
  let embedded: EmbeddedPostgres;
  afterAll(async () => {
    await embedded?.close();
  });
  signalsFromTriggers(async () => {
    embedded = await startEmbeddedPostgres();
    const pool = new pg.Pool({ connectionString: embedded.url, max: 1 });
    await pool.query(await schema());
    await setupNotify(pool);
    await pool.end();
    // In-process statements: PGlite gives in-process listeners only their NOTIFYs.
    return { run: (text) => embedded.db.exec(text), producer: (logger) => pgliteProducer({ db: embedded.db, logger }) };
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('NOTIFY producer on the PostgreSQL server', () => {
  let db: TestDatabase;
  afterAll(async () => {
    await db?.close();
  });

  describe('signals', () => {
    signalsFromTriggers(async () => {
      db = await createTestDatabase();
      await db.pool.query(await schema());
      await setupNotify(db.pool);
      return { run: (text) => db.pool.query(text), producer: (logger) => notifyProducer({ connectionString: db.url, logger }) };
    });
  });

  it('listens again after its connection is terminated, and says for how long it was deaf', async () => {
    const { signals, sink } = collect();
    const { lines, logger } = capturingLogger();
    const producer = notifyProducer({ connectionString: db.url, logger, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    await producer.start(sink);
    try {
      const listeners = async () =>
        (await db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN c360_changes'`)).rows.map((row) => row.pid);
      const [first] = await listeners();
      expect(first).toBeDefined();
      await db.pool.query(`SELECT pg_terminate_backend($1)`, [first]);
      await vi.waitFor(async () => expect((await listeners()).filter((pid) => pid !== first)).toHaveLength(1), { timeout: 10_000 });
      await db.pool.query(`INSERT INTO carts VALUES (61, 50, now(), now(), 'open')`);
      await vi.waitFor(() => expect(signals.map((signal) => signal.id.replace(/:\d+$/, ''))).toEqual(['commerce:carts:61:INSERT']));
      expect(lines.map((line) => line.msg)).toEqual([
        'listening to the shop database',
        'lost the connection listening to the shop database: reconnecting',
        'listening to the shop database again: changes committed while it was down were not signalled',
      ]);
      expect(lines[2]).toMatchObject({ level: 40, downMs: expect.any(Number) });
    } finally {
      await producer.stop();
    }
  });

  it('keeps retrying in the background while the database is unreachable, and stops cleanly', async () => {
    const { lines, logger } = capturingLogger();
    const url = new URL(db.url);
    url.port = '1';
    const producer = notifyProducer({ connectionString: url.toString(), logger, reconnect: { initialDelayMs: 20, maxDelayMs: 50 } });
    await producer.start(() => undefined);
    await vi.waitFor(() => expect(lines.filter((line) => line.msg === 'cannot listen to the shop database: retrying').length).toBeGreaterThanOrEqual(3));
    await producer.stop();
    const attempts = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lines).toHaveLength(attempts);
  });
});
