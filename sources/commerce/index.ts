import type { BatchFn } from '../errors.ts';
import { customerCarts } from './carts.ts';
import { customersByEmail, customersById } from './customers.ts';
import { run, type Queryable } from './db.ts';
import type {
  CommerceCustomer,
  CustomerCarts,
  LineItem,
  OrderPage,
  OrderPageKey,
  PurchaseStats,
  RfmBoundaries,
  RfmScore,
  SegmentPage,
  SegmentPageKey,
} from './model.ts';
import { lineItems, orderPages } from './orders.ts';
import { purchaseStats } from './purchases.ts';
import { rfmBoundaries, scoreRfm } from './rfm.ts';
import { segmentPage } from './segment.ts';

export type * from './model.ts';
export type { Queryable } from './db.ts';

export interface CommerceOptions {
  /** Orders in other currencies do not count towards purchases and RFM. */
  readonly currency: string;
  /** How long an open cart stays untouched before it counts as abandoned. */
  readonly abandonedAfterMs: number;
  /** How long the RFM quintile boundaries are reused before they are computed again. */
  readonly rfmBoundariesTtlMs: number;
  /** The source's clock (tests fix it). */
  readonly now?: () => Date;
}

export interface CommerceSource {
  readonly customersById: BatchFn<string, CommerceCustomer>;
  readonly customersByEmail: BatchFn<string, CommerceCustomer>;
  /** Every key gets an entry (zeros without orders), so these never answer null. */
  purchaseStats(ids: readonly string[]): Promise<PurchaseStats[]>;
  /** RFM scores for customers whose purchase stats are known; null for customers with no order. */
  rfmScores(stats: readonly PurchaseStats[]): Promise<Array<RfmScore | null>>;
  orderPages(keys: readonly OrderPageKey[]): Promise<OrderPage[]>;
  lineItems(orderIds: readonly string[]): Promise<LineItem[][]>;
  customerCarts(ids: readonly string[]): Promise<CustomerCarts[]>;
  /** One page of a segment (one statement); not batched: each key is its own scan. */
  segmentPage(key: SegmentPageKey): Promise<SegmentPage>;
  /** Throws SourceError when the shop database cannot answer. */
  ping(): Promise<void>;
}

/**
 * The shop database, read through the commerce contract (schema.sql). Each batch function runs
 * exactly one SQL statement per call, whatever the number of keys.
 */
export function createCommerceSource(db: Queryable, options: CommerceOptions): CommerceSource {
  const now = options.now ?? (() => new Date());
  const context = () => ({ currency: options.currency, now: now(), abandonedAfterMs: options.abandonedAfterMs });
  const boundaries = cachedBoundaries(db, options, now);
  return {
    customersById: (ids) => customersById(db, ids),
    customersByEmail: (emails) => customersByEmail(db, emails),
    purchaseStats: (ids) => purchaseStats(db, ids, context()),
    async rfmScores(stats) {
      if (stats.every((s) => s.orderCount === 0)) return stats.map(() => null);
      const current = await boundaries();
      const at = now();
      return stats.map((s) => scoreRfm(s, current, at));
    },
    orderPages: (keys) => orderPages(db, keys),
    lineItems: (orderIds) => lineItems(db, orderIds),
    customerCarts: (ids) => customerCarts(db, ids, context()),
    async segmentPage(key) {
      return segmentPage(db, key, { ...context(), boundaries: key.filter.rfmSegments?.length ? await boundaries() : null });
    },
    async ping() {
      await run(db, 'SELECT 1', []);
    },
  };
}

/**
 * The boundaries, computed at most once per TTL however many requests ask at once (concurrent
 * callers share the one query in flight); a failed computation is not kept.
 */
function cachedBoundaries(db: Queryable, options: CommerceOptions, now: () => Date): () => Promise<RfmBoundaries> {
  let current: { value: Promise<RfmBoundaries>; expiresAt: number } | null = null;
  return () => {
    const at = now();
    if (current && current.expiresAt > at.getTime()) return current.value;
    const value = rfmBoundaries(db, { currency: options.currency, now: at });
    const entry = { value, expiresAt: at.getTime() + options.rfmBoundariesTtlMs };
    current = entry;
    value.catch(() => {
      if (current === entry) current = null;
    });
    return value;
  };
}
