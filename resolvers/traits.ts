import { predictClv } from '../sources/commerce/index.ts';
import { ACTIVITY_READS } from '../cache/activity.ts';
import type { CartRecoveryResolvers, DataSource, PredictedValueResolvers, TraitInputResolvers, TraitsResolvers, ValueModelResolvers } from './generated/types.ts';
import { traitFreshness } from './trait-freshness.ts';
import { predictionDays } from './arguments.ts';
import { shopRecord } from './lookup.ts';

/** CLV_LIFETIME_MONTHS and CLV_ANNUAL_DISCOUNT_RATE when the server's settings leave them out. */
const CLV_DEFAULTS = { lifetimeMonths: 12, annualDiscountRate: 0.1 };

export const Traits: TraitsResolvers = {
  // The customer's own history is read live (one statement for the request's customers); the
  // parameters were fitted in the background, so a prediction waits for a fit only when none was
  // ever made.
  predictedValue: async (customer, { days }, { loaders, settings }) => {
    const summary = await loaders.clvSummary.load(shopRecord(customer).id);
    if (!summary) return null;
    const fit = await loaders.clvFit();
    const prediction = predictClv(fit, summary, { horizonDays: predictionDays(days), ...(settings.clv ?? CLV_DEFAULTS) });
    return { prediction, summary, fit };
  },
  cartRecovery: async (customer, _, { loaders }) => {
    const carts = await loaders.carts.load(shopRecord(customer).id);
    return carts.abandoned && { cart: carts.abandoned, carts, asOf: carts.asOf, email: customer.email };
  },
};

export const CartRecovery: CartRecoveryResolvers = {
  minutesSinceAbandoned: ({ cart, asOf }) => Math.max(0, Math.floor((asOf.getTime() - cart.updatedAt.getTime()) / 60_000)),
  // The newest open is the same read as EmailMarketing.lastOpenedAt's (one call, cached alike).
  openedEmailSince: async ({ cart, email }, _, { loaders }) => {
    const feed = await loaders.emailActivity(ACTIVITY_READS.lastOpen).load(email);
    if (feed === null) return null;
    const newest = feed[0]?.at;
    return newest !== undefined && newest.getTime() > cart.updatedAt.getTime();
  },
  freshness: ({ carts }, _, context) => traitFreshness(context, [{ source: 'commerce', data: 'carts', value: carts }]),
};

export const PredictedValue: PredictedValueResolvers = {
  expectedPurchases: ({ prediction }) => prediction.expectedPurchases,
  horizonDays: ({ prediction }) => prediction.horizonDays,
  probabilityActive: ({ prediction }) => prediction.probabilityAlive,
  expectedOrderValue: ({ prediction }) => prediction.expectedOrderValue,
  lifetimeValue: ({ prediction }) => prediction.clv,
  lifetimeMonths: ({ prediction }) => prediction.lifetimeMonths,
  annualDiscountRate: ({ prediction }) => prediction.annualDiscountRate,
  asOf: ({ prediction }) => prediction.asOf,
  model: ({ fit }) => fit,
  freshness: ({ summary, fit }, _, context) =>
    traitFreshness(context, [
      { source: 'commerce', data: 'orders', value: summary },
      { source: 'commerce', data: 'value model', readAt: fit.fittedAt },
    ]),
};

export const TraitInput: TraitInputResolvers = {
  source: ({ source }) => source.toUpperCase() as DataSource,
};

export const ValueModel: ValueModelResolvers = {
  r: (fit) => fit.bgnbd.r,
  alpha: (fit) => fit.bgnbd.alpha,
  a: (fit) => fit.bgnbd.a,
  b: (fit) => fit.bgnbd.b,
  p: (fit) => fit.gammaGamma.p,
  q: (fit) => fit.gammaGamma.q,
  gamma: (fit) => fit.gammaGamma.gamma,
};
