import type { CommerceProfileResolvers, CustomerResolvers, PurchasesResolvers } from './generated/types.ts';
import { customerId, pageSize } from './arguments.ts';
import { decodeOrderCursor } from './cursors.ts';

export const Customer: CustomerResolvers = {
  // Federation entity references: the same loaders as the root fields, so a gateway's batch of
  // representations costs one statement per key kind.
  __resolveReference: (reference, { loaders }) =>
    'id' in reference && reference.id
      ? loaders.customerById.load(customerId(String(reference.id), 'id'))
      : loaders.customerByEmail.load(String((reference as { email: string }).email)),
  identities: (customer) => ({ commerceCustomerId: customer.id, email: customer.email }),
  commerce: (customer) => customer,
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
  orders: (customer, { first, after }, { loaders }) =>
    loaders.orderPages.load({ customerId: customer.id, first: pageSize(first, 100), after: decodeOrderCursor(after) }),
  carts: async (customer, _, { loaders }) => (await loaders.carts.load(customer.id)).open,
  abandonedCart: async (customer, _, { loaders }) => (await loaders.carts.load(customer.id)).abandoned,
};

export const Purchases: PurchasesResolvers = {
  topCategories: (stats, { first }) => stats.topCategories.slice(0, pageSize(first, 10)),
};
