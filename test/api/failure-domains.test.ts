import { buildSubgraphSchema } from '@apollo/subgraph';
import { getNamedType, getNullableType, isListType, isNonNullType, isObjectType, type GraphQLOutputType, type GraphQLSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { describe, expect, it } from 'vitest';
import { buildSchema, schemaSource } from '../../server/schema.ts';

/**
 * Who answers a field. Upstreams fail on their own: commerce (the shop database), crm (HubSpot),
 * email (Mailchimp), web (the event warehouse), cache (the shared cache, for the mutations), push
 * (where outgoing webhook endpoints and dead letters are kept: Redis when configured), audiences
 * (where saved audience definitions are kept: Redis when configured), plan (an audience question:
 * the shop database and every source its filter names, audiences/planner.ts). The
 * others never fail by themselves: `request` is what the request brings (arguments, and the key a
 * customer was found by), `parent` is computed from the parent object with no call of its own,
 * `schema` is the SDL.
 */
type Source = 'commerce' | 'crm' | 'email' | 'web' | 'cache' | 'push' | 'audiences' | 'plan' | 'request' | 'parent' | 'schema';
const FAILS = new Set<Source>(['commerce', 'crm', 'email', 'web', 'cache', 'push', 'audiences', 'plan']);

/**
 * Every object type: `own` is the source of the object itself (what its parent value holds), and
 * each source names the fields it answers (space-separated). Every field must be named exactly
 * once, so a new field fails this test until it is classified here.
 */
const ANSWERED_BY: Record<string, { own: Source } & Partial<Record<Source, string>>> = {
  Query: {
    own: 'request',
    request: 'customers _entities',
    commerce: 'customer me customerSegment',
    web: 'visitor',
    schema: '_service',
    push: 'webhookEndpoints webhookDeadLetters',
    plan: 'findCustomers customerCounts customerHistogram',
    audiences: 'audiences audience',
  },
  // forgetCustomer reports each source's lookup or eviction failure as data (`failed`), not as errors.
  Mutation: {
    own: 'cache',
    cache: 'forgetCustomer',
    push: 'registerWebhookEndpoint rotateWebhookSecret removeWebhookEndpoint replayWebhookDeadLetter',
    audiences: 'saveAudience deleteAudience',
  },
  // An audience question is one plan: its page, count and breakdowns come from the same sources.
  // A saved audience's definition is the store's; its members and count are a plan of their own.
  CustomerList: { own: 'plan', plan: 'totalCount pageInfo', commerce: 'edges' },
  CustomerCount: { own: 'parent', parent: 'value exact' },
  CustomerCounts: { own: 'plan', plan: 'total groups' },
  CustomerCountGroup: { own: 'parent', parent: 'key count exact' },
  CustomerHistogram: { own: 'plan', plan: 'buckets' },
  CustomerHistogramBucket: { own: 'parent', parent: 'start count value' },
  SavedAudience: { own: 'audiences', audiences: 'name version description definition savedAt versions', plan: 'count members' },
  RegisteredWebhookEndpoint: { own: 'push', push: 'endpoint secret' },
  WebhookEndpoint: { own: 'push', push: 'id url triggers selection scopes description createdAt secretRotatedAt disabledAt' },
  WebhookDeadLetter: { own: 'push', push: 'id endpointId webhookId trigger customerId attempts reason failedAt' },
  // An event is the change feed's; the customer in it is re-read from the shop. A segment change is
  // sent only once the shop has said where the customer stands (decided before the event exists).
  Subscription: { own: 'request', request: 'customerChanged segmentChanged triggerFired audienceChanged' },
  CustomerChange: { own: 'request', commerce: 'customer', parent: 'customerId sources kinds receivedAt' },
  SegmentChange: { own: 'request', commerce: 'customer', parent: 'segment membership currentSegment customerId sources kinds receivedAt' },
  TriggerFired: { own: 'request', commerce: 'customer', parent: 'id trigger segment customerId at receivedAt' },
  SavedAudienceChange: { own: 'request', commerce: 'customer', parent: 'audience version membership customerId sources kinds receivedAt' },
  ForgetCustomerResult: { own: 'cache', cache: 'email cacheKeysCleared cleared failed' },
  ForgetFailure: { own: 'cache', cache: 'source step code retryable' },
  _Service: { own: 'schema', schema: 'sdl' },

  // A customer exists as soon as the key it was found by is known: found by email, it outlives a
  // shop database failure, so each system's part of it is that system's alone.
  Customer: {
    own: 'request',
    request: 'email identities identification consent traits',
    commerce: 'id commerce',
    crm: 'crm',
    email: 'emailMarketing',
    web: 'web location',
  },
  // An anonymous visitor is the warehouse's record of a browser; its consent and identification
  // are objects of the request's whose fields name their own sources.
  AnonymousVisitor: { own: 'web', web: 'anonymousId identification web location consent traits' },
  Identification: { own: 'request', request: 'by link', web: 'mergedAnonymousIds ambiguousAnonymousIds' },
  Consent: { own: 'request', email: 'email', web: 'analytics advertising' },
  ChannelConsent: { own: 'parent', parent: 'granted source at' },
  VisitorLocation: { own: 'web', web: 'country region city timezone locale at' },
  Identities: {
    own: 'request',
    request: 'email',
    commerce: 'commerceCustomerId',
    crm: 'hubspotContactId',
    email: 'mailchimpSubscriberHash',
    web: 'analyticsUserId anonymousIds ambiguousAnonymousIds',
  },

  DecimalMoney: { own: 'parent', parent: 'amount currencyCode' },
  PageInfo: { own: 'parent', parent: 'hasNextPage hasPreviousPage startCursor endCursor' },
  ShopAddress: { own: 'parent', parent: 'city region postalCode countryCode' },

  CommerceProfile: {
    own: 'commerce',
    commerce: 'customerId firstName lastName phone location signedUpAt signupChannel purchases rfm orders carts abandonedCart',
  },
  Purchases: { own: 'commerce', commerce: 'orderCount totalSpent averageOrderValue firstOrderAt lastOrderAt daysSinceLastOrder topCategories' },
  CategorySpend: { own: 'commerce', commerce: 'category spent orderCount' },
  Rfm: { own: 'commerce', commerce: 'recency frequency monetary segment boundariesComputedAt' },
  ShopOrderConnection: { own: 'commerce', commerce: 'edges pageInfo' },
  ShopOrderEdge: { own: 'commerce', commerce: 'cursor node' },
  ShopOrder: { own: 'commerce', commerce: 'id placedAt status total lineItems' },
  ShopLineItem: { own: 'commerce', commerce: 'product quantity unitPrice total' },
  ShopProduct: { own: 'commerce', commerce: 'id sku name category price' },
  ShopCart: { own: 'commerce', commerce: 'id createdAt updatedAt items itemCount value' },
  ShopCartItem: { own: 'commerce', commerce: 'product quantity unitPrice addedAt' },
  CustomerConnection: { own: 'commerce', commerce: 'edges pageInfo' },
  CustomerEdge: { own: 'commerce', commerce: 'cursor node' },

  CrmContact: {
    own: 'crm',
    crm: 'id firstName lastName phone companyName jobTitle lifecycleStage leadStatus owner location createdAt updatedAt company properties',
  },
  CrmLocation: { own: 'crm', crm: 'city state zip country' },
  CrmOwner: { own: 'crm', crm: 'id firstName lastName email archived' },
  CrmCompany: { own: 'crm', crm: 'id name domain industry size' },
  CrmProperty: { own: 'crm', crm: 'name value' },

  EmailMarketing: {
    own: 'email',
    email:
      'subscriberHash status canEmail memberRating averageOpenRate averageClickRate signedUpAt optedInAt lastChangedAt vip ' +
      'language signupSource location tags marketingPermissions activity lastOpenedAt lastClickedAt',
  },
  EmailLocation: { own: 'email', email: 'countryCode timezone latitude longitude region' },
  EmailTag: { own: 'email', email: 'id name addedAt' },
  MarketingPermission: { own: 'email', email: 'id text enabled' },
  EmailActivity: { own: 'email', email: 'type at campaignId campaignTitle url bounceType' },

  WebBehaviour: {
    own: 'web',
    web: 'days lastSeenAt sessionCount pageViews averageSessionSeconds recentlyViewedProducts topCategories cartActivity devices firstTouch lastTouch searches freshness',
  },
  ViewedProduct: { own: 'web', web: 'productId name category price lastViewedAt viewCount timeOnPageSeconds' },
  CategoryInterest: { own: 'web', web: 'category views secondsSpent' },
  CartActivity: { own: 'web', web: 'productsAdded productsRemoved abandonedCheckouts' },
  CartChange: { own: 'web', web: 'productId name quantity at' },
  AbandonedCheckout: { own: 'web', web: 'at value' },
  WebDevice: { own: 'web', web: 'type os browser sessions share lastSeenAt' },
  Touch: { own: 'web', web: 'at source medium campaign referrer landingPath' },
  ProductSearch: { own: 'web', web: 'query at' },
  WebFreshness: { own: 'web', web: 'receivedThrough loadedAt lagSeconds checkedAt' },

  // Traits are the request's; each trait is its inputs' source's.
  Traits: { own: 'request', request: 'channel engagementTrend demographics', commerce: 'predictedValue cartRecovery affinities discountSensitivity' },
  CartRecovery: { own: 'commerce', commerce: 'cart minutesSinceAbandoned freshness', email: 'openedEmailSince' },
  PredictedValue: {
    own: 'commerce',
    commerce: 'expectedPurchases horizonDays probabilityActive expectedOrderValue lifetimeValue lifetimeMonths annualDiscountRate asOf model freshness',
  },
  // A trait's freshness is computed from the inputs its trait already read.
  TraitFreshness: { own: 'parent', parent: 'asOf inputs' },
  TraitInput: { own: 'parent', parent: 'source data readAt' },
  ValueModel: { own: 'commerce', commerce: 'fittedAt customers repeatCustomers fitMs r alpha a b p q gamma' },
  // Affinities are computed from the shop record's purchases and tiers and the warehouse's browsing:
  // `Traits.affinities` is nullable, so either source's failure stays in it; inside, all is computed.
  // An anonymous browser's affinities read the warehouse and the shop's price tiers; `affinities` is
  // nullable, so either failure stays in it.
  VisitorTraits: { own: 'web', commerce: 'affinities' },
  Affinities: { own: 'commerce', parent: 'categories priceTiers days halfLifeDays browsingConsidered freshness' },
  CategoryAffinity: { own: 'parent', parent: 'category score preferredTier evidence' },
  PriceTierAffinity: { own: 'parent', parent: 'tier score evidence' },
  AffinityEvidence: { own: 'parent', parent: 'productViews secondsOnPage cartAdds purchases' },
  // The channel traits hold only the customer and a window: each part is its own source's. `preferred`
  // reads every channel (email first); freshness leaves a failed input out, so it never fails.
  ChannelTrait: { own: 'request', request: 'days reach freshness', email: 'email preferred', web: 'web' },
  ChannelReach: { own: 'request', email: 'email', web: 'webPersonalization advertising' },
  Reachability: { own: 'parent', parent: 'reachable reason since' },
  EmailResponse: { own: 'email', email: 'openRate clickRate opens clicks lastOpenedAt bestSendHour' },
  SendHour: { own: 'email', email: 'hour opensAtHour opens timeZone' },
  WebResponse: { own: 'web', web: 'sessions lastSessionAt byChannel byCampaign' },
  VisitsByChannel: { own: 'web', web: 'medium source sessions share' },
  VisitsByCampaign: { own: 'web', web: 'campaign sessions lastSessionAt' },
  PreferredChannel: { own: 'parent', parent: 'channel reason evidence' },
  ChannelEvidence: { own: 'parent', parent: 'channel reachable responses lastResponseAt openRate' },
  EngagementTrend: { own: 'request', request: 'days freshness', web: 'web', email: 'email', commerce: 'shop' },
  WebTrend: { own: 'web', web: 'sessions pageViews' },
  EmailTrend: { own: 'email', email: 'opens clicks lowerBounds' },
  ShopTrend: { own: 'commerce', commerce: 'orders spend' },
  CountTrend: { own: 'parent', parent: 'current previous change direction' },
  MoneyTrend: { own: 'parent', parent: 'current previous change direction' },
  // Discount sensitivity is computed from the shop's orders; a shop without the column answers a
  // reason, not an error.
  DiscountSensitivity: {
    own: 'commerce',
    parent: 'unavailableReason days orders discountedOrders discountedShare meanDiscountedOrderValue meanFullPriceOrderValue valueRatio meanDiscountRate sensitivity freshness',
  },
  // Demographics hold the customer: each part is its own sources'. `location` reads the CRM, the shop
  // record and the warehouse, and is nullable, so whichever fails stays in it; freshness leaves a
  // failed input out, so it never fails.
  Demographics: { own: 'request', request: 'freshness', crm: 'location ageBand gender', web: 'devices' },
  DemographicLocation: { own: 'parent', parent: 'countryCode region source candidates' },
  LocationCandidate: { own: 'parent', parent: 'source countryCode region' },
  DeviceShare: { own: 'parent', parent: 'type sessions share' },
};

/**
 * Lists whose positions are read one by one (one lookup per key): the list is the request's, and
 * each item is its source's, so one key's failure is that position's alone.
 */
const ITEMS: Record<string, Source> = {
  'Query.customers': 'commerce',
  'Query._entities': 'commerce',
};

/**
 * Whether `inner`'s failure is always `outer`'s too, so `inner`'s data may sit non-null inside
 * `outer`'s: a source's own, and the shop database's inside a plan (every plan runs there).
 */
function failsWith(inner: Source, outer: Source): boolean {
  return inner === outer || (outer === 'plan' && inner === 'commerce');
}

/** "Type.field" -> source, from ANSWERED_BY. */
function fieldSources(): Map<string, Source> {
  const sources = new Map<string, Source>();
  for (const [type, { own: _, ...bySource }] of Object.entries(ANSWERED_BY)) {
    for (const [source, names] of Object.entries(bySource)) {
      for (const field of names.split(/\s+/).filter(Boolean)) {
        const at = `${type}.${field}`;
        if (sources.has(at)) throw new Error(`${at} is classified twice`);
        sources.set(at, source as Source);
      }
    }
  }
  return sources;
}

/** Everything wrong with the schema's nullability against the failure domains, one line each. */
function failureDomainProblems(schema: GraphQLSchema): string[] {
  const problems: string[] = [];
  const sources = fieldSources();
  const types = Object.values(schema.getTypeMap()).filter((type) => isObjectType(type) && !type.name.startsWith('__'));
  for (const type of types) {
    if (!isObjectType(type)) continue;
    const declared = ANSWERED_BY[type.name];
    if (!declared) {
      problems.push(`${type.name}: an object type missing from ANSWERED_BY`);
      continue;
    }
    for (const field of Object.values(type.getFields())) {
      const at = `${type.name}.${field.name}`;
      const source = sources.get(at);
      if (!source) {
        problems.push(`${at}: a field missing from ANSWERED_BY (say which source answers it)`);
        continue;
      }
      sources.delete(at);
      // A non-null field answered by another source than its parent's would carry that source's
      // failure up into the parent, and so into every other source's data beside it.
      if (FAILS.has(source) && !failsWith(source, declared.own) && isNonNullType(field.type)) {
        problems.push(`${at}: non-null, but answered by ${source} inside ${declared.own} data`);
      }
      const items = ITEMS[at];
      const itemType = isListType(getNullableType(field.type)) ? (getNullableType(field.type) as { ofType: GraphQLOutputType }).ofType : null;
      if (items && FAILS.has(items) && items !== source && itemType && isNonNullType(itemType)) {
        problems.push(`${at}: items are non-null, but each is answered by ${items} on its own`);
      }
      // An object holding one source's data is reached only through that source's fields.
      const returned = getNamedType(field.type);
      const target = ANSWERED_BY[returned.name];
      if (target && FAILS.has(target.own) && !failsWith(target.own, items ?? source)) {
        problems.push(`${at}: returns ${returned.name} (${target.own} data) but is answered by ${items ?? source}`);
      }
    }
  }
  for (const stale of sources.keys()) problems.push(`${stale}: in ANSWERED_BY but not in the schema`);
  for (const name of Object.keys(ANSWERED_BY)) if (!schema.getType(name)) problems.push(`${name}: in ANSWERED_BY but not in the schema`);
  return problems;
}

describe('nullability follows the failure domains', () => {
  it('has no non-null field that one source answers inside another source’s data, and every field classified', () => {
    expect(failureDomainProblems(buildSchema())).toEqual([]);
  });

  it('catches a non-null field of another source, an unclassified field and a stale entry', () => {
    const sdl = schemaSource()
      .replace('anonymousIds: [ID!]\n', 'anonymousIds: [ID!]!\n')
      .replace(/(type CrmCompany \{)/, '$1\n  "A field nobody classified."\n  employeesBand: String')
      .replace(/\n\s*"Primary domain\."\n\s*domain: String/, '');
    const altered = buildSubgraphSchema([{ typeDefs: gql(sdl) }]);
    // In any order: the schema's type map follows how the subgraph library builds it.
    expect(failureDomainProblems(altered).sort()).toEqual(
      [
        'Identities.anonymousIds: non-null, but answered by web inside request data',
        'CrmCompany.employeesBand: a field missing from ANSWERED_BY (say which source answers it)',
        'CrmCompany.domain: in ANSWERED_BY but not in the schema',
      ].sort(),
    );
  });
});
