import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTrace } from '@apollo/server/plugin/inlineTrace';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { unwrapResolverError } from '@apollo/server/errors';
import express, { type Request, type Response, type Router } from 'express';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { PlannerLimits } from '../audiences/planner.ts';
import { AudienceQueries, DEFAULT_AUDIENCE_BUDGET_MS, type AudienceRuntime } from '../audiences/service.ts';
import { MemoryAudienceStore, type AudienceStore } from '../audiences/store.ts';
import { AnswerCache, AnswerRecording, DEFAULT_ANSWER_CACHE } from '../cache/answers.ts';
import { createLoaders, type Upstreams } from '../cache/loaders.ts';
import { Invalidator } from '../cache/invalidation.ts';
import { Provenance } from '../cache/provenance.ts';
import { OutgoingWebhooks, type OutgoingWebhooksOptions } from '../push/webhooks/index.ts';
import { SelectionRunner } from '../push/webhooks/selection.ts';
import { eventIntake, type EventIntakeOptions } from '../push/web/intake.ts';
import { SourceError } from '../sources/errors.ts';
import { argumentChecks } from '../resolvers/arguments.ts';
import { headStart } from '../resolvers/head-start.ts';
import { rememberedAnswers } from './answers.ts';
import { argumentChecksPlugin } from './argument-checks.ts';
import { createSecurity, securityDefaults, type SecurityOptions } from './auth/index.ts';
import type { Context, Settings } from './context.ts';
import { formatError, isExpected } from './errors.ts';
import { checkedBeforeApollo, frontOfApollo } from './front.ts';
import { createExplorer } from './explorer/index.ts';
import { graphqlHandler } from './graphql-handler.ts';
import { graphqlOverHttp } from './graphql-over-http.ts';
import { everyRequest } from './listener.ts';
import { Readiness, type ReadinessOptions } from './health.ts';
import { graphqlRequestId, Observability } from './observability/index.ts';
import { buildSchema } from './schema.ts';
import { startSubscriptions, subscriptionsOverHttp, type PushOptions } from './subscriptions/index.ts';
import { webhooks, type WebhookOptions } from './webhooks.ts';

export interface ServerOptions {
  readonly upstreams: Upstreams;
  /** Time budget of a request: the default, and the most a client may ask for (`x-time-budget-ms`). */
  readonly budgetMs: number;
  readonly logger: Logger;
  readonly settings: Settings;
  readonly production: boolean;
  /** Secrets of the webhook endpoints; each endpoint is off without its secret. */
  readonly webhooks?: Omit<WebhookOptions, 'invalidator' | 'logger' | 'onDelivery'>;
  /**
   * /readyz: the tracker of each source's last real call (its `watch` observer must be the one the
   * upstreams were built with), the probe interval, contract findings, the cache's health.
   */
  readonly readiness?: Omit<ReadinessOptions, 'upstreams'>;
  /** Authentication, scopes, limits, CORS (server/auth); the defaults for `production` when omitted. */
  readonly security?: SecurityOptions;
  /** Metrics, request logs and tracing; metrics and logs only (no tracing) when omitted. */
  readonly observability?: Observability;
  /** Outgoing webhooks (push/webhooks): the feed they deliver from, Redis and delivery settings; none when omitted. */
  readonly outgoingWebhooks?: Omit<OutgoingWebhooksOptions, 'selection' | 'logger' | 'production'>;
  /**
   * GraphQL subscriptions fed by this change feed (server/subscriptions, docs/push-subscriptions.md):
   * WebSocket (graphql-transport-ws) at /graphql and Server-Sent Events at /graphql/stream, with
   * their limits. Off when omitted.
   */
  readonly push?: PushOptions;
  /** The event intake Segment's and RudderStack's webhook destinations forward to (POST /intake/events); off without its secret. */
  readonly intake?: Omit<EventIntakeOptions, 'logger'>;
  /** Erases what push keeps about a shop customer (the trigger state), when forgetCustomer finds them. */
  readonly forgetCustomer?: (customerId: string) => Promise<void>;
  /**
   * Filters across sources and saved audiences (audiences/, docs/audiences.md): where definitions
   * are kept (in process when omitted), the planner's limits, and the time budget of a request
   * that asks an audience question (AUDIENCE_BUDGET_MS; `x-time-budget-ms` may shorten it).
   */
  readonly audiences?: { readonly store?: AudienceStore; readonly limits?: PlannerLimits; readonly budgetMs?: number };
  /** Routes of the embedded demo (POST /demo/orders); mounted only when the demo runs, never in front of a real shop. */
  readonly demoRoutes?: Router;
  /**
   * Repeated queries answered from memory while what they read from the shared cache holds
   * (server/answers.ts; ANSWER_CACHE_MAX_ENTRIES, ANSWER_CACHE_MAX_MB): one with the default bounds
   * when omitted, off with `false`. Without a shared cache nothing is remembered.
   */
  readonly answers?: AnswerCache | false;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:4000 (GraphQL at /graphql). */
  readonly url: string;
  readonly httpServer: Server;
  /** Stops accepting connections, lets in-flight requests finish, then resolves. */
  stop(): Promise<void>;
}

/** Starts the HTTP server: /graphql (Apollo Server on Express) and its explorer page, subscriptions when `push` is given, /healthz and /readyz. */
export async function startServer(options: ServerOptions, listen: { host: string; port: number }): Promise<RunningServer> {
  const app = express();
  app.disable('x-powered-by');
  // No ETag computed over every response body (a hash of each GraphQL answer, never cacheable: they
  // are no-store); the explorer's files set their own.
  app.set('etag', false);
  const security = createSecurity(options.security ?? securityDefaults(options.production), options.logger);
  const observability = options.observability ?? new Observability();
  // Answers are made of shared-cache entries: without the cache there is nothing to remember.
  const answers = options.answers === false || !options.upstreams.store ? null : (options.answers ?? new AnswerCache(DEFAULT_ANSWER_CACHE));
  observability.attach({ guards: options.upstreams.guards, budgetMs: options.budgetMs, answers });
  const { budgetMs } = options;
  const audienceBudgetMs = options.audiences?.budgetMs ?? DEFAULT_AUDIENCE_BUDGET_MS;
  // What a /graphql request reads with (its budget, loaders and provenance), made once: in front of
  // Apollo when its lookups start there (resolvers/head-start.ts), or for its context.
  const reads = new WeakMap<Response, RequestReads>();
  const readsOf = (req: Request, res: Response): RequestReads => {
    let found = reads.get(res);
    if (!found) {
      const provenance = new Provenance();
      const startedAt = Date.now();
      const asked = req.get('x-time-budget-ms');
      const budget = { deadline: startedAt + budgetOf(asked, budgetMs) };
      // Under the key the front looked up (server/front.ts), if it did, so the head start's reads are among the answer's.
      const answer = answers ? new AnswerRecording(checkedBeforeApollo(res)?.missedAnswer) : undefined;
      const loaders = createLoaders(options.upstreams, {
        get deadline() {
          return budget.deadline;
        },
        report: provenance.record,
        ...(answer && { dependsOn: answer.dependsOn, dependsOnKept: answer.dependsOnKept }),
      });
      // An analyst's question gets the longer audience budget, for the whole request (see AudienceRequest).
      const analystDeadline = startedAt + budgetOf(asked, audienceBudgetMs);
      found = { provenance, budget, analystDeadline, answer, loaders };
      reads.set(res, found);
    }
    return found;
  };
  const remembered = answers && rememberedAnswers({ cache: answers, logger: options.logger, metrics: observability.metrics });
  // First, so every response is counted and carries a request id, refused ones included.
  app.use(observability.http(options.logger));
  app.use(security.headers);
  const httpServer = createHttpServer(app);
  const explorer = createExplorer(security.explorer);
  const schema = security.protect(buildSchema());
  const front = frontOfApollo({
    check: security.check,
    auth: security.context,
    // Served in front of Apollo with what its plugins would write, `no-store` included (uncacheable): with cache hints in the schema, Apollo's plugin serves them.
    ...(remembered && !schema.getDirective('cacheControl') && { answers: remembered }),
    headStart: (res, request) => headStart(readsOf(res.req, res).loaders, request),
  });
  const audiences: AudienceRuntime = {
    upstreams: options.upstreams,
    store: options.audiences?.store ?? new MemoryAudienceStore(),
    ...(options.audiences?.limits && { limits: options.audiences.limits }),
  };
  const invalidator = new Invalidator(options.upstreams, options.logger, undefined, undefined, options.forgetCustomer);
  const subscriptions =
    options.push &&
    startSubscriptions(httpServer, '/graphql', schema, options.push, {
      upstreams: options.upstreams,
      invalidator,
      budgetMs: options.budgetMs,
      settings: options.settings,
      logger: options.logger,
      security: security.subscriptions,
      audiences,
    });
  const apollo = new ApolloServer<Context>({
    schema,
    ...security.apollo,
    formatError,
    includeStacktraceInErrorResponses: false,
    logger: options.logger,
    // main.ts owns shutdown (server, then pool, then embedded database); Apollo's own handler
    // would re-raise the signal and kill the process before the pool is closed.
    stopOnTerminationSignals: false,
    plugins: [
      // Before the HTTP drain: see server/subscriptions/index.ts.
      ...(subscriptions ? [subscriptions.plugin] : []),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      explorer.landingPage,
      subscriptionsOverHttp(Boolean(subscriptions)),
      ...security.plugins,
      argumentChecksPlugin(argumentChecks),
      // After every check before execution (limits, cost, rate limits, arguments): a remembered answer skips execution only.
      front.plugin,
      ...(remembered ? [remembered.plugin] : []),
      provenanceReport(),
      errorLogging(),
      observability.plugin,
      // After the request log: it may turn a request error's 400 into 200, once the log has classed it.
      graphqlOverHttp(),
      ...inlineTraceWhenAsked(),
      // Where Apollo adds its own cache-control plugin: after every other.
      ...uncacheable(schema),
    ],
  });
  await apollo.start();
  const outgoing =
    options.outgoingWebhooks &&
    (await OutgoingWebhooks.start({
      ...options.outgoingWebhooks,
      selection: new SelectionRunner({ schema, upstreams: options.upstreams, invalidator, settings: options.settings, logger: options.logger, budgetMs: options.budgetMs }),
      logger: options.logger,
      production: options.production,
    }));
  app.use('/webhooks', webhooks({ ...options.webhooks, invalidator, logger: options.logger, onDelivery: observability.metrics.webhook }));
  if (options.intake) app.use('/intake', eventIntake({ ...options.intake, logger: options.logger }));
  if (options.demoRoutes) app.use(options.demoRoutes);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Outside /graphql and its authentication: Prometheus scrapes it (METRICS_TOKEN guards it when set).
  app.get('/metrics', observability.handler);
  // Unauthenticated: answers from the breakers and the sources' last calls, probing a source at
  // most once per interval however often it is asked (server/health.ts).
  const readiness = new Readiness({ ...options.readiness, upstreams: options.upstreams });
  app.get('/readyz', async (_req, res) => {
    const report = await readiness.report();
    res
      .status(report.status === 'not_ready' ? 503 : 200)
      .set('cache-control', 'no-store')
      .json(report);
  });
  // Static pages and files, served without credentials (every query they send needs them).
  app.use(explorer.routes);
  // Before /graphql's middleware, which would take this path too. Authentication is the handler's own.
  if (subscriptions) app.use('/graphql/stream', express.json({ limit: '256kb' }), subscriptions.sse);
  app.use(
    '/graphql',
    express.json({ limit: '256kb' }),
    ...observability.graphql,
    security.graphql,
    front.handler,
    graphqlHandler(apollo, async ({ req, res, afterResponse }) => {
      const requestId = graphqlRequestId(res);
      const { provenance, budget, analystDeadline, answer, loaders } = readsOf(req, res);
      const auth = security.context(res);
      const checked = checkedBeforeApollo(res);
      return {
        loaders,
        cache: invalidator.within(budget.deadline),
        provenance,
        ...(answer && { answer }),
        ...(checked && { checked }),
        requestId,
        afterResponse,
        log: options.logger.child({ requestId }),
        settings: options.settings,
        auth,
        ...(outgoing && { webhooks: outgoing }),
        audiences: new AudienceQueries(audiences, {
          extendDeadline: () => (budget.deadline = Math.max(budget.deadline, analystDeadline)),
          report: provenance.recordPlan,
          ...(auth.spend && { spend: auth.spend }),
        }),
      };
    }),
  );
  app.use(security.errors);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(listen.port, listen.host, resolve);
  });
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`,
    httpServer,
    stop: async () => {
      await apollo.stop();
      await outgoing?.stop();
    },
  };
}

/** What one /graphql request reads with. */
interface RequestReads {
  readonly provenance: Provenance;
  /** Its deadline, which an analyst's question extends to `analystDeadline`. */
  readonly budget: { deadline: number };
  readonly analystDeadline: number;
  readonly answer: AnswerRecording | undefined;
  readonly loaders: Context['loaders'];
}

/** A client may shorten its budget (a page render that gives up after 200 ms), never lengthen it. */
function budgetOf(header: string | undefined, defaultMs: number): number {
  const asked = header === undefined ? NaN : Number(header);
  return Number.isInteger(asked) && asked > 0 ? Math.min(asked, defaultMs) : defaultMs;
}

/**
 * Tells the caller how fresh each source's data is: `extensions.sources` in the body (per source:
 * live, cached or stale, age, upstream wait, keys) and a `Server-Timing` header with the waits.
 */
function provenanceReport(): ApolloServerPlugin<Context> {
  return everyRequest({
    async willSendResponse({ response, contextValue }) {
      const { provenance } = contextValue;
      if (response.body.kind === 'single' && provenance.plans.length > 0) {
        response.body.singleResult.extensions = { ...response.body.singleResult.extensions, plans: provenance.plans };
      }
      if (provenance.empty) return;
      response.http.headers.set('server-timing', provenance.serverTiming());
      if (response.body.kind === 'single') {
        response.body.singleResult.extensions = { ...response.body.singleResult.extensions, sources: provenance.summary() };
      }
    },
  });
}

/**
 * `Cache-Control: no-store` on every GraphQL response, which is what Apollo's default cache-control
 * plugin comes to when nothing gives a cache hint, without its hook on every resolved field
 * (a policy object and two cache lookups per field). Apollo's plugin stays when the schema declares
 * `@cacheControl`; a resolver that wants to give hints itself (`info.cacheControl`) needs it too.
 */
function uncacheable(schema: GraphQLSchema): ApolloServerPlugin<Context>[] {
  if (schema.getDirective('cacheControl')) return [];
  return [
    ApolloServerPluginCacheControlDisabled(),
    everyRequest({
      async willSendResponse({ response }) {
        response.http.headers.set('cache-control', 'no-store');
      },
    }),
  ];
}

/**
 * Federation's inline trace (`extensions.ftv1`, error messages masked) for a gateway that asks for
 * it with `apollo-federation-include-trace: ftv1`, as Apollo's own plugin gives a subgraph, without
 * the trace builder that plugin makes for every request before it reads the header.
 */
function inlineTraceWhenAsked(): ApolloServerPlugin<Context>[] {
  const inline = ApolloServerPluginInlineTrace();
  return [
    ApolloServerPluginInlineTraceDisabled(),
    {
      async requestDidStart(request) {
        if (request.request.http?.headers.get('apollo-federation-include-trace') !== 'ftv1') return;
        return inline.requestDidStart?.(request);
      },
    },
  ];
}

/**
 * Logs what clients do not see: unexpected errors in full (with the request id the client got),
 * source failures as one line each. Never the variables or the data.
 */
function errorLogging(): ApolloServerPlugin<Context> {
  return everyRequest({
    async didEncounterErrors({ errors, contextValue, operationName }) {
      for (const error of errors) {
        const original = unwrapResolverError(error);
        if (original instanceof SourceError) {
          contextValue.log.warn({ source: original.source, kind: original.kind, path: error.path, operationName, err: original }, 'source failed');
        } else if (!isExpected(error)) {
          contextValue.log.error({ err: original, path: error.path, operationName }, 'unexpected error');
        }
      }
    },
  });
}
