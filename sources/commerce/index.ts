import type { ContractFinding } from '../contract.ts';
import type { BatchFn } from '../errors.ts';
import { purchaseEvidence, type PurchaseEvidence } from './affinity.ts';
import { commerceAudience, type CommerceAudience, type StatementObserver } from './audience.ts';
import { customerCarts } from './carts.ts';
import { clvModel, clvSummaries, type ClvModel, type ClvSummary } from './clv.ts';
import { checkShopContract, readShopCatalog } from './contract.ts';
import { customersByEmail, customersById } from './customers.ts';
import { run, type Queryable } from './db.ts';
import { discountColumn, discountHistories, type DiscountHistory } from './discounts.ts';
import type { CommerceCustomer, CustomerCarts, LineItem, OrderPage, OrderPageKey, PurchaseStats, RfmScore, SegmentPage, SegmentPageKey } from './model.ts';
import { lineItems, orderPages } from './orders.ts';
import { orderPeriods, type OrderPeriods, type OrderPeriodsKey } from './periods.ts';
import { purchaseStats } from './purchases.ts';
import { rfmModel, type RfmModel } from './rfm.ts';
import { DEFAULT_PRICE_TIERS_TTL_MS, priceTierModel, type PriceTierBoundaries } from './price-tiers.ts';
import type { Kept } from './kept.ts';
import { segmentPage } from './segment.ts';

export type * from './model.ts';
export type { OrderPeriodCounts, OrderPeriods, OrderPeriodsKey } from './periods.ts';
export type { Queryable } from './db.ts';
export type { RfmLogger, RfmModel } from './rfm.ts';
export { PURCHASE_EVIDENCE_DAYS, type PurchaseEvidence, type PurchaseEvidenceRow } from './affinity.ts';
export { tierOf, type PriceTier, type PriceTierBoundaries } from './price-tiers.ts';
export { predictClv, type ClvFit, type ClvModel, type ClvPrediction, type ClvPredictionOptions, type ClvSummary } from './clv.ts';
export { discountSensitivity, type DiscountHistory, type DiscountSensitivity } from './discounts.ts';

/** How often the CLV parameters are refitted by default: purchase behaviour moves slowly. */
export const DEFAULT_CLV_FIT_TTL_MS = 86_400_000;

export interface CommerceOptions {
  /** Orders in other currencies do not count towards purchases and RFM. */
  readonly currency: string;
  /** How long an open cart stays untouched before it counts as abandoned. */
  readonly abandonedAfterMs: number;
  /** How often the RFM quintile boundaries are recomputed in the background (once `rfm.start()` ran). */
  readonly rfmBoundariesTtlMs: number;
  /** How often the CLV model is refitted in the background (once `clv.start()` ran); a day by default. */
  readonly clvFitTtlMs?: number;
  /** How often the catalogue's price tertiles are read again in the background (once `priceTiers.start()` ran); an hour by default. */
  readonly priceTiersTtlMs?: number;
  /** The shop's time zone (IANA): a purchase is a calendar day there. UTC by default. */
  readonly timeZone?: string;
  /**
   * Where the CLV fit's one statement over every order runs: a pool whose statement timeout
   * allows that scan (the request pool's does not on a large shop). `db` by default.
   */
  readonly fitDb?: Queryable;
  /**
   * Where an analyst's audience statements run (audience.ts): a pool whose statement timeout allows
   * their scans of every customer (the request pool's does not on a large shop). `db` by default.
   */
  readonly audienceDb?: Queryable;
  /** The source's clock (tests fix it). */
  readonly now?: () => Date;
}

export interface CommerceSource {
  readonly customersById: BatchFn<string, CommerceCustomer>;
  readonly customersByEmail: BatchFn<string, CommerceCustomer>;
  /** Every key gets an entry (zeros without orders), so these never answer null. */
  purchaseStats(ids: readonly string[]): Promise<PurchaseStats[]>;
  /**
   * RFM scores for customers whose purchase stats are known; null for customers with no order.
   * Reads `rfm`'s boundaries (one computation only when none was ever made).
   */
  rfmScores(stats: readonly PurchaseStats[]): Promise<Array<RfmScore | null>>;
  /** The RFM boundaries: call `rfm.start()` at start-up so no request waits for them (rfm.ts). */
  readonly rfm: RfmModel;
  /**
   * Each customer's purchase history as the CLV models read it (repeat purchase days, recency,
   * age, mean repeat value), from their orders as they are now; null without a completed order.
   */
  clvSummaries(ids: readonly string[]): Promise<Array<ClvSummary | null>>;
  /** The BG/NBD and Gamma-Gamma parameters: call `clv.start()` at start-up (clv.ts). */
  readonly clv: ClvModel;
  /** The affinity trait's purchases: units per category, unit price and age over the last PURCHASE_EVIDENCE_DAYS days (affinity.ts). */
  purchaseEvidence(ids: readonly string[]): Promise<PurchaseEvidence[]>;
  /** The catalogue's price tertiles per category: call `priceTiers.start()` at start-up (price-tiers.ts). */
  readonly priceTiers: Kept<PriceTierBoundaries>;
  /**
   * Each customer's completed orders with what a discount took off (never null: no orders is an
   * empty list), or, for every key, why not when the contract lacks orders.discount_amount.
   */
  discountHistories(ids: readonly string[]): Promise<DiscountHistory[]>;
  orderPages(keys: readonly OrderPageKey[]): Promise<OrderPage[]>;
  lineItems(orderIds: readonly string[]): Promise<LineItem[][]>;
  customerCarts(ids: readonly string[]): Promise<CustomerCarts[]>;
  /** Completed orders and spend in the key's last `days` days and the `days` before (periods.ts); never null. */
  orderPeriods(keys: readonly OrderPeriodsKey[]): Promise<OrderPeriods[]>;
  /** One page of a segment (one statement); not batched: each key is its own scan. */
  segmentPage(key: SegmentPageKey): Promise<SegmentPage>;
  /** The statements of an audience's shop part (audience.ts), each reported to `observe` with its rows. */
  audience(observe: StatementObserver): CommerceAudience;
  /** Throws SourceError when the shop database cannot answer. */
  ping(): Promise<void>;
  /**
   * The start-up check (ContractCheck): the contract's tables or views and their columns, and
   * whether a lookup by email would scan the customers relation. Rejects only when unreachable.
   */
  checkContract(): Promise<ContractFinding[]>;
}

/**
 * The shop database, read through the commerce contract (schema.sql). Each batch function runs
 * exactly one SQL statement per call, whatever the number of keys.
 */
export function createCommerceSource(db: Queryable, options: CommerceOptions): CommerceSource {
  const now = options.now ?? (() => new Date());
  const context = () => ({ currency: options.currency, now: now(), abandonedAfterMs: options.abandonedAfterMs });
  const rfm = rfmModel(db, { currency: options.currency, refreshMs: options.rfmBoundariesTtlMs, now });
  const timeZone = options.timeZone ?? 'UTC';
  const priceTiers = priceTierModel(db, { currency: options.currency, refreshMs: options.priceTiersTtlMs ?? DEFAULT_PRICE_TIERS_TTL_MS, now });
  const clv = clvModel(options.fitDb ?? db, { currency: options.currency, timeZone, refreshMs: options.clvFitTtlMs ?? DEFAULT_CLV_FIT_TTL_MS, now });
  const discounts = discountColumn(db);
  return {
    customersById: (ids) => customersById(db, ids),
    customersByEmail: (emails) => customersByEmail(db, emails),
    purchaseStats: (ids) => purchaseStats(db, ids, context()),
    async rfmScores(stats) {
      if (stats.every((s) => s.orderCount === 0)) return stats.map(() => null);
      const current = await rfm.ensure();
      return stats.map((s) => rfm.score(s, current));
    },
    rfm,
    clvSummaries: (ids) => clvSummaries(db, ids, { currency: options.currency, now: now(), timeZone }),
    clv,
    purchaseEvidence: (ids) => purchaseEvidence(db, ids, { currency: options.currency, now: now() }),
    priceTiers,
    discountHistories: (ids) => discountHistories(db, discounts, ids, { currency: options.currency, now: now() }),
    orderPages: (keys) => orderPages(db, keys),
    lineItems: (orderIds) => lineItems(db, orderIds),
    customerCarts: (ids) => customerCarts(db, ids, context()),
    orderPeriods: (keys) => orderPeriods(db, keys, { currency: options.currency, now: now() }),
    async segmentPage(key) {
      return segmentPage(db, key, { ...context(), boundaries: key.filter.rfmSegments?.length ? await rfm.ensure() : null });
    },
    audience: (observe) =>
      commerceAudience(
        options.audienceDb ?? db,
        { currency: options.currency, now: now(), abandonedAfterMs: options.abandonedAfterMs, timeZone },
        async () => rfm.current() ?? rfm.ensure(),
        observe,
      ),
    async ping() {
      await run(db, 'SELECT 1', []);
    },
    // One catalog read serves the check and tells the optional columns' readers what is there.
    async checkContract() {
      const catalog = await readShopCatalog(db);
      discounts.learn(catalog.get('orders')?.has('discount_amount') ?? false);
      return checkShopContract(db, catalog);
    },
  };
}
