import { buildSubgraphSchema } from '@apollo/subgraph';
import { getOperationAST, isInterfaceType, isObjectType, parse, type GraphQLSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredCosts, operationCost } from '../../server/auth/cost.ts';
import { DEFAULT_LIMITS } from '../../server/auth/limits.ts';
import { securityFromConfig } from '../../server/auth/settings.ts';
import { loadConfig } from '../../server/config.ts';
import { buildSchema } from '../../server/schema.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';
import { key, KEYS } from './helpers.ts';

/**
 * The product's main use: the personalization engine reads a page of 100 customers with the traits
 * it decides on, from every source. docs/security.md quotes its cost ("Limits and rate limits").
 */
const PERSONALIZATION_PAGE = `query PersonalizationPage($ids: [ID!]) {
  customers(ids: $ids) {
    id
    commerce {
      purchases {
        orderCount totalSpent { amount currencyCode } averageOrderValue { amount currencyCode }
        lastOrderAt daysSinceLastOrder topCategories { category }
      }
      rfm { recency frequency monetary segment }
      abandonedCart { updatedAt itemCount value { amount currencyCode } items { quantity product { id name category } } }
    }
    crm { lifecycleStage }
    emailMarketing { status canEmail }
    web {
      lastSeenAt sessionCount pageViews averageSessionSeconds
      recentlyViewedProducts(first: 5) { productId name category price { amount currencyCode } }
      topCategories { category views }
    }
  }
}`;
const PAGE_COST = 5220;

const schema = buildSchema();
const costIn =
  (on: GraphQLSchema) =>
  (query: string, variables: Record<string, unknown> = {}) => {
    const document = parse(query);
    return operationCost(on, document, getOperationAST(document)!, variables, DEFAULT_LIMITS);
  };
const cost = costIn(schema);
const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

describe('operation cost', () => {
  it('costs the personalization page of 100 what docs/security.md says: its objects, one HubSpot call and 100 Mailchimp GETs', () => {
    const objects = cost(PERSONALIZATION_PAGE.replace('crm { lifecycleStage }', '').replace('emailMarketing { status canEmail }', ''), { ids: ids(100) });
    expect(objects).toBe(4700);
    // Each customer's crm and emailMarketing objects (200), one HubSpot batch read (20), 100 GETs (3 each).
    expect(cost(PERSONALIZATION_PAGE, { ids: ids(100) })).toBe(objects + 200 + 20 + 300);
    expect(cost(PERSONALIZATION_PAGE, { ids: ids(100) })).toBe(PAGE_COST);
    expect(PAGE_COST).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost);
    // One customer: its 49 objects, one HubSpot call, one GET.
    expect(cost(PERSONALIZATION_PAGE, { ids: ids(1) })).toBe(49 + 20 + 3);
  });

  it('counts HubSpot calls per batch of 100 contacts and Mailchimp calls per member', () => {
    const crm = 'query($a: [ID!], $b: [ID!]) { a: customers(ids: $a) { crm { lifecycleStage } } b: customers(ids: $b) { crm { lifecycleStage } } }';
    // 100 customers and their contacts (200 objects) read in one call; 150 in two.
    expect(cost(crm, { a: ids(100), b: [] })).toBe(200 + 20);
    expect(cost(crm, { a: ids(100), b: ids(50) })).toBe(300 + 2 * 20);
    const email = 'query($ids: [ID!]) { customers(ids: $ids) { emailMarketing { status lastOpenedAt } } }';
    expect(cost(email, { ids: ids(1) })).toBe(2 + 2 * 3);
    expect(cost(email, { ids: ids(100) })).toBe(200 + 2 * 100 * 3);
  });

  it('counts the calls of fields selected through fragments as often as the fragments are spread', () => {
    const query = `query($ids: [ID!]) { customers(ids: $ids) { ...A ...A } }
      fragment A on Customer { emailMarketing { ...B } }
      fragment B on EmailMarketing { status lastClickedAt }`;
    expect(cost(query, { ids: ids(10) })).toBe(10 + 2 * 10 + 2 * 10 * 3 + 2 * 10 * 3);
  });
});

describe('cost declared in the schema', () => {
  const declaring = buildSubgraphSchema(gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.14", import: ["@cost", "@listSize"])
    directive @batchedCost(weight: Int!, keysPerCall: Int!) on FIELD_DEFINITION
    type Query {
      items(first: Int = 5): [Item!]! @listSize(slicingArguments: ["first"])
      byKeys(keys: [ID!]!): [Item]! @listSize(assumedSize: 50)
      page(first: Int = 4): ItemPage @listSize(slicingArguments: ["first"], sizedFields: ["edges"])
      unsized: [Item!]!
    }
    type Item {
      id: ID!
      remote: Boolean @cost(weight: 7)
      batched: Item @batchedCost(weight: 20, keysPerCall: 3)
    }
    type ItemPage {
      edges: [Item!]!
    }
  `);
  const costOf = costIn(declaring);

  it('charges @cost weights per instance, sizes lists by @listSize, and batches @batchedCost calls', () => {
    expect(costOf('{ items(first: 3) { id remote } }')).toBe(3 * (1 + 7));
    expect(costOf('{ items { id } }')).toBe(5);
    expect(costOf('{ byKeys(keys: ["a", "b"]) { id } }')).toBe(2);
    expect(costOf('{ page(first: 4) { edges { id } } }')).toBe(1 + 4);
    expect(costOf('{ unsized { id } }')).toBe(DEFAULT_LIMITS.defaultListSize);
    // 7 items and their 7 batched objects, read in ceil(7 / 3) = 3 calls of 20.
    expect(costOf('{ items(first: 7) { batched { id } } }')).toBe(7 + 7 + 3 * 20);
  });

  it('declares a size for every list our schema slices with `first`', () => {
    const costs = declaredCosts(schema);
    const fields = Object.values(schema.getTypeMap()).flatMap((type) =>
      isObjectType(type) || isInterfaceType(type) ? Object.values(type.getFields()).map((field) => ({ at: `${type.name}.${field.name}`, field })) : [],
    );
    const unsized = fields
      .filter(({ at, field }) => field.args.some((arg) => arg.name === 'first') && !costs.get(at)?.listSize?.slicingArguments.includes('first'))
      .map(({ at }) => at);
    expect(unsized).toEqual([]);
  });
});

describe('the personalization page under the default limits', () => {
  const world: DemoWorld = { seed: 360, customers: 200, asOf: TEST_AS_OF };
  const customerIds = Array.from({ length: world.customers }, (_, i) => personAt(world, i).customerId)
    .filter((id): id is number => id !== null)
    .slice(0, 100)
    .map(String);
  let db: TestDatabase;
  let standIns: StandIns;
  let server: TestServer;
  beforeAll(async () => {
    [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
    // Production, with every limit and the rate limit at its default (as the environment's defaults give them).
    const security = securityFromConfig(loadConfig({ NODE_ENV: 'production', API_KEYS: JSON.stringify([KEYS.personalization.entry]) }));
    expect(security.limits).toEqual(DEFAULT_LIMITS);
    expect(security.rateLimit).not.toBeNull();
    server = await startTestServer(db, standIns.sources({ timeoutMs: 5000 }), { production: true, security });
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([standIns?.close(), db?.close()]);
  });

  it('answers a page of 100 customers with the personalization fields, and the next page too', async () => {
    expect(customerIds).toHaveLength(100);
    for (const page of [1, 2]) {
      const { status, body } = await server.query(PERSONALIZATION_PAGE, { ids: customerIds }, key('personalization'));
      expect({ page, status, errors: body.errors }).toEqual({ page, status: 200, errors: undefined });
      expect(body.data.customers).toHaveLength(100);
      expect(body.data.customers.map((c: { id: string }) => c.id)).toEqual(customerIds);
    }
  });
});
