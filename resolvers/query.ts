import type { QueryResolvers } from './generated/types.ts';
import { Scope } from '../server/auth/scopes.ts';
import { anonymousId, customerKey, customersKeys, segmentKey } from './arguments.ts';
import { customerWithEmail, customerWithId, earlyStart } from './lookup.ts';
import type { CustomerOfRecord } from './models.ts';
import { SHOP_ID, visitorWithAnonymousId } from './visitor.ts';

export const Query: QueryResolvers = {
  // Only a customer:read:self token gets here (server/auth); its customer is the JWT's `sub`, and
  // the browser it signed in on (its `anonymous_id` claim) adds that session's earlier browsing.
  me: async (_, __, { auth, loaders }, info) => {
    const { customerId, anonymousId: session } = auth.principal;
    const customer = customerId ? await customerWithId(loaders, customerId, 'TOKEN', earlyStart(info, auth.principal)) : null;
    return customer && { ...customer, sessionAnonymousId: session };
  },

  visitor: (_, args, { auth, loaders }) => {
    const id = anonymousId(args.anonymousId, 'anonymousId');
    const ownToken = auth.principal.scopes.has(Scope.Visitor) && auth.principal.anonymousId === id;
    return visitorWithAnonymousId(loaders, id, ownToken);
  },

  customer: async (_, args, { auth, loaders }, info) => {
    const early = earlyStart(info, auth.principal);
    const key = customerKey(args);
    if (key.kind === 'id') return customerWithId(loaders, key.value, 'CUSTOMER_ID', early);
    if (key.kind === 'email') return customerWithEmail(loaders, key.value, early);
    if (key.kind === 'anonymousId') {
      const record = await loaders.webVisitor.load(key.value);
      const userId = record?.link === 'linked' ? record.userId : null;
      return userId && SHOP_ID.test(userId) ? customerWithId(loaders, userId, 'ANONYMOUS_ID', early) : null;
    }
    const contact = await loaders.crmContactById.load(key.value);
    return contact?.email ? customerWithEmail(loaders, contact.email, early, 'HUBSPOT_CONTACT_ID') : null;
  },

  // One promise per key: a key whose source failed becomes an error at its own list position.
  // (Codegen types list items as `Promise<T> | T | null`, with no `Promise<T | null>`: hence the cast.)
  customers: (_, args, { auth, loaders }, info) => {
    const keys = customersKeys(args);
    const early = earlyStart(info, auth.principal);
    const pending =
      keys.kind === 'ids' ? keys.values.map((id) => customerWithId(loaders, id, 'CUSTOMER_ID', early)) : keys.values.map((email) => customerWithEmail(loaders, email, early));
    return pending as Array<Promise<CustomerOfRecord>>;
  },

  customerSegment: async (_, args, { loaders, settings }) => {
    const key = segmentKey(args, settings);
    return { ...(await loaders.segmentPages.load(key)), hasPreviousPage: key.afterId !== null };
  },
};
