import { tierOf, type PriceTier, type PriceTierBoundaries, type PurchaseEvidenceRow } from '../sources/commerce/index.ts';
import type { BrowsingEvidence } from '../sources/web/index.ts';

/**
 * The affinity trait's computation (pure): category and price-tier affinity from browsing, cart
 * additions and purchases, with recency decay. Its inputs are plain rows (the warehouse's browsing
 * evidence and the shop's purchase evidence, each already grouped by category, price and age in
 * whole days), so it is tested on hand-computed cases without either source.
 *
 * Score: each piece of evidence weighs
 *   views x 1 + minutes on those pages (each view's time counted up to a cap by the reader)
 *   + units added to the cart x 3 + units bought x 5,
 * decayed by 2^(-age / halfLifeDays) with its age in whole days at the read; a category's (or a
 * tier's) score is its decayed weight divided by the sum over all categories (tiers), so scores
 * are shares that sum to 1 and compare across customers.
 */

/** Weight of each kind of evidence before decay. */
export const AFFINITY_WEIGHTS = { view: 1, minuteOnPage: 1, cartAddUnit: 3, purchaseUnit: 5 } as const;

/** The half-life of the decay when the settings give none (TRAIT_AFFINITY_HALF_LIFE_DAYS). */
export const DEFAULT_AFFINITY_HALF_LIFE_DAYS = 14;

/** What a score rests on: undecayed counts in the window. */
export interface AffinityEvidence {
  readonly productViews: number;
  readonly secondsOnPage: number;
  readonly cartAdds: number;
  readonly purchases: number;
}

export interface CategoryAffinityScore {
  readonly category: string;
  readonly score: number;
  /** The tier with the highest decayed weight within the category; null when none of its evidence has a tier. */
  readonly preferredTier: PriceTier | null;
  readonly evidence: AffinityEvidence;
}

export interface PriceTierScore {
  readonly tier: PriceTier;
  readonly score: number;
  readonly evidence: AffinityEvidence;
}

export interface AffinityScores {
  /** Every category with evidence, highest score first (then by name). */
  readonly categories: readonly CategoryAffinityScore[];
  /** Every tier with evidence, highest score first; empty when no evidence has a tier. */
  readonly priceTiers: readonly PriceTierScore[];
}

export interface AffinityOptions {
  /** Only evidence younger than this many days counts. */
  readonly days: number;
  readonly halfLifeDays: number;
}

const TIERS: readonly PriceTier[] = ['BUDGET', 'MID', 'PREMIUM'];

interface Tally {
  weight: number;
  productViews: number;
  secondsOnPage: number;
  cartAdds: number;
  purchases: number;
}

const tally = (): Tally => ({ weight: 0, productViews: 0, secondsOnPage: 0, cartAdds: 0, purchases: 0 });

/**
 * Scores a customer's evidence (see the module comment). `browsing` is null when it may not be
 * used (analytics consent withheld): purchases alone then count. Null when the window holds no
 * evidence with any weight.
 */
export function scoreAffinities(
  browsing: readonly BrowsingEvidence[] | null,
  purchases: readonly PurchaseEvidenceRow[],
  tiers: PriceTierBoundaries,
  { days, halfLifeDays }: AffinityOptions,
): AffinityScores | null {
  const categories = new Map<string, { all: Tally; byTier: Map<PriceTier, number> }>();
  const byTier = new Map<PriceTier, Tally>();
  const add = (category: string, tier: PriceTier | null, ageDays: number, weight: number, counts: Omit<Tally, 'weight'>) => {
    if (ageDays >= days) return;
    const decayed = weight * 2 ** (-Math.max(0, ageDays) / halfLifeDays);
    let entry = categories.get(category);
    if (!entry) categories.set(category, (entry = { all: tally(), byTier: new Map() }));
    count(entry.all, decayed, counts);
    if (tier === null) return;
    entry.byTier.set(tier, (entry.byTier.get(tier) ?? 0) + decayed);
    let t = byTier.get(tier);
    if (!t) byTier.set(tier, (t = tally()));
    count(t, decayed, counts);
  };
  for (const row of browsing ?? []) {
    const weight = row.views * AFFINITY_WEIGHTS.view + (row.timedSeconds / 60) * AFFINITY_WEIGHTS.minuteOnPage + row.cartAdds * AFFINITY_WEIGHTS.cartAddUnit;
    const tier = tierOf(tiers, row.category, row.price === null ? null : Number(row.price), row.currencyCode);
    add(row.category, tier, row.ageDays, weight, { productViews: row.views, secondsOnPage: row.seconds, cartAdds: row.cartAdds, purchases: 0 });
  }
  for (const row of purchases) {
    const tier = tierOf(tiers, row.category, Number(row.price));
    add(row.category, tier, row.ageDays, row.units * AFFINITY_WEIGHTS.purchaseUnit, { productViews: 0, secondsOnPage: 0, cartAdds: 0, purchases: row.units });
  }
  const total = sum([...categories.values()].map((c) => c.all.weight));
  if (!(total > 0)) return null;
  const tierTotal = sum([...byTier.values()].map((t) => t.weight));
  return {
    categories: [...categories]
      .map(([category, { all, byTier: own }]) => ({ category, score: all.weight / total, preferredTier: strongest(own), evidence: evidenceOf(all) }))
      .sort((a, b) => b.score - a.score || (a.category < b.category ? -1 : a.category > b.category ? 1 : 0)),
    priceTiers:
      tierTotal > 0
        ? TIERS.filter((tier) => byTier.has(tier))
            .map((tier) => ({ tier, score: byTier.get(tier)!.weight / tierTotal, evidence: evidenceOf(byTier.get(tier)!) }))
            .sort((a, b) => b.score - a.score)
        : [],
  };
}

function count(into: Tally, decayed: number, counts: Omit<Tally, 'weight'>): void {
  into.weight += decayed;
  into.productViews += counts.productViews;
  into.secondsOnPage += counts.secondsOnPage;
  into.cartAdds += counts.cartAdds;
  into.purchases += counts.purchases;
}

/** The tier of highest weight; on a tie the cheaper one (TIERS order), so the answer is stable. */
function strongest(weights: ReadonlyMap<PriceTier, number>): PriceTier | null {
  let best: PriceTier | null = null;
  for (const tier of TIERS) if ((weights.get(tier) ?? 0) > (best === null ? 0 : weights.get(best)!)) best = tier;
  return best;
}

const evidenceOf = ({ productViews, secondsOnPage, cartAdds, purchases }: Tally): AffinityEvidence => ({ productViews, secondsOnPage, cartAdds, purchases });
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
