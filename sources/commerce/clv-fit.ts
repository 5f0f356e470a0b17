import { compiled, hyp2f1, lgam } from 'cephes';
import { nelderMead } from './minimize.ts';

/**
 * The purchase models behind predicted value, as pure functions: BG/NBD (Fader, Hardie & Lee 2005,
 * "Counting Your Customers the Easy Way") for how many purchases a customer will make and whether
 * they are still a customer, Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value
 * Curves") for what they spend per purchase, and a discounted lifetime value from the two.
 *
 * Time is in weeks, as in the papers (and the published CDNOW estimates): a purchase is a calendar
 * day with at least one completed order, so the data come in whole days and the models see days / 7.
 * Special functions come from cephes (lgam, hyp2f1); likelihoods are summed in log space.
 */

// cephes runs WebAssembly; in Node it is compiled synchronously and this resolves at once.
await compiled;

/** The fits' time unit is the week; SQL counts whole days. */
export const DAYS_PER_WEEK = 7;
/** A month of the lifetime value's discounting: an average month (365.25 / 12 days), in weeks. */
export const WEEKS_PER_MONTH = 365.25 / 12 / DAYS_PER_WEEK;

/** BG/NBD: purchase rates Gamma(r, alpha) (alpha in weeks), drop-out probability after each purchase Beta(a, b). */
export interface BgNbdParameters {
  readonly r: number;
  readonly alpha: number;
  readonly a: number;
  readonly b: number;
}

/** Gamma-Gamma: a purchase's value Gamma(p, nu), with nu Gamma(q, gamma) across customers (gamma in the shop currency). */
export interface GammaGammaParameters {
  readonly p: number;
  readonly q: number;
  readonly gamma: number;
}

/** One customer's history as the models read it, at the end of their calibration period ("now"). */
export interface PurchaseHistory {
  /** x: purchase days after the first one. */
  readonly repeatPurchases: number;
  /** t_x: weeks from the first purchase day to the last (0 without repeat purchases). */
  readonly recencyWeeks: number;
  /** T: weeks from the first purchase day to the end of the calibration period. */
  readonly ageWeeks: number;
  /** zbar: mean value of the repeat purchase days (each day's orders summed); null without repeat purchases. */
  readonly meanRepeatValue: number | null;
}

/**
 * The BG/NBD fit's data: customers grouped by identical (x, t_x, T) in whole days, with how many
 * customers share each. The likelihood is a sum over customers, so a group weighs by its count.
 */
export interface HistoryGroups {
  readonly repeatPurchases: readonly number[];
  readonly recencyDays: readonly number[];
  readonly ageDays: readonly number[];
  readonly customers: readonly number[];
}

/**
 * The Gamma-Gamma fit's data: customers with at least one repeat purchase of positive value, grouped
 * by identical (x, total value of the repeat purchase days); the mean is total / x.
 */
export interface SpendGroups {
  readonly repeatPurchases: readonly number[];
  readonly repeatValue: readonly number[];
  readonly customers: readonly number[];
}

/** Maximum-likelihood BG/NBD parameters and the log-likelihood there. */
export interface BgNbdFit extends BgNbdParameters {
  readonly logLikelihood: number;
}

/** Maximum-likelihood Gamma-Gamma parameters and the log-likelihood there. */
export interface GammaGammaFit extends GammaGammaParameters {
  readonly logLikelihood: number;
}

/**
 * The BG/NBD log-likelihood of the groups (FHL 2005), per customer:
 *   ln[Γ(r+x) α^r / Γ(r)] + ln[B(a, b+x) / B(a, b)] + ln[(α+T)^-(r+x) + [x>0] a/(b+x-1) (α+t_x)^-(r+x)].
 */
export function bgNbdLogLikelihood(params: BgNbdParameters, groups: HistoryGroups): number {
  return bgNbdEvaluator(groups)(params);
}

/**
 * The Gamma-Gamma log-likelihood of the groups (FHL 2005b, from the density of a mean of x
 * Gamma(p, nu) values mixed over nu), per customer with mean zbar:
 *   ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln zbar + px ln x - (px+q) ln(γ + x zbar).
 */
export function gammaGammaLogLikelihood(params: GammaGammaParameters, groups: SpendGroups): number {
  return gammaGammaEvaluator(groups)(params);
}

/**
 * Maximum-likelihood BG/NBD parameters. Throws a RangeError on empty groups, or when the
 * likelihood has no finite maximum in reach (a shop where nobody ever bought twice).
 */
export async function fitBgNbd(groups: HistoryGroups): Promise<BgNbdFit> {
  const logLikelihood = bgNbdEvaluator(groups);
  const customers = sum(groups.customers);
  const [r, alpha, a, b] = await maximizeInLogSpace((theta) => logLikelihood({ r: theta[0]!, alpha: theta[1]!, a: theta[2]!, b: theta[3]! }) / customers, 4);
  const fit = { r: r!, alpha: alpha!, a: a!, b: b! };
  return { ...fit, logLikelihood: logLikelihood(fit) };
}

/** Maximum-likelihood Gamma-Gamma parameters; throws a RangeError as fitBgNbd does. */
export async function fitGammaGamma(groups: SpendGroups): Promise<GammaGammaFit> {
  const logLikelihood = gammaGammaEvaluator(groups);
  const customers = sum(groups.customers);
  const [p, q, gamma] = await maximizeInLogSpace((theta) => logLikelihood({ p: theta[0]!, q: theta[1]!, gamma: theta[2]! }) / customers, 3);
  const fit = { p: p!, q: q!, gamma: gamma! };
  return { ...fit, logLikelihood: logLikelihood(fit) };
}

/**
 * P(alive): the probability that a customer with this history has not dropped out (FHL 2005):
 * 1 / (1 + [x>0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x)). 1 without repeat purchases (in
 * BG/NBD a customer can only drop out right after a purchase).
 */
export function probabilityAlive(params: BgNbdParameters, history: PurchaseHistory): number {
  const { r, alpha, a, b } = params;
  const { repeatPurchases: x, recencyWeeks: tx, ageWeeks: T } = history;
  if (x === 0) return 1;
  const logOdds = Math.log(a) - Math.log(b + x - 1) + (r + x) * (Math.log(alpha + T) - Math.log(alpha + tx));
  return 1 / (1 + Math.exp(logOdds));
}

/**
 * Expected purchases in the next `weeks` after the calibration end, given the history (FHL 2005,
 * the conditional expectation): (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] P(alive).
 * NaN where the hypergeometric function cannot be evaluated (cephes reports a loss of precision).
 */
export function expectedPurchases(params: BgNbdParameters, history: PurchaseHistory, weeks: number): number {
  if (weeks <= 0) return 0;
  const { r, alpha, a, b } = params;
  const { repeatPurchases: x, ageWeeks: T } = history;
  const horizon = alpha + T + weeks;
  const survival = Math.exp((r + x) * (Math.log(alpha + T) - Math.log(horizon)));
  const hypergeometric = safely(() => hyp2f1(r + x, b + x, a + b + x - 1, weeks / horizon));
  return ((a + b + x - 1) / (a - 1)) * (1 - survival * hypergeometric) * probabilityAlive(params, history);
}

/**
 * Expected value of this customer's next purchases (FHL 2005b): a weighted mean of the
 * population mean pγ/(q-1) and their own mean repeat value, p(γ + x zbar) / (px + q - 1). Null
 * when that mean does not exist (q <= 1 for a customer without repeat purchases).
 */
export function expectedOrderValue(params: GammaGammaParameters, history: PurchaseHistory): number | null {
  const { p, q, gamma } = params;
  const x = history.repeatPurchases;
  const denominator = p * x + q - 1;
  if (denominator <= 0) return null;
  return (p * (gamma + x * (history.meanRepeatValue ?? 0))) / denominator;
}

export interface LifetimeValueOptions {
  /** How many months ahead the value counts. */
  readonly months: number;
  /** Yearly discount rate (0.1 = 10 %), applied monthly as (1 + rate)^(1/12) - 1. */
  readonly annualDiscountRate: number;
}

/**
 * Discounted customer lifetime value over the next `months`, as lifetimes' `customer_lifetime_value`
 * computes it: the sum over months m = 1..M of expected order value x (E[purchases by the end of
 * month m] - E[purchases by the end of month m-1]) / (1 + monthly rate)^m, with BG/NBD expectations
 * conditional on the history and months of 365.25 / 12 days. Null where a part is undefined.
 */
export function lifetimeValue(bgnbd: BgNbdParameters, gammaGamma: GammaGammaParameters, history: PurchaseHistory, options: LifetimeValueOptions): number | null {
  const spend = expectedOrderValue(gammaGamma, history);
  if (spend === null) return null;
  const monthlyRate = (1 + options.annualDiscountRate) ** (1 / 12) - 1;
  let value = 0;
  let before = 0;
  for (let month = 1; month <= options.months; month++) {
    const byEnd = expectedPurchases(bgnbd, history, month * WEEKS_PER_MONTH);
    value += (spend * (byEnd - before)) / (1 + monthlyRate) ** month;
    before = byEnd;
  }
  return Number.isFinite(value) ? value : null;
}

/**
 * The BG/NBD log-likelihood as a function of the parameters, over fixed groups. Terms that depend
 * on x alone are computed once per distinct x, and ln(α + days/7) once per distinct day, so one
 * evaluation costs an exp and a log1p per group.
 */
function bgNbdEvaluator(groups: HistoryGroups): (params: BgNbdParameters) => number {
  requireGroups(groups.customers, 'customer histories');
  const { index, distinct } = indexDistinct(groups.repeatPurchases);
  const maxDay = groups.ageDays.reduce((max, day) => Math.max(max, day), 0);
  const recency = Int32Array.from(groups.recencyDays);
  const age = Int32Array.from(groups.ageDays);
  const counts = Float64Array.from(groups.customers);
  const perX = new Float64Array(distinct.length);
  const dropOut = new Float64Array(distinct.length);
  const lnDay = new Float64Array(maxDay + 1);
  return ({ r, alpha, a, b }) => {
    if (!(r > 0 && alpha > 0 && a > 0 && b > 0)) return NaN;
    const shared = -lgam(r) + r * Math.log(alpha) + lgam(a + b) - lgam(b);
    distinct.forEach((x, i) => {
      perX[i] = shared + lgam(r + x) + lgam(b + x) - lgam(a + b + x);
      dropOut[i] = x > 0 ? Math.log(a) - Math.log(b + x - 1) : NaN;
    });
    for (let day = 0; day <= maxDay; day++) lnDay[day] = Math.log(alpha + day / DAYS_PER_WEEK);
    let total = 0;
    for (let g = 0; g < counts.length; g++) {
      const i = index[g]!;
      const rx = r + distinct[i]!;
      const stillAlive = -rx * lnDay[age[g]!]!;
      let ll = stillAlive;
      if (distinct[i]! > 0) {
        const droppedOut = dropOut[i]! - rx * lnDay[recency[g]!]!;
        const high = Math.max(stillAlive, droppedOut);
        ll = high + Math.log1p(Math.exp(-Math.abs(stillAlive - droppedOut)));
      }
      total += counts[g]! * (perX[i]! + ll);
    }
    return total;
  };
}

/** The Gamma-Gamma log-likelihood as a function of the parameters, over fixed groups. */
function gammaGammaEvaluator(groups: SpendGroups): (params: GammaGammaParameters) => number {
  requireGroups(groups.customers, 'customers with repeat purchases');
  const { index, distinct } = indexDistinct(groups.repeatPurchases);
  const totals = Float64Array.from(groups.repeatValue);
  const lnMean = totals.map((total, g) => Math.log(total / groups.repeatPurchases[g]!));
  const counts = Float64Array.from(groups.customers);
  const customers = sum(groups.customers);
  const perX = new Float64Array(distinct.length);
  return ({ p, q, gamma }) => {
    if (!(p > 0 && q > 0 && gamma > 0)) return NaN;
    distinct.forEach((x, i) => {
      perX[i] = lgam(p * x + q) - lgam(p * x) + p * x * Math.log(x);
    });
    let total = customers * (q * Math.log(gamma) - lgam(q));
    for (let g = 0; g < counts.length; g++) {
      const i = index[g]!;
      const px = p * distinct[i]!;
      total += counts[g]! * (perX[i]! + (px - 1) * lnMean[g]! - (px + q) * Math.log(gamma + totals[g]!));
    }
    return total;
  };
}

/**
 * Maximizes a positive-parameter function through its logarithms (so every step stays in the
 * domain), restarting Nelder-Mead from its own answer until a restart no longer improves it: a
 * simplex can collapse before the optimum, and a fresh one shows whether it did.
 */
async function maximizeInLogSpace(f: (theta: readonly number[]) => number, dimensions: number): Promise<number[]> {
  const objective = (logTheta: readonly number[]) => -f(logTheta.map(Math.exp));
  let best = await nelderMead(objective, new Array<number>(dimensions).fill(0), { step: 1 });
  for (let restart = 0; restart < 5; restart++) {
    const again = await nelderMead(objective, best.x, { step: 0.1 });
    const improved = best.fx - again.fx;
    best = again.fx < best.fx ? again : best;
    if (improved < 1e-10) break;
  }
  if (!Number.isFinite(best.fx) || best.x.some((v) => !Number.isFinite(v) || Math.abs(v) > 50)) {
    throw new RangeError(`expected the likelihood to have a finite maximum, got parameters ${best.x.map((v) => Math.exp(v)).join(', ')}`);
  }
  return best.x.map(Math.exp);
}

function indexDistinct(values: readonly number[]): { index: Int32Array; distinct: number[] } {
  const distinct = [...new Set(values)];
  const position = new Map(distinct.map((value, i) => [value, i]));
  return { index: Int32Array.from(values, (value) => position.get(value)!), distinct };
}

function requireGroups(customers: readonly number[], what: string): void {
  if (customers.length === 0 || sum(customers) === 0) throw new RangeError(`expected ${what} to fit, got none`);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** cephes throws where it loses precision; a prediction there is NaN rather than a failed request. */
function safely(evaluate: () => number): number {
  try {
    return evaluate();
  } catch {
    return NaN;
  }
}
