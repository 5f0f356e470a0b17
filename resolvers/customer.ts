import type { CommerceProfileResolvers, CustomerResolvers, IdentitiesResolvers, PurchasesResolvers } from './generated/types.ts';
import { customerId, emailKey, orderPageArgs, pageSize } from './arguments.ts';
import { customerWithEmail, customerWithId, shopRecord } from './lookup.ts';
import { consentedWindow } from './visitor.ts';

export const Customer: CustomerResolvers = {
  // Federation entity references: the same loaders as the root fields, so a gateway's batch of
  // representations costs one statement per key kind.
  __resolveReference: (reference, { loaders }) =>
    'id' in reference && reference.id
      ? customerWithId(loaders, customerId(String(reference.id), 'id'))
      : customerWithEmail(loaders, emailKey(String((reference as { email: string }).email), 'email')),
  id: (customer) => shopRecord(customer).id,
  identities: (customer) => customer,
  commerce: (customer) => shopRecord(customer),
  crm: (customer, _, { loaders }) => loaders.crmContactByEmail.load(customer.email),
  emailMarketing: (customer, _, { loaders }) => loaders.emailMember.load(customer.email),
  // The warehouse's user_id is the shop's customer id: without the shop record there is no key.
  web: (customer, { days }, { loaders }) => consentedWindow(loaders, customer, days),
  location: async (customer, { days }, { loaders }) => {
    const window = await consentedWindow(loaders, customer, days);
    return window && loaders.webLocation.load(window);
  },
  identification: (customer) => customer,
  consent: (customer) => customer,
  traits: (customer) => customer,
};

export const Identities: IdentitiesResolvers = {
  commerceCustomerId: (customer) => shopRecord(customer).id,
  hubspotContactId: async (customer, _, { loaders }) => (await loaders.crmContactByEmail.load(customer.email))?.id ?? null,
  mailchimpSubscriberHash: async (customer, _, { loaders }) => (await loaders.emailMember.load(customer.email))?.id ?? null,
  analyticsUserId: async (customer, _, { loaders }) => (await loaders.webIdentity.load(shopRecord(customer).id))?.userId ?? null,
  anonymousIds: async (customer, _, { loaders }) => (await loaders.webIdentity.load(shopRecord(customer).id))?.anonymousIds ?? [],
  ambiguousAnonymousIds: async (customer, _, { loaders }) => (await loaders.webIdentity.load(shopRecord(customer).id))?.ambiguousAnonymousIds ?? [],
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
  orders: async (customer, args, { loaders }) => {
    const key = { customerId: customer.id, ...orderPageArgs(args) };
    return { ...(await loaders.orderPages.load(key)), hasPreviousPage: key.after !== null };
  },
  carts: async (customer, _, { loaders }) => (await loaders.carts.load(customer.id)).open,
  abandonedCart: async (customer, _, { loaders }) => (await loaders.carts.load(customer.id)).abandoned,
};

export const Purchases: PurchasesResolvers = {
  topCategories: (stats, { first }) => stats.topCategories.slice(0, pageSize(first, 10)),
};
