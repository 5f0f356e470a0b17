import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  expectedOrderValue,
  expectedPurchases,
  lifetimeValue,
  probabilityAlive,
  WEEKS_PER_MONTH,
  type BgNbdParameters,
  type GammaGammaParameters,
  type PurchaseHistory,
} from '../../sources/commerce/clv-fit.ts';
import { clvFitInput, clvModel, clvSummaries, predictClv, type ClvFit, type ClvWindow } from '../../sources/commerce/clv.ts';
import type { Queryable } from '../../sources/commerce/db.ts';
import { SourceError } from '../../sources/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/**
 * CDNOW's purchase histories (../shared/reference/data) loaded as a shop: a table of our own,
 * `cdnow_purchases`, and the contract's `orders` as a view over it (the predicted-value statements
 * read `orders` alone). Each purchase is placed at noon UTC on its day; the calibration period of
 * the published fits ends on 1997-09-30.
 */
const DATA = new URL('../../../shared/reference/data/', import.meta.url);
const CALIBRATION_END = new Date('1997-09-30T23:59:59Z');
const CDNOW: ClvWindow = { currency: 'USD', now: CALIBRATION_END, timeZone: 'UTC' };
/** Fader, Hardie and Lee (2005), both papers: the maximum-likelihood estimates on this sample. */
const PUBLISHED_BGNBD: BgNbdParameters = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
const PUBLISHED_GAMMA_GAMMA: GammaGammaParameters = { p: 6.25, q: 3.74, gamma: 15.44 };
/** The transactions run to 1998-06-30: 39 weeks after the calibration period, which the fit does not read. */
const HOLDOUT_WEEKS = 39;

/**
 * Under BG/NBD, the probability of at least one purchase in the next `weeks`: alive now, and the
 * Poisson process (rate posterior Gamma(r + x, alpha + T)) fires (drop-out happens only after a purchase).
 */
function anyPurchase(params: BgNbdParameters, h: PurchaseHistory, alive: number): number {
  return alive * -Math.expm1((params.r + h.repeatPurchases) * Math.log((params.alpha + h.ageWeeks) / (params.alpha + h.ageWeeks + HOLDOUT_WEEKS)));
}

async function loadCdnow(db: TestDatabase): Promise<void> {
  const lines = (await readFile(new URL('cdnow-sample-transactions.txt', DATA), 'utf8')).trim().split(/\r?\n/);
  const columns = lines.map((line) => line.trim().split(/\s+/));
  await db.pool.query(`
    CREATE TABLE cdnow_purchases (
      id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      master_id    INTEGER NOT NULL,
      customer_id  BIGINT NOT NULL,
      purchased_on DATE NOT NULL,
      cds          INTEGER NOT NULL,
      dollars      NUMERIC(10, 2) NOT NULL);
    CREATE INDEX cdnow_purchases_customer_idx ON cdnow_purchases (customer_id, purchased_on);
    CREATE VIEW orders AS
      SELECT id, customer_id, (purchased_on + time '12:00') AT TIME ZONE 'UTC' AS placed_at,
             'completed'::text AS status, dollars AS total_amount, 'USD'::char(3) AS currency
        FROM cdnow_purchases;`);
  await db.pool.query(
    `INSERT INTO cdnow_purchases (master_id, customer_id, purchased_on, cds, dollars)
     SELECT * FROM unnest($1::int[], $2::bigint[], $3::date[], $4::int[], $5::numeric[])`,
    [0, 1, 2, 3, 4].map((i) => columns.map((c) => (i === 2 ? `${c[2]!.slice(0, 4)}-${c[2]!.slice(4, 6)}-${c[2]!.slice(6)}` : c[i]))),
  );
}

interface PublishedSummary {
  id: string;
  x: number;
  tx: number;
  T: number;
  zbar: number;
}

async function publishedSummary(): Promise<PublishedSummary[]> {
  const [, ...rows] = (await readFile(new URL('cdnow-customers-summary.csv', DATA), 'utf8')).trim().split(/\r?\n/);
  return rows.map((row) => {
    const [id, x, tx, T, zbar] = row.split(',');
    return { id: id!, x: Number(x), tx: Number(tx), T: Number(T), zbar: Number(zbar) };
  });
}

let db: TestDatabase;
let published: PublishedSummary[];
const statements: string[] = [];
/** While set, every statement fails as a refused connection does (and is still counted). */
let databaseDown = false;
const counting: Queryable = {
  query: (text, values) => {
    statements.push(text);
    if (databaseDown) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    return db.pool.query(text, values);
  },
};
const fitStatements = () => statements.filter((text) => text.includes('histories AS')).length;

beforeAll(async () => {
  db = await createTestDatabase();
  await loadCdnow(db);
  published = await publishedSummary();
});
afterAll(async () => db?.close());

describe('the CDNOW calibration summary from the shop', () => {
  it('summarizes all 2,357 customers as the published summary does, in key order', async () => {
    const ids = published.map((row) => row.id).reverse();
    statements.length = 0;
    const summaries = await clvSummaries(counting, [...ids, '999999', ids[0]!], CDNOW);
    expect(statements).toHaveLength(1);
    expect(summaries).toHaveLength(2359);
    expect(summaries[2357]).toBeNull();
    expect(summaries[2358]).toEqual(summaries[0]);
    // The published file rounds weeks and dollars to two decimals.
    const mismatches = ids.flatMap((id, i) => {
      const ours = summaries[i]!;
      const theirs = published.find((row) => row.id === id)!;
      const close = (a: number, b: number) => Math.abs(a - b) <= 0.005 + 1e-9;
      const agree = ours.repeatPurchases === theirs.x && close(ours.recencyWeeks, theirs.tx) && close(ours.ageWeeks, theirs.T) && close(ours.meanRepeatValue ?? 0, theirs.zbar);
      return agree ? [] : [{ id, ours, theirs }];
    });
    expect(mismatches).toEqual([]);
  });

  it('groups the fit data in SQL exactly as the published summary groups by (x, t_x, T)', async () => {
    const input = await clvFitInput(counting, CDNOW);
    const key = (x: number, txDays: number, tDays: number) => `${x}:${txDays}:${tDays}`;
    const expected = new Map<string, number>();
    for (const row of published) {
      const k = key(row.x, Math.round(row.tx * 7), Math.round(row.T * 7));
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    const { histories } = input;
    const actual = new Map(histories.customers.map((n, i) => [key(histories.repeatPurchases[i]!, histories.recencyDays[i]!, histories.ageDays[i]!), n]));
    expect(actual).toEqual(expected);
    expect(input).toMatchObject({ customers: 2357, repeatCustomers: 946 });
  });
});

describe('the fit, through the server path, reproduces the published estimates', () => {
  let fit: ClvFit;
  beforeAll(async () => {
    const model = clvModel(counting, { currency: 'USD', timeZone: 'UTC', refreshMs: 600_000, now: () => CALIBRATION_END });
    await model.start();
    model.stop();
    fit = model.current()!;
  });

  it('gives BG/NBD r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (to two decimals), log-likelihood -9582.4', () => {
    expect(fit.bgnbd.r).toBeCloseTo(PUBLISHED_BGNBD.r, 2);
    expect(fit.bgnbd.alpha).toBeCloseTo(PUBLISHED_BGNBD.alpha, 2);
    expect(fit.bgnbd.a).toBeCloseTo(PUBLISHED_BGNBD.a, 2);
    expect(fit.bgnbd.b).toBeCloseTo(PUBLISHED_BGNBD.b, 2);
    expect(Math.abs(fit.bgnbd.logLikelihood - -9582.4)).toBeLessThan(0.05);
  });

  it('gives Gamma-Gamma p = 6.25, q = 3.74, gamma = 15.44 within 0.015', () => {
    expect(Math.abs(fit.gammaGamma.p - PUBLISHED_GAMMA_GAMMA.p)).toBeLessThan(0.015);
    expect(Math.abs(fit.gammaGamma.q - PUBLISHED_GAMMA_GAMMA.q)).toBeLessThan(0.015);
    expect(Math.abs(fit.gammaGamma.gamma - PUBLISHED_GAMMA_GAMMA.gamma)).toBeLessThan(0.015);
  });

  it('says when it was fitted, on how many customers, and how long it took', () => {
    expect(fit).toMatchObject({ fittedAt: CALIBRATION_END, customers: 2357, repeatCustomers: 946 });
    expect(fit.fitMs).toBeGreaterThan(0);
  });

  // Measured: 1,653 purchase days predicted against 1,882 (12% under, as the published parameters
  // give: the model's own error on this sample, worst for customers with 1 or 2 repeat purchases,
  // as in FHL 2005's conditional-expectation plot); 617 customers expected to buy again against 684.
  it('predicts the 39 weeks after calibration, which the fit never read, within 15%, as the published parameters do', async () => {
    const ids = published.map((row) => row.id);
    const summaries = await clvSummaries(counting, ids, CDNOW);
    const { rows } = await db.pool.query<{ id: string; days: number }>(
      `SELECT customer_id::text AS id, count(DISTINCT purchased_on)::int AS days FROM cdnow_purchases WHERE purchased_on > DATE '1997-09-30' GROUP BY 1`,
    );
    const actual = new Map(rows.map((row) => [row.id, row.days]));
    const holdout = ids.map((id, i) => {
      const summary = summaries[i]!;
      const prediction = predictClv(fit, summary, { horizonDays: HOLDOUT_WEEKS * 7, lifetimeMonths: 12, annualDiscountRate: 0.1 });
      return {
        x: summary.repeatPurchases,
        predicted: prediction.expectedPurchases!,
        published: expectedPurchases(PUBLISHED_BGNBD, summary, HOLDOUT_WEEKS),
        anyPurchase: anyPurchase(fit.bgnbd, summary, prediction.probabilityAlive),
        actual: actual.get(id) ?? 0,
      };
    });
    type Row = (typeof holdout)[number];
    const sum = (list: readonly Row[], of: (row: Row) => number) => list.reduce((total, row) => total + of(row), 0);
    const predicted = sum(holdout, (row) => row.predicted);
    const observed = sum(holdout, (row) => row.actual);
    expect(Math.abs(predicted / sum(holdout, (row) => row.published) - 1)).toBeLessThan(0.005);
    expect(Math.abs(predicted / observed - 1)).toBeLessThan(0.15);

    // Conditional expectations by repeat purchases in calibration (0-6, 7+): rising, each within 30%.
    const byRepeats = [0, 1, 2, 3, 4, 5, 6, 7].map((x) => holdout.filter((row) => (x === 7 ? row.x >= 7 : row.x === x)));
    const means = byRepeats.map((group) => [sum(group, (row) => row.predicted) / group.length, sum(group, (row) => row.actual) / group.length] as const);
    for (let x = 1; x < means.length; x++) expect(means[x]![0]).toBeGreaterThan(means[x - 1]![0]);
    for (const [mean, truth] of means) expect(Math.abs(mean / truth - 1)).toBeLessThan(0.3);

    // The active probability, through the chance of buying again: as many buyers as expected
    // (within 15%), and the most likely tenth buys several times as often as the least likely half.
    const buyers = holdout.filter((row) => row.actual > 0).length;
    expect(Math.abs(sum(holdout, (row) => row.anyPurchase) / buyers - 1)).toBeLessThan(0.15);
    const ranked = [...holdout].sort((a, b) => a.anyPurchase - b.anyPurchase);
    const share = (list: readonly Row[]) => list.filter((row) => row.actual > 0).length / list.length;
    expect(share(ranked.slice(-Math.floor(ranked.length / 10)))).toBeGreaterThan(3 * share(ranked.slice(0, Math.floor(ranked.length / 2))));
  });

  it("predicts customer 1's next 39 weeks live from their orders as Hardie's worked example does (1.226)", async () => {
    const [summary] = await clvSummaries(counting, ['1'], CDNOW);
    const prediction = predictClv(fit, summary!, { horizonDays: 273, lifetimeMonths: 12, annualDiscountRate: 0.1 });
    expect(prediction.expectedPurchases).toBeCloseTo(1.226, 3);
    expect(prediction.probabilityAlive).toBeCloseTo(probabilityAliveByIntegration(fit.bgnbd, summary!), 6);
    expect(prediction).toMatchObject({
      horizonDays: 273,
      expectedOrderValue: { amount: expect.stringMatching(/^\d+\.\d\d$/), currencyCode: 'USD' },
      clv: { amount: expect.stringMatching(/^\d+\.\d\d$/), currencyCode: 'USD' },
      fittedAt: CALIBRATION_END,
      asOf: CALIBRATION_END,
    });
  });
});

/**
 * The BG/NBD posterior computed the long way, independently of the closed forms: λ integrated out
 * analytically (a Gamma moment), the drop-out probability p numerically. Substituting p = u^(1/a)
 * turns the Beta weight p^(a-1) dp into du/a, removing its singularity at 0; midpoint rule.
 */
function overDropOut(params: BgNbdParameters, integrand: (p: number) => number): number {
  const n = 200_000;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += integrand(((i + 0.5) / n) ** (1 / params.a));
  return sum / n / params.a;
}
/** E[λ^x e^(-λ s)] up to a constant that cancels: (α + s)^-(r+x). */
const gammaMoment = (params: BgNbdParameters, x: number, s: number) => (params.alpha + s) ** -(params.r + x);
function likelihoodByIntegration(params: BgNbdParameters, h: PurchaseHistory): number {
  const x = h.repeatPurchases;
  return overDropOut(params, (p) => {
    const alive = (1 - p) ** (x + params.b - 1) * gammaMoment(params, x, h.ageWeeks);
    const gone = x > 0 ? p * (1 - p) ** (x + params.b - 2) * gammaMoment(params, x, h.recencyWeeks) : 0;
    return alive + gone;
  });
}
function probabilityAliveByIntegration(params: BgNbdParameters, h: PurchaseHistory): number {
  const alive = overDropOut(params, (p) => (1 - p) ** (h.repeatPurchases + params.b - 1) * gammaMoment(params, h.repeatPurchases, h.ageWeeks));
  return alive / likelihoodByIntegration(params, h);
}
/** Alive at T, a customer makes (1 - e^(-λpt)) / p purchases in expectation over the next t. */
function expectedPurchasesByIntegration(params: BgNbdParameters, h: PurchaseHistory, weeks: number): number {
  const x = h.repeatPurchases;
  const rx = params.r + x;
  const base = params.alpha + h.ageWeeks;
  const future = overDropOut(params, (p) => {
    const survived = (1 - p) ** (x + params.b - 1) * base ** -rx;
    return (survived * -Math.expm1(-rx * Math.log1p((p * weeks) / base))) / p;
  });
  return future / likelihoodByIntegration(params, h);
}
/** Gamma-Gamma: the posterior mean of p/ν, ν ~ Gamma(q + px, γ + x zbar), integrated over ln ν. */
function expectedOrderValueByIntegration(params: GammaGammaParameters, h: PurchaseHistory): number {
  const shape = params.q + params.p * h.repeatPurchases;
  const rate = params.gamma + h.repeatPurchases * (h.meanRepeatValue ?? 0);
  let weight = 0;
  let weighted = 0;
  for (let s = -15; s < 8; s += 1e-4) {
    const w = Math.exp(shape * s - Math.exp(s) * rate);
    weight += w;
    weighted += w * (params.p / Math.exp(s));
  }
  return weighted / weight;
}

describe('predictions against hand computations', () => {
  const histories: Array<PurchaseHistory & { weeks: number }> = [
    { repeatPurchases: 2, recencyWeeks: 30.43, ageWeeks: 38.86, meanRepeatValue: 22.35, weeks: 39 },
    { repeatPurchases: 0, recencyWeeks: 0, ageWeeks: 38.86, meanRepeatValue: null, weeks: 52 },
    { repeatPurchases: 1, recencyWeeks: 2, ageWeeks: 38.86, meanRepeatValue: 14.96, weeks: 39 },
    { repeatPurchases: 10, recencyWeeks: 35, ageWeeks: 38, meanRepeatValue: 41.5, weeks: 20 },
  ];

  it("gives Hardie's 1.226 purchases in 39 weeks for x = 2, t_x = 30.43, T = 38.86 with the published parameters", () => {
    expect(expectedPurchases(PUBLISHED_BGNBD, histories[0]!, 39)).toBeCloseTo(1.226, 3);
  });

  it.each(histories)('matches the posterior integrated numerically for x = $repeatPurchases, t_x = $recencyWeeks, T = $ageWeeks', (h) => {
    expect(probabilityAlive(PUBLISHED_BGNBD, h)).toBeCloseTo(probabilityAliveByIntegration(PUBLISHED_BGNBD, h), 6);
    expect(expectedPurchases(PUBLISHED_BGNBD, h, h.weeks)).toBeCloseTo(expectedPurchasesByIntegration(PUBLISHED_BGNBD, h, h.weeks), 5);
    expect(expectedOrderValue(PUBLISHED_GAMMA_GAMMA, h)).toBeCloseTo(expectedOrderValueByIntegration(PUBLISHED_GAMMA_GAMMA, h), 6);
  });

  it('counts nobody without repeat purchases as gone, and nothing in no time', () => {
    expect(probabilityAlive(PUBLISHED_BGNBD, histories[1]!)).toBe(1);
    expect(expectedPurchases(PUBLISHED_BGNBD, histories[0]!, 0)).toBe(0);
  });

  it('values a lifetime undiscounted as spend times expected purchases, and discounting lowers it by at most the horizon factor', () => {
    for (const h of histories) {
      const spend = expectedOrderValue(PUBLISHED_GAMMA_GAMMA, h)!;
      const purchases = expectedPurchases(PUBLISHED_BGNBD, h, 24 * WEEKS_PER_MONTH);
      const undiscounted = lifetimeValue(PUBLISHED_BGNBD, PUBLISHED_GAMMA_GAMMA, h, { months: 24, annualDiscountRate: 0 })!;
      expect(undiscounted / (spend * purchases)).toBeCloseTo(1, 12);
      const discounted = lifetimeValue(PUBLISHED_BGNBD, PUBLISHED_GAMMA_GAMMA, h, { months: 24, annualDiscountRate: 0.1 })!;
      expect(discounted).toBeLessThan(undiscounted);
      expect(discounted).toBeGreaterThan(undiscounted / 1.1 ** 2);
    }
  });

  it('has no expected order value when the spend model has no mean', () => {
    expect(expectedOrderValue({ p: 6, q: 0.9, gamma: 15 }, histories[1]!)).toBeNull();
    expect(lifetimeValue(PUBLISHED_BGNBD, { p: 6, q: 0.9, gamma: 15 }, histories[1]!, { months: 12, annualDiscountRate: 0.1 })).toBeNull();
  });
});

describe('the parameters kept in the background', () => {
  const PATIENCE = { timeout: 20_000, interval: 10 };
  const logged = () => {
    const lines: Array<{ level: string; msg: string }> = [];
    return { lines, warn: (_: object, msg: string) => void lines.push({ level: 'warn', msg }), info: (_: object, msg: string) => void lines.push({ level: 'info', msg }) };
  };
  afterEach(() => {
    databaseDown = false;
  });

  it('fits at start-up, so a prediction runs only the statement for its own history', async () => {
    const model = clvModel(counting, { currency: 'USD', refreshMs: 600_000, now: () => CALIBRATION_END });
    expect(model.current()).toBeNull();
    statements.length = 0;
    await model.start();
    expect(fitStatements()).toBe(1);
    statements.length = 0;
    const summaries = await clvSummaries(counting, ['1', '2', '3'], CDNOW);
    const fit = await model.ensure();
    summaries.map((summary) => predictClv(fit, summary!, { horizonDays: 90, lifetimeMonths: 12, annualDiscountRate: 0.1 }));
    expect(statements).toHaveLength(1);
    model.stop();
  });

  it('fits once for every concurrent caller when start-up could not', async () => {
    const model = clvModel(counting, { currency: 'USD', refreshMs: 600_000, now: () => CALIBRATION_END });
    databaseDown = true;
    await model.start();
    expect(model.current()).toBeNull();
    databaseDown = false;
    statements.length = 0;
    const fits = await Promise.all([model.ensure(), model.ensure(), model.ensure()]);
    expect(fitStatements()).toBe(1);
    expect(new Set(fits).size).toBe(1);
    model.stop();
  });

  it('refits in the background, and keeps the previous fit while that fails', async () => {
    let clock = CALIBRATION_END;
    const log = logged();
    const model = clvModel(counting, { currency: 'USD', refreshMs: 20, now: () => clock });
    await model.start(log);
    clock = new Date(CALIBRATION_END.getTime() + 1000);
    await vi.waitFor(() => expect(model.current()?.fittedAt).toEqual(clock), PATIENCE);
    const kept = model.current();

    databaseDown = true;
    statements.length = 0;
    clock = new Date(CALIBRATION_END.getTime() + 2000);
    await vi.waitFor(() => expect(fitStatements()).toBeGreaterThanOrEqual(3), PATIENCE);
    expect(model.current()).toBe(kept);
    expect(log.lines).toEqual([{ level: 'warn', msg: 'CLV parameters could not be recomputed: predictions keep the previous ones' }]);

    databaseDown = false;
    await vi.waitFor(() => expect(model.current()?.fittedAt).toEqual(clock), PATIENCE);
    expect(log.lines.map((line) => line.level)).toEqual(['warn', 'info']);
    model.stop();
  });

  it('refuses to fit a shop with too few repeat customers, saying how many it has', async () => {
    const model = clvModel(counting, { currency: 'USD', refreshMs: 600_000, now: () => new Date('1997-01-03T00:00:00Z') });
    const failure = await model.ensure().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SourceError);
    expect(failure).toMatchObject({
      source: 'commerce',
      kind: 'bad_response',
      retryable: false,
      message: 'commerce: expected at least 10 customers with a repeat purchase to fit the purchase models, got 0',
    });
  });
});
