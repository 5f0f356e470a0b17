import { getNamedType, isAbstractType, isNonNullType, isObjectType, type GraphQLField, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { effectivePolicy } from './enforce.ts';
import { identifierKind } from './personal-data.ts';
import { coordinate, heldAlternatives } from './policy.ts';
import { Scope, type Principal } from './scopes.ts';

/**
 * What a storefront shows the person a bound token belongs to, and nothing else. A
 * `customer:read:self` token (`me`) and a `visitor:read:self` token (`visitor`) are handed to the
 * browser of the person they describe, so they read what a shop would show that person: their
 * orders, carts, browsing, preferences, consent, their own subscription status and permissions.
 * Never the labels other systems keep about them (segments, scores, funnel stages, owners, ratings,
 * tags, attribution) nor other systems' ids; and a visitor token never a direct identifier (the
 * browser may be a shared one, and nobody signed in).
 *
 * The SDL enforces it (`@requiresScopes` without the self scopes on what is refused); the
 * schema walk (`storefrontProblems`, run by test/auth/storefront.test.ts) fails when the two
 * disagree in either direction.
 */
export type Reader = 'self' | 'visitor';

const SELF: readonly Reader[] = ['self'];
const VISITOR: readonly Reader[] = ['visitor'];
const BOTH: readonly Reader[] = ['self', 'visitor'];

/** By type, then field: who may read it. Everything not listed is refused to both. */
const SHOWN: Record<string, Record<string, readonly Reader[]>> = {
  Query: { me: SELF, customer: SELF, customers: SELF, _entities: SELF, visitor: VISITOR },
  // The signed-in customer's own changes, without which systems said what (other systems' labels).
  Subscription: { customerChanged: SELF },
  CustomerChange: { customer: SELF, customerId: SELF, receivedAt: SELF },

  // The signed-in customer.
  Customer: {
    id: SELF,
    email: SELF,
    identities: SELF,
    commerce: SELF,
    emailMarketing: SELF,
    web: SELF,
    identification: SELF,
    location: SELF,
    consent: SELF,
  },
  Identities: { commerceCustomerId: SELF, email: SELF, analyticsUserId: SELF, anonymousIds: SELF, ambiguousAnonymousIds: SELF },
  CommerceProfile: {
    customerId: SELF,
    firstName: SELF,
    lastName: SELF,
    phone: SELF,
    location: SELF,
    signedUpAt: SELF,
    purchases: SELF,
    orders: SELF,
    carts: SELF,
    abandonedCart: SELF,
  },
  ShopAddress: { city: SELF, region: SELF, postalCode: SELF, countryCode: SELF },
  Purchases: {
    orderCount: SELF,
    totalSpent: SELF,
    averageOrderValue: SELF,
    firstOrderAt: SELF,
    lastOrderAt: SELF,
    daysSinceLastOrder: SELF,
    topCategories: SELF,
  },
  CategorySpend: { category: SELF, spent: SELF, orderCount: SELF },
  ShopOrderConnection: { edges: SELF, pageInfo: SELF },
  ShopOrderEdge: { cursor: SELF, node: SELF },
  PageInfo: { hasNextPage: SELF, hasPreviousPage: SELF, startCursor: SELF, endCursor: SELF },
  ShopOrder: { id: SELF, placedAt: SELF, status: SELF, total: SELF, lineItems: SELF },
  ShopLineItem: { product: SELF, quantity: SELF, unitPrice: SELF, total: SELF },
  ShopProduct: { id: SELF, sku: SELF, name: SELF, category: SELF, price: SELF },
  ShopCart: { id: SELF, createdAt: SELF, updatedAt: SELF, items: SELF, itemCount: SELF, value: SELF },
  ShopCartItem: { product: SELF, quantity: SELF, unitPrice: SELF, addedAt: SELF },
  EmailMarketing: {
    status: SELF,
    canEmail: SELF,
    signedUpAt: SELF,
    optedInAt: SELF,
    lastChangedAt: SELF,
    language: SELF,
    marketingPermissions: SELF,
  },
  MarketingPermission: { id: SELF, text: SELF, enabled: SELF },

  // An anonymous browser.
  AnonymousVisitor: { anonymousId: VISITOR, identification: VISITOR, web: VISITOR, location: VISITOR, consent: VISITOR },

  // Both: browsing, location, consent.
  Identification: { by: BOTH, link: BOTH, mergedAnonymousIds: BOTH, ambiguousAnonymousIds: BOTH },
  // City is a direct identifier: the signed-in person's own, never a browser's.
  VisitorLocation: { country: BOTH, region: BOTH, city: SELF, timezone: BOTH, locale: BOTH, at: BOTH },
  Consent: { email: BOTH, analytics: BOTH, advertising: BOTH },
  ChannelConsent: { granted: BOTH, source: BOTH, at: BOTH },
  WebBehaviour: {
    days: BOTH,
    lastSeenAt: BOTH,
    sessionCount: BOTH,
    pageViews: BOTH,
    averageSessionSeconds: BOTH,
    recentlyViewedProducts: BOTH,
    topCategories: BOTH,
    cartActivity: BOTH,
    devices: BOTH,
    searches: BOTH,
    freshness: BOTH,
  },
  // The warehouse's load status, the same for everyone: how fresh the browsing above is.
  WebFreshness: { receivedThrough: BOTH, loadedAt: BOTH, lagSeconds: BOTH, checkedAt: BOTH },
  ViewedProduct: { productId: BOTH, name: BOTH, category: BOTH, price: BOTH, lastViewedAt: BOTH, viewCount: BOTH, timeOnPageSeconds: BOTH },
  CategoryInterest: { category: BOTH, views: BOTH, secondsSpent: BOTH },
  CartActivity: { productsAdded: BOTH, productsRemoved: BOTH, abandonedCheckouts: BOTH },
  CartChange: { productId: BOTH, name: BOTH, quantity: BOTH, at: BOTH },
  AbandonedCheckout: { at: BOTH, value: BOTH },
  WebDevice: { type: BOTH, os: BOTH, browser: BOTH, sessions: BOTH, share: BOTH, lastSeenAt: BOTH },
  ProductSearch: { query: BOTH, at: BOTH },
  DecimalMoney: { amount: BOTH, currencyCode: BOTH },
};

/** Schema coordinate -> who may read it, derived from SHOWN. */
export const STOREFRONT: ReadonlyMap<string, readonly Reader[]> = new Map(
  Object.entries(SHOWN).flatMap(([type, fields]) => Object.entries(fields).map(([field, readers]) => [`${type}.${field}`, readers] as const)),
);

/**
 * Labels other systems keep about the person, named so that refusing them is a stated intent and
 * not only an omission: none may be reachable with a bound token (nor listed above).
 */
export const INTERNAL_LABELS: readonly string[] = [
  'Customer.crm',
  'CrmContact.lifecycleStage',
  'CrmContact.leadStatus',
  'CrmContact.owner',
  'CrmOwner.firstName',
  'CrmOwner.lastName',
  'CrmOwner.email',
  'CommerceProfile.rfm',
  'Rfm.segment',
  'Rfm.recency',
  'Rfm.frequency',
  'Rfm.monetary',
  'CommerceProfile.signupChannel',
  'WebBehaviour.firstTouch',
  'WebBehaviour.lastTouch',
  'EmailMarketing.memberRating',
  'EmailMarketing.vip',
  'EmailMarketing.averageOpenRate',
  'EmailMarketing.averageClickRate',
  'EmailMarketing.tags',
  'EmailMarketing.signupSource',
  'EmailMarketing.subscriberHash',
  'Identities.hubspotContactId',
  'Identities.mailchimpSubscriberHash',
  'Customer.traits',
];

const SCOPE_OF: Record<Reader, Scope> = { self: Scope.Self, visitor: Scope.Visitor };

/**
 * Every field a token holding only this reader's scope can reach, as schema coordinates: from the
 * root types, through each field its policy grants (a field without one inherits the field it is
 * reached through), into every possible type of an interface or union. Root fields without a
 * policy are refused to everyone, as enforce.ts does. Which person an object belongs to is checked
 * at run time and not here.
 */
export function reachable(schema: GraphQLSchema, reader: Reader): Set<string> {
  const principal: Principal = {
    kind: 'jwt',
    client: 'storefront-walk',
    rateLimitKey: '',
    scopes: new Set([SCOPE_OF[reader]]),
    customerId: null,
    anonymousId: null,
  };
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter((type): type is GraphQLObjectType => Boolean(type));
  const reached = new Set<string>();
  const visited = new Set<string>(roots.map((type) => type.name));
  const visit = (type: GraphQLObjectType, root: boolean): void => {
    for (const field of Object.values(type.getFields()) as Array<GraphQLField<unknown, unknown>>) {
      const policy = effectivePolicy(schema, type, field);
      const granted = policy ? heldAlternatives(policy, principal).length > 0 : !root;
      if (!granted) continue;
      reached.add(coordinate(type, field));
      const target = getNamedType(field.type);
      const next = isObjectType(target) ? [target] : isAbstractType(target) ? schema.getPossibleTypes(target) : [];
      for (const object of next) {
        if (visited.has(object.name)) continue;
        visited.add(object.name);
        visit(object, false);
      }
    }
  };
  for (const root of roots) visit(root, true);
  return reached;
}

/**
 * Everything on which the schema and the storefront list disagree, one line each (empty when they
 * agree): a field a bound token reaches that is not listed for it, a listed one it cannot reach, a
 * listed coordinate the schema does not have, an internal label that is listed or reachable, and a
 * direct identifier listed for or reachable with a visitor token.
 */
export function storefrontProblems(schema: GraphQLSchema, shown: ReadonlyMap<string, readonly Reader[]> = STOREFRONT, labels: readonly string[] = INTERNAL_LABELS): string[] {
  const problems: string[] = [];
  const exists = (at: string) => {
    const [typeName, fieldName] = at.split('.') as [string, string];
    const type = schema.getType(typeName);
    return isObjectType(type) && Object.hasOwn(type.getFields(), fieldName) ? type.getFields()[fieldName]! : null;
  };
  for (const at of shown.keys()) if (!exists(at)) problems.push(`${at}: listed as shown to the person, but not in the schema`);
  for (const at of labels) {
    if (!exists(at)) problems.push(`${at}: listed as an internal label, but not in the schema`);
    if (shown.has(at)) problems.push(`${at}: an internal label listed as shown to the person`);
  }
  for (const reader of ['self', 'visitor'] as const) {
    const scope = SCOPE_OF[reader];
    const reached = reachable(schema, reader);
    for (const at of [...reached].sort()) {
      if (labels.includes(at)) problems.push(`${at}: an internal label that a ${scope} token can read`);
      else if (!shown.get(at)?.includes(reader)) problems.push(`${at}: a ${scope} token can read it, but it is not listed as shown to the person`);
      const field = exists(at);
      if (reader === 'visitor' && field && identifierKind(field)) problems.push(`${at}: a direct identifier that a ${scope} token can read`);
    }
    // A refused field is null with FORBIDDEN: non-null, it would null the object it is on, and
    // with it every field the token may read there.
    const types = new Set([...reached].map((at) => at.split('.')[0]!));
    for (const name of [...types].sort()) {
      const type = schema.getType(name);
      if (!isObjectType(type) || isRoot(schema, type)) continue;
      for (const field of Object.values(type.getFields())) {
        const at = coordinate(type, field);
        if (!reached.has(at) && isNonNullType(field.type)) problems.push(`${at}: refused to a ${scope} token but non-null, so refusing it nulls ${name}`);
      }
    }
    for (const [at, readers] of shown) {
      const field = exists(at);
      if (!field || !readers.includes(reader)) continue;
      if (!reached.has(at)) problems.push(`${at}: listed as shown to a ${scope} token, which the schema refuses it`);
      if (reader === 'visitor' && identifierKind(field)) problems.push(`${at}: a direct identifier listed as shown to a ${scope} token`);
    }
  }
  return problems;
}

function isRoot(schema: GraphQLSchema, type: GraphQLObjectType): boolean {
  return type === schema.getQueryType() || type === schema.getMutationType() || type === schema.getSubscriptionType();
}
