import type { CommerceProfileResolvers, CustomerResolvers, IdentitiesResolvers, PurchasesResolvers } from './generated/types.ts';
import { customerId, emailKey, orderPageArgs, pageSize, webDays } from './arguments.ts';

export const Customer: CustomerResolvers = {
  // Federation entity references: the same loaders as the root fields, so a gateway's batch of
  // representations costs one statement per key kind.
  __resolveReference: (reference, { loaders }) =>
    'id' in reference && reference.id
      ? loaders.customerById.load(customerId(String(reference.id), 'id'))
      : loaders.customerByEmail.load(emailKey(String((reference as { email: string }).email), 'email')),
  identities: (customer) => ({ commerceCustomerId: customer.id, email: customer.email }),
  commerce: (customer) => customer,
  crm: (customer, _, { loaders }) => loaders.crmContactByEmail.load(customer.email),
  emailMarketing: (customer, _, { loaders }) => loaders.emailMember.load(customer.email),
  web: (customer, { days }) => ({ userId: customer.id, days: webDays(days) }),
};

export const Identities: IdentitiesResolvers = {
  hubspotContactId: async (identities, _, { loaders }) => (await loaders.crmContactByEmail.load(identities.email))?.id ?? null,
  mailchimpSubscriberHash: async (identities, _, { loaders }) => (await loaders.emailMember.load(identities.email))?.id ?? null,
  analyticsUserId: async (identities, _, { loaders }) => (await loaders.webIdentity.load(identities.commerceCustomerId))?.userId ?? null,
  anonymousIds: async (identities, _, { loaders }) => (await loaders.webIdentity.load(identities.commerceCustomerId))?.anonymousIds ?? [],
  ambiguousAnonymousIds: async (identities, _, { loaders }) =>
    (await loaders.webIdentity.load(identities.commerceCustomerId))?.ambiguousAnonymousIds ?? [],
};

export const CommerceProfile: CommerceProfileResolvers = {
  customerId: (customer) => customer.id,
  location: (customer) => ({
    city: customer.city,
    region: customer.region,
    postalCode: customer.postalCode,
    countryCode: customer.countryCode,
  }),
  signedUpAt: (customer) => customer.signupAt,
  purchases: (customer, _, { loaders }) => loaders.purchaseStats.load(customer.id),
  rfm: (customer, _, { loaders }) => loaders.rfm.load(customer.id),
  orders: (customer, args, { loaders }) => loaders.orderPages.load({ customerId: customer.id, ...orderPageArgs(args) }),
  carts: async (customer, _, { loaders }) => (await loaders.carts.load(customer.id)).open,
  abandonedCart: async (customer, _, { loaders }) => (await loaders.carts.load(customer.id)).abandoned,
};

export const Purchases: PurchasesResolvers = {
  topCategories: (stats, { first }) => stats.topCategories.slice(0, pageSize(first, 10)),
};
