import { readFileSync } from 'node:fs';
import { Kind, parse, type ObjectTypeDefinitionNode, type ObjectTypeExtensionNode } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personCacheKeys } from '../../cache/loaders.ts';
import type { Family } from '../../cache/family.ts';
import { splitFamily } from '../../cache/shapes.ts';
import { MemoryStore } from '../../cache/store.ts';
import { WEB_READS, WEB_SHAPES, webUserKeys } from '../../cache/web.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 40, asOf: TEST_AS_OF };
let db: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  db = await createDemoDatabase(world, { webHistoryDays: 30 });
  server = await startTestServer(db, {}, { store: new MemoryStore({ maxEntries: 10_000, maxBytes: 1 << 24 }) });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});
beforeEach(() => server.reset());

/** Statements sent to the event warehouse (schema `web`), as opposed to the shop's and catalog reads. */
const warehouseStatements = () => server.statements.filter((sql) => sql.includes('"web".'));

/** Every web field, at the schema's default window and page sizes. */
const DEFAULTS = `identities { analyticsUserId anonymousIds ambiguousAnonymousIds }
  web {
    days lastSeenAt sessionCount pageViews averageSessionSeconds
    recentlyViewedProducts { productId name viewCount lastViewedAt timeOnPageSeconds price { amount currencyCode } }
    topCategories { category views secondsSpent }
    cartActivity { productsAdded { productId at } productsRemoved { productId } abandonedCheckouts { at value { amount } } }
    devices { type os browser sessions share lastSeenAt }
    firstTouch { at source medium } lastTouch { at source }
    searches { query at }
  }`;
/** The personalization query's web part (README, demo, benchmark). */
const PERSONALIZATION = `web { sessionCount lastSeenAt recentlyViewedProducts(first: 3) { name category } topCategories(first: 3) { category } }`;
const byIds = (ids: readonly number[], selection: string) => `{ customers(ids: ${JSON.stringify(ids.map(String))}) { id ${selection} } }`;

describe('web fields through the shared cache', () => {
  it('serves the default window and page sizes from the cache the second time, without a warehouse statement', async () => {
    const query = byIds([1, 2, 3, 4, 5, 6, 7, 8], DEFAULTS);
    const first = await server.query(query);
    expect(first.body.errors).toBeUndefined();
    // The identity, consent, then summaries, viewed products, top categories, cart activity, devices, touches, searches.
    expect(warehouseStatements()).toHaveLength(9);
    expect(first.body.extensions?.sources.web).toMatchObject({ status: 'live', cached: 0 });
    server.reset();
    const second = await server.query(query);
    expect(second.body).toEqual({ ...first.body, extensions: second.body.extensions });
    // Identity and consent for all eight; one of them withholds analytics consent, so the seven
    // families are read (and cached) for the other seven only.
    expect(first.body.data.customers.filter((c: { web: unknown }) => c.web === null)).toHaveLength(1);
    expect(warehouseStatements()).toEqual([]);
    expect(second.body.extensions?.sources.web).toMatchObject({ status: 'cached', live: 0, cached: 8 + 8 + 7 * 7, upstreamMs: 0 });
  });

  it('caches the personalization query (first: 3) too', async () => {
    const query = byIds([9, 10, 11], PERSONALIZATION);
    expect((await server.query(query)).body.errors).toBeUndefined();
    // Consent (asked before any browsing is served), summaries, viewed products, top categories.
    expect(warehouseStatements()).toHaveLength(4);
    server.reset();
    expect((await server.query(query)).body.extensions?.sources.web).toMatchObject({ status: 'cached', cached: 3 * 4 });
    expect(warehouseStatements()).toEqual([]);
  });

  it('reads other windows and page sizes live every time, beside the cached ones', async () => {
    const other = byIds([1, 2], `web(days: 14) { sessionCount } more: web { recentlyViewedProducts(first: 7) { productId } }`);
    for (let i = 0; i < 2; i++) {
      server.reset();
      const { body } = await server.query(other);
      expect(body.errors).toBeUndefined();
      expect(warehouseStatements()).toHaveLength(2);
      // Their consent is cached from the first test; the windows and page sizes are not.
      expect(body.extensions?.sources.web).toMatchObject({ status: 'mixed', live: 4, cached: 2 });
    }
    // One batch mixing a cached and a live shape: the cached keys come from the cache, the others
    // from the warehouse (customers 1 and 2 were read with the defaults above), and so does consent.
    server.reset();
    const { body } = await server.query(byIds([1, 2], `web { a: recentlyViewedProducts { productId } b: recentlyViewedProducts(first: 7) { productId } }`));
    expect(body.extensions?.sources.web).toMatchObject({ status: 'mixed', live: 2, cached: 2 + 2 });
    expect(warehouseStatements()).toHaveLength(1);
  });

  it('looks an anonymous id up live every time: an eviction could not name that key', async () => {
    const { body } = await server.query(byIds([1, 2, 3, 4, 5, 6, 7, 8], 'identities { anonymousIds }'));
    const anonymousId = body.data.customers.flatMap((c: { identities: { anonymousIds: string[] } }) => c.identities.anonymousIds)[0];
    expect(anonymousId).toEqual(expect.any(String));
    for (let i = 0; i < 2; i++) {
      server.reset();
      const found = await server.query(`query($a: ID!) { customer(anonymousId: $a) { id } }`, { a: anonymousId });
      expect(found.body.data.customer).toEqual({ id: expect.any(String) });
      expect(warehouseStatements()).toHaveLength(1);
    }
  });

  it('forgetCustomer evicts every web entry of the person: the next request reads the warehouse again', async () => {
    const person = personAt(world, 11); // customer 12
    const query = `query($id: ID!) { customer(id: $id) { ${DEFAULTS} ${PERSONALIZATION.replace('web {', 'p: web {')} } }`;
    const variables = { id: String(person.customerId) };
    const warm = await server.query(query, variables);
    expect(warm.body.errors).toBeUndefined();
    const everyStatement = warehouseStatements().length;
    expect(everyStatement).toBe(9);
    server.reset();
    await server.query(query, variables);
    expect(warehouseStatements()).toEqual([]);

    const forget = await server.query(`mutation($e: EmailAddress!) { forgetCustomer(email: $e) { cacheKeysCleared cleared failed { source step code } } }`, {
      e: person.email,
    });
    // This server has no HubSpot: its id lookup fails, and says so; the warehouse's entries are
    // named by the shop's customer id.
    expect(forget.body.data.forgetCustomer).toEqual({
      cacheKeysCleared: personCacheKeys({ email: person.email, customerId: variables.id }).length,
      cleared: ['COMMERCE', 'EMAIL', 'WEB'],
      failed: [{ source: 'CRM', step: 'LOOKUP', code: 'SOURCE_NOT_CONFIGURED' }],
    });
    server.reset();
    const after = await server.query(query, variables);
    expect(after.body.data).toEqual(warm.body.data);
    expect(warehouseStatements()).toHaveLength(everyStatement);
    expect(after.body.extensions?.sources.web).toMatchObject({ status: 'live', cached: 0 });
  });
});

describe('the declared web shapes', () => {
  it('name every web key of a person in personCacheKeys: the identity, the consent and one per cached shape', () => {
    const keys = personCacheKeys({ email: 'a@example.com', customerId: '12' });
    expect(webUserKeys('12')).toEqual([
      'web:identity:12',
      'web:consent:12',
      'web:summary:30:12',
      'web:viewed-products:30:10:12',
      'web:viewed-products:30:3:12',
      'web:top-categories:30:5:12',
      'web:top-categories:30:3:12',
      'web:cart-activity:30:12',
      'web:devices:30:12',
      'web:touches:30:12',
      'web:searches:30:10:12',
      'web:location:30:12',
      'web:affinity-evidence:90:12',
      'web:session-sources:90:12',
      'web:engagement-periods:30:12',
    ]);
    expect(keys).toEqual(expect.arrayContaining(webUserKeys('12')));
    expect(personCacheKeys({ email: 'a@example.com' }).filter((key) => key.startsWith('web:'))).toEqual([]);
  });

  it('split a batch: cached shapes to one family, the others to the other, answers in key order', async () => {
    const calls: Array<[string, number[]]> = [];
    const echo =
      (name: string): Family<number, string> =>
      async (keys) => {
        calls.push([name, [...keys]]);
        return keys.map((key) => (key === 4 ? new Error('no four') : `${name}:${key}`));
      };
    const even = (key: number) => key % 2 === 0;
    expect(await splitFamily(even, echo('cached'), echo('live'))([1, 2, 3, 4], {})).toEqual(['live:1', 'cached:2', 'live:3', new Error('no four')]);
    expect(calls).toEqual([
      ['cached', [2, 4]],
      ['live', [1, 3]],
    ]);
    calls.length = 0;
    expect(await splitFamily(even, echo('cached'), echo('live'))([2, 6], {})).toEqual(['cached:2', 'cached:6']);
    expect(calls).toEqual([['cached', [2, 6]]]);
    // A part that fails as a whole fails its own keys only.
    const down: Family<number, string> = async () => {
      throw new Error('the warehouse is down');
    };
    expect(await splitFamily(even, echo('cached'), down)([1, 2], {})).toEqual([new Error('the warehouse is down'), 'cached:2']);
  });

  it("declare the schema's default window and page sizes", () => {
    const document = parse(readFileSync(new URL('../../schema/web.graphql', import.meta.url), 'utf8'));
    const defaultOf = (type: string, field: string, arg: string) => {
      const node = document.definitions.find(
        (d): d is ObjectTypeDefinitionNode | ObjectTypeExtensionNode => (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) && d.name.value === type,
      );
      const value = node?.fields?.find((f) => f.name.value === field)?.arguments?.find((a) => a.name.value === arg)?.defaultValue;
      return value?.kind === Kind.INT ? Number(value.value) : undefined;
    };
    expect(WEB_READS.defaults).toEqual({
      days: defaultOf('Customer', 'web', 'days'),
      first: {
        recentlyViewedProducts: defaultOf('WebBehaviour', 'recentlyViewedProducts', 'first'),
        topCategories: defaultOf('WebBehaviour', 'topCategories', 'first'),
        searches: defaultOf('WebBehaviour', 'searches', 'first'),
      },
    });
    expect(WEB_SHAPES.summaries.isCached({ days: 30 })).toBe(true);
    expect(WEB_SHAPES.summaries.isCached({ days: 31 })).toBe(false);
    expect(WEB_SHAPES.searches.isCached({ days: 30, first: 3 })).toBe(false);
  });
});
