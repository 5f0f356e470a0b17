import type { CustomerConnectionResolvers } from './generated/types.ts';
import { customerCursor } from './cursors.ts';
import { ofRecord } from './lookup.ts';

export const CustomerConnection: CustomerConnectionResolvers = {
  edges: async (page, _, { loaders }) => {
    const customers = await loaders.customerById.loadMany(page.customerIds);
    // A customer deleted between the page scan and this read drops out of the page.
    return customers.flatMap((node, i) => {
      if (node instanceof Error) throw node;
      return node ? [{ cursor: customerCursor(page.customerIds[i]!), node: ofRecord(node, 'CUSTOMER_ID') }] : [];
    });
  },
  pageInfo: (page) => ({
    hasNextPage: page.hasNextPage,
    hasPreviousPage: page.hasPreviousPage,
    startCursor: page.customerIds.length ? customerCursor(page.customerIds[0]!) : null,
    endCursor: page.customerIds.length ? customerCursor(page.customerIds.at(-1)!) : null,
  }),
};
