import { ACTIVITY_READS } from '../cache/activity.ts';
import type { EmailActivityResolvers, EmailMarketingResolvers, EmailTagResolvers } from './generated/types.ts';
import { emailActivityArgs } from './arguments.ts';
import { EmailActivityType, EmailSubscriptionStatus, fromSource } from './enums.ts';

export const EmailMarketing: EmailMarketingResolvers = {
  subscriberHash: (member) => member.id,
  status: (member) => fromSource(EmailSubscriptionStatus, member.status)!,
  averageOpenRate: (member) => member.avgOpenRate,
  averageClickRate: (member) => member.avgClickRate,
  signedUpAt: (member) => member.signupAt,
  optedInAt: (member) => member.optInAt,
  signupSource: (member) => member.source,
  tags: (member) => member.tags.map((tag) => ({ ...tag, memberEmail: member.email })),
  activity: async (member, args, { loaders }) => (await loaders.emailActivity(emailActivityArgs(args.first, args.types)).load(member.email)) ?? [],
  lastOpenedAt: async (member, _, { loaders }) => (await loaders.emailActivity(ACTIVITY_READS.lastOpen).load(member.email))?.[0]?.at ?? null,
  lastClickedAt: async (member, _, { loaders }) => (await loaders.emailActivity(ACTIVITY_READS.lastClick).load(member.email))?.[0]?.at ?? null,
};

export const EmailActivity: EmailActivityResolvers = {
  // The feed is read filtered to the five types of the enum, so every entry has a name.
  type: (activity) => fromSource(EmailActivityType, activity.type)!,
};

export const EmailTag: EmailTagResolvers = {
  addedAt: async (tag, _, { loaders }) => (await loaders.emailTags.load(tag.memberEmail))?.find((dated) => dated.id === tag.id)?.addedAt ?? null,
};
