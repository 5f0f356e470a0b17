import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { checkContracts, formatFindings } from '../../server/contract-check.ts';
import { createCommerceSource, type CommerceSource } from '../../sources/commerce/index.ts';
import type { ContractFinding } from '../../sources/contract.ts';
import { createHubSpotSource } from '../../sources/hubspot/index.ts';
import { createMailchimpSource } from '../../sources/mailchimp/index.ts';
import { createWebSource, warehouseDdl } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const WORLD: DemoWorld = { seed: 360, customers: 50, asOf: new Date('2026-11-01T00:00:00Z') };
const silent = { warn: () => {}, error: () => {} };

let db: TestDatabase;
let commerce: CommerceSource;
let standIns: StandIns;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createTestDatabase(), startStandIns(WORLD)]);
  await db.pool.query(await readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8'));
  commerce = createCommerceSource(db.pool, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000 });
});
afterAll(async () => {
  await Promise.all([db?.close(), standIns?.close()]);
});

const messages = (findings: readonly ContractFinding[]) => findings.map((f) => [f.source, f.severity, f.message]);

/** A logger that keeps what it is given, as (level, source, message). */
function recordingLogger() {
  const lines: Array<[string, unknown, string]> = [];
  const at = (level: string) => (obj: object, message: string) => void lines.push([level, (obj as { source?: unknown }).source, message]);
  return { lines, logger: { warn: at('warn'), error: at('error') } };
}

describe('the commerce contract check', () => {
  it('finds nothing wrong with the demo schema', async () => {
    expect(await commerce.checkContract()).toEqual([]);
  });

  it('warns when a lookup by email would scan the table behind a customers view, until an index matches', async () => {
    await db.pool.query(`
      DROP TABLE customers CASCADE;
      CREATE TABLE shop_users (id BIGINT PRIMARY KEY, mail TEXT NOT NULL, given TEXT, family TEXT, created TIMESTAMPTZ NOT NULL);
      CREATE VIEW customers AS
        SELECT id, mail AS email, given AS first_name, family AS last_name, NULL::text AS phone, NULL::text AS city,
               NULL::text AS region, NULL::text AS postal_code, NULL::char(2) AS country_code, created AS signup_at,
               NULL::text AS signup_channel
          FROM shop_users`);
    const scan =
      'a lookup by email reads every row of shop_users: no index matches lower(email) on customers. ' +
      'If customers passes the column through (u.email AS email), CREATE INDEX ON shop_users (lower(email)); ' +
      'if it computes the email, index lower() of that same expression, or store a lower-cased copy and index it';
    expect(messages(await commerce.checkContract())).toEqual([['commerce', 'warning', scan]]);
    await db.pool.query('CREATE INDEX shop_users_mail_idx ON shop_users (lower(mail))');
    expect(await commerce.checkContract()).toEqual([]);
    // A view that lower-cases the column itself makes the lookup lower(lower(mail)): that index no longer matches.
    await db.pool.query(`CREATE OR REPLACE VIEW customers AS
        SELECT id, lower(mail) AS email, given AS first_name, family AS last_name, NULL::text AS phone, NULL::text AS city,
               NULL::text AS region, NULL::text AS postal_code, NULL::char(2) AS country_code, created AS signup_at,
               NULL::text AS signup_channel
          FROM shop_users`);
    expect(messages(await commerce.checkContract())).toEqual([['commerce', 'warning', scan]]);
  });

  it('names a missing relation and a missing column as errors', async () => {
    await db.pool.query('DROP TABLE cart_items; ALTER TABLE products DROP COLUMN sku');
    expect(messages(await commerce.checkContract())).toEqual([
      ['commerce', 'error', 'products has no column sku: order line items and carts fail until it has (a view may supply NULL for a value the shop lacks)'],
      [
        'commerce',
        'error',
        'the shop database has no table or view cart_items (cart_id, product_id, quantity, unit_price, added_at): carts fail until it ' +
          'exists; a view of that name over the shop\'s own tables meets the contract (docs/sources.md, "The commerce contract")',
      ],
      expect.arrayContaining(['commerce', 'warning']),
    ]);
  });
});

describe('the web contract check', () => {
  it('names each missing event table and what reads as none until it exists', async () => {
    const ddl = await warehouseDdl('web');
    await db.pool.query(ddl.tables + ddl.indexes);
    await db.pool.query('DROP TABLE web.product_removed, web.products_searched');
    const { lines, logger } = recordingLogger();
    const findings = await checkContracts({ web: createWebSource(db.pool, { schema: 'web' }) }, logger);
    const expected = [
      'web.product_removed is missing: cart removals read as none until the first Product Removed event creates the table',
      'web.products_searched is missing: searches read as none until the first Products Searched event creates the table',
    ];
    expect(messages(findings)).toEqual(expected.map((m) => ['web', 'warning', m]));
    expect(lines).toEqual(expected.map((m) => ['warn', 'web', m]));
    expect(formatFindings(findings)).toBe(['Contract check: 0 errors, 2 warnings', ...expected.map((m) => `  warning  web  ${m}`)].join('\n'));
  });

  it('is an error when the schema has none of the tables', async () => {
    const findings = await createWebSource(db.pool, { schema: 'no_such_schema' }).checkContract();
    expect(findings).toEqual([
      {
        source: 'web',
        severity: 'error',
        message: expect.stringMatching(/^the warehouse has no schema no_such_schema with any of the tables identifies, users, pages, /),
      },
    ]);
  });
});

describe('the HubSpot contract check', () => {
  it('finds nothing wrong with a token holding every scope the source reads with', async () => {
    expect(await standIns.sources().crm.checkContract()).toEqual([]);
  });

  it('names the scopes a token lacks in one error', async () => {
    standIns.hubspot.scopes = ['oauth', 'crm.objects.contacts.read', 'crm.schemas.contacts.read'];
    try {
      expect(messages(await standIns.sources().crm.checkContract())).toEqual([
        [
          'crm',
          'error',
          "the HubSpot private app lacks the scopes crm.objects.companies.read (a contact's company), crm.objects.owners.read " +
            "(a contact's owner): add them under Settings > Integrations > Private Apps > Scopes; until then the fields they serve fail",
        ],
      ]);
    } finally {
      standIns.hubspot.scopes = ['oauth', 'crm.objects.contacts.read', 'crm.objects.companies.read', 'crm.objects.owners.read', 'crm.schemas.contacts.read'];
    }
  });

  it('is an error when HubSpot refuses the token', async () => {
    const crm = createHubSpotSource({
      accessToken: 'pat-test-not-the-token',
      baseUrl: standIns.hubspot.url,
      timeoutMs: 1000,
      retryBudgetMs: 300,
      rateLimit: { requests: 1000, intervalMs: 10_000 },
      extraProperties: [],
      logger: silent,
    });
    expect(messages(await crm.checkContract())).toEqual([
      ['crm', 'error', 'HubSpot refuses the configured access token: every CRM field fails until a valid private-app token is configured'],
    ]);
  });
});

describe('the Mailchimp contract check', () => {
  const email = (options: { listId?: string; apiKey?: string }) =>
    createMailchimpSource({
      apiKey: options.apiKey ?? '00000000000000000000000000000000-us21',
      baseUrl: standIns.mailchimp.url,
      listId: options.listId ?? 'demo',
      timeoutMs: 1000,
      retryBudgetMs: 300,
      logger: silent,
    });

  it('finds the configured audience', async () => {
    expect(await email({}).checkContract()).toEqual([]);
  });

  it('is an error for an audience the account does not have, and for a refused key', async () => {
    expect(messages(await email({ listId: 'f00ba7' }).checkContract())).toEqual([
      [
        'email',
        'error',
        'audience f00ba7 not found in this Mailchimp account: every email field fails until MAILCHIMP_LIST_ID names an audience ' +
          '(Audience > Settings > Audience name and defaults shows its id)',
      ],
    ]);
    expect(messages(await email({ apiKey: '11111111111111111111111111111111-us21' }).checkContract())).toEqual([
      ['email', 'error', 'Mailchimp rejects the configured API key (or its datacenter suffix): every email field fails until it is replaced'],
    ]);
  });
});

describe('checkContracts', () => {
  it('runs every check, turns an unreachable or silent source into one warning, and logs each finding once', async () => {
    const unreachable = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/warehouse' });
    const { lines, logger } = recordingLogger();
    try {
      const findings = await checkContracts(
        {
          commerce: { checkContract: () => new Promise<never>(() => {}) },
          crm: standIns.sources().crm,
          email: { checkContract: async () => [{ source: 'email', severity: 'error', message: 'audience x not found' }] },
          web: createWebSource(unreachable, { schema: 'web' }),
        },
        logger,
        { timeoutMs: 200 },
      );
      expect(messages(findings)).toEqual([
        ['email', 'error', 'audience x not found'],
        ['commerce', 'warning', 'could not be checked: timeout'],
        ['web', 'warning', 'could not be checked: unavailable'],
      ]);
      expect(lines).toEqual([
        ['error', 'email', 'audience x not found'],
        ['warn', 'commerce', 'could not be checked: timeout'],
        ['warn', 'web', 'could not be checked: unavailable'],
      ]);
    } finally {
      await unreachable.end();
    }
  });

  it('says so when every source meets its contract', async () => {
    expect(await checkContracts({ email: { checkContract: async () => [] } }, silent)).toEqual([]);
    expect(formatFindings([])).toBe('Contract check: every source meets its contract.');
  });
});
