import type { PriceTierBoundaries, PurchaseEvidence } from '../sources/commerce/index.ts';
import { DEFAULT_AFFINITY_HALF_LIFE_DAYS, scoreAffinities, type AffinityScores } from '../traits/affinity.ts';
import type { BrowsingEvidence, WebConsent } from '../sources/web/index.ts';
import type { AffinitiesResolvers, TraitsResolvers } from './generated/types.ts';
import { affinityCategories, affinityDays } from './arguments.ts';
import { traitFreshness } from './trait-freshness.ts';
import { subjectOf } from './visitor.ts';

/** `Traits.affinities`: the scores, and the inputs they were computed from (for `freshness`). */
export interface AffinitiesOfRecord {
  readonly scores: AffinityScores;
  readonly days: number;
  readonly halfLifeDays: number;
  readonly consent: WebConsent;
  /** Null when the analytics consent withholds browsing. */
  readonly browsing: readonly BrowsingEvidence[] | null;
  readonly purchases: PurchaseEvidence;
  readonly tiers: PriceTierBoundaries;
}

export const TraitsAffinities: Pick<TraitsResolvers, 'affinities'> = {
  // Consent, purchases and tiers are read together; browsing waits for the consent only, as
  // Customer.web does (a withheld consent reads none of it).
  affinities: async (customer, { days }, { loaders, settings }) => {
    const window = affinityDays(days);
    const subject = subjectOf(customer);
    const browsingOf = async (consent: WebConsent) =>
      consent.analytics?.granted === false ? null : loaders.webAffinityEvidence.load({ ...subject, days: window });
    const consented = loaders.webConsent.load(subject).then(async (consent) => ({ consent, browsing: await browsingOf(consent) }));
    const [{ consent, browsing }, purchases, tiers] = await Promise.all([consented, loaders.purchaseEvidence.load(subject.userId!), loaders.priceTiers()]);
    const halfLifeDays = settings.affinityHalfLifeDays ?? DEFAULT_AFFINITY_HALF_LIFE_DAYS;
    const scores = scoreAffinities(browsing, purchases.rows, tiers, { days: window, halfLifeDays });
    return scores && { scores, days: window, halfLifeDays, consent, browsing, purchases, tiers };
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
      { source: 'commerce', data: 'completed orders', value: purchases },
      { source: 'commerce', data: 'price tiers', readAt: tiers.computedAt },
    ]),
};
