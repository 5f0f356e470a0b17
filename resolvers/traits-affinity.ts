import type { PriceTierBoundaries, PurchaseEvidence } from '../sources/commerce/index.ts';
import { DEFAULT_AFFINITY_HALF_LIFE_DAYS, scoreAffinities, type AffinityScores } from '../traits/affinity.ts';
import type { Context } from '../server/context.ts';
import type { BrowsingEvidence, WebConsent } from '../sources/web/index.ts';
import type { AffinitiesResolvers, AnonymousVisitorResolvers, TraitsResolvers, VisitorTraitsResolvers } from './generated/types.ts';
import { affinityCategories, affinityDays } from './arguments.ts';
import { traitFreshness } from './trait-freshness.ts';
import type { VisitorOfRecord } from './models.ts';
import { subjectOf } from './visitor.ts';

/** `Traits.affinities`: the scores, and the inputs they were computed from (for `freshness`). */
export interface AffinitiesOfRecord {
  readonly scores: AffinityScores;
  readonly days: number;
  readonly halfLifeDays: number;
  readonly consent: WebConsent;
  /** Null when the analytics consent withholds browsing. */
  readonly browsing: readonly BrowsingEvidence[] | null;
  /** Null for an anonymous browser, which has no orders. */
  readonly purchases: PurchaseEvidence | null;
  readonly tiers: PriceTierBoundaries;
}

/** The browser's evidence in the window, or null (nothing read) when its analytics consent withholds it. */
async function browsingOf(loaders: Context['loaders'], visitor: VisitorOfRecord, days: number) {
  const subject = subjectOf(visitor);
  const consent = await loaders.webConsent.load(subject);
  const browsing = consent.analytics?.granted === false ? null : await loaders.webAffinityEvidence.load({ ...subject, days });
  return { consent, browsing };
}

export const TraitsAffinities: Pick<TraitsResolvers, 'affinities'> = {
  // Consent, purchases and tiers are read together; browsing waits for the consent only, as
  // Customer.web does (a withheld consent reads none of it).
  affinities: async (customer, { days }, { loaders, settings }) => {
    const window = affinityDays(days);
    const [{ consent, browsing }, purchases, tiers] = await Promise.all([
      browsingOf(loaders, customer, window),
      loaders.purchaseEvidence.load(subjectOf(customer).userId!),
      loaders.priceTiers(),
    ]);
    const halfLifeDays = settings.affinityHalfLifeDays ?? DEFAULT_AFFINITY_HALF_LIFE_DAYS;
    const scores = scoreAffinities(browsing, purchases.rows, tiers, { days: window, halfLifeDays });
    return scores && { scores, days: window, halfLifeDays, consent, browsing, purchases, tiers };
  },
};

export const AnonymousVisitorTraits: Pick<AnonymousVisitorResolvers, 'traits'> = {
  traits: (visitor) => visitor,
};

export const VisitorTraits: VisitorTraitsResolvers = {
  // Browsing alone; a withheld consent reads nothing, so there is nothing to score.
  affinities: async (visitor, { days }, { loaders, settings }) => {
    const window = affinityDays(days);
    const [{ consent, browsing }, tiers] = await Promise.all([browsingOf(loaders, visitor, window), loaders.priceTiers()]);
    if (browsing === null) return null;
    const halfLifeDays = settings.affinityHalfLifeDays ?? DEFAULT_AFFINITY_HALF_LIFE_DAYS;
    const scores = scoreAffinities(browsing, [], tiers, { days: window, halfLifeDays });
    return scores && { scores, days: window, halfLifeDays, consent, browsing, purchases: null, tiers };
  },
};

export const Affinities: AffinitiesResolvers = {
  categories: ({ scores }, { first }) => scores.categories.slice(0, affinityCategories(first)),
  priceTiers: ({ scores }) => scores.priceTiers,
  browsingConsidered: ({ browsing }) => browsing !== null,
  freshness: ({ consent, browsing, purchases, tiers }, _, context) =>
    traitFreshness(context, [
      { source: 'web', data: 'analytics consent', value: consent },
      ...(browsing ? [{ source: 'web', data: 'product views and cart additions', value: browsing } as const] : []),
      ...(purchases ? [{ source: 'commerce', data: 'completed orders', value: purchases } as const] : []),
      { source: 'commerce', data: 'price tiers', readAt: tiers.computedAt },
    ]),
};
