import type { AbandonedCheckoutResolvers, ViewedProductResolvers, WebBehaviourResolvers, WebDeviceResolvers, WebFreshnessResolvers } from './generated/types.ts';
import { webListArgs } from './arguments.ts';

const money = (amount: string | null, currencyCode: string | null) => (amount !== null && currencyCode ? { amount, currencyCode } : null);

export const WebBehaviour: WebBehaviourResolvers = {
  lastSeenAt: async (window, _, { loaders }) => (await loaders.webSummary.load(window))?.lastSeenAt ?? null,
  sessionCount: async (window, _, { loaders }) => (await loaders.webSummary.load(window))?.sessionCount ?? 0,
  pageViews: async (window, _, { loaders }) => (await loaders.webSummary.load(window))?.pageViews ?? 0,
  averageSessionSeconds: async (window, _, { loaders }) => (await loaders.webSummary.load(window))?.averageSessionSeconds ?? 0,
  recentlyViewedProducts: (window, args, { loaders }) => loaders.webViewedProducts.load({ ...window, first: webListArgs(args) }),
  topCategories: (window, args, { loaders }) => loaders.webTopCategories.load({ ...window, first: webListArgs(args) }),
  cartActivity: (window, _, { loaders }) => loaders.webCartActivity.load(window),
  devices: (window, _, { loaders }) => loaders.webDevices.load(window),
  firstTouch: async (window, _, { loaders }) => (await loaders.webTouches.load(window))?.firstTouch ?? null,
  lastTouch: async (window, _, { loaders }) => (await loaders.webTouches.load(window))?.lastTouch ?? null,
  searches: (window, args, { loaders }) => loaders.webSearches.load({ ...window, first: webListArgs(args) }),
  freshness: (_, __, { loaders }) => loaders.webLoadStatus.load(WAREHOUSE),
};

/** The load status is the warehouse's, the same for every profile: one key. */
const WAREHOUSE = 'warehouse';

export const ViewedProduct: ViewedProductResolvers = {
  price: (product) => money(product.price, product.currencyCode),
};

export const AbandonedCheckout: AbandonedCheckoutResolvers = {
  value: (checkout) => money(checkout.value, checkout.currencyCode),
};

export const WebDevice: WebDeviceResolvers = {
  type: (device) => device.type.toUpperCase() as 'DESKTOP' | 'MOBILE' | 'TABLET' | 'OTHER',
};

export const WebFreshness: WebFreshnessResolvers = {
  receivedThrough: (load) => load.newestReceivedAt,
  lagSeconds: (load) => (load.newestReceivedAt ? Math.max(0, (load.checkedAt.getTime() - load.newestReceivedAt.getTime()) / 1000) : null),
};
