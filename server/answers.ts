import { HeaderMap, type ApolloServerPlugin, type HTTPGraphQLHead } from '@apollo/server';
import { OperationTypeNode, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { AnswerCache, RememberedAnswer } from '../cache/answers.ts';
import { Provenance } from '../cache/provenance.ts';
import { writeAuditLine, type RequestAuth } from './auth/audit.ts';
import type { Principal } from './auth/scopes.ts';
import type { Context } from './context.ts';
import { everyRequest } from './listener.ts';
import { graphqlRequestId } from './observability/http.ts';
import type { Metrics } from './observability/metrics.ts';
import { nameOperationSpan, recordOperation } from './observability/requests.ts';
import type { FrontAnswers } from './front.ts';
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

export interface RememberedAnswersOptions {
  readonly cache: AnswerCache;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface RememberedAnswers extends FrontAnswers {
  /** Apollo's side: remembers answers, and answers the requests the front leaves to Apollo (GET, persisted queries, traces). */
  readonly plugin: ApolloServerPlugin<Context>;
}

/**
 * Answers a repeated query from memory (cache/answers.ts): the same document, operation,
 * variables and access, while every shared-cache entry its last execution read is still fresh and
 * still the one the cache serves. Only operations made of ANSWERABLE_FIELDS are remembered, and only
 * an answer whose every read was a fresh shared-cache hit, without an error.
 *
 * A remembered answer skips execution and nothing else a client or an operator sees. The operation
 * check (limits, cost, rate limit) runs as for any request; what execution would have added is
 * replayed: the provenance report (ages grown since), the audit line, the request line, its metric
 * and span. `answer` serves a plain JSON POST of a known document in front of Apollo Server
 * (server/front.ts), with the same bytes Apollo would write (`{"data":…,"extensions":{"sources":…}}`,
 * the content type the Accept header negotiates, `no-store`, `Server-Timing`): it is the path a
 * personalization engine's page renders take, and Apollo's request pipeline costs more than the
 * answer. Anything else (a GET, a persisted query, a gateway's trace, an Accept only Apollo can
 * refuse) goes to Apollo, whose plugin answers it from the same memory after its own checks.
 */
export function rememberedAnswers(options: RememberedAnswersOptions): RememberedAnswers {
  const { cache } = options;
  const plans = new DocumentPlans('answers', answerable);

  const plugin = everyRequest({
    async responseForOperation({ request, document, schema, queryHash, operation, contextValue }) {
      // Apollo hashes every document it parses; without a hash there is no key.
      if (!contextValue.answer || !operation || queryHash === undefined || !plans.of(schema, document)) return null;
      // A gateway's inline trace needs the execution itself.
      if (request.http?.headers.get('apollo-federation-include-trace') !== undefined) return null;
      // Looked up already in front of Apollo (server/front.ts), and not found: executed, and
      // remembered under that key, which the request's recording was made with.
      if (contextValue.checked?.missedAnswer !== undefined) return null;
      const key = answerKey(queryHash, request.operationName, contextValue.auth.principal, request.variables);
      const answer = cache.get(key, Date.now());
      if (answer === undefined) {
        contextValue.answer.key = key;
        return null;
      }
      contextValue.answer.remembered = true;
      contextValue.provenance.replay(answer.sources, Date.now() - answer.answeredAt);
      fillAudit(contextValue.auth, answer);
      return { http: NO_HEAD, body: { kind: 'single', singleResult: { data: JSON.parse(answer.json) as Record<string, unknown> } } };
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
        json: JSON.stringify(data),
        sources,
        audit: { fields: [...audit.fields], customers: [...audit.customers], masked: [...audit.masked] },
        dependencies: recording.dependencies,
        answeredAt: Date.now(),
        freshUntil: recording.freshUntil,
      });
    },
  });

  const answer: FrontAnswers['answer'] = (res, { known, asked, auth, started }) => {
    if (!plans.of(known.schema, known.document)) return { answered: false, key: undefined };
    const now = Date.now();
    const key = answerKey(known.queryHash, asked.operationName, auth.principal, asked.variables);
    const answer = cache.get(key, now);
    if (answer === undefined) return { answered: false, key };
    const requestId = graphqlRequestId(res);
    const log = options.logger.child({ requestId });
    const provenance = new Provenance();
    provenance.replay(answer.sources, now - answer.answeredAt);
    fillAudit(auth, answer);
    nameOperationSpan(known.operation);
    const sources = provenance.empty ? undefined : provenance.summary();
    res.statusCode = 200;
    res.setHeader('content-type', asked.contentType);
    if (sources) res.setHeader('server-timing', provenance.serverTiming());
    res.setHeader('cache-control', 'no-store');
    // What Apollo Server writes (its fields in the order errors, data, extensions, then a newline), with the data serialized once.
    res.end(sources ? `{"data":${answer.json},"extensions":{"sources":${JSON.stringify(sources)}}}\n` : `{"data":${answer.json}}\n`);
    // Once the client has its answer, as Apollo's path writes them (whenAnswered).
    writeAuditLine({ auth, log }, known.operation.name?.value ?? null);
    recordOperation(options.metrics, {
      context: { log, requestId, provenance, auth, answer: { remembered: true } },
      operation: known.operation,
      outcome: 'ok',
      status: 200,
      errors: undefined,
      seconds: (performance.now() - started) / 1000,
    });
    return { answered: true };
  };

  return { plugin, answer };
}

/** What the audit line of the execution that made the answer named. */
function fillAudit({ audit }: RequestAuth, answer: RememberedAnswer): void {
  for (const field of answer.audit.fields) audit.fields.add(field);
  for (const customer of answer.audit.customers) audit.customers.add(customer);
  for (const field of answer.audit.masked) audit.masked.add(field);
}

/** Nothing to add to the response's head: Apollo merges it into its own (and never writes to it). */
const NO_HEAD: HTTPGraphQLHead = { status: undefined, headers: new HeaderMap() };

/** The answer cache's key: the document, the operation, the caller's access and the variables. */
function answerKey(queryHash: string, operationName: string | undefined | null, principal: Principal, variables: Readonly<Record<string, unknown>> | undefined): string {
  return `${queryHash}\n${operationName ?? ''}\n${principalKey(principal)}\n${JSON.stringify(variables ?? {})}`;
}

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
