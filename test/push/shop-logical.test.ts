import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { logicalProducer, parseLsn } from '../../push/shop/logical.ts';
import { dropLogical, setupLogical } from '../../push/shop/setup.ts';
import type { Signal, SignalProducer } from '../../push/signals.ts';

/**
 * Logical decoding needs wal_level=logical: CI starts a cluster of its own for it (.ci/run) and
 * sets TEST_LOGICAL_DATABASE_URL. Each run gets a database and a slot of its own; the slot is
 * dropped at the end (a forgotten one would hold the cluster's WAL).
 */
const serverUrl = process.env.TEST_LOGICAL_DATABASE_URL;
const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });

describe.skipIf(!serverUrl)('logical decoding producer', () => {
  const suffix = randomBytes(5).toString('hex');
  const database = `c360_logical_${suffix}`;
  const slot = `c360_changes_${suffix}`;
  let url: string;
  let pool: pg.Pool;
  const producers: SignalProducer[] = [];
  let nextOrder = 100;

  const producer = (options: { standbyRetryMs?: number } = {}) => {
    const created = logicalProducer({ connectionString: url, logger, slot, reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, standbyRetryMs: options.standbyRetryMs ?? 100 });
    producers.push(created);
    return created;
  };
  const collect = () => {
    const signals: Signal[] = [];
    return { signals, sink: (signal: Signal) => void signals.push(signal) };
  };
  const placeOrder = async (customerId: number) => {
    const id = nextOrder++;
    await pool.query(`INSERT INTO orders VALUES ($1, $2, now(), 'completed', 10, 'USD')`, [id, customerId]);
    return id;
  };
  const slotState = async () => {
    const { rows } = await pool.query<{ confirmed: string; active_pid: number | null }>(
      `SELECT confirmed_flush_lsn::text AS confirmed, active_pid FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    return { confirmed: parseLsn(rows[0]!.confirmed)!, activePid: rows[0]!.active_pid };
  };
  const walPosition = async () => parseLsn((await pool.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0]!.lsn)!;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const target = new URL(serverUrl!);
    target.pathname = `/${database}`;
    url = target.toString();
    pool = new pg.Pool({ connectionString: url, max: 3 });
    await pool.query(await readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8'));
    await pool.query(`INSERT INTO customers (id, email, signup_at) SELECT n, 'c' || n || '@example.com', now() FROM generate_series(1, 9) AS n`);
    await pool.query(`INSERT INTO carts VALUES (20, 2, now(), now(), 'open')`);
    await setupLogical(pool, { slot });
  });

  afterAll(async () => {
    await Promise.all(producers.map((p) => p.stop()));
    if (pool) {
      // The walsender may take a moment to let the slot go after its client left.
      await vi.waitFor(async () => expect((await slotState()).activePid).toBeNull(), { timeout: 10_000 });
      await dropLogical(pool, { slot });
      await pool.end();
    }
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  // Each test starts with the slot free (a failed test may have left its producer running), and the
  // previous test's walsender may outlive its client a moment.
  beforeEach(async () => {
    await Promise.all(producers.map((p) => p.stop()));
    await vi.waitFor(async () => expect((await slotState()).activePid).toBeNull(), { timeout: 10_000 });
  });

  it('emits one signal per row of a committed transaction, with the LSN in its id, and nothing for a rolled-back one', async () => {
    const { signals, sink } = collect();
    const first = producer();
    await first.start(sink);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO orders VALUES (1, 1, now(), 'completed', 10, 'USD')`);
      await client.query(`UPDATE carts SET updated_at = now() WHERE id = 20`);
      await client.query(`UPDATE customers SET city = 'Lyon' WHERE id = 3`);
      await client.query('COMMIT');
      await client.query('BEGIN');
      await client.query(`INSERT INTO orders VALUES (2, 4, now(), 'completed', 10, 'USD')`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    // Committed after the rolled-back one: once it is here, the other would have been too.
    await placeOrder(5);
    await vi.waitFor(() => expect(signals).toHaveLength(4), { timeout: 10_000 });
    expect(signals.map(({ kind, subject, source }) => ({ kind, subject, source }))).toEqual([
      { kind: 'order', subject: { customerId: '1' }, source: 'commerce' },
      { kind: 'cart', subject: { customerId: '2' }, source: 'commerce' },
      { kind: 'customer', subject: { customerId: '3' }, source: 'commerce' },
      { kind: 'order', subject: { customerId: '5' }, source: 'commerce' },
    ]);
    expect(signals[0]!.id).toMatch(/^commerce:orders:1:INSERT:[0-9A-F]+\/[0-9A-F]+$/);
    expect(signals[1]!.id).toMatch(/^commerce:carts:20:UPDATE:/);
    expect(new Set(signals.map((signal) => signal.id)).size).toBe(4);
    // The three rows of one transaction share its commit time.
    expect(new Set(signals.slice(0, 3).map((signal) => signal.at)).size).toBe(1);
    await first.stop();
  });

  it('acknowledges a transaction once its signals are handed over, and not before', async () => {
    // A sink that stops the producer at the first of a transaction's two rows: the rest is never handed over.
    const interrupted = producer();
    let handed = 0;
    await interrupted.start(() => {
      handed++;
      void interrupted.stop();
    });
    await vi.waitFor(async () => expect((await slotState()).activePid).not.toBeNull(), { timeout: 10_000 });
    await pool.query(`INSERT INTO orders VALUES (10, 6, now(), 'completed', 10, 'USD'), (11, 7, now(), 'completed', 10, 'USD')`);
    const afterCommit = await walPosition();
    await vi.waitFor(() => expect(handed).toBe(1), { timeout: 10_000 });
    await vi.waitFor(async () => expect((await slotState()).activePid).toBeNull(), { timeout: 10_000 });
    expect((await slotState()).confirmed).toBeLessThan(afterCommit);

    // The next producer gets the whole transaction again, with the same signal ids, and acknowledges it.
    const { signals, sink } = collect();
    const next = producer();
    await next.start(sink);
    await vi.waitFor(() => expect(signals.map((signal) => signal.subject.customerId)).toEqual(['6', '7']), { timeout: 10_000 });
    const committed = await walPosition();
    await vi.waitFor(async () => expect((await slotState()).confirmed).toBeGreaterThanOrEqual(committed), { timeout: 10_000 });
    await next.stop();
  });

  it('does not emit a transaction twice when the server sends it again because its acknowledgement was lost', async () => {
    const { signals, sink } = collect();
    const deduping = producer();
    let terminated = false;
    await deduping.start((signal) => {
      sink(signal);
      if (terminated) return;
      terminated = true;
      // Synchronously, inside the hand-over: the walsender dies before the acknowledgement leaves.
      execFileSync('psql', [url, '-Atqc', `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${slot}'`]);
    });
    await vi.waitFor(async () => expect((await slotState()).activePid).not.toBeNull(), { timeout: 10_000 });
    const first = await placeOrder(4);
    await vi.waitFor(() => expect(terminated).toBe(true), { timeout: 10_000 });
    // Reconnected, it is sent the transaction again; the next one shows it was skipped, not late.
    await vi.waitFor(async () => expect((await slotState()).activePid).not.toBeNull(), { timeout: 10_000 });
    const second = await placeOrder(5);
    await vi.waitFor(() => expect(signals.some((signal) => signal.id.startsWith(`commerce:orders:${second}:`))).toBe(true), { timeout: 10_000 });
    expect(signals.map((signal) => signal.id.split(':')[2])).toEqual([String(first), String(second)]);
    await deduping.stop();
  });

  it('stands by while another producer holds the slot, and takes over when it stops, missing nothing', async () => {
    const active = collect();
    const standby = collect();
    const holder = producer();
    await holder.start(active.sink);
    await vi.waitFor(async () => expect((await slotState()).activePid).not.toBeNull(), { timeout: 10_000 });
    const second = producer({ standbyRetryMs: 100 });
    await second.start(standby.sink);
    await placeOrder(8);
    await vi.waitFor(() => expect(active.signals).toHaveLength(1), { timeout: 10_000 });
    expect(standby.signals).toEqual([]);

    await holder.stop();
    // Committed while nobody decodes: the slot keeps it for whoever takes over.
    await placeOrder(9);
    await vi.waitFor(() => expect(standby.signals.map((signal) => signal.subject.customerId)).toEqual(['9']), { timeout: 10_000 });
    expect(active.signals).toHaveLength(1);
    await second.stop();
  });

  it('keeps retrying with a message saying what to run while its slot is missing, and decodes once it exists', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const missing = `${slot}_later`;
    const { signals, sink } = collect();
    const late = logicalProducer({
      connectionString: url,
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
      slot: missing,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      // While the set-up below creates the slot, its backend holds it: an attempt then stands by.
      standbyRetryMs: 50,
    });
    producers.push(late);
    try {
      await late.start(sink);
      await vi.waitFor(() => expect(lines.length).toBeGreaterThanOrEqual(2));
      expect(lines[0]).toMatchObject({
        level: 40,
        msg: 'cannot decode the shop database: retrying',
        err: expect.objectContaining({
          message: `expected the replication slot "${missing}" in this database, found none: run \`npm run push:setup -- logical\` (docs/push-shop.md)`,
        }),
      });
      await setupLogical(pool, { slot: missing });
      await vi.waitFor(() => expect(lines.map((line) => line.msg)).toContainEqual(expect.stringMatching(/decoding the shop database$/)), { timeout: 10_000 });
      await placeOrder(3);
      await vi.waitFor(() => expect(signals.map((signal) => signal.subject.customerId)).toEqual(['3']), { timeout: 10_000 });
    } finally {
      await late.stop();
      await vi.waitFor(async () => {
        const { rows } = await pool.query(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, [missing]);
        expect(rows).toEqual([{ active_pid: null }]);
      });
      await pool.query(`SELECT pg_drop_replication_slot($1)`, [missing]);
    }
  });

  it('reconnects when its connection is terminated and emits what was committed meanwhile', async () => {
    const { signals, sink } = collect();
    const resilient = producer();
    await resilient.start(sink);
    await vi.waitFor(async () => expect((await slotState()).activePid).not.toBeNull(), { timeout: 10_000 });
    const { activePid } = await slotState();
    await pool.query(`SELECT pg_terminate_backend($1)`, [activePid]);
    const order = await placeOrder(1);
    // (Earlier signals may come first: the slot kept what was committed while no producer read it.)
    await vi.waitFor(() => expect(signals.filter((signal) => signal.id.startsWith(`commerce:orders:${order}:`))).toHaveLength(1), { timeout: 10_000 });
    expect((await slotState()).activePid).not.toBe(activePid);
    await resilient.stop();
  });
});
