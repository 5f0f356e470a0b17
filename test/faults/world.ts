import pg from 'pg';
import { pino, type Logger } from 'pino';
import type { FamilyObserver } from '../../cache/family.ts';
import { setupNotify } from '../../push/shop/setup.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { seedShop } from '../../sandbox/demo/shop.ts';
import { seedWarehouse } from '../../sandbox/demo/warehouse.ts';
import { startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { startServer } from '../../server/app.ts';
import { securityDefaults } from '../../server/auth/index.ts';
import { ALL_SCOPES, Scope } from '../../server/auth/scopes.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { createConfiguredUpstreams, createSources } from '../../server/sources.ts';
import type { Queryable } from '../../sources/commerce/index.ts';
import type { SourceName } from '../../sources/errors.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { TcpProxy } from './proxy.ts';
import { PUSH_SETTINGS, startFaultPush, type FaultPush } from './push.ts';
import { startRedis, type OwnRedis } from '../support/own-redis.ts';

const TOKEN = 'pat-faults-0000000000000000';
const API_KEY = '00000000000000000000000000000000-us21';
const LIST_ID = 'faults';

/**
 * The settings the suite runs the server with, as environment (server/config.ts reads them as
 * main.ts does). Production defaults except: a short breaker cool-down (500 ms, not 10 s) so
 * recovery fits in a cell; cache TTLs of 1 s with no stale serving, so every fault keeps reaching
 * its source instead of hiding behind the cache; HubSpot's own quota out of the way (it is not
 * under test); warn-level logs.
 */
export const SUITE_SETTINGS = {
  REQUEST_BUDGET_MS: '800',
  BREAKER_FAILURES: '5',
  BREAKER_COOLDOWN_MS: '500',
  CACHE: 'redis',
  CACHE_TTL_COMMERCE_SECONDS: '1',
  CACHE_TTL_CRM_SECONDS: '1',
  CACHE_TTL_EMAIL_SECONDS: '1',
  CACHE_TTL_WEB_SECONDS: '1',
  CACHE_STALE_WHILE_REVALIDATE_SECONDS: '0',
  CACHE_STALE_IF_ERROR_SECONDS: '0',
  CACHE_NOT_FOUND_TTL_SECONDS: '1',
  HUBSPOT_RATE_LIMIT_REQUESTS: '10000',
  HUBSPOT_RATE_LIMIT_INTERVAL_MS: '100',
  LOG_LEVEL: 'warn',
} as const;

/** What each source was asked while the counters ran: statements for SQL, HTTP requests for the vendors. */
export type Counts = Record<SourceName, number>;

export interface FaultWorld {
  readonly world: DemoWorld;
  /** Customers the load asks for (by email). */
  readonly emails: readonly string[];
  /**
   * Candidates for the visitor probe, busiest first: browsers never identified, and browsers
   * identified as exactly one customer.
   */
  readonly browsers: { readonly unlinked: readonly string[]; readonly linked: readonly string[] };
  readonly cluster: Cluster;
  readonly redis: OwnRedis;
  readonly hubspot: HubSpotStandIn;
  readonly mailchimp: MailchimpStandIn;
  /** In front of each SQL source's database, for network faults on that source alone. */
  readonly proxies: { readonly commerce: TcpProxy; readonly web: TcpProxy };
  /** A direct (not proxied) connection to the shop or warehouse database, for DDL. */
  admin(database: 'shop' | 'warehouse'): Promise<pg.Client>;
  /** What each upstream has received so far (monotonic). */
  received(): Counts;
  /** The server as main.ts builds it, fresh: its own pools, guards and Redis store. */
  startServer(): Promise<FaultServer>;
  destroy(): Promise<void>;
}

export interface FaultServer {
  readonly url: string;
  readonly config: Config;
  /** Upstream batch calls the server made per source (admitted by its guards), so far. */
  readonly batchCalls: Counts;
  /** The last warn/error log lines (at most 200). */
  readonly logs: string[];
  /** Push as main.ts starts it (test/faults/push.ts): the hub's signal outcomes so far. */
  readonly push: Pick<FaultPush, 'counts'>;
  close(): Promise<void>;
}

/**
 * Everything the suite runs against, on loopback: its own PostgreSQL cluster (the shop in database
 * `shop`, the event warehouse in database `warehouse`, schema `web`), its own Redis, the HubSpot and
 * Mailchimp stand-ins serving the same demo world.
 */
export async function startFaultWorld(customers: number): Promise<FaultWorld> {
  const world: DemoWorld = { seed: 360, customers, asOf: new Date() };
  const cleanups: Array<() => Promise<unknown>> = [];
  const destroy = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const cluster = await startCluster();
    cleanups.push(() => cluster.destroy());
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const [hubspot, mailchimp] = await Promise.all([
      startHubSpotStandIn({ world, accessToken: TOKEN, rateLimit: null }),
      startMailchimpStandIn({ world, apiKey: API_KEY, listId: LIST_ID }),
    ]);
    cleanups.push(async () => {
      await Promise.all([hubspot.listenAgain().then(() => hubspot.close()), mailchimp.listenAgain().then(() => mailchimp.close())]);
    });

    const admin = async (database: 'shop' | 'warehouse' | 'postgres') => {
      const client = new pg.Client({ connectionString: cluster.url(database) });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    };
    const root = await admin('postgres');
    await root.query('CREATE DATABASE shop');
    await root.query('CREATE DATABASE warehouse');
    await root.end();
    const seedPool = (database: string) => new pg.Pool({ connectionString: cluster.url(database), max: 2 });
    const shop = seedPool('shop');
    const warehouse = seedPool('warehouse');
    let browsers: FaultWorld['browsers'];
    try {
      await Promise.all([seedShop(shop, world), seedWarehouse(warehouse, world, { schema: 'web', historyDays: 30 })]);
      // The shop's NOTIFY triggers, as `npm run push:setup -- notify` installs them.
      await setupNotify(shop);
      browsers = await probeBrowsers(warehouse);
    } finally {
      await Promise.all([shop.end(), warehouse.end()]);
    }

    const proxies = { commerce: await TcpProxy.start(cluster.port), web: await TcpProxy.start(cluster.port) };
    cleanups.push(() => Promise.all([proxies.commerce.close(), proxies.web.close()]));
    const statements: Record<'commerce' | 'web', number> = { commerce: 0, web: 0 };

    return {
      world,
      emails: Array.from({ length: customers }, (_, index) => personAt(world, index).email),
      browsers,
      cluster,
      redis,
      hubspot,
      mailchimp,
      proxies,
      admin,
      received: () => ({
        commerce: statements.commerce,
        web: statements.web,
        crm: hubspot.stats.total,
        email: mailchimp.stats.requests,
      }),
      startServer: () => startFaultServer({ world, cluster, proxies, statements, redis, hubspot, mailchimp }),
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

async function startFaultServer(parts: {
  world: DemoWorld;
  cluster: Cluster;
  proxies: FaultWorld['proxies'];
  statements: Record<'commerce' | 'web', number>;
  redis: OwnRedis;
  hubspot: HubSpotStandIn;
  mailchimp: MailchimpStandIn;
}): Promise<FaultServer> {
  const { proxies, statements } = parts;
  const config = loadConfig({
    ...SUITE_SETTINGS,
    ...PUSH_SETTINGS,
    DATABASE_URL: `postgres://postgres@127.0.0.1:${proxies.commerce.port}/shop`,
    ANALYTICS_DATABASE_URL: `postgres://postgres@127.0.0.1:${proxies.web.port}/warehouse`,
    REDIS_URL: parts.redis.url,
    HUBSPOT_ACCESS_TOKEN: TOKEN,
    HUBSPOT_BASE_URL: parts.hubspot.url,
    MAILCHIMP_API_KEY: API_KEY,
    MAILCHIMP_LIST_ID: LIST_ID,
    MAILCHIMP_BASE_URL: parts.mailchimp.url,
  });
  const logs: string[] = [];
  const logger: Logger = pino(
    { level: config.LOG_LEVEL },
    {
      write: (line: string) => {
        logs.push(line);
        if (logs.length > 200) logs.shift();
      },
    },
  );
  // As main.ts makes them: an idle connection dying (a restart) must not take the process down.
  const pools: pg.Pool[] = [];
  const counted = (source: 'commerce' | 'web', url: string): Queryable => {
    const pool = new pg.Pool({
      connectionString: url,
      max: config.DATABASE_POOL_MAX,
      statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
      connectionTimeoutMillis: config.DATABASE_STATEMENT_TIMEOUT_MS,
    });
    pool.on('error', (error) => logger.warn({ err: error, source }, 'idle database connection failed'));
    pools.push(pool);
    return {
      query: (text: string, values?: unknown[]) => {
        statements[source]++;
        return pool.query(text, values);
      },
    } as Queryable;
  };
  const sources = createSources(config, {
    db: counted('commerce', config.DATABASE_URL!),
    analyticsDb: counted('web', config.ANALYTICS_DATABASE_URL!),
    logger,
  });
  const batchCalls: Counts = { commerce: 0, crm: 0, email: 0, web: 0 };
  const observer: FamilyObserver = {
    upstream(call) {
      batchCalls[call.source]++;
      return () => undefined;
    },
  };
  const upstreams = await createConfiguredUpstreams(config, sources, logger, observer);
  // What main.ts computes at start-up and keeps in the background (there the CLV fit and the price
  // tiers are not waited for; here they are, so that no fault meets a server still starting).
  const commerceLog = logger.child({ source: 'commerce' });
  await Promise.all([sources.commerce.rfm.start(commerceLog), sources.commerce.clv.start(commerceLog), sources.commerce.priceTiers.start(commerceLog)]);
  const push = await startFaultPush(config, upstreams, logger);
  const server = await startServer(
    {
      ...push.serverOptions,
      upstreams,
      budgetMs: config.REQUEST_BUDGET_MS,
      logger,
      settings: { shopCurrency: config.SHOP_CURRENCY, crmProperties: sources.crm.allowedProperties },
      production: false,
      security: {
        ...securityDefaults(false),
        anonymousScopes: ALL_SCOPES.filter((scope) => scope !== Scope.Self),
        // Spent in Redis as in a fleet, with a budget the suite's load never reaches: the load is
        // measured, not the client's budget.
        rateLimit: { costPerSecond: 1_000_000, burst: 1_000_000 },
        redisUrl: config.REDIS_URL!,
      },
    },
    { host: '127.0.0.1', port: 0 },
  );
  let closed = false;
  return {
    url: server.url,
    config,
    batchCalls,
    logs,
    push,
    async close() {
      if (closed) return;
      closed = true;
      // In main.ts's shutdown order; each step bounded, so a wedged one cannot hold the suite.
      const bounded = (step: Promise<unknown>) => Promise.race([step.catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
      await bounded(server.stop());
      await bounded(push.stop());
      for (const keeper of [sources.commerce.rfm, sources.commerce.clv, sources.commerce.priceTiers]) keeper.stop();
      await bounded(sources.crm.close());
      await bounded(sources.email.close());
      await bounded(upstreams.store?.close() ?? Promise.resolve());
      for (const pool of pools) await bounded(pool.end());
    },
  };
}

/** The ten never-identified browsers and the ten identified as exactly one customer with the most page views. */
async function probeBrowsers(warehouse: pg.Pool): Promise<FaultWorld['browsers']> {
  const busiest = async (users: 0 | 1) => {
    const { rows } = await warehouse.query<{ anonymous_id: string }>(
      `SELECT p.anonymous_id FROM web.pages p
        WHERE (SELECT count(DISTINCT i.user_id) FROM web.identifies i WHERE i.anonymous_id = p.anonymous_id) = $1
        GROUP BY p.anonymous_id ORDER BY count(*) DESC, p.anonymous_id LIMIT 10`,
      [users],
    );
    if (rows.length === 0) throw new Error(`the fault world has no ${users ? 'linked' : 'unlinked'} browser to probe`);
    return rows.map((row) => row.anonymous_id);
  };
  return { unlinked: await busiest(0), linked: await busiest(1) };
}
