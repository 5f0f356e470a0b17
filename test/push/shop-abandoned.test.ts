import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbandonedCartSweep } from '../../push/shop/abandoned-sweep.ts';
import type { Signal } from '../../push/signals.ts';
import type { Queryable } from '../../sources/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const START = new Date('2026-11-01T12:00:00Z');
const MINUTE = 60_000;
const at = (minutes: number) => new Date(START.getTime() + minutes * MINUTE);

describe('abandoned-cart sweep', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(await readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8'));
    await db.pool.query(`INSERT INTO customers (id, email, signup_at) SELECT n, 'c' || n || '@example.com', $1 FROM generate_series(1, 9) AS n`, [at(-10_000)]);
    // Minutes relative to START, with the threshold at 60: 1 crosses a minute after START, 2 at
    // +30 min, 3 was abandoned before the sweep started, 4 was followed by an order, 5 was
    // converted, and 6 has two carts crossing in the same sweep (one signal, for the newer).
    const carts: Array<[id: number, customer: number, updatedMinutes: number, status: string]> = [
      [10, 1, -59, 'open'],
      [20, 2, -30, 'open'],
      [30, 3, -61, 'open'],
      [40, 4, -50, 'open'],
      [50, 5, -58, 'converted'],
      [60, 6, -57, 'open'],
      [61, 6, -56, 'open'],
    ];
    for (const [id, customer, minutes, status] of carts) await db.pool.query(`INSERT INTO carts VALUES ($1, $2, $3, $3, $4)`, [id, customer, at(minutes), status]);
    await db.pool.query(`INSERT INTO orders VALUES (400, 4, $1, 'completed', 10, 'USD')`, [at(-40)]);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('emits cart.abandoned once per crossing, per customer, for open carts with no order after their last change', async () => {
    let now = START;
    let failing = false;
    const flaky: Queryable = {
      query: (text, values) => (failing ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) : db.pool.query(text, values)),
    };
    const sweep = new AbandonedCartSweep({ db: flaky, logger: pino({ level: 'silent' }), abandonedAfterMs: 60 * MINUTE, intervalMs: 3_600_000, now: () => now });
    const signals: Signal[] = [];
    await sweep.start((signal) => void signals.push(signal));
    try {
      now = at(5);
      expect(await sweep.sweep()).toBe(2);
      expect(signals).toEqual([
        {
          id: `commerce:cart.abandoned:10:${at(-59).toISOString()}`,
          source: 'commerce',
          kind: 'cart.abandoned',
          subject: { customerId: '1' },
          at: at(1).toISOString(),
          receivedAt: expect.any(Number),
        },
        {
          id: `commerce:cart.abandoned:61:${at(-56).toISOString()}`,
          source: 'commerce',
          kind: 'cart.abandoned',
          subject: { customerId: '6' },
          at: at(4).toISOString(),
          receivedAt: expect.any(Number),
        },
      ]);
      // The same crossing is not signalled twice.
      expect(await sweep.sweep()).toBe(0);

      // A sweep that fails leaves its window to the next one.
      now = at(31);
      failing = true;
      expect(await sweep.sweep()).toBe(0);
      failing = false;
      now = at(35);
      expect(await sweep.sweep()).toBe(1);
      expect(signals.at(-1)).toMatchObject({ id: `commerce:cart.abandoned:20:${at(-30).toISOString()}`, subject: { customerId: '2' } });

      // Touched again, a cart crosses again, with a new id.
      await db.pool.query(`UPDATE carts SET updated_at = $1 WHERE id = 10`, [at(20)]);
      now = at(81);
      expect(await sweep.sweep()).toBe(1);
      expect(signals.at(-1)).toMatchObject({ id: `commerce:cart.abandoned:10:${at(20).toISOString()}`, subject: { customerId: '1' } });
      expect(signals.map((signal) => signal.subject.customerId)).toEqual(['1', '6', '2', '1']);
    } finally {
      await sweep.stop();
    }
    // Stopped: a sweep does nothing.
    now = at(10_000);
    expect(await sweep.sweep()).toBe(0);
  });
});
