import { sqlStateOf } from '../sql.ts';
import { readShopCatalog } from './contract.ts';
import { groupInKeyOrder, run, type Queryable } from './db.ts';
import type { Money } from './model.ts';

/**
 * Discount sensitivity: how much of a customer's buying happened with a discount, from their
 * completed orders and the contract's optional `orders.discount_amount` (what the discount took
 * off; `total_amount` is what was paid, after it). A shop whose contract leaves the column out
 * gets a reason instead of numbers, never a failing statement: whether it is there is read from
 * the catalog (see discountColumn).
 */

/** One completed order in the shop currency, as the trait reads it (whole cents). */
export interface DiscountOrder {
  readonly placedAt: Date;
  /** `total_amount`: what the customer paid, after the discount. */
  readonly paidCents: number;
  /** `discount_amount`, 0 when NULL or not positive. */
  readonly discountCents: number;
}

/** A customer's completed orders, oldest first, or why the shop cannot say. */
export interface DiscountHistory {
  /** Null when the orders were read; else why there are no numbers (the column is missing). */
  readonly unavailableReason: string | null;
  readonly orders: readonly DiscountOrder[];
  /** When the orders were read (or the catalog was, without the column). */
  readonly asOf: Date;
  readonly currencyCode: string;
}

export type SensitivityLevel = 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';

/** The trait itself (see discountSensitivity); every number null when `unavailableReason` is set. */
export interface DiscountSensitivity {
  readonly unavailableReason: string | null;
  /** The window in days, null for all history. */
  readonly days: number | null;
  readonly orders: number | null;
  readonly discountedOrders: number | null;
  readonly discountedShare: number | null;
  readonly meanDiscountedOrderValue: Money | null;
  readonly meanFullPriceOrderValue: Money | null;
  readonly valueRatio: number | null;
  readonly meanDiscountRate: number | null;
  readonly sensitivity: SensitivityLevel | null;
  readonly asOf: Date;
}

/** `sensitivity` from `discountedShare`: below each bound, that level (0 is NONE, from 0.5 HIGH). */
const SENSITIVITY_BOUNDS = { LOW: 0.25, MEDIUM: 0.5 } as const;

/**
 * The trait from a customer's history, over the `days` days up to `asOf` (all of it when null):
 * null when they have no completed order in the window. Amounts are means of what was paid
 * (`total_amount`); a discount's rate is discount / (paid + discount), the share of the value
 * before the discount that it took off.
 */
export function discountSensitivity(history: DiscountHistory, days: number | null): DiscountSensitivity | null {
  const { unavailableReason, asOf, currencyCode } = history;
  if (unavailableReason !== null) {
    return {
      unavailableReason,
      days,
      orders: null,
      discountedOrders: null,
      discountedShare: null,
      meanDiscountedOrderValue: null,
      meanFullPriceOrderValue: null,
      valueRatio: null,
      meanDiscountRate: null,
      sensitivity: null,
      asOf,
    };
  }
  const since = days === null ? Number.NEGATIVE_INFINITY : asOf.getTime() - days * 86_400_000;
  const orders = history.orders.filter((order) => order.placedAt.getTime() > since);
  if (orders.length === 0) return null;
  const discounted = orders.filter((order) => order.discountCents > 0);
  const fullPrice = orders.filter((order) => order.discountCents === 0);
  const meanPaid = (list: readonly DiscountOrder[]) => (list.length === 0 ? null : list.reduce((sum, o) => sum + o.paidCents, 0) / list.length);
  const meanDiscounted = meanPaid(discounted);
  const meanFull = meanPaid(fullPrice);
  const share = discounted.length / orders.length;
  const money = (cents: number | null): Money | null => (cents === null ? null : { amount: (Math.round(cents) / 100).toFixed(2), currencyCode });
  return {
    unavailableReason: null,
    days,
    orders: orders.length,
    discountedOrders: discounted.length,
    discountedShare: share,
    meanDiscountedOrderValue: money(meanDiscounted),
    meanFullPriceOrderValue: money(meanFull),
    valueRatio: meanDiscounted !== null && meanFull ? meanDiscounted / meanFull : null,
    meanDiscountRate: discounted.length === 0 ? null : discounted.reduce((sum, o) => sum + o.discountCents / (o.paidCents + o.discountCents), 0) / discounted.length,
    sensitivity: share === 0 ? 'NONE' : share < SENSITIVITY_BOUNDS.LOW ? 'LOW' : share < SENSITIVITY_BOUNDS.MEDIUM ? 'MEDIUM' : 'HIGH',
    asOf,
  };
}

/** Whether `orders.discount_amount` is there, as the catalog last said. */
export interface DiscountColumn {
  /** Reads the catalog when it is time to (see discountColumn); rejects with SourceError('commerce'). */
  present(): Promise<boolean>;
  /** What the catalog says now (the start-up contract check read it). */
  learn(present: boolean): void;
  /** A statement found it missing (SQLSTATE 42703): read the catalog again at the next call. */
  forget(): void;
}

/** How long a missing column is believed missing before the catalog is read again. */
const MISSING_COLUMN_RECHECK_MS = 60_000;

/**
 * The column's presence, read from the catalog at the first call unless the contract check told it,
 * and again when a statement found it gone. A missing column is read again after
 * MISSING_COLUMN_RECHECK_MS, so adding it to the view shows within a minute; a present one is
 * believed until a statement says otherwise. Concurrent callers share one catalog read.
 */
export function discountColumn(db: Queryable, clock: () => number = Date.now): DiscountColumn {
  let known: { present: boolean; at: number } | null = null;
  let reading: Promise<boolean> | null = null;
  const read = () =>
    (reading ??= readShopCatalog(db, ['orders'])
      .then((catalog) => {
        const present = catalog.get('orders')?.has('discount_amount') ?? false;
        known = { present, at: clock() };
        return present;
      })
      .finally(() => {
        reading = null;
      }));
  return {
    async present() {
      if (known && (known.present || clock() - known.at < MISSING_COLUMN_RECHECK_MS)) return known.present;
      return read();
    },
    learn(present) {
      known = { present, at: clock() };
    },
    forget() {
      known = null;
    },
  };
}

const UNAVAILABLE = 'the shop\'s commerce contract has no orders.discount_amount, so which orders had a discount is unknown (docs/sources.md, "The commerce contract")';

interface OrderRow {
  customer_id: string;
  placed_at: Date;
  paid: string;
  discount: string;
}

/**
 * Completed orders in the shop currency placed up to `now`, per customer id, in key order, oldest
 * first: one statement for the batch. Without the column no statement runs, and every key gets
 * `unavailableReason`; a statement that finds the column gone (42703) makes the catalog be read
 * again and, when it confirms, answers the same way instead of failing.
 */
export async function discountHistories(db: Queryable, column: DiscountColumn, ids: readonly string[], options: { currency: string; now: Date }): Promise<DiscountHistory[]> {
  const unavailable = () => ids.map(() => ({ unavailableReason: UNAVAILABLE, orders: [], asOf: options.now, currencyCode: options.currency }));
  if (!(await column.present())) return unavailable();
  let rows: OrderRow[];
  try {
    rows = await run<OrderRow>(
      db,
      `SELECT o.customer_id::text AS customer_id, o.placed_at, o.total_amount::text AS paid,
              greatest(coalesce(o.discount_amount, 0), 0)::text AS discount
         FROM orders o
        WHERE o.customer_id = ANY($1::bigint[]) AND o.status = 'completed' AND o.currency = $2 AND o.placed_at <= $3
        ORDER BY o.customer_id, o.placed_at, o.id`,
      [ids, options.currency, options.now],
    );
  } catch (error) {
    if (sqlStateOf(error) !== '42703') throw error;
    column.forget();
    if (!(await column.present())) return unavailable();
    throw error;
  }
  return groupInKeyOrder(ids, rows, (row) => row.customer_id).map((group) => ({
    unavailableReason: null,
    orders: group.map((row) => ({ placedAt: row.placed_at, paidCents: cents(row.paid), discountCents: cents(row.discount) })),
    asOf: options.now,
    currencyCode: options.currency,
  }));
}

/** NUMERIC(12, 2) text as whole cents (exact: at most 12 digits). */
const cents = (amount: string): number => Math.round(Number(amount) * 100);
