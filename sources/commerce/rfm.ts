import { run, type Queryable } from './db.ts';
import { kept, type Kept, type KeptLogger } from './kept.ts';
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
export type RfmLogger = KeptLogger;

export interface RfmModelOptions {
  readonly currency: string;
  /** How often the boundaries are recomputed in the background once started. */
  readonly refreshMs: number;
  /** The source's clock: the boundaries' `computedAt`, and the day scores are counted from. */
  readonly now: () => Date;
}

/**
 * The boundaries this process scores against. They are computed at start-up and recomputed in
 * the background, so scoring never waits for the database: a request only reads them (Kept). A
 * failed recomputation keeps the previous boundaries: week-old quintiles score a customer far
 * better than none.
 */
export interface RfmModel extends Kept<RfmBoundaries> {
  /** When the boundaries in force were computed and over how many customers; null before the first. */
  boundaries(): { computedAt: Date; customers: number } | null;
  /** Pure: `scoreRfm` at the source's clock. */
  score(stats: PurchaseStats, boundaries: RfmBoundaries): RfmScore | null;
}

/** Keeps the RFM boundaries of `db` (see RfmModel). */
export function rfmModel(db: Queryable, options: RfmModelOptions): RfmModel {
  const model = kept({
    compute: () => rfmBoundaries(db, { currency: options.currency, now: options.now() }),
    refreshMs: options.refreshMs,
    name: 'RFM boundaries',
    whenFailing: { kept: 'scoring keeps the previous ones', none: 'RFM is unavailable until they are' },
    describe: (boundaries) => ({ computedAt: boundaries.computedAt, customers: boundaries.customers }),
  });
  return {
    ...model,
    boundaries: () => {
      const current = model.current();
      return current && { computedAt: current.computedAt, customers: current.customers };
    },
    score: (stats, boundaries) => scoreRfm(stats, boundaries, options.now()),
  };
}
