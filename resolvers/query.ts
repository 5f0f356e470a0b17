import type { CommerceCustomer } from '../sources/commerce/model.ts';
import type { QueryResolvers } from './generated/types.ts';
import { customerKey, customersKeys, segmentKey } from './arguments.ts';

export const Query: QueryResolvers = {
  // Only a customer:read:self token gets here (server/auth); its customer is the JWT's `sub`.
  me: (_, __, { auth, loaders }) => (auth.principal.customerId ? loaders.customerById.load(auth.principal.customerId) : null),

  customer: async (_, args, { loaders }) => {
    const key = customerKey(args);
    if (key.kind === 'id') return loaders.customerById.load(key.value);
    if (key.kind === 'email') return loaders.customerByEmail.load(key.value);
    if (key.kind === 'anonymousId') {
      const userId = await loaders.webUserByAnonymousId.load(key.value);
      // The warehouse's user_id is the shop's customer id; anything else cannot be one of ours.
      return userId && /^[1-9]\d{0,17}$/.test(userId) ? loaders.customerById.load(userId) : null;
    }
    const contact = await loaders.crmContactById.load(key.value);
    return contact?.email ? loaders.customerByEmail.load(contact.email) : null;
  },

  // One promise per key: a key whose source failed becomes an error at its own list position.
  // (Codegen types list items as `Promise<T> | T | null`, with no `Promise<T | null>`: hence the cast.)
  customers: (_, args, { loaders }) => {
    const keys = customersKeys(args);
    const pending =
      keys.kind === 'ids'
        ? keys.values.map((id) => loaders.customerById.load(id))
        : keys.values.map((email) => loaders.customerByEmail.load(email));
    return pending as Array<Promise<CommerceCustomer>>;
  },

  customerSegment: (_, args, { loaders, settings }) => loaders.segmentPages.load(segmentKey(args, settings)),
};
