import { run, type Queryable } from './db.ts';
import type { PurchaseStats, RfmBoundaries, RfmScore, RfmSegment } from './model.ts';

const DAY_MS = 86_400_000;

/**
 * Quintile boundaries of recency (days since last order), frequency (orders) and monetary (total
 * spent) over every customer with a completed order. One statement that reads every order: the
 * caller caches the result for minutes (boundaries move slowly) and scores customers against it.
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
