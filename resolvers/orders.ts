import type { ShopCartResolvers, ShopOrderConnectionResolvers, ShopOrderResolvers } from './generated/types.ts';
import { orderCursor } from './cursors.ts';

export const ShopOrderConnection: ShopOrderConnectionResolvers = {
  edges: (page) => page.orders.map((order) => ({ cursor: orderCursor(order), node: order })),
  pageInfo: (page) => ({
    hasNextPage: page.hasNextPage,
    hasPreviousPage: page.hasPreviousPage,
    startCursor: page.orders.length ? orderCursor(page.orders[0]!) : null,
    endCursor: page.orders.length ? orderCursor(page.orders.at(-1)!) : null,
  }),
};

export const ShopOrder: ShopOrderResolvers = {
  lineItems: (order, _, { loaders }) => loaders.lineItems.load(order.id),
};

export const ShopCart: ShopCartResolvers = {
  itemCount: (cart) => cart.items.reduce((sum, item) => sum + item.quantity, 0),
};
