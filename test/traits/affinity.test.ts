import { describe, expect, it } from 'vitest';
import type { PurchaseEvidenceRow } from '../../sources/commerce/index.ts';
import type { BrowsingEvidence } from '../../sources/web/index.ts';
import { scoreAffinities } from '../../traits/affinity.ts';
import { tierOf, type PriceTierBoundaries } from '../../sources/commerce/price-tiers.ts';

// Shoes: tertiles 40 and 100; Books: 10 and 20; Toys has too few products for tiers.
const tiers: PriceTierBoundaries = {
  currencyCode: 'USD',
  byCategory: new Map([
    ['Shoes', [40, 100] as const],
    ['Books', [10, 20] as const],
  ]),
  products: 60,
  computedAt: new Date('2026-11-01T00:00:00Z'),
};
const options = { days: 90, halfLifeDays: 14 };

const browsed = (row: Partial<BrowsingEvidence> & Pick<BrowsingEvidence, 'category'>): BrowsingEvidence => ({
  price: null,
  currencyCode: 'USD',
  ageDays: 0,
  views: 0,
  seconds: 0,
  timedSeconds: 0,
  cartAdds: 0,
  ...row,
});
const bought = (row: Partial<PurchaseEvidenceRow> & Pick<PurchaseEvidenceRow, 'category'>): PurchaseEvidenceRow => ({ price: '10.00', ageDays: 0, units: 1, ...row });

describe('tierOf', () => {
  it('puts a price at or below the first tertile in BUDGET, up to the second in MID, above in PREMIUM', () => {
    expect([39.99, 40, 40.01, 100, 100.01].map((p) => tierOf(tiers, 'Shoes', p))).toEqual(['BUDGET', 'BUDGET', 'MID', 'MID', 'PREMIUM']);
  });

  it('gives no tier to a category without boundaries, a missing price or another currency', () => {
    expect(tierOf(tiers, 'Toys', 5)).toBeNull();
    expect(tierOf(tiers, 'Shoes', null)).toBeNull();
    expect(tierOf(tiers, 'Shoes', Number.NaN)).toBeNull();
    expect(tierOf(tiers, 'Shoes', 150, 'EUR')).toBeNull();
  });
});

describe('scoreAffinities', () => {
  it('shows premium shoes to a customer who lingers on high-end shoes', () => {
    // Today: 2 views of 250-dollar shoes, 12 minutes on them, but each view counts at most 10:
    // the reader capped them to 9 minutes in all. Weight 2 + 9 = 11.
    // 14 days ago (one half-life): a 30-dollar book bought, weight 5, decayed to 2.5.
    const scores = scoreAffinities(
      [browsed({ category: 'Shoes', price: '250.00', views: 2, seconds: 720, timedSeconds: 540 })],
      [bought({ category: 'Books', price: '30.00', ageDays: 14 })],
      tiers,
      options,
    );
    expect(scores).toEqual({
      categories: [
        { category: 'Shoes', score: 11 / 13.5, preferredTier: 'PREMIUM', evidence: { productViews: 2, secondsOnPage: 720, cartAdds: 0, purchases: 0 } },
        { category: 'Books', score: 2.5 / 13.5, preferredTier: 'PREMIUM', evidence: { productViews: 0, secondsOnPage: 0, cartAdds: 0, purchases: 1 } },
      ],
      priceTiers: [{ tier: 'PREMIUM', score: 1, evidence: { productViews: 2, secondsOnPage: 720, cartAdds: 0, purchases: 1 } }],
    });
  });

  it('weighs views 1 plus a minute each, cart units 3, bought units 5, halved every half-life', () => {
    const scores = scoreAffinities(
      [
        // 3 views, 2 minutes: 5; and 2 units added: 6 -> 11 today, in MID.
        browsed({ category: 'Shoes', price: '60.00', views: 3, seconds: 120, timedSeconds: 120 }),
        browsed({ category: 'Shoes', price: '60.00', cartAdds: 2 }),
        // 4 views, no time, 28 days ago (two half-lives): 4 / 4 = 1, in BUDGET.
        browsed({ category: 'Books', price: '5.00', ageDays: 28, views: 4 }),
      ],
      // 2 units of a toy today: 10, no tier (Toys has no boundaries).
      [bought({ category: 'Toys', price: '12.00', units: 2 })],
      tiers,
      options,
    )!;
    expect(scores.categories.map((c) => [c.category, c.score, c.preferredTier])).toEqual([
      ['Shoes', 11 / 22, 'MID'],
      ['Toys', 10 / 22, null],
      ['Books', 1 / 22, 'BUDGET'],
    ]);
    expect(scores.priceTiers.map((t) => [t.tier, t.score])).toEqual([
      ['MID', 11 / 12],
      ['BUDGET', 1 / 12],
    ]);
    expect(scores.categories[0]!.evidence).toEqual({ productViews: 3, secondsOnPage: 120, cartAdds: 2, purchases: 0 });
  });

  it('counts only evidence younger than the window, and is null when none is', () => {
    const old = [browsed({ category: 'Shoes', ageDays: 30, views: 5 })];
    expect(scoreAffinities(old, [bought({ category: 'Books', ageDays: 45 })], tiers, { days: 30, halfLifeDays: 14 })).toBeNull();
    const scores = scoreAffinities(old, [bought({ category: 'Books', ageDays: 29 })], tiers, { days: 30, halfLifeDays: 14 })!;
    expect(scores.categories.map((c) => [c.category, c.score])).toEqual([['Books', 1]]);
    expect(scoreAffinities([], [], tiers, options)).toBeNull();
  });

  it('rests on purchases alone when browsing may not be used', () => {
    const scores = scoreAffinities(null, [bought({ category: 'Shoes', price: '20.00' }), bought({ category: 'Books', price: '15.00', units: 3 })], tiers, options)!;
    expect(scores.categories.map((c) => [c.category, c.score, c.preferredTier])).toEqual([
      ['Books', 0.75, 'MID'],
      ['Shoes', 0.25, 'BUDGET'],
    ]);
  });

  it('breaks ties by category name and picks the cheaper tier on an even split within a category', () => {
    const scores = scoreAffinities(
      null,
      [bought({ category: 'Shoes', price: '20.00' }), bought({ category: 'Shoes', price: '200.00' }), bought({ category: 'Books', price: '5.00', units: 2 })],
      tiers,
      options,
    )!;
    expect(scores.categories.map((c) => [c.category, c.preferredTier])).toEqual([
      ['Books', 'BUDGET'],
      ['Shoes', 'BUDGET'],
    ]);
    expect(scores.priceTiers.map((t) => [t.tier, t.score])).toEqual([
      ['BUDGET', 0.75],
      ['PREMIUM', 0.25],
    ]);
  });
});
