import { HeaderMap, type ApolloServerPlugin, type HTTPGraphQLHead } from '@apollo/server';
import { OperationTypeNode, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { AnswerCache } from '../cache/answers.ts';
import type { Principal } from './auth/scopes.ts';
import type { Context } from './context.ts';
import { everyRequest } from './listener.ts';
import { DocumentPlans } from './plan.ts';

/**
 * The fields whose value is a function of their parent, their arguments, what the request's
 * loaders read through the shared cache (or through state kept in process that they report, the
 * RFM boundaries), the settings and the caller's access alone: never of the time of asking, of
 * other state, or of the age of anything. An operation made of these only (and `__typename`) may
 * have its answer remembered; one of them read live (an order page, a web window of a shape the
 * cache does not keep, an anonymous browser's) keeps its request's answer from being remembered.
 * Not here: traits (models fitted in process, windows ending now, freshness reports), freshness
 * fields, audiences, visitors, admin. A field is added only after reading its resolver and
 * everything it calls; a test checks that each one exists.
 */
export const ANSWERABLE_FIELDS: ReadonlySet<string> = new Set(
  Object.entries({
    Query: ['customer', 'customers', 'me'],
    Customer: ['id', 'email', 'identities', 'commerce', 'crm', 'emailMarketing', 'web', 'location', 'identification', 'consent'],
    Identities: ['commerceCustomerId', 'email', 'hubspotContactId', 'mailchimpSubscriberHash', 'analyticsUserId', 'anonymousIds', 'ambiguousAnonymousIds'],
    Identification: ['by', 'link', 'mergedAnonymousIds', 'ambiguousAnonymousIds'],
    VisitorLocation: ['country', 'region', 'city', 'timezone', 'locale', 'at'],
    Consent: ['email', 'analytics', 'advertising'],
    ChannelConsent: ['granted', 'source', 'at'],
    // Scored at the time the answer was made (at most the commerce TTL ago, as the cached purchase
    // stats' daysSinceLastOrder is), with the boundaries in force: a new computation of them ends the answer.
    CommerceProfile: ['customerId', 'firstName', 'lastName', 'phone', 'location', 'signedUpAt', 'signupChannel', 'purchases', 'rfm', 'carts', 'abandonedCart'],
    Rfm: ['recency', 'frequency', 'monetary', 'segment', 'boundariesComputedAt'],
    ShopAddress: ['city', 'region', 'postalCode', 'countryCode'],
    Purchases: ['orderCount', 'totalSpent', 'averageOrderValue', 'firstOrderAt', 'lastOrderAt', 'daysSinceLastOrder', 'topCategories'],
    CategorySpend: ['category', 'spent', 'orderCount'],
    DecimalMoney: ['amount', 'currencyCode'],
    ShopCart: ['id', 'createdAt', 'updatedAt', 'items', 'itemCount', 'value'],
    ShopCartItem: ['product', 'quantity', 'unitPrice', 'addedAt'],
    ShopProduct: ['id', 'sku', 'name', 'category', 'price'],
    CrmContact: ['id', 'firstName', 'lastName', 'phone', 'companyName', 'jobTitle', 'lifecycleStage', 'leadStatus', 'location', 'createdAt', 'updatedAt', 'company', 'properties'],
    CrmLocation: ['city', 'state', 'zip', 'country'],
    CrmCompany: ['id', 'name', 'domain', 'industry', 'size'],
    CrmProperty: ['name', 'value'],
    EmailMarketing: [
      ...['subscriberHash', 'status', 'canEmail', 'memberRating', 'averageOpenRate', 'averageClickRate', 'signedUpAt', 'optedInAt', 'lastChangedAt'],
      ...['vip', 'language', 'signupSource', 'location', 'marketingPermissions', 'lastOpenedAt', 'lastClickedAt'],
    ],
    EmailLocation: ['countryCode', 'timezone', 'latitude', 'longitude', 'region'],
    MarketingPermission: ['id', 'text', 'enabled'],
    WebBehaviour: [
      ...['days', 'lastSeenAt', 'sessionCount', 'pageViews', 'averageSessionSeconds', 'recentlyViewedProducts', 'topCategories', 'cartActivity'],
      ...['devices', 'firstTouch', 'lastTouch', 'searches'],
    ],
    ViewedProduct: ['productId', 'name', 'category', 'price', 'lastViewedAt', 'viewCount', 'timeOnPageSeconds'],
    CategoryInterest: ['category', 'views', 'secondsSpent'],
    CartActivity: ['productsAdded', 'productsRemoved', 'abandonedCheckouts'],
    CartChange: ['productId', 'name', 'quantity', 'at'],
    AbandonedCheckout: ['at', 'value'],
    WebDevice: ['type', 'os', 'browser', 'sessions', 'share', 'lastSeenAt'],
    Touch: ['at', 'source', 'medium', 'campaign', 'referrer', 'landingPath'],
    ProductSearch: ['query', 'at'],
  }).flatMap(([type, fields]) => fields.map((field) => `${type}.${field}`)),
);

/**
 * Answers a repeated query from memory (cache/answers.ts): the same document, operation,
 * variables and access, while every shared-cache entry its last execution read is still fresh and
 * still the one the cache serves. Only operations made of ANSWERABLE_FIELDS are remembered, and only
 * an answer whose every read was a fresh shared-cache hit, without an error. The checks before
 * execution (limits, cost, rate limits, argument checks) run as for any request; what execution
 * would have added, the provenance report (ages grown since) and the audit trail, is replayed.
 */
export function answersPlugin(cache: AnswerCache): ApolloServerPlugin<Context> {
  const plans = new DocumentPlans('answers', answerable);
  return everyRequest({
    async responseForOperation({ request, document, schema, queryHash, contextValue }) {
      if (!contextValue.answer || !plans.of(schema, document)) return null;
      // A gateway's inline trace needs the execution itself.
      if (request.http?.headers.get('apollo-federation-include-trace') !== undefined) return null;
      const key = `${queryHash}\n${request.operationName ?? ''}\n${principalKey(contextValue.auth.principal)}\n${JSON.stringify(request.variables ?? {})}`;
      const answer = cache.get(key, Date.now());
      if (answer === undefined) {
        contextValue.answer.key = key;
        return null;
      }
      contextValue.answer.remembered = true;
      contextValue.provenance.replay(answer.sources, Date.now() - answer.answeredAt);
      const { audit } = contextValue.auth;
      for (const field of answer.audit.fields) audit.fields.add(field);
      for (const customer of answer.audit.customers) audit.customers.add(customer);
      for (const field of answer.audit.masked) audit.masked.add(field);
      return { http: NO_HEAD, body: { kind: 'single', singleResult: { data: answer.data } } };
    },
    async willSendResponse({ response, contextValue }) {
      const recording = contextValue.answer;
      // Made of fresh shared-cache entries (so it ends), all of which can be checked.
      if (recording?.key === undefined || recording.uncheckable || !Number.isFinite(recording.freshUntil)) return;
      if (response.body.kind !== 'single') return;
      const { data, errors } = response.body.singleResult;
      if (errors !== undefined || !data) return;
      const sources = contextValue.provenance.summary();
      for (const source in sources) if (sources[source]!.status !== 'cached') return;
      const { audit } = contextValue.auth;
      cache.set(recording.key, {
        data,
        sources,
        audit: { fields: [...audit.fields], customers: [...audit.customers], masked: [...audit.masked] },
        dependencies: recording.dependencies,
        answeredAt: Date.now(),
        freshUntil: recording.freshUntil,
        size: JSON.stringify(data).length,
      });
    },
  });
}

/** Nothing to add to the response's head: Apollo merges it into its own (and never writes to it). */
const NO_HEAD: HTTPGraphQLHead = { status: undefined, headers: new HeaderMap() };

/**
 * Everything access depends on (server/auth/enforce.ts): the scopes, and what a self or visitor
 * token is bound to. The scopes' part is made once per scope set (an API key's principal, and
 * every anonymous request's, share theirs).
 */
const scopeKeys = new WeakMap<ReadonlySet<string>, string>();
function principalKey({ scopes, customerId, anonymousId }: Principal): string {
  let key = scopeKeys.get(scopes);
  if (key === undefined) {
    key = [...scopes].sort().join(' ');
    scopeKeys.set(scopes, key);
  }
  return customerId === null && anonymousId === null ? key : `${key} ${JSON.stringify([customerId, anonymousId])}`;
}

/** Whether every operation of `document` is a query made of ANSWERABLE_FIELDS (one at least), with no directive but @include and @skip. */
function answerable(schema: GraphQLSchema, document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let ok = true;
  let reads = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      OperationDefinition(node) {
        if (node.operation !== OperationTypeNode.QUERY) ok = false;
      },
      Directive(node) {
        if (node.name.value !== 'include' && node.name.value !== 'skip') ok = false;
      },
      Field(node) {
        const name = node.name.value;
        if (name === '__typename') return;
        const parent = typeInfo.getParentType();
        if (!parent || !ANSWERABLE_FIELDS.has(`${parent.name}.${name}`)) ok = false;
        reads = true;
      },
    }),
  );
  return ok && reads;
}
