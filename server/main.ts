import type { Router } from 'express';
import pg from 'pg';
import type { Logger } from 'pino';
import { MemoryAudienceStore, RedisAudienceStore } from '../audiences/store.ts';
import { Invalidator } from '../cache/invalidation.ts';
import { createRedisClient } from '../cache/redis-client.ts';
import { PushHub } from '../push/hub.ts';
import { AbandonedCartSweep } from '../push/shop/abandoned-sweep.ts';
import { logicalProducer } from '../push/shop/logical.ts';
import { notifyProducer } from '../push/shop/notify.ts';
import { pgliteProducer } from '../push/shop/pglite.ts';
import type { SignalProducer } from '../push/signals.ts';
import { createTriggerEvaluator, memoryTriggerStateStore, redisTriggerStateStore } from '../push/triggers.ts';
import { createWarehousePoll } from '../push/web/warehouse-poll.ts';
import type { Demo } from '../sandbox/demo.ts';
import { startServer } from './app.ts';
import { demoCredentials } from './auth/demo.ts';
import { securityFromConfig } from './auth/settings.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { checkContracts, formatFindings } from './contract-check.ts';
import type { ExplorerMode } from './explorer/index.ts';
import { createLogger } from './logger.ts';
import { observabilityFromConfig, tracingWanted } from './observability/index.ts';
import { SourceHealth } from './source-health.ts';
import { configuredAnswers, createConfiguredUpstreams, createSources } from './sources.ts';

/** The process: configuration, the embedded demo when no database is configured, the server, shutdown. */
async function main(): Promise<void> {
  const started = performance.now();
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);

  let demo: EmbeddedDemo | undefined;
  if (!config.DATABASE_URL) {
    logger.info({ customers: config.DEMO_CUSTOMERS }, 'no DATABASE_URL: starting the embedded demo shop');
    demo = await startEmbeddedDemo(config, logger);
  }
  const createPool = (connectionString: string, limits = { max: config.DATABASE_POOL_MAX, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS }) => {
    const created = new pg.Pool({
      connectionString,
      max: limits.max,
      statement_timeout: limits.statementTimeoutMs,
      connectionTimeoutMillis: config.DATABASE_STATEMENT_TIMEOUT_MS,
    });
    // An idle client's connection dying (a database restart) must not take the process down.
    created.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'));
    return created;
  };
  const pool = createPool(config.DATABASE_URL ?? demo!.databaseUrl);
  const analyticsPool = config.ANALYTICS_DATABASE_URL ? createPool(config.ANALYTICS_DATABASE_URL) : undefined;
  // The CLV fit reads every order in one statement: one connection of its own, with a timeout that allows it.
  const fitPool = createPool(config.DATABASE_URL ?? demo!.databaseUrl, { max: 1, statementTimeoutMs: config.CLV_FIT_STATEMENT_TIMEOUT_MS });

  // An analyst's audience statements scan every customer (or event): a few connections of their
  // own, with a timeout that allows that, so they never hold the request path's.
  const audienceLimits = { max: config.AUDIENCE_POOL_MAX, statementTimeoutMs: config.AUDIENCE_STATEMENT_TIMEOUT_MS };
  const audiencePool = createPool(config.DATABASE_URL ?? demo!.databaseUrl, audienceLimits);
  const audienceAnalyticsPool = config.ANALYTICS_DATABASE_URL ? createPool(config.ANALYTICS_DATABASE_URL, audienceLimits) : undefined;

  const sources = createSources(config, {
    db: pool,
    fitDb: fitPool,
    audienceDb: audiencePool,
    logger,
    ...(analyticsPool && { analyticsDb: analyticsPool }),
    ...(audienceAnalyticsPool && { audienceAnalyticsDb: audienceAnalyticsPool }),
    ...(demo && { demo }),
  });
  // RFM quintile boundaries before the first request, then kept fresh in the background (never
  // rejects). The CLV fit (seconds on a large shop) is not waited for: a prediction asked before it
  // lands waits for it within its request's budget.
  await sources.commerce.rfm.start(logger.child({ source: 'commerce' }));
  void sources.commerce.clv.start(logger.child({ source: 'commerce' }));
  // The catalogue's price tiers (affinities) likewise: one short statement, not waited for.
  void sources.commerce.priceTiers.start(logger.child({ source: 'commerce' }));
  const observability = observabilityFromConfig(config);
  if (!observability.tracing && tracingWanted(process.env)) {
    logger.warn(
      'tracing is configured but OpenTelemetry was not preloaded (node --import <server/observability/telemetry>, as npm start does; see docs/operations.md, "Tracing"): no spans are recorded',
    );
  }
  // Each source's own description of itself against what it needs, logged in words a person can
  // act on; the findings stay in /readyz (the warehouse's drift live, as it changes).
  const findings = await checkContracts(sources, logger);
  const startupFindings = findings.filter((finding) => finding.source !== 'web' || finding.severity === 'error');
  // Readiness reads each source's last real call from this tracker instead of calling upstreams.
  const sourceHealth = new SourceHealth();
  const upstreams = await createConfiguredUpstreams(config, sources, logger, sourceHealth.watch(observability.observer));
  const push = await startPush(config, { upstreams, pool, analyticsPool, demo, logger, observability });
  // Saved audience definitions: in Redis when there is one, so every replica sees them.
  const audienceRedis = config.REDIS_URL ? createRedisClient(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000 }) : null;
  audienceRedis?.on('error', () => undefined);
  let security = securityFromConfig(config);
  let credentials = '';
  if (demo && security.apiKeys.length === 0) {
    ({ security, text: credentials } = await demoCredentials(security, demo.exampleCustomerId, {
      ...(demo.exampleAnonymousId && { visitor: demo.exampleAnonymousId }),
      ...(demo.exampleSessionAnonymousId && { customerSession: demo.exampleSessionAnonymousId }),
    }));
  }
  if (security.anonymousScopes) {
    logger.warn({ scopes: security.anonymousScopes }, 'NODE_ENV is not production: requests without credentials get these scopes');
  } else if (security.apiKeys.length === 0 && !security.jwt) {
    logger.warn('no API_KEYS and no JWT settings: every GraphQL request will be refused (401)');
  }
  const server = await startServer(
    {
      upstreams,
      security,
      budgetMs: config.REQUEST_BUDGET_MS,
      answers: configuredAnswers(config),
      logger,
      settings: {
        shopCurrency: config.SHOP_CURRENCY,
        shopTimeZone: config.SHOP_TIME_ZONE,
        crmProperties: sources.crm.allowedProperties,
        crmIdentifierProperties: config.crmIdentifierProperties,
        clv: { lifetimeMonths: config.CLV_LIFETIME_MONTHS, annualDiscountRate: config.CLV_ANNUAL_DISCOUNT_RATE },
        demographicProperties: { birthDate: config.TRAIT_BIRTHDATE_PROPERTY, gender: config.TRAIT_GENDER_PROPERTY },
        affinityHalfLifeDays: config.TRAIT_AFFINITY_HALF_LIFE_DAYS,
      },
      production: config.NODE_ENV === 'production',
      observability,
      readiness: {
        sourceHealth,
        probeIntervalMs: config.READINESS_PROBE_INTERVAL_MS,
        findings: () => [...startupFindings, ...sources.web.drift()],
      },
      webhooks: {
        hubspotClientSecret: config.HUBSPOT_CLIENT_SECRET,
        mailchimpSecret: config.MAILCHIMP_WEBHOOK_SECRET,
        publicUrl: config.PUBLIC_URL,
        onSignal: push.hub.emit,
      },
      push: {
        feed: push.hub,
        perClient: config.SUBSCRIPTION_MAX_PER_CLIENT,
        perConnection: config.SUBSCRIPTION_MAX_PER_CONNECTION,
        maxPending: config.SUBSCRIPTION_MAX_PENDING,
        maxBufferedBytes: config.SUBSCRIPTION_MAX_BUFFERED_BYTES,
        keepAliveMs: config.SUBSCRIPTION_KEEPALIVE_MS,
      },
      outgoingWebhooks: {
        feed: push.hub,
        ...(config.REDIS_URL && { redis: { url: config.REDIS_URL } }),
        ...(config.OUTGOING_WEBHOOK_RETRY_SCHEDULE_MS && { retryScheduleMs: config.OUTGOING_WEBHOOK_RETRY_SCHEDULE_MS }),
        attemptTimeoutMs: config.OUTGOING_WEBHOOK_TIMEOUT_MS,
        claimIdleMs: config.OUTGOING_WEBHOOK_CLAIM_IDLE_MS,
        concurrency: config.OUTGOING_WEBHOOK_CONCURRENCY,
        maxDeadLetters: config.OUTGOING_WEBHOOK_MAX_DEAD_LETTERS,
        onDelivery: (outcome) => observability.metrics.push.delivery(outcome.result),
      },
      forgetCustomer: push.forgetCustomer,
      audiences: {
        store: audienceRedis ? new RedisAudienceStore(audienceRedis) : new MemoryAudienceStore(),
        budgetMs: config.AUDIENCE_BUDGET_MS,
        limits: {
          maxCalls: { crm: config.AUDIENCE_MAX_CRM_CALLS, email: config.AUDIENCE_MAX_EMAIL_CALLS, web: 1 },
          maxCandidates: config.AUDIENCE_MAX_CANDIDATES,
          costPerCall: config.AUDIENCE_COST_PER_CALL,
          costPerStatement: Math.ceil(config.AUDIENCE_COST_PER_CALL / 5),
        },
      },
      intake: { secret: config.EVENT_INTAKE_SECRET, emit: push.hub.emit, analyticsCategory: config.WEB_CONSENT_ANALYTICS_CATEGORY },
      ...(demo && { demoRoutes: demo.routes }),
    },
    { host: config.HOST, port: config.PORT },
  );
  const startupMs = Math.round(performance.now() - started);
  logger.info({ url: `${server.url}/graphql`, startupMs, demo: Boolean(demo) }, 'ready');
  if (demo) {
    const shown = { explorer: security.explorer, keyNeeded: !security.anonymousScopes };
    process.stdout.write(banner(`${server.url}/graphql`, demo.exampleEmail, startupMs, shown) + credentials);
  }
  if (findings.length > 0) process.stderr.write(`${formatFindings(findings)}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    await server.stop();
    await push.stop();
    audienceRedis?.disconnect();
    await observability.shutdown();
    await sources.crm.close();
    await sources.email.close();
    await upstreams.store?.close();
    sources.commerce.clv.stop();
    sources.commerce.priceTiers.stop();
    await pool.end();
    await fitPool.end();
    await audiencePool.end();
    await audienceAnalyticsPool?.end();
    await analyticsPool?.end();
    await demo?.close();
    logger.info('stopped');
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

/**
 * Push (docs/push.md): the hub, its trigger evaluator, and every source's change producer, started
 * after the upstreams (the hub resolves people through them). Producers never reject because a
 * source is down: they keep retrying in the background.
 */
async function startPush(
  config: Config,
  {
    upstreams,
    pool,
    analyticsPool,
    demo,
    logger,
    observability,
  }: {
    upstreams: Awaited<ReturnType<typeof createConfiguredUpstreams>>;
    pool: pg.Pool;
    analyticsPool: pg.Pool | undefined;
    demo: EmbeddedDemo | undefined;
    logger: Logger;
    observability: ReturnType<typeof observabilityFromConfig>;
  },
) {
  const log = logger.child({ component: 'push' });
  const ttlMs = config.TRIGGER_STATE_TTL_DAYS * 86_400_000;
  // Without the offline queue, commands fail at once while Redis is down instead of piling up.
  const triggerRedis = config.REDIS_URL ? createRedisClient(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500 }) : null;
  triggerRedis?.on('error', () => undefined);
  const store = triggerRedis
    ? redisTriggerStateStore({ redis: triggerRedis, keyPrefix: 'c360:trigger-state:', ttlMs })
    : memoryTriggerStateStore({ maxCustomers: config.TRIGGER_STATE_MAX_CUSTOMERS, ttlMs });
  const hub = new PushHub({
    upstreams,
    invalidator: new Invalidator(upstreams, log),
    logger: log,
    evaluator: createTriggerEvaluator({ upstreams, store, logger: log, lapseThreshold: config.TRIGGER_LAPSE_THRESHOLD, readTimeoutMs: config.TRIGGER_READ_TIMEOUT_MS }),
    ...(config.REDIS_URL && { redis: { url: config.REDIS_URL } }),
    coalesceMs: config.PUSH_COALESCE_MS,
    onSignal: observability.metrics.push.signal,
    onChange: observability.metrics.push.change,
  });
  await hub.start();

  const producers: SignalProducer[] = [];
  if (demo) producers.push(pgliteProducer({ db: demo.db, logger: log }));
  else if (config.PUSH_SHOP_CHANGES === 'logical') {
    producers.push(
      logicalProducer({ connectionString: config.DATABASE_URL!, logger: log, slot: config.PUSH_SHOP_SLOT, standbyRetryMs: config.PUSH_SHOP_STANDBY_RETRY_SECONDS * 1000 }),
    );
  } else if (config.PUSH_SHOP_CHANGES === 'notify') producers.push(notifyProducer({ connectionString: config.DATABASE_URL!, logger: log }));
  if (config.PUSH_ABANDONED_SWEEP_SECONDS > 0) {
    producers.push(
      new AbandonedCartSweep({ db: pool, logger: log, abandonedAfterMs: config.ABANDONED_CART_AFTER_MINUTES * 60_000, intervalMs: config.PUSH_ABANDONED_SWEEP_SECONDS * 1000 }),
    );
  }
  if (config.WAREHOUSE_POLL_INTERVAL_MS > 0) {
    producers.push(
      createWarehousePoll({
        db: analyticsPool ?? pool,
        schema: config.ANALYTICS_SCHEMA,
        logger: log,
        intervalMs: config.WAREHOUSE_POLL_INTERVAL_MS,
        maxPersons: config.WAREHOUSE_POLL_MAX_PEOPLE,
      }),
    );
  }
  await Promise.all(producers.map((producer) => producer.start(hub.emit)));
  log.info({ producers: producers.map((producer) => producer.name), fleet: Boolean(config.REDIS_URL) }, 'push started');
  return {
    hub,
    /** forgetCustomer erases the person's trigger state too. */
    forgetCustomer: (customerId: string) => store.delete(customerId),
    /** Producers first (no new signals), then what is pending, then the connections. */
    async stop() {
      await Promise.all(producers.map((producer) => producer.stop()));
      await hub.stop();
      triggerRedis?.disconnect();
    },
  };
}

/** The demo, its example customer and its routes (`POST /demo/orders`, the quick start's order). */
type EmbeddedDemo = Demo & { readonly exampleCustomerId: string; readonly routes: Router };

/**
 * The embedded demo, imported only when it runs: PGlite, its socket server and faker are optional
 * dependencies, which a production install (the image) leaves out.
 */
async function startEmbeddedDemo(config: Config, logger: Logger): Promise<EmbeddedDemo> {
  let modules;
  try {
    modules = await Promise.all([import('../sandbox/demo.ts'), import('../sandbox/demo/people.ts'), import('../sandbox/demo/place-order.ts')]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new ConfigError(
      `DATABASE_URL is not set and the embedded demo is not installed (${(error as Error).message}): ` +
        'set DATABASE_URL, or install the optional dependencies (npm ci without --omit=optional)',
    );
  }
  const [{ startDemo }, { personByEmail }, { demoRoutes }] = modules;
  const demo = await startDemo({ customers: config.DEMO_CUSTOMERS, seed: config.DEMO_SEED, webHistoryDays: config.DEMO_WEB_HISTORY_DAYS, logger });
  return Object.assign(demo, {
    exampleCustomerId: String(personByEmail(demo.world, demo.exampleEmail)?.customerId ?? 1),
    routes: demoRoutes({ db: demo.db, logger }),
  });
}

const EXPLORER_NAMES: Record<ExplorerMode, string | null> = { sandbox: 'Apollo Sandbox', graphiql: 'GraphiQL', none: null };

function banner(url: string, email: string, startupMs: number, shown: { explorer: ExplorerMode; keyNeeded: boolean }): string {
  const explorer = EXPLORER_NAMES[shown.explorer];
  const body = JSON.stringify({ query: `{ customer(email: "${email}") { commerce { firstName purchases { orderCount } } } }` });
  return `
Customer 360 demo is up in ${(startupMs / 1000).toFixed(1)} s.${explorer ? ` Open ${explorer} at ${url}` : ''}
${shown.explorer === 'sandbox' ? "(the local GraphiQL opens instead when Apollo's CDN cannot be reached) " : ''}and try:

  query {
    customer(email: "${email}") {
      id
      commerce {
        firstName
        purchases { orderCount totalSpent { amount currencyCode } lastOrderAt }
        rfm { recency frequency monetary segment }
        abandonedCart { updatedAt value { amount currencyCode } }
      }
      crm { lifecycleStage owner { firstName } company { name } }
      emailMarketing { status canEmail memberRating lastOpenedAt }
      web { sessionCount lastSeenAt recentlyViewedProducts(first: 3) { name category } }
    }
  }

or from a shell${shown.keyNeeded ? ' (with an API key below)' : ''}:

  curl -s ${url} -H 'content-type: application/json' \\
${shown.keyNeeded ? "    -H 'authorization: Bearer <API key>' \\\n" : ''}    -d '${body}'

`;
}

main().catch((error: unknown) => {
  process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `start-up failed: ${String((error as Error)?.stack ?? error)}\n`);
  // Whatever start-up opened (the embedded database, a pool) would keep the process alive.
  process.exit(1);
});
