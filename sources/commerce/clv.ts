import { SourceError } from '../errors.ts';
import {
  DAYS_PER_WEEK,
  expectedOrderValue,
  expectedPurchases,
  fitBgNbd,
  fitGammaGamma,
  lifetimeValue,
  probabilityAlive,
  type BgNbdFit,
  type GammaGammaFit,
  type HistoryGroups,
  type PurchaseHistory,
  type SpendGroups,
} from './clv-fit.ts';
import { inKeyOrder, run, type Queryable } from './db.ts';
import type { Money } from './model.ts';
import { kept, type Kept } from './kept.ts';

/**
 * Predicted value: the BG/NBD and Gamma-Gamma parameters fitted over the whole shop in the
 * background (clvModel, like the RFM boundaries), and each customer's prediction computed from
 * their own orders as they are now (clvSummaries, then predictClv). The models are in clv-fit.ts.
 *
 * What counts, in both: completed orders in the shop currency placed up to the source's clock. A
 * purchase is a calendar day in `timeZone` with at least one such order (several orders on one day
 * are one purchase of their summed value, as in the CDNOW summary the models were published on).
 */

/** Which orders count and how they are dated, for the fit and for each customer's history alike. */
export interface ClvWindow {
  readonly currency: string;
  /** The end of the calibration period: orders after it do not count, and T runs up to its day. */
  readonly now: Date;
  /** IANA name of the time zone whose calendar days make purchases ("UTC", "Europe/Paris"). */
  readonly timeZone: string;
}

/** A customer's history at `asOf`, from their completed orders (see PurchaseHistory for the fields). */
export interface ClvSummary extends PurchaseHistory {
  readonly asOf: Date;
  readonly currencyCode: string;
}

/** The fitted parameters in force, and what they were fitted on. */
export interface ClvFit {
  /** BG/NBD (rates per week) and its log-likelihood at the maximum. */
  readonly bgnbd: BgNbdFit;
  /** Gamma-Gamma (gamma in the shop currency) and its log-likelihood at the maximum. */
  readonly gammaGamma: GammaGammaFit;
  /** The calibration end: the source's clock when the fit started. */
  readonly fittedAt: Date;
  /** BG/NBD sample: customers with at least one completed order. */
  readonly customers: number;
  /** Gamma-Gamma sample: customers with at least one repeat purchase of positive value. */
  readonly repeatCustomers: number;
  /** Wall time of the fit: the statement and both optimizations. */
  readonly fitMs: number;
}

/** The fits' data as the shop gives it (clvFitInput), with both sample sizes. */
export interface ClvFitInput {
  readonly histories: HistoryGroups;
  readonly spend: SpendGroups;
  readonly customers: number;
  readonly repeatCustomers: number;
}

/** The trait's own settings: its horizons and discount rate (per request or from configuration). */
export interface ClvPredictionOptions {
  /** The window of `expectedPurchases`, in days from now. */
  readonly horizonDays: number;
  /** How many months the lifetime value counts. */
  readonly lifetimeMonths: number;
  /** Yearly rate the lifetime value is discounted at (0.1 = 10 %), applied monthly. */
  readonly annualDiscountRate: number;
}

/** Predicted value of one customer: BG/NBD, Gamma-Gamma and the discounted lifetime value. */
export interface ClvPrediction {
  /** Expected purchases (purchase days) in the next `horizonDays`; null where it cannot be evaluated. */
  readonly expectedPurchases: number | null;
  readonly horizonDays: number;
  /** Probability the customer has not dropped out. */
  readonly probabilityAlive: number;
  /** Expected value of a future purchase; null where the fitted spend model has no mean. */
  readonly expectedOrderValue: Money | null;
  /** Discounted value of the next `lifetimeMonths` of purchases (clv-fit.ts lifetimeValue). */
  readonly clv: Money | null;
  readonly lifetimeMonths: number;
  readonly annualDiscountRate: number;
  /** The parameters' fit time, and the moment the customer's own history was read. */
  readonly fittedAt: Date;
  readonly asOf: Date;
}

/** Fewer customers than this with a repeat purchase leave both models unidentified: no fit. */
export const MIN_REPEAT_CUSTOMERS = 10;

// The statements share these, so the fit and each live prediction read orders the same way.
// Parameters: $1 currency, $2 calibration end, $3 time zone.
const purchaseDays = (where: string) => `
  SELECT customer_id, day, value, day = min(day) OVER (PARTITION BY customer_id) AS first
    FROM (SELECT o.customer_id, (o.placed_at AT TIME ZONE $3)::date AS day, sum(o.total_amount) AS value
            FROM orders o
           WHERE ${where}o.status = 'completed' AND o.currency = $1 AND o.placed_at <= $2
           GROUP BY 1, 2) d`;
const SUMMARY_COLUMNS = `
  count(*)::int - 1 AS x,
  max(day) - min(day) AS t_x_days,
  ($2::timestamptz AT TIME ZONE $3)::date - min(day) AS t_days,
  coalesce(sum(value) FILTER (WHERE NOT first), 0) AS repeat_value`;

interface FitInputRow {
  h_x: number[] | null;
  h_tx: number[] | null;
  h_t: number[] | null;
  h_n: number[] | null;
  s_x: number[] | null;
  s_value: number[] | null;
  s_n: number[] | null;
}

/**
 * The fits' data, in one statement over every completed order: customers grouped by identical
 * (x, t_x, T) in days, and repeat customers by identical (x, repeat value). PostgreSQL does the
 * grouping, so Node receives seven arrays of distinct groups, never a row per customer.
 */
export async function clvFitInput(db: Queryable, window: ClvWindow): Promise<ClvFitInput> {
  const [row] = await run<FitInputRow>(
    db,
    `WITH days AS (${purchaseDays('')}),
     summaries AS (SELECT ${SUMMARY_COLUMNS} FROM days GROUP BY customer_id),
     histories AS (SELECT x, t_x_days, t_days, count(*)::int AS n FROM summaries GROUP BY 1, 2, 3),
     spend AS (SELECT x, repeat_value::float8 AS repeat_value, count(*)::int AS n
                 FROM summaries WHERE x > 0 AND repeat_value > 0 GROUP BY 1, 2)
     SELECT h.*, s.*
       FROM (SELECT array_agg(x) AS h_x, array_agg(t_x_days) AS h_tx, array_agg(t_days) AS h_t, array_agg(n) AS h_n FROM histories) h,
            (SELECT array_agg(x) AS s_x, array_agg(repeat_value) AS s_value, array_agg(n) AS s_n FROM spend) s`,
    [window.currency, window.now, window.timeZone],
  );
  const histories = { repeatPurchases: row?.h_x ?? [], recencyDays: row?.h_tx ?? [], ageDays: row?.h_t ?? [], customers: row?.h_n ?? [] };
  const spend = { repeatPurchases: row?.s_x ?? [], repeatValue: row?.s_value ?? [], customers: row?.s_n ?? [] };
  return { histories, spend, customers: total(histories.customers), repeatCustomers: total(spend.customers) };
}

/**
 * Fits both models over the shop as of `window.now`. Rejects with a SourceError: the database's,
 * or a `bad_response` (not retryable) when the shop has fewer than MIN_REPEAT_CUSTOMERS repeat
 * customers or the likelihood has no maximum.
 */
export async function fitClv(db: Queryable, window: ClvWindow): Promise<ClvFit> {
  const started = performance.now();
  const input = await clvFitInput(db, window);
  if (input.repeatCustomers < MIN_REPEAT_CUSTOMERS) {
    throw new SourceError(
      'commerce',
      'bad_response',
      `expected at least ${MIN_REPEAT_CUSTOMERS} customers with a repeat purchase to fit the purchase models, got ${input.repeatCustomers}`,
      {
        retryable: false,
      },
    );
  }
  try {
    const bgnbd = await fitBgNbd(input.histories);
    const gammaGamma = await fitGammaGamma(input.spend);
    return { bgnbd, gammaGamma, fittedAt: window.now, customers: input.customers, repeatCustomers: input.repeatCustomers, fitMs: performance.now() - started };
  } catch (error) {
    throw new SourceError('commerce', 'bad_response', 'the purchase models could not be fitted to the shop', { retryable: false, cause: error });
  }
}

interface SummaryRow {
  customer_id: string;
  x: number;
  t_x_days: number | null;
  t_days: number | null;
  repeat_value: number | null;
}

/**
 * Each customer's history as of `window.now`, in key order: null for a customer without a
 * completed order by then (the models say nothing about them). One statement for the batch; each
 * customer's orders are a range of the (customer_id, placed_at) index.
 */
export async function clvSummaries(db: Queryable, ids: readonly string[], window: ClvWindow): Promise<Array<ClvSummary | null>> {
  const rows = await run<SummaryRow>(
    db,
    `SELECT k.id::text AS customer_id, s.x, s.t_x_days, s.t_days, s.repeat_value::float8 AS repeat_value
       FROM unnest($4::bigint[]) AS k(id)
       CROSS JOIN LATERAL (SELECT ${SUMMARY_COLUMNS} FROM (${purchaseDays('o.customer_id = k.id AND ')}) days) s`,
    [window.currency, window.now, window.timeZone, ids],
  );
  return inKeyOrder(ids, rows, (row) => row.customer_id).map((row) =>
    !row || row.x < 0
      ? null
      : {
          repeatPurchases: row.x,
          recencyWeeks: row.t_x_days! / DAYS_PER_WEEK,
          ageWeeks: row.t_days! / DAYS_PER_WEEK,
          meanRepeatValue: row.x > 0 ? row.repeat_value! / row.x : null,
          asOf: window.now,
          currencyCode: window.currency,
        },
  );
}

/** One customer's prediction from the fit in force and their current history. Pure. */
export function predictClv(fit: ClvFit, summary: ClvSummary, options: ClvPredictionOptions): ClvPrediction {
  const money = (amount: number | null): Money | null => (amount === null || !Number.isFinite(amount) ? null : { amount: amount.toFixed(2), currencyCode: summary.currencyCode });
  const purchases = expectedPurchases(fit.bgnbd, summary, options.horizonDays / DAYS_PER_WEEK);
  return {
    expectedPurchases: Number.isFinite(purchases) ? purchases : null,
    horizonDays: options.horizonDays,
    probabilityAlive: probabilityAlive(fit.bgnbd, summary),
    expectedOrderValue: money(expectedOrderValue(fit.gammaGamma, summary)),
    clv: money(lifetimeValue(fit.bgnbd, fit.gammaGamma, summary, { months: options.lifetimeMonths, annualDiscountRate: options.annualDiscountRate })),
    lifetimeMonths: options.lifetimeMonths,
    annualDiscountRate: options.annualDiscountRate,
    fittedAt: fit.fittedAt,
    asOf: summary.asOf,
  };
}

/** How clvModel fits: which orders count (ClvWindow, with the clock) and how often it refits. */
export interface ClvModelOptions {
  readonly currency: string;
  /** See ClvWindow; "UTC" when unset. */
  readonly timeZone?: string;
  /** How often the parameters are refitted in the background once started. */
  readonly refreshMs: number;
  /** The source's clock: each fit's calibration end. */
  readonly now: () => Date;
}

/**
 * The fitted parameters this process predicts with. They are fitted at start-up and refitted in
 * the background, so a prediction never waits for a fit: a request only reads them (Kept). A
 * failed fit keeps the previous parameters: yesterday's fit predicts far better than none.
 */
export type ClvModel = Kept<ClvFit>;

/** Keeps the CLV parameters of `db` (see ClvModel). Give it a pool whose statement timeout allows a scan of every order. */
export function clvModel(db: Queryable, options: ClvModelOptions): ClvModel {
  return kept({
    compute: () => fitClv(db, { currency: options.currency, now: options.now(), timeZone: options.timeZone ?? 'UTC' }),
    refreshMs: options.refreshMs,
    name: 'CLV parameters',
    whenFailing: { kept: 'predictions keep the previous ones', none: 'predicted value is unavailable until they are' },
    describe: (fit) => ({ fittedAt: fit.fittedAt, customers: fit.customers, repeatCustomers: fit.repeatCustomers, fitMs: Math.round(fit.fitMs) }),
  });
}

function total(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0);
}
