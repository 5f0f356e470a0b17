import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWarehousePoll } from '../../push/web/warehouse-poll.ts';
import type { Signal, SignalProducer } from '../../push/signals.ts';
import type { Queryable } from '../../sources/web/index.ts';
import { TcpProxy } from '../faults/proxy.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { indexUse, MINUTE, planWithoutSeqScan, WarehouseFixture } from '../web/fixture.ts';

const T0 = new Date('2026-11-01T12:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);

let db: TestDatabase;
let schemaCount = 0;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.close();
});

/** One poller over a schema of its own, its signals, statements and log lines recorded. */
interface Harness {
  readonly fixture: WarehouseFixture;
  readonly signals: Signal[];
  readonly statements: string[];
  readonly logs: string[];
  readonly poll: SignalProducer;
  /** Resolves once `n` more freshness reads have run: that many polls found what there was. */
  polls(n: number): Promise<void>;
}

const running: SignalProducer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((poll) => poll.stop()));
});

async function harness(options: { maxPersons?: number; through?: Queryable; layoutRefreshMs?: number } = {}): Promise<Harness> {
  const schema = `poll_${++schemaCount}`;
  const fixture = await new WarehouseFixture(db.pool, schema).create();
  const statements: string[] = [];
  const logs: string[] = [];
  const target = options.through ?? db.pool;
  const counting: Queryable = {
    query: (text, values) => {
      statements.push(text);
      return target.query(text, values);
    },
  };
  const signals: Signal[] = [];
  const poll = createWarehousePoll({
    db: counting,
    schema,
    intervalMs: 100,
    maxBackoffMs: 200,
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    ...(options.maxPersons && { maxPersons: options.maxPersons }),
    ...(options.layoutRefreshMs !== undefined && { layoutRefreshMs: options.layoutRefreshMs }),
  });
  running.push(poll);
  const freshnessReads = () => statements.filter((text) => text.includes('newest_received_at')).length;
  return {
    fixture,
    signals,
    statements,
    logs,
    poll,
    async polls(n) {
      const target = freshnessReads() + n;
      await vi.waitFor(() => expect(freshnessReads()).toBeGreaterThanOrEqual(target), { timeout: 10_000, interval: 20 });
    },
  };
}

const start = (h: Harness) => h.poll.start((signal) => h.signals.push(signal));
const subjects = (signals: readonly Signal[]) => signals.map((signal) => signal.subject).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe('warehouse poll', () => {
  it('signals the people of rows loaded after start, once per load, and nothing for what was there before', async () => {
    const h = await harness();
    await h.fixture.page({ userId: '1' }, at(-60));
    await h.fixture.page({ anonymousId: 'old-browser' }, at(-50));
    await start(h);
    await h.polls(2);
    expect(h.signals).toEqual([]);

    await h.fixture.page({ userId: '2', anonymousId: 'browser-2' }, at(1));
    await h.fixture.track({ anonymousId: 'browser-3' }, 'product_viewed', at(1), { product_id: 'p1' });
    await h.fixture.page({ userId: '2' }, at(2));
    await h.fixture.identify('browser-4', '4', at(2));
    await vi.waitFor(() => expect(h.signals).toHaveLength(3), { timeout: 10_000, interval: 20 });
    await h.polls(3);

    expect(subjects(h.signals)).toEqual([{ anonymousId: 'browser-3' }, { customerId: '2' }, { customerId: '4' }]);
    const watermark = at(2).toISOString();
    for (const signal of h.signals) {
      expect(signal).toMatchObject({ source: 'web', kind: 'warehouse.load', at: watermark });
      expect(signal.id).toMatch(new RegExp(`^web:poll_\\d+:load:[ua]:[^:]+:${watermark.replace(/\./g, '\\.')}$`));
    }
    // The person query runs only when the watermark advanced: once for this load.
    expect(h.statements.filter((text) => text.includes('COLLATE "C"'))).toHaveLength(1);

    await h.fixture.page({ userId: '1' }, at(3));
    await vi.waitFor(() => expect(h.signals).toHaveLength(4), { timeout: 10_000, interval: 20 });
    expect(h.signals[3]).toMatchObject({ subject: { customerId: '1' }, at: at(3).toISOString() });
  });

  it('reads a load of pages, tracks and identifies through their received_at indexes', async () => {
    const h = await harness();
    await start(h);
    await h.fixture.page({ userId: '3' }, at(1));
    await vi.waitFor(() => expect(h.signals).toHaveLength(1), { timeout: 10_000, interval: 20 });
    const text = h.statements.find((statement) => statement.includes('COLLATE "C"'))!;
    const plan = await planWithoutSeqScan(db.pool, { text, values: [at(0), at(2), '', 10] });
    expect(indexUse(plan, 'pages')).toEqual({ indexes: ['pages_received_idx'], sequential: false });
    expect(indexUse(plan, 'tracks')).toEqual({ indexes: ['tracks_received_idx'], sequential: false });
    expect(indexUse(plan, 'identifies')).toEqual({ indexes: ['identifies_received_idx'], sequential: false });
  });

  it('names its signals alike on every replica that sees the same load', async () => {
    const a = await harness();
    await start(a);
    const b = createWarehousePoll({ db: db.pool, schema: a.fixture.schema, intervalMs: 100, logger: pino({ level: 'silent' }) });
    running.push(b);
    const seenByB: Signal[] = [];
    await b.start((signal) => seenByB.push(signal));
    await a.fixture.page({ userId: '5' }, at(1));
    await vi.waitFor(() => expect([a.signals.length, seenByB.length]).toEqual([1, 1]), { timeout: 10_000, interval: 20 });
    expect(seenByB[0]!.id).toBe(a.signals[0]!.id);
  });

  it('signals a row received at a sub-millisecond time once, though the driver reads the watermark in milliseconds', async () => {
    const h = await harness();
    await start(h);
    await db.pool.query(`INSERT INTO ${h.fixture.schema}.pages (id, user_id, "timestamp", received_at) VALUES ('micro', '7', $1::timestamptz, $1::timestamptz)`, [
      '2026-11-01T12:05:00.123456Z',
    ]);
    await vi.waitFor(() => expect(h.signals).toHaveLength(1), { timeout: 10_000, interval: 20 });
    await h.polls(3);
    expect(h.signals.map((signal) => [signal.subject, signal.at])).toEqual([[{ customerId: '7' }, '2026-11-01T12:05:00.123Z']]);
  });

  it('reads a load larger than maxPersons over several polls, each person once, logging counts only', async () => {
    const h = await harness({ maxPersons: 2 });
    await start(h);
    for (const user of ['11', '12', '13', '14', '15']) await h.fixture.page({ userId: user }, at(1));
    await vi.waitFor(() => expect(h.signals).toHaveLength(5), { timeout: 10_000, interval: 20 });
    await h.polls(2);
    expect(subjects(h.signals)).toEqual(['11', '12', '13', '14', '15'].map((customerId) => ({ customerId })));
    expect(new Set(h.signals.map((signal) => signal.id)).size).toBe(5);
    expect(h.statements.filter((text) => text.includes('COLLATE "C"'))).toHaveLength(3);
    const continued = h.logs.filter((line) => line.includes('the next poll continues'));
    expect(continued).toHaveLength(2);
    expect(continued.join('\n')).not.toContain('u:1');
  });

  it('skips a dropped table and a table without received_at, logging each once, and keeps signalling from the rest', async () => {
    const h = await harness();
    await start(h);
    await db.pool.query(`DROP TABLE ${h.fixture.schema}.tracks`);
    await db.pool.query(`ALTER TABLE ${h.fixture.schema}.identifies DROP COLUMN received_at`);
    await h.fixture.page({ userId: '21' }, at(1));
    await vi.waitFor(() => expect(h.signals).toHaveLength(1), { timeout: 10_000, interval: 20 });
    await h.polls(5);
    await h.fixture.page({ anonymousId: 'browser-22' }, at(2));
    await vi.waitFor(() => expect(h.signals).toHaveLength(2), { timeout: 10_000, interval: 20 });
    expect(subjects(h.signals)).toEqual([{ anonymousId: 'browser-22' }, { customerId: '21' }]);
    const skips = h.logs.filter((line) => line.includes('warehouse poll skips'));
    expect(skips).toHaveLength(2);
    expect(skips.join('\n')).toContain(`${h.fixture.schema}.tracks: the table is missing`);
    expect(skips.join('\n')).toContain(`${h.fixture.schema}.identifies: it has no readable received_at column`);
  });

  it('resolves start and keeps polling with backoff while the warehouse is down, then signals what loaded meanwhile', async () => {
    const port = Number(new URL(db.url).port || 5432);
    const proxy = await TcpProxy.start(port);
    const url = new URL(db.url);
    url.port = String(proxy.port);
    const pool = new pg.Pool({ connectionString: url.toString(), connectionTimeoutMillis: 500, max: 2 });
    pool.on('error', () => undefined);
    try {
      await proxy.refuse();
      const h = await harness({ through: pool });
      await start(h);
      const attempts = () => h.statements.length;
      await vi.waitFor(() => expect(attempts()).toBeGreaterThanOrEqual(4), { timeout: 10_000, interval: 20 });
      const downLogs = h.logs.filter((line) => line.includes('polling again with backoff'));
      expect(downLogs).toHaveLength(1);
      expect(downLogs[0]).toContain('"kind":"unavailable"');

      await proxy.restore();
      await vi.waitFor(() => expect(h.logs.some((line) => line.includes('warehouse poll recovered'))).toBe(true), { timeout: 10_000, interval: 20 });
      await h.polls(1);
      // Down again after the watermark was read: rows loaded during the outage are signalled after it.
      await proxy.refuse();
      await h.fixture.page({ userId: '31' }, at(1));
      const before = h.statements.length;
      await vi.waitFor(() => expect(h.statements.length).toBeGreaterThan(before + 1), { timeout: 10_000, interval: 20 });
      expect(h.signals).toEqual([]);
      await proxy.restore();
      await vi.waitFor(() => expect(h.signals).toHaveLength(1), { timeout: 10_000, interval: 20 });
      expect(h.signals[0]!.subject).toEqual({ customerId: '31' });
    } finally {
      await Promise.all(running.splice(0).map((poll) => poll.stop()));
      await pool.end();
      await proxy.close();
    }
  });

  it('refuses a bad schema name and bad limits when created', () => {
    const logger = pino({ level: 'silent' });
    expect(() => createWarehousePoll({ db: db.pool, schema: 'Web; DROP', logger })).toThrow(TypeError);
    expect(() => createWarehousePoll({ db: db.pool, schema: 'web', logger, intervalMs: 10 })).toThrow('expected a poll interval of at least 100 ms, got 10');
    expect(() => createWarehousePoll({ db: db.pool, schema: 'web', logger, maxPersons: 0 })).toThrow(RangeError);
  });
});
