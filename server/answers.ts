import { HeaderMap, type ApolloServerPlugin, type HTTPGraphQLHead } from '@apollo/server';
import type { Request, RequestHandler, Response } from 'express';
import { OperationTypeNode, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { Logger } from 'pino';
import type { AnswerCache, RememberedAnswer } from '../cache/answers.ts';
import { Provenance } from '../cache/provenance.ts';
import { writeAuditLine, type RequestAuth } from './auth/audit.ts';
import type { OperationCheck } from './auth/limits.ts';
import type { Principal } from './auth/scopes.ts';
import type { CheckedBeforeApollo, Context } from './context.ts';
import { everyRequest } from './listener.ts';
import { graphqlRequestId } from './observability/http.ts';
import type { Metrics } from './observability/metrics.ts';
import { nameOperationSpan, recordOperation } from './observability/requests.ts';
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
  /** /graphql's operation check (limits, cost, the client's rate limit): a remembered answer runs it as any request does. */
  readonly check: OperationCheck;
  /** The request's auth context (who is calling, the audit trail), as the pipeline's context has it. */
  readonly auth: (res: Response) => RequestAuth;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface RememberedAnswers {
  /** Apollo's side: remembers answers, and answers the requests the handler leaves to Apollo (GET, persisted queries, traces). */
  readonly plugin: ApolloServerPlugin<Context>;
  /** Express middleware for /graphql, after authentication and just before Apollo: answers a plain POST from memory without Apollo. */
  readonly handler: RequestHandler;
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
 * and span. The handler serves a plain JSON POST of a known document in front of Apollo Server,
 * with the same bytes Apollo would write (`{"data":…,"extensions":{"sources":…}}`, the content type
 * the Accept header negotiates, `no-store`, `Server-Timing`): it is the path a personalization
 * engine's page renders take, and Apollo's request pipeline costs more than the answer. Anything
 * else (a GET, a persisted query, a gateway's trace, an Accept only Apollo can refuse) goes to
 * Apollo, whose plugin answers it from the same memory after its own checks.
 */
export function rememberedAnswers(options: RememberedAnswersOptions): RememberedAnswers {
  const { cache, check } = options;
  const plans = new DocumentPlans('answers', answerable);
  const documents = new KnownDocuments();

  const plugin = everyRequest({
    async responseForOperation({ request, document, schema, queryHash, operation, contextValue }) {
      // Apollo hashes every document it parses; without a hash there is no key.
      if (!contextValue.answer || !operation || queryHash === undefined || !plans.of(schema, document)) return null;
      // A gateway's inline trace needs the execution itself.
      if (request.http?.headers.get('apollo-federation-include-trace') !== undefined) return null;
      // Looked up already, in front of Apollo (the handler), and not found: executed, and remembered under that key.
      const missed = contextValue.checked?.missedAnswer;
      if (missed !== undefined) {
        contextValue.answer.key = missed;
        return null;
      }
      const key = answerKey(queryHash, request.operationName, contextValue.auth.principal, request.variables);
      const answer = cache.get(key, Date.now());
      if (answer === undefined) {
        contextValue.answer.key = key;
        return null;
      }
      if (request.query !== undefined) documents.learn(request.query, { queryHash, schema, document }, request.operationName, operation);
      contextValue.answer.remembered = true;
      contextValue.provenance.replay(answer.sources, Date.now() - answer.answeredAt);
      fillAudit(contextValue.auth, answer);
      return { http: NO_HEAD, body: { kind: 'single', singleResult: { data: JSON.parse(answer.json) as Record<string, unknown> } } };
    },
    async willSendResponse({ request, response, contextValue, document, schema, queryHash, operation }) {
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
      if (request.query !== undefined && queryHash !== undefined && document && operation)
        documents.learn(request.query, { queryHash, schema, document }, request.operationName, operation);
    },
  });

  const handler: RequestHandler = async (req, res, next) => {
    const started = performance.now();
    const asked = askedOf(req);
    const known = asked && documents.of(asked.query, asked.operationName);
    if (!asked || !known) return next();
    const auth = options.auth(res);
    // Checked here, before the answer is looked up, as Apollo's plugin does; a request left to
    // Apollo after this takes the outcome with it, so it is not checked, or charged, twice.
    try {
      await check({ schema: known.schema, document: known.document, operation: known.operation, variables: asked.variables, principal: auth.principal });
    } catch (error) {
      checks.set(res, { refusal: error instanceof Error ? error : new Error(String(error)) });
      return next();
    }
    const now = Date.now();
    const key = answerKey(known.queryHash, asked.operationName, auth.principal, asked.variables);
    const answer = cache.get(key, now);
    if (answer === undefined) {
      checks.set(res, { refusal: null, missedAnswer: key });
      return next();
    }
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
  };

  return { plugin, handler };
}

/** The check's outcome for the requests the handler checked and then left to Apollo. */
const checks = new WeakMap<Response, CheckedBeforeApollo>();

/**
 * The operation check's outcome, when the handler ran it for this request before leaving it to
 * Apollo (a known document without an answer that holds, or a refusal), for its context
 * (Context.checked): the pipeline does not check, and charge the client, again.
 */
export function checkedBeforeApollo(res: Response): CheckedBeforeApollo | undefined {
  return checks.get(res);
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

/** A plain JSON POST, as Apollo Server reads one, with the content type its answer would have. */
interface Asked {
  readonly query: string;
  readonly operationName: string | undefined;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly contentType: string;
}

/**
 * The request, when the handler may answer it as Apollo Server would: a POST whose JSON body
 * (express.json parses only `application/json`, which a browser cannot send cross-origin without a
 * preflight, so Apollo's CSRF check passes it) holds a query, maybe an operation name and
 * variables as Apollo accepts them, no extensions (a persisted query's hash), no trace asked for,
 * and an Accept header Apollo answers with JSON. Null for anything else: Apollo takes it.
 */
function askedOf(req: Request): Asked | null {
  if (req.method !== 'POST' || req.headers['apollo-federation-include-trace'] !== undefined) return null;
  const body: unknown = req.body;
  if (!isRecord(body) || typeof body.query !== 'string' || (body.extensions !== undefined && body.extensions !== null)) return null;
  const { operationName, variables } = body;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
  if (variables !== undefined && variables !== null && !isRecord(variables)) return null;
  const contentType = contentTypeFor(req);
  if (contentType === null) return null;
  return { query: body.query, operationName: operationName ?? undefined, variables: variables ?? undefined, contentType };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Apollo Server's media types for a single result, in the order it offers them (ApolloServer.ts, MEDIA_TYPES). */
const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';
const OFFERED = [JSON_TYPE, GRAPHQL_RESPONSE_TYPE, 'application/json; callbackSpec=1.0; charset=utf-8'];
/** Accept headers seen, and what they negotiate; clients send a handful, so a few are kept. */
const negotiated = new Map<string, string | null>();
const MAX_NEGOTIATED = 64;

/**
 * The content type Apollo Server gives this request's answer (its chooseContentTypeForSingleResultResponse:
 * Negotiator over its three types, through Express's `req.accepts`, which is the same), or null where
 * Apollo would not answer plain JSON: the subscription callback's type, or a 406.
 */
function contentTypeFor(req: Request): string | null {
  const accept = req.headers.accept;
  if (!accept) return JSON_TYPE;
  let type = negotiated.get(accept);
  if (type === undefined) {
    const chosen = req.accepts(OFFERED);
    type = chosen === JSON_TYPE || chosen === GRAPHQL_RESPONSE_TYPE ? chosen : null;
    if (negotiated.size < MAX_NEGOTIATED) negotiated.set(accept, type);
  }
  return type;
}

/** A document Apollo Server parsed and validated, and an answer was remembered for. */
interface KnownDocument {
  readonly queryHash: string;
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
}

/**
 * The documents the handler can answer, by their text, learnt from Apollo when it remembered or
 * served an answer for them: the hash Apollo keys them by, the parsed document and its operations
 * by name, so a request the handler answers is neither hashed, parsed nor validated again. Bounded:
 * past `max`, the oldest is forgotten, and Apollo's plugin teaches it again on its next answer.
 */
class KnownDocuments {
  private readonly byText = new Map<string, KnownDocument & { readonly operations: Map<string, OperationDefinitionNode> }>();

  constructor(private readonly max = 1000) {}

  of(query: string, operationName: string | undefined): (KnownDocument & { readonly operation: OperationDefinitionNode }) | undefined {
    const known = this.byText.get(query);
    const operation = known?.operations.get(operationName ?? '');
    return known && operation && { ...known, operation };
  }

  learn(query: string, known: KnownDocument, operationName: string | undefined | null, operation: OperationDefinitionNode): void {
    let entry = this.byText.get(query);
    if (entry?.document !== known.document || entry.schema !== known.schema) {
      if (entry === undefined && this.byText.size >= this.max) this.byText.delete(this.byText.keys().next().value!);
      entry = { ...known, operations: new Map() };
      this.byText.set(query, entry);
    }
    entry.operations.set(operationName ?? '', operation);
  }
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
