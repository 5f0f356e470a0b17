import { run, type Queryable } from './db.ts';
import type { PurchaseStats, RfmBoundaries, RfmScore, RfmSegment } from './model.ts';

const DAY_MS = 86_400_000;

/**
 * Quintile boundaries of recency (days since last order), frequency (orders) and monetary (total
 * spent) over every customer with a completed order. One statement that reads every order: rfmModel
 * keeps the result and recomputes it in the background (boundaries move slowly).
 */
export async function rfmBoundaries(db: Queryable, options: { currency: string; now: Date }): Promise<RfmBoundaries> {
  const [row] = await run<{ recency: number[] | null; frequency: number[] | null; monetary: number[] | null; customers: number }>(
    db,
    `WITH per_customer AS (
       SELECT extract(epoch FROM ($2::timestamptz - max(placed_at))) / 86400 AS recency,
              count(*) AS frequency, sum(total_amount) AS monetary
         FROM orders
        WHERE status = 'completed' AND currency = $1
        GROUP BY customer_id)
     SELECT percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency) AS recency,
            percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY frequency) AS frequency,
            percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY monetary) AS monetary,
            count(*)::int AS customers
       FROM per_customer`,
    [options.currency, options.now],
  );
  return {
    recencyDays: row?.recency ?? [],
    frequency: row?.frequency ?? [],
    monetary: row?.monetary ?? [],
    customers: row?.customers ?? 0,
    computedAt: options.now,
  };
}

/** 1 + the number of boundaries strictly below the value: 1 (bottom quintile) to 5 (top). */
export function quintile(value: number, boundaries: readonly number[]): number {
  return 1 + boundaries.filter((b) => b < value).length;
}

/**
 * Scores one customer against the base's boundaries; null when the customer has no completed
 * order (RFM says nothing about people who never bought). Recency is inverted: fewer days since
 * the last order is a higher score.
 */
export function scoreRfm(stats: PurchaseStats, boundaries: RfmBoundaries, now: Date): RfmScore | null {
  if (stats.orderCount === 0 || stats.lastOrderAt === null) return null;
  const recencyDays = (now.getTime() - stats.lastOrderAt.getTime()) / DAY_MS;
  const recency = 6 - quintile(recencyDays, boundaries.recencyDays);
  const frequency = quintile(stats.orderCount, boundaries.frequency);
  const monetary = quintile(Number(stats.totalSpent.amount), boundaries.monetary);
  return { recency, frequency, monetary, segment: rfmSegment(recency, frequency), boundariesComputedAt: boundaries.computedAt };
}

/**
 * The usual RFM grid over recency (rows) and frequency (columns), as popularised by Putler and
 * the common open-source notebooks; "Lost" is the bottom corner split out of "Hibernating".
 */
const GRID: ReadonlyArray<readonly RfmSegment[]> = [
  //  f=1            f=2                   f=3                   f=4                 f=5
  ['LOST', 'HIBERNATING', 'AT_RISK', 'AT_RISK', 'CANNOT_LOSE_THEM'], // r=1
  ['HIBERNATING', 'HIBERNATING', 'AT_RISK', 'AT_RISK', 'CANNOT_LOSE_THEM'], // r=2
  ['ABOUT_TO_SLEEP', 'ABOUT_TO_SLEEP', 'NEED_ATTENTION', 'LOYAL', 'LOYAL'], // r=3
  ['PROMISING', 'POTENTIAL_LOYALIST', 'POTENTIAL_LOYALIST', 'LOYAL', 'LOYAL'], // r=4
  ['NEW', 'POTENTIAL_LOYALIST', 'POTENTIAL_LOYALIST', 'CHAMPIONS', 'CHAMPIONS'], // r=5
];

/** The named segment of a (recency, frequency) score pair, both 1-5. */
export function rfmSegment(recency: number, frequency: number): RfmSegment {
  return GRID[recency - 1]![frequency - 1]!;
}

/** Every (recency, frequency) pair that falls in one of the segments, for filtering in SQL. */
export function gridCells(segments: readonly RfmSegment[]): Array<{ recency: number; frequency: number }> {
  const cells: Array<{ recency: number; frequency: number }> = [];
  GRID.forEach((row, r) =>
    row.forEach((segment, f) => {
      if (segments.includes(segment)) cells.push({ recency: r + 1, frequency: f + 1 });
    }),
  );
  return cells;
}

/** Where the boundary keeper reports a failed recomputation (once per episode) and its recovery. */
export interface RfmLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RfmModelOptions {
  readonly currency: string;
  /** How often the boundaries are recomputed in the background once started. */
  readonly refreshMs: number;
  /** The source's clock: the boundaries' `computedAt`, and the day scores are counted from. */
  readonly now: () => Date;
}

/**
 * The boundaries this process scores against. They are computed at start-up and recomputed in
 * the background, so scoring never waits for the database: a request only reads them.
 */
export interface RfmModel {
  /**
   * Computes the boundaries now and keeps recomputing them every `refreshMs` (an unref'ed timer:
   * it never holds the process open). Resolves when the first computation settles, whether or not
   * it succeeded (a failure is logged, and retried sooner); never rejects. Calling it again does
   * nothing but replace the logger.
   */
  start(logger?: RfmLogger): Promise<void>;
  /** Stops the background recomputation; the current boundaries stay. */
  stop(): void;
  /** The boundaries in force, or null when none was ever computed. Never waits, never queries. */
  current(): RfmBoundaries | null;
  /**
   * The boundaries in force; when none was ever computed (the database was down at start-up),
   * one computation shared by every concurrent caller. Rejects with a SourceError.
   */
  ensure(): Promise<RfmBoundaries>;
  /** When the boundaries in force were computed and over how many customers; null before the first. */
  boundaries(): { computedAt: Date; customers: number } | null;
  /** Pure: `scoreRfm` at the source's clock. */
  score(stats: PurchaseStats, boundaries: RfmBoundaries): RfmScore | null;
}

/** After a failed recomputation the next try comes sooner than a routine refresh, at most this late. */
const RETRY_AFTER_FAILURE_MS = 30_000;
const silent: RfmLogger = { warn: () => undefined, info: () => undefined };

/**
 * Keeps the RFM boundaries of `db` (see RfmModel). One computation at a time, whoever asks; a
 * failed one keeps the previous boundaries (week-old quintiles score a customer far better than
 * none) and is logged once until one succeeds again.
 */
export function rfmModel(db: Queryable, options: RfmModelOptions): RfmModel {
  let current: RfmBoundaries | null = null;
  let computing: Promise<RfmBoundaries> | null = null;
  let failing = false;
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let logger = silent;

  const compute = (): Promise<RfmBoundaries> => {
    computing ??= rfmBoundaries(db, { currency: options.currency, now: options.now() })
      .then(
        (fresh) => {
          current = fresh;
          if (failing) logger.info({ source: 'commerce', customers: fresh.customers }, 'RFM boundaries computed again');
          failing = false;
          return fresh;
        },
        (error: unknown) => {
          if (!failing) {
            logger.warn(
              { source: 'commerce', err: error, keptFrom: current?.computedAt ?? null },
              current ? 'RFM boundaries could not be recomputed: scoring keeps the previous ones' : 'RFM boundaries could not be computed: RFM is unavailable until they are',
            );
          }
          failing = true;
          throw error;
        },
      )
      .finally(() => {
        computing = null;
      });
    return computing;
  };

  const schedule = () => {
    const delay = failing ? Math.min(options.refreshMs, RETRY_AFTER_FAILURE_MS) : options.refreshMs;
    timer = setTimeout(() => {
      void compute()
        .catch(() => undefined)
        .finally(() => {
          if (started) schedule();
        });
    }, delay);
    timer.unref();
  };

  return {
    async start(log) {
      if (log) logger = log;
      if (started) return;
      started = true;
      await compute().catch(() => undefined);
      if (started) schedule();
    },
    stop() {
      started = false;
      clearTimeout(timer);
    },
    current: () => current,
    ensure: () => (current ? Promise.resolve(current) : compute()),
    boundaries: () => current && { computedAt: current.computedAt, customers: current.customers },
    score: (stats, boundaries) => scoreRfm(stats, boundaries, options.now()),
  };
}
