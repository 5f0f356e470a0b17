import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { Logger } from 'pino';
import { SourceError } from '../../sources/errors.ts';
import { sqlStateOf } from '../../sources/sql.ts';
import { run, type Queryable } from '../../sources/web/db.ts';
import { loadStatement } from '../../sources/web/freshness.ts';
import { expectedOf, quoteSchema, type Expected, type TableName } from '../../sources/web/index.ts';
import { relationsOf, type Layout, type Relations } from '../../sources/web/layout.ts';
import { createLayoutKeeper } from '../../sources/web/layout-keeper.ts';
import type { Signal, SignalProducer, SignalSink } from '../signals.ts';

export interface WarehousePollOptions {
  /** The warehouse (the web source's pool: ANALYTICS_DATABASE_URL, else the shop's). */
  readonly db: Queryable;
  /** The event source's schema (ANALYTICS_SCHEMA): a plain identifier. */
  readonly schema: string;
  readonly logger: Logger;
  /** How often the newest received_at is read; 5 s by default, at least 100 ms. */
  readonly intervalMs?: number;
  /** People read per poll (one signal each); a larger load is read on the following polls. 5000 by default. */
  readonly maxPersons?: number;
  /** The longest wait between polls while the warehouse fails (the backoff starts at intervalMs); 60 s by default. */
  readonly maxBackoffMs?: number;
  /** How long a read of the warehouse catalog is used; 60 s by default, like the web source's. */
  readonly layoutRefreshMs?: number;
  /** Epoch ms, for the signals' `receivedAt` (tests may fix it). */
  readonly clock?: () => number;
}

export const DEFAULT_WAREHOUSE_POLL_MS = 5000;
export const DEFAULT_WAREHOUSE_POLL_MAX_PERSONS = 5000;
const DEFAULT_MAX_BACKOFF_MS = 60_000;
const DEFAULT_LAYOUT_REFRESH_MS = 60_000;

/** The tables whose rows name a person: every page and track call lands in one of the first two, every login in the third. */
const PERSON_TABLES = ['pages', 'tracks', 'identifies'] as const satisfies readonly TableName[];

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_COLUMN = '42703';

/**
 * The load being read: rows received after `from` (exclusive; null: since the beginning) up to `to`
 * (inclusive), at the millisecond precision the driver gives; `after` is the last person already
 * signalled (the load is read in pages of maxPersons, one page per poll).
 */
interface Load {
  readonly from: Date | null;
  readonly to: Date;
  after: string;
}

/**
 * A SignalProducer for the event warehouse (docs/push-web.md): every intervalMs it reads the newest
 * received_at of pages and tracks (sources/web/freshness.ts: one end of an index each); when that
 * advanced, one statement reads the distinct people of the pages, tracks and identifies rows
 * received since the last watermark, and each becomes one `warehouse.load` signal (subject: the
 * user id as customerId, else the anonymous id). The first read sets the watermark and emits
 * nothing: only what loads after start is news.
 *
 * Signal ids are `web:<schema>:load:<u|a>:<id>:<watermark>`, so every replica that sees the same
 * load names its signals alike. Rows the pipeline loads later with a received_at at or before the
 * watermark (received_at is the vendor's arrival time, not the load's) are not signalled: the cache's
 * TTL covers them. A watermark that goes back (a warehouse rebuilt) is taken as the new one.
 *
 * Drift: a table without received_at or without either person column is skipped (logged once while
 * it lasts); a statement meeting a table dropped since the last catalog read makes the next poll
 * read the catalog again. A failing warehouse is polled again with exponential backoff from
 * intervalMs to maxBackoffMs (logged when it starts failing and when it recovers); nothing rejects.
 * Throws a TypeError for a schema that is not a plain identifier and a RangeError for bad limits.
 */
export function createWarehousePoll(options: WarehousePollOptions): SignalProducer {
  const { db, schema, logger } = options;
  const quoted = quoteSchema(schema);
  const intervalMs = options.intervalMs ?? DEFAULT_WAREHOUSE_POLL_MS;
  const maxPersons = options.maxPersons ?? DEFAULT_WAREHOUSE_POLL_MAX_PERSONS;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  const clock = options.clock ?? Date.now;
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new RangeError(`expected a poll interval of at least 100 ms, got ${intervalMs}`);
  if (!Number.isInteger(maxPersons) || maxPersons < 1 || maxPersons > 100_000) throw new RangeError(`expected between 1 and 100000 people per poll, got ${maxPersons}`);
  if (!Number.isInteger(maxBackoffMs) || maxBackoffMs < intervalMs)
    throw new RangeError(`expected a maximum backoff of at least the interval (${intervalMs} ms), got ${maxBackoffMs}`);

  const name = `warehouse-poll:${schema}`;
  const keeper = createLayoutKeeper({
    db,
    schema,
    expected: pollExpected(),
    refreshMs: options.layoutRefreshMs ?? DEFAULT_LAYOUT_REFRESH_MS,
    // The web source reports the warehouse's drift; the poll logs only the tables it skips.
    logger: { warn: () => {}, error: () => {} },
  });

  let built: { key: string; statements: PollStatements } | null = null;
  const statementsFor = (layout: Layout): PollStatements => {
    if (built?.key !== layout.key) {
      const w = relationsOf(layout, quoted);
      const readable = PERSON_TABLES.filter((table) => skipReason(layout, w, table) === null);
      reportSkips(layout, w);
      built = { key: layout.key, statements: { newest: loadStatement(w), persons: personsStatement(w, readable) } };
    }
    return built.statements;
  };

  const skipped = new Map<TableName, string>();
  function reportSkips(layout: Layout, w: Relations): void {
    for (const table of PERSON_TABLES) {
      const reason = skipReason(layout, w, table);
      if (reason === null) {
        if (skipped.delete(table)) logger.info({ source: 'web', producer: name, table }, `warehouse poll reads ${schema}.${table} again`);
      } else if (skipped.get(table) !== reason) {
        skipped.set(table, reason);
        logger.warn({ source: 'web', producer: name, table, drift: true }, `warehouse poll skips ${schema}.${table}: ${reason}`);
      }
    }
  }

  /** Undefined until the first read; null when the warehouse had no rows then. */
  let watermark: Date | null | undefined;
  let load: Load | null = null;

  /** One poll: at most the freshness statement and one page of people. */
  async function poll(emit: SignalSink): Promise<void> {
    const statements = statementsFor(await keeper.current());
    if (!load) {
      const { newestReceivedAt: newest } = await statements.newest(db, new Date(clock()));
      if (watermark === undefined || newest === null || (watermark !== null && newest.getTime() < watermark.getTime())) {
        watermark = newest;
        return;
      }
      if (watermark !== null && newest.getTime() === watermark.getTime()) return;
      load = { from: watermark, to: newest, after: '' };
    }
    const people = statements.persons ? await statements.persons(db, load, maxPersons + 1) : [];
    const page = people.slice(0, maxPersons);
    const receivedAt = clock();
    const at = load.to.toISOString();
    for (const person of page) emit(signalOf(schema, person, at, receivedAt));
    if (people.length > maxPersons) {
      load.after = page[page.length - 1]!;
      logger.info({ source: 'web', producer: name, people: page.length }, 'warehouse load has more people than one poll reads: the next poll continues');
      return;
    }
    watermark = load.to;
    load = null;
  }

  let emitTo: SignalSink | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let backoff: IBackoff<unknown> | null = null;
  let failures = 0;
  const backoffs = new ExponentialBackoff({ initialDelay: intervalMs, maxDelay: maxBackoffMs });

  /** Runs one poll and says how long to wait for the next; never rejects. */
  async function pollAndWait(emit: SignalSink): Promise<number> {
    try {
      await poll(emit);
      if (failures > 0) logger.info({ source: 'web', producer: name, failedPolls: failures }, 'warehouse poll recovered');
      failures = 0;
      backoff = null;
      return intervalMs;
    } catch (error) {
      const state = sqlStateOf(error);
      if (state === UNDEFINED_TABLE || state === UNDEFINED_COLUMN) {
        // Dropped or renamed since the last catalog read: the next poll reads with the new layout.
        await keeper.refresh().catch(() => {});
        return intervalMs;
      }
      if (failures++ === 0) {
        const kind = error instanceof SourceError ? error.kind : 'unexpected';
        // A SourceError's message names no value; the SQL and its parameters stay in its cause, unlogged.
        const message = error instanceof SourceError ? error.message : 'the warehouse poll failed';
        logger.warn({ source: 'web', producer: name, kind }, `${message}: polling again with backoff`);
      }
      backoff = (backoff ?? backoffs).next(undefined);
      return backoff.duration;
    }
  }

  function schedule(ms: number): void {
    if (!emitTo) return;
    const emit = emitTo;
    timer = setTimeout(() => {
      timer = null;
      running = pollAndWait(emit).then(schedule);
    }, ms);
    // The server's listener keeps the process alive; a poll timer alone should not.
    timer.unref();
  }

  return {
    name,
    async start(emit) {
      if (emitTo) return;
      emitTo = emit;
      running = pollAndWait(emit).then(schedule);
      await running;
    },
    async stop() {
      emitTo = null;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}

interface PollStatements {
  readonly newest: ReturnType<typeof loadStatement>;
  /** Null when none of the person tables can be read. */
  readonly persons: ((db: Queryable, load: Load, limit: number) => Promise<string[]>) | null;
}

/** tables.ts's declaration, with identifies.received_at, which the web source does not read but the poll does. */
function pollExpected(): Expected {
  const base = expectedOf({ analytics: null, advertising: null });
  const identifies = base.tables.identifies;
  return {
    ...base,
    tables: { ...base.tables, identifies: { ...identifies, columns: { ...identifies.columns, received_at: 'timestamp with time zone' } } },
  };
}

/** Why the poll cannot read `table`, or null when it can. */
function skipReason(layout: Layout, w: Relations, table: TableName): string | null {
  if (!layout.present.has(table)) return 'the table is missing (loads are read from the other tables)';
  if (!w.has(table, 'received_at')) return 'it has no readable received_at column';
  if (!w.has(table, 'user_id') && !w.has(table, 'anonymous_id')) return 'it has neither a user_id nor an anonymous_id column';
  return null;
}

/**
 * The people of one load, one statement: each `u:<user id>` or, for rows not yet identified,
 * `a:<anonymous id>`, in byte order after `load.after`, at most `limit`. received_at is compared at
 * the driver's millisecond precision (a row at .123456 belongs to the load whose watermark reads
 * .123), through each table's received_at index (schema.sql has them for pages and tracks).
 */
function personsStatement(w: Relations, tables: readonly TableName[]) {
  if (tables.length === 0) return null;
  const branches = tables.map(
    (table) => `SELECT nullif(x.user_id, '') AS user_id, nullif(x.anonymous_id, '') AS anonymous_id FROM ${w(table)} x WHERE x.received_at >= $1 AND x.received_at < $2`,
  );
  const text = `SELECT person FROM (
      SELECT DISTINCT (CASE WHEN c.user_id IS NOT NULL THEN 'u:' || c.user_id ELSE 'a:' || c.anonymous_id END) COLLATE "C" AS person
      FROM (${branches.join('\n      UNION ALL ')}) c WHERE coalesce(c.user_id, c.anonymous_id) IS NOT NULL
    ) p WHERE person > $3 ORDER BY person LIMIT $4`;
  return async (db: Queryable, load: Load, limit: number): Promise<string[]> => {
    const from = load.from === null ? '-infinity' : new Date(load.from.getTime() + 1);
    const rows = await run<{ person: string }>(db, text, [from, new Date(load.to.getTime() + 1), load.after, limit]);
    return rows.map((row) => row.person);
  };
}

function signalOf(schema: string, person: string, at: string, receivedAt: number): Signal {
  const id = person.slice(2);
  return {
    id: `web:${schema}:load:${person}:${at}`,
    source: 'web',
    kind: 'warehouse.load',
    subject: person.startsWith('u:') ? { customerId: id } : { anonymousId: id },
    at,
    receivedAt,
  };
}
