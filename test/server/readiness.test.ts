import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUpstreams } from '../../cache/loaders.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { startServer, type RunningServer } from '../../server/app.ts';
import { securityDefaults } from '../../server/auth/index.ts';
import { ALL_SCOPES, Scope } from '../../server/auth/scopes.ts';
import type { ReadinessOptions } from '../../server/health.ts';
import { SourceHealth } from '../../server/source-health.ts';
import { crmNotConfigured, emailNotConfigured } from '../../server/sources.ts';
import { createCommerceSource, type Queryable } from '../../sources/commerce/index.ts';
import type { HubSpotSource } from '../../sources/hubspot/index.ts';
import type { MailchimpSource } from '../../sources/mailchimp/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { postGraphQL, TEST_FRESHNESS } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 360, customers: 40, asOf: TEST_AS_OF };

let db: TestDatabase;
let standIns: StandIns;
let running: RunningServer | undefined;
/** Pings of the two SQL sources (their statements change with the layout; the HTTP stand-ins count their own). */
const pings = { commerce: 0, web: 0 };

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 7 }), startStandIns(world)]);
});
afterAll(async () => {
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  pings.commerce = 0;
  pings.web = 0;
  standIns.hubspot.stats.reset();
  standIns.hubspot.errorRate = 0;
  standIns.mailchimp.resetStats();
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

interface Setup {
  readonly db?: Queryable;
  readonly crm?: HubSpotSource;
  readonly email?: MailchimpSource;
  readonly breakerFailures?: number;
  readonly readiness?: Omit<ReadinessOptions, 'upstreams' | 'sourceHealth'>;
}

/** The real server, its upstreams built with the readiness tracker's observer as main.ts builds them. */
async function start(setup: Setup = {}): Promise<string> {
  const pool: Queryable = setup.db ?? db.pool;
  const commerce = createCommerceSource(pool, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => TEST_AS_OF });
  const web = createWebSource(pool, { schema: 'web', now: () => TEST_AS_OF });
  const { crm, email } = standIns.sources();
  const logger = pino({ level: 'silent' });
  const sourceHealth = new SourceHealth();
  const upstreams = createUpstreams(
    {
      commerce: { ...commerce, ping: () => (pings.commerce++, commerce.ping()) },
      crm: setup.crm ?? crm,
      email: setup.email ?? email,
      web: { ...web, ping: () => (pings.web++, web.ping()) },
    },
    {
      store: null,
      freshness: TEST_FRESHNESS,
      guard: { breakerFailures: setup.breakerFailures ?? 5, breakerCooldownMs: 60_000, maxConcurrent: 64, queue: 1000 },
      logger,
      observer: sourceHealth.watch(),
    },
  );
  running = await startServer(
    {
      upstreams,
      budgetMs: 10_000,
      logger,
      settings: { shopCurrency: 'USD', crmProperties: [] },
      production: false,
      security: { ...securityDefaults(false), anonymousScopes: ALL_SCOPES.filter((scope) => scope !== Scope.Self), rateLimit: null },
      readiness: { sourceHealth, probeIntervalMs: 60_000, ...setup.readiness },
    },
    { host: '127.0.0.1', port: 0 },
  );
  return running.url;
}

/** Upstream requests that were readiness probes, per source. */
function probes() {
  return {
    commerce: pings.commerce,
    crm: standIns.hubspot.stats.byEndpoint[ENDPOINTS.contactPropertyGet] ?? 0,
    email: standIns.mailchimp.stats.byEndpoint.ping,
    web: pings.web,
  };
}

async function readyz(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: await response.json() };
}

const person = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).find((p) => p.crm && p.emailMarketing)!;
const everySource = `{ customer(id: "${person.customerId}") { id commerce { firstName } crm { lifecycleStage } emailMarketing { status } web { sessionCount } } }`;

describe('readiness', () => {
  it('probes each source at most once for 400 concurrent /readyz calls, and answers the next ones from that', async () => {
    const url = await start();
    const answers = await Promise.all(Array.from({ length: 400 }, () => readyz(url)));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    expect(answers[0]!.body).toMatchObject({
      status: 'ready',
      sources: {
        commerce: { status: 'up', breaker: 'closed', basis: 'probe', lastCallAt: null },
        crm: { status: 'up', breaker: 'closed', basis: 'probe', lastCallAt: null },
        email: { status: 'up', breaker: 'closed', basis: 'probe', lastCallAt: null },
        web: { status: 'up', breaker: 'closed', basis: 'probe', lastCallAt: null },
      },
      cache: { kind: 'off', state: 'off' },
      warnings: [],
    });
    expect(probes()).toEqual({ commerce: 1, crm: 1, email: 1, web: 1 });
    await Promise.all(Array.from({ length: 100 }, () => readyz(url)));
    expect(probes()).toEqual({ commerce: 1, crm: 1, email: 1, web: 1 });
  });

  it('answers from the last real call of each source, without probing, when there was a recent one', async () => {
    const url = await start();
    const { body } = await postGraphQL(`${url}/graphql`, everySource);
    expect(body.errors).toBeUndefined();
    const { status, body: report } = await readyz(url);
    expect(status).toBe(200);
    const recent = { status: 'up', breaker: 'closed', basis: 'call', lastCallAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) };
    expect(report).toMatchObject({ status: 'ready', sources: { commerce: recent, crm: recent, email: recent, web: recent } });
    expect(probes()).toEqual({ commerce: 0, crm: 0, email: 0, web: 0 });
  });

  it('reports a source whose breaker is open as down, with the reason, and the server degraded, without probing it', async () => {
    const url = await start({ breakerFailures: 1 });
    standIns.hubspot.errorRate = 1;
    const { body } = await postGraphQL(`${url}/graphql`, everySource);
    expect(body.errors).toEqual([expect.objectContaining({ path: ['customer', 'crm'] })]);
    standIns.hubspot.stats.reset();
    const { status, body: report } = await readyz(url);
    expect(status).toBe(200);
    expect(report).toMatchObject({
      status: 'degraded',
      sources: {
        crm: { status: 'down', breaker: 'open', basis: 'breaker', lastError: 'unavailable', reason: expect.stringContaining('circuit breaker open') },
        commerce: { status: 'up' },
        email: { status: 'up' },
      },
    });
    expect(standIns.hubspot.stats.total).toBe(0);
  });

  it('probes again once the interval has passed', async () => {
    const url = await start({ readiness: { probeIntervalMs: 100 } });
    await readyz(url);
    expect(probes().email).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await readyz(url);
    expect(probes().email).toBe(2);
  });

  it('shows contract findings and a down cache as warnings, and an error finding degrades its source', async () => {
    const url = await start({
      readiness: {
        findings: () => [
          { source: 'web', severity: 'warning', message: 'the warehouse has no table web.product_removed' },
          { source: 'crm', severity: 'error', message: 'the token lacks the crm.objects.contacts.read scope' },
        ],
        cacheHealth: () => ({ kind: 'redis', state: 'down', since: 0 }),
      },
    });
    const { status, body } = await readyz(url);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'degraded',
      sources: { web: { status: 'up' }, crm: { status: 'degraded', reason: 'the token lacks the crm.objects.contacts.read scope' } },
      cache: { kind: 'redis', state: 'down' },
      warnings: [
        { source: 'web', severity: 'warning', message: 'the warehouse has no table web.product_removed' },
        { source: 'crm', severity: 'error', message: 'the token lacks the crm.objects.contacts.read scope' },
        { source: 'cache', severity: 'warning', message: expect.stringContaining('redis') },
      ],
    });
  });

  describe('when the shop database is down', () => {
    let unreachable: pg.Pool;
    beforeAll(() => {
      unreachable = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/shop', connectionTimeoutMillis: 500 });
    });
    afterAll(async () => {
      await unreachable?.end();
    });

    it('stays ready to answer (200, degraded) while the CRM and email sources are up', async () => {
      const url = await start({ db: unreachable });
      const { status, body } = await readyz(url);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        status: 'degraded',
        sources: { commerce: { status: 'down', lastError: 'unavailable', basis: 'probe' }, web: { status: 'down' }, crm: { status: 'up' }, email: { status: 'up' } },
      });
    });

    it('is not ready (503) when every configured source is down', async () => {
      const url = await start({ db: unreachable, crm: crmNotConfigured(), email: emailNotConfigured() });
      const { status, body } = await readyz(url);
      expect(status).toBe(503);
      expect(body).toMatchObject({
        status: 'not_ready',
        sources: { commerce: { status: 'down' }, web: { status: 'down' }, crm: { status: 'not_configured' }, email: { status: 'not_configured' } },
      });
    });
  });
});
