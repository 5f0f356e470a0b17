import { ACTIVITY_READS } from '../cache/activity.ts';
import type { Context } from '../server/context.ts';
import type { Money } from '../sources/commerce/model.ts';
import type { EmailMember } from '../sources/mailchimp/model.ts';
import { bestSendHour, consentReach, emailReach, preferredChannel, webVisits, type ChannelEvidence } from '../traits/channel.ts';
import { compare, emailPeriods } from '../traits/trend.ts';
import type {
  ChannelReachResolvers,
  ChannelTraitResolvers,
  EmailResponseResolvers,
  EngagementTrendResolvers,
  TraitsResolvers,
  VisitsByCampaignResolvers,
} from './generated/types.ts';
import { channelDays, trendDays } from './arguments.ts';
import { shopRecord } from './lookup.ts';
import type { CustomerOfRecord } from './models.ts';
import { traitFreshness, type TraitInputRead } from './trait-freshness.ts';
import { consentedWindow, subjectOf } from './visitor.ts';

// The channel and engagement-trend traits (schema/traits-channel.graphql). Each part reads only its
// own inputs through the request's loaders, so one failed source nulls only the parts that need it.

type Loaders = Context['loaders'];

/** `Traits.channel` and `Traits.engagementTrend`: whose, and over how many days. */
export interface ChannelTraitModel {
  readonly customer: CustomerOfRecord;
  readonly days: number;
}
export type EngagementTrendModel = ChannelTraitModel;

/** `ChannelTrait.email`: the member, with what its feed fields need. */
export interface EmailResponseModel extends ChannelTraitModel {
  readonly member: EmailMember;
}

const FEED = ACTIVITY_READS.engagement;
const DAY_MS = 86_400_000;

/** The member's newest opens and clicks; null when not in the audience (no feed is read for them). */
async function feedOf(loaders: Loaders, customer: CustomerOfRecord) {
  const member = await loaders.emailMember.load(customer.email);
  return member && loaders.emailActivity(FEED).load(customer.email);
}

/** Their session starts by source in the window; null when their analytics consent withholds it. */
async function sessionSources(loaders: Loaders, { customer, days }: ChannelTraitModel) {
  const window = await consentedWindow(loaders, customer, days);
  return window && loaders.webSessionSources.load(window);
}

/** Feed entries of one type in the window ending now, newest first as the feed gives them. */
function inWindow(feed: ReadonlyArray<{ type: string; at: Date }>, type: string, days: number, now: Date) {
  const from = now.getTime() - days * DAY_MS;
  return feed.filter((e) => e.type === type && e.at.getTime() >= from && e.at.getTime() <= now.getTime());
}

/**
 * A trait's freshness from the inputs that answered: each read is settled, a failed one (whose
 * field carries its error) or one not read (no member, consent withheld) left out.
 */
async function freshnessOf(context: Context, reads: ReadonlyArray<Omit<TraitInputRead, 'value'> & { read: () => Promise<unknown> }>) {
  const settled = await Promise.allSettled(reads.map((r) => Promise.resolve().then(r.read)));
  const inputs = reads.flatMap(({ source, data }, i) => {
    const outcome = settled[i]!;
    return outcome.status === 'fulfilled' && outcome.value !== undefined ? [{ source, data, value: outcome.value }] : [];
  });
  return traitFreshness(context, inputs);
}

/** `undefined` for an input not read, so freshness leaves it out. */
const orSkip = async <T>(value: Promise<T | null>): Promise<T | undefined> => (await value) ?? undefined;

export const TraitsChannel: Pick<TraitsResolvers, 'channel' | 'engagementTrend'> = {
  channel: (customer, { days }) => ({ customer, days: channelDays(days) }),
  engagementTrend: (customer, { days }) => ({ customer, days: trendDays(days) }),
};

export const ChannelTrait: ChannelTraitResolvers = {
  reach: (trait) => trait,
  email: async (trait, _, { loaders }) => {
    const member = await loaders.emailMember.load(trait.customer.email);
    return member && { ...trait, member };
  },
  web: async (trait, _, { loaders }) => {
    const groups = await sessionSources(loaders, trait);
    return groups && webVisits(groups);
  },
  // Every input is read; a failed one rejects here, so the choice is never made without a channel.
  preferred: async (trait, _, { loaders }) => {
    const { customer, days } = trait;
    const [member, feed, consent, groups] = await Promise.all([
      loaders.emailMember.load(customer.email),
      feedOf(loaders, customer),
      loaders.webConsent.load(subjectOf(customer)),
      sessionSources(loaders, trait),
    ]);
    const opens = inWindow(feed ?? [], 'open', days, new Date());
    const web = groups && webVisits(groups);
    const evidence: ChannelEvidence[] = [
      { channel: 'EMAIL', reachable: emailReach(member).reachable, responses: opens.length, lastResponseAt: opens[0]?.at ?? null, openRate: member?.avgOpenRate ?? null },
      {
        channel: 'WEB_PERSONALIZATION',
        reachable: consentReach(consent.analytics, false).reachable,
        responses: web?.sessions ?? 0,
        lastResponseAt: web?.lastSessionAt ?? null,
        openRate: null,
      },
    ];
    return preferredChannel(evidence, days);
  },
  freshness: (trait, _, context) => {
    const { loaders } = context;
    return freshnessOf(context, [
      { source: 'email', data: 'member', read: () => loaders.emailMember.load(trait.customer.email) },
      { source: 'email', data: 'opens and clicks', read: () => orSkip(feedOf(loaders, trait.customer)) },
      { source: 'web', data: 'consent', read: () => loaders.webConsent.load(subjectOf(trait.customer)) },
      { source: 'web', data: 'sessions by source', read: () => orSkip(sessionSources(loaders, trait)) },
    ]);
  },
};

export const ChannelReach: ChannelReachResolvers = {
  email: async ({ customer }, _, { loaders }) => emailReach(await loaders.emailMember.load(customer.email)),
  webPersonalization: async ({ customer }, _, { loaders }) => consentReach((await loaders.webConsent.load(subjectOf(customer))).analytics, false),
  advertising: async ({ customer }, _, { loaders }) => consentReach((await loaders.webConsent.load(subjectOf(customer))).advertising, true),
};

export const EmailResponse: EmailResponseResolvers = {
  openRate: ({ member }) => member.avgOpenRate,
  clickRate: ({ member }) => member.avgClickRate,
  opens: async ({ customer, days }, _, { loaders }) => inWindow((await feedOf(loaders, customer)) ?? [], 'open', days, new Date()).length,
  clicks: async ({ customer, days }, _, { loaders }) => inWindow((await feedOf(loaders, customer)) ?? [], 'click', days, new Date()).length,
  lastOpenedAt: async ({ customer, days }, _, { loaders }) => inWindow((await feedOf(loaders, customer)) ?? [], 'open', days, new Date())[0]?.at ?? null,
  bestSendHour: async ({ customer }, _, { loaders, settings }) => {
    const opens = ((await feedOf(loaders, customer)) ?? []).filter((e) => e.type === 'open').map((e) => e.at);
    return bestSendHour(opens, settings.shopTimeZone ?? 'UTC');
  },
};

export const VisitsByCampaign: VisitsByCampaignResolvers = {
  lastSessionAt: (campaign) => campaign.lastAt,
};

const counts = (current: number, previous: number) => ({ current, previous, ...compare(current, previous) });
const amounts = (current: Money, previous: Money) => ({ current, previous, ...compare(Number(current.amount), Number(previous.amount)) });

export const EngagementTrend: EngagementTrendResolvers = {
  web: async (trend, _, { loaders }) => {
    const window = await consentedWindow(loaders, trend.customer, trend.days);
    if (!window) return null;
    const { current, previous } = await loaders.webEngagementPeriods.load(window);
    return { sessions: counts(current.sessions, previous.sessions), pageViews: counts(current.pageViews, previous.pageViews) };
  },
  email: async ({ customer, days }, _, { loaders }) => {
    const feed = await feedOf(loaders, customer);
    if (!feed) return null;
    const { opens, clicks, lowerBounds } = emailPeriods(feed, { days, until: new Date() }, FEED.count);
    return { opens: counts(opens.current, opens.previous), clicks: counts(clicks.current, clicks.previous), lowerBounds };
  },
  shop: async ({ customer, days }, _, { loaders }) => {
    const { current, previous } = await loaders.orderPeriods.load({ customerId: shopRecord(customer).id, days });
    return { orders: counts(current.orders, previous.orders), spend: amounts(current.spend, previous.spend) };
  },
  freshness: (trend, _, context) => {
    const { loaders } = context;
    const web = async () => {
      const window = await consentedWindow(loaders, trend.customer, trend.days);
      return window ? loaders.webEngagementPeriods.load(window) : undefined;
    };
    return freshnessOf(context, [
      { source: 'web', data: 'sessions per period', read: web },
      { source: 'email', data: 'opens and clicks', read: () => orSkip(feedOf(loaders, trend.customer)) },
      { source: 'commerce', data: 'orders per period', read: () => loaders.orderPeriods.load({ customerId: shopRecord(trend.customer).id, days: trend.days }) },
    ]);
  },
};
