import { run, type Queryable } from './db.ts';
import type { RfmBoundaries, SegmentPage, SegmentPageKey } from './model.ts';
import { gridCells } from './rfm.ts';

/**
 * One page of customer ids matching a segment filter, in id order (keyset pagination: stable while
 * customers are added). Aggregates are computed per customer through the orders index as the scan
 * walks customers by id, and the scan stops at first + 1 matches; RFM cells are scored in SQL with
 * the same rule as scoreRfm (a score is 1 + the boundaries strictly below the value).
 */
export async function segmentPage(
  db: Queryable,
  key: SegmentPageKey,
  options: { currency: string; now: Date; abandonedAfterMs: number; boundaries: RfmBoundaries | null },
): Promise<SegmentPage> {
  const { filter } = key;
  const cells = filter.rfmSegments?.length ? gridCells(filter.rfmSegments) : null;
  const rows = await run<{ id: string }>(
    db,
    `SELECT c.id::text AS id
       FROM customers c
       CROSS JOIN LATERAL (
         SELECT max(o.placed_at) AS last_at, count(*) AS n, coalesce(sum(o.total_amount), 0) AS total
           FROM orders o
          WHERE o.customer_id = c.id AND o.status = 'completed' AND o.currency = $2) s
      WHERE ($1::bigint IS NULL OR c.id > $1)
        AND ($4::timestamptz IS NULL OR s.last_at < $4)
        AND ($5::timestamptz IS NULL OR s.last_at > $5)
        AND ($6::numeric IS NULL OR s.total >= $6)
        AND ($7::boolean IS NULL OR $7 = EXISTS (
              SELECT 1 FROM carts k
               WHERE k.customer_id = c.id AND k.status = 'open' AND k.updated_at < $3::timestamptz - make_interval(secs => $8)
                 AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.placed_at > k.updated_at)))
        AND ($9::int[] IS NULL OR (s.n > 0 AND
              (6 - 1 - (SELECT count(*) FROM unnest($10::float8[]) b WHERE b < extract(epoch FROM ($3::timestamptz - s.last_at)) / 86400))::int * 10
              + (1 + (SELECT count(*) FROM unnest($11::float8[]) b WHERE b < s.n))::int = ANY($9::int[])))
      ORDER BY c.id
      LIMIT $12`,
    [
      key.afterId,
      options.currency,
      options.now,
      filter.lastOrderBefore ?? null,
      filter.lastOrderAfter ?? null,
      filter.totalSpentAtLeast ?? null,
      filter.hasAbandonedCart ?? null,
      options.abandonedAfterMs / 1000,
      cells && cells.map((c) => c.recency * 10 + c.frequency),
      options.boundaries?.recencyDays ?? [],
      options.boundaries?.frequency ?? [],
      key.first + 1,
    ],
  );
  return { customerIds: rows.slice(0, key.first).map((r) => r.id), hasNextPage: rows.length > key.first };
}
