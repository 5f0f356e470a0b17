import type { QueryResolvers } from './generated/types.ts';
import { customerId, decimalAmount, exactlyOne, keyList, pageSize } from './arguments.ts';
import { decodeCustomerCursor } from './cursors.ts';
import { badUserInput } from './errors.ts';
import type { CommerceCustomer } from '../sources/commerce/model.ts';

const MAX_KEYS = 100;

export const Query: QueryResolvers = {
  customer: (_, args, { loaders }) =>
    exactlyOne({ id: args.id, email: args.email }) === 'id'
      ? loaders.customerById.load(customerId(args.id!, 'id'))
      : loaders.customerByEmail.load(args.email!),

  // One promise per key: a key whose source failed becomes an error at its own list position.
  // (Codegen types list items as `Promise<T> | T | null`, with no `Promise<T | null>`: hence the cast.)
  customers: (_, args, { loaders }) => {
    const pending =
      exactlyOne({ ids: args.ids, emails: args.emails }) === 'ids'
        ? keyList(args.ids!, MAX_KEYS, 'ids')
            .map((id) => customerId(id, 'ids')) // all validated before any load is queued
            .map((id) => loaders.customerById.load(id))
        : keyList(args.emails!, MAX_KEYS, 'emails').map((email) => loaders.customerByEmail.load(email));
    return pending as Array<Promise<CommerceCustomer>>;
  },

  customerSegment: (_, { filter, first, after }, { loaders, shopCurrency }) => {
    const spent = filter?.totalSpentAtLeast;
    if (spent && spent.currencyCode !== shopCurrency) {
      throw badUserInput(`filter.totalSpentAtLeast: expected an amount in ${shopCurrency} (the shop currency), got ${spent.currencyCode}`);
    }
    return loaders.segmentPages.load({
      filter: {
        rfmSegments: filter?.rfmSegments ?? null,
        lastOrderBefore: filter?.lastOrderBefore ?? null,
        lastOrderAfter: filter?.lastOrderAfter ?? null,
        totalSpentAtLeast: spent ? decimalAmount(spent.amount, 'filter.totalSpentAtLeast.amount') : null,
        hasAbandonedCart: filter?.hasAbandonedCart ?? null,
      },
      first: pageSize(first, 100),
      afterId: decodeCustomerCursor(after),
    });
  },
};
