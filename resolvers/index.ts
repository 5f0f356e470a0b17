import { CountryCodeResolver, CurrencyResolver, DateTimeResolver, EmailAddressResolver } from 'graphql-scalars';
import { AudienceMutation, AudienceQuery, CustomerList, SavedAudience } from './audiences.ts';
import { CrmCompany, CrmContact } from './crm.ts';
import { CommerceProfile, Customer, Identities, Purchases } from './customer.ts';
import { EmailActivity, EmailMarketing, EmailTag } from './email.ts';
import type { Resolvers } from './generated/types.ts';
import { ShopCart, ShopOrder, ShopOrderConnection } from './orders.ts';
import { Mutation } from './mutation.ts';
import { Query } from './query.ts';
import { CustomerConnection } from './segment.ts';
import { CustomerChange, SavedAudienceChange, SegmentChange, Subscription, TriggerFired } from './subscription.ts';
import { CartRecovery, PredictedValue, TraitInput, Traits, ValueModel } from './traits.ts';
import { Affinities, AnonymousVisitorTraits, TraitsAffinities, VisitorTraits } from './traits-affinity.ts';
import { ChannelReach, ChannelTrait, EmailResponse, EngagementTrend, TraitsChannel, VisitsByCampaign } from './traits-channel.ts';
import { Demographics, DiscountSensitivity, TraitsProfile } from './traits-profile.ts';
import { AnonymousVisitor, Consent, Identification, Visitor } from './visitor.ts';
import { WebhookMutation, WebhookQuery } from './webhooks.ts';
import { AbandonedCheckout, ViewedProduct, WebBehaviour, WebDevice, WebFreshness } from './web.ts';

/** Every resolver, by type. Scalars come from graphql-scalars. */
export const resolvers: Resolvers = {
  DateTime: DateTimeResolver,
  EmailAddress: EmailAddressResolver,
  Currency: CurrencyResolver,
  CountryCode: CountryCodeResolver,
  Query: { ...Query, ...WebhookQuery, ...AudienceQuery },
  Mutation: { ...Mutation, ...WebhookMutation, ...AudienceMutation },
  CustomerList,
  SavedAudience,
  Subscription,
  CustomerChange,
  SegmentChange,
  SavedAudienceChange,
  TriggerFired,
  Customer,
  Identities,
  CommerceProfile,
  Purchases,
  ShopOrderConnection,
  ShopOrder,
  ShopCart,
  CustomerConnection,
  CrmContact,
  CrmCompany,
  EmailMarketing,
  EmailActivity,
  EmailTag,
  WebBehaviour,
  ViewedProduct,
  AbandonedCheckout,
  WebDevice,
  WebFreshness,
  Visitor,
  AnonymousVisitor: { ...AnonymousVisitor, ...AnonymousVisitorTraits },
  VisitorTraits,
  Identification,
  Consent,
  Traits: { ...Traits, ...TraitsAffinities, ...TraitsChannel, ...TraitsProfile },
  DiscountSensitivity,
  Demographics,
  Affinities,
  ChannelTrait,
  ChannelReach,
  EmailResponse,
  VisitsByCampaign,
  EngagementTrend,
  PredictedValue,
  ValueModel,
  CartRecovery,
  TraitInput,
};
