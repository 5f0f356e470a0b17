import type { QueryResolvers } from './generated/types.ts';
import { customerKey, customersKeys, segmentKey } from './arguments.ts';
import { customerWithEmail, customerWithId } from './lookup.ts';
import type { CustomerOfRecord } from './models.ts';

export const Query: QueryResolvers = {
  // Only a customer:read:self token gets here (server/auth); its customer is the JWT's `sub`.
  me: (_, __, { auth, loaders }) => (auth.principal.customerId ? customerWithId(loaders, auth.principal.customerId) : null),

  customer: async (_, args, { loaders }, info) => {
    const key = customerKey(args);
    if (key.kind === 'id') return customerWithId(loaders, key.value);
    if (key.kind === 'email') return customerWithEmail(loaders, key.value, info);
    if (key.kind === 'anonymousId') {
      const userId = await loaders.webUserByAnonymousId.load(key.value);
      // The warehouse's user_id is the shop's customer id; anything else cannot be one of ours.
      return userId && /^[1-9]\d{0,17}$/.test(userId) ? customerWithId(loaders, userId) : null;
    }
    const contact = await loaders.crmContactById.load(key.value);
    return contact?.email ? customerWithEmail(loaders, contact.email, info) : null;
  },

  // One promise per key: a key whose source failed becomes an error at its own list position.
  // (Codegen types list items as `Promise<T> | T | null`, with no `Promise<T | null>`: hence the cast.)
  customers: (_, args, { loaders }, info) => {
    const keys = customersKeys(args);
    const pending =
      keys.kind === 'ids'
        ? keys.values.map((id) => customerWithId(loaders, id))
        : keys.values.map((email) => customerWithEmail(loaders, email, info));
    return pending as Array<Promise<CustomerOfRecord>>;
  },

  customerSegment: (_, args, { loaders, settings }) => loaders.segmentPages.load(segmentKey(args, settings)),
};
