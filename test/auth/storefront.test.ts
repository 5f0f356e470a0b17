import { buildSubgraphSchema } from '@apollo/subgraph';
import { gql } from 'graphql-tag';
import { describe, expect, it } from 'vitest';
import { INTERNAL_LABELS, reachable, STOREFRONT, storefrontProblems, type Reader } from '../../server/auth/storefront.ts';
import { buildSchema } from '../../server/schema.ts';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@requiresScopes", "@authenticated"])';
const fixture = (sdl: string) => buildSubgraphSchema([{ typeDefs: gql(`${LINK}\n${sdl}`), resolvers: {} }]);
const list = (entries: Record<string, readonly Reader[]>) => new Map(Object.entries(entries));

describe('what a self or visitor token can read, against the storefront list', () => {
  const schema = buildSchema();

  it('agrees with the schema: every reachable field is listed, every listed one reachable, no internal label either', () => {
    expect(storefrontProblems(schema)).toEqual([]);
  });

  it('keeps every internal label out of reach of both tokens', () => {
    for (const reader of ['self', 'visitor'] as const) {
      const reached = reachable(schema, reader);
      expect(
        INTERNAL_LABELS.filter((at) => reached.has(at)),
        reader,
      ).toEqual([]);
    }
  });

  it('gives a visitor token its own browser and nothing about customers', () => {
    const reached = [...reachable(schema, 'visitor')];
    expect(reached).toContain('Query.visitor');
    expect(reached).toContain('AnonymousVisitor.web');
    expect(reached.filter((at) => at.startsWith('Query.'))).toEqual(['Query.visitor']);
    expect(reached.filter((at) => /^(Customer|Identities|CommerceProfile|CrmContact|EmailMarketing)\./.test(at))).toEqual([]);
    expect(reached).not.toContain('VisitorLocation.city');
  });

  it("lists the signed-in customer's storefront fields, and the visitor fields for both", () => {
    expect(STOREFRONT.get('Query.me')).toEqual(['self']);
    expect(STOREFRONT.get('EmailMarketing.marketingPermissions')).toEqual(['self']);
    expect(STOREFRONT.get('WebBehaviour.recentlyViewedProducts')).toEqual(['self', 'visitor']);
    expect(STOREFRONT.get('VisitorLocation.city')).toEqual(['self']);
    expect(STOREFRONT.has('CommerceProfile.rfm')).toBe(false);
  });
});

describe('the storefront walk itself', () => {
  const sdl = `
    type Query {
      me: Person @requiresScopes(scopes: [["customer:read:self"]])
      visitor(id: ID!): Profile @requiresScopes(scopes: [["customer:read:traits"], ["visitor:read:self"]])
      search: [Result!]! @requiresScopes(scopes: [["customer:read:traits"], ["customer:read:self"]])
      open: Person
    }
    interface Profile { seen: Int }
    type Person implements Profile {
      seen: Int @requiresScopes(scopes: [["customer:read:traits"], ["customer:read:self"]])
      score: Score
      label: String @requiresScopes(scopes: [["customer:read:traits"]])
    }
    type Browser implements Profile { seen: Int  city: String @requiresScopes(scopes: [["customer:read:pii"], ["visitor:read:self"]]) }
    type Score { value: Int }
    union Result = Person | Thing
    type Thing { name: String }`;

  it('follows inheritance, interfaces and unions, and refuses a root field without a policy', () => {
    const schema = fixture(sdl);
    expect([...reachable(schema, 'self')].sort()).toEqual(['Person.score', 'Person.seen', 'Query.me', 'Query.search', 'Score.value', 'Thing.name']);
    // Through the interface, every implementation: Person.score declares nothing, so it inherits
    // Query.visitor's policy, which a visitor token holds.
    expect([...reachable(schema, 'visitor')].sort()).toEqual(['Browser.city', 'Browser.seen', 'Person.score', 'Query.visitor', 'Score.value']);
  });

  it('reports reachable fields not listed, listed ones refused or missing, internal labels, and identifiers for a visitor', () => {
    const problems = storefrontProblems(
      fixture(sdl),
      list({
        'Query.me': ['self'],
        'Query.search': ['self'],
        'Query.visitor': ['visitor'],
        'Person.seen': ['self', 'visitor'],
        'Score.value': ['self'],
        'Thing.name': ['self'],
        'Browser.seen': ['visitor'],
        'Browser.city': ['visitor'],
        'Browser.gone': ['visitor'],
      }),
      ['Person.score', 'Person.label'],
    );
    expect(problems).toEqual([
      'Browser.gone: listed as shown to the person, but not in the schema',
      'Person.score: an internal label that a customer:read:self token can read',
      'Browser.city: a direct identifier that a visitor:read:self token can read',
      'Person.score: an internal label that a visitor:read:self token can read',
      'Score.value: a visitor:read:self token can read it, but it is not listed as shown to the person',
      'Person.seen: listed as shown to a visitor:read:self token, which the schema refuses it',
      'Browser.city: a direct identifier listed as shown to a visitor:read:self token',
    ]);
  });

  it('reports a refused field that is non-null, since refusing it would null the object a token may read', () => {
    const schema = fixture(`
      type Query { me: Person @requiresScopes(scopes: [["customer:read:self"]]) }
      type Person { seen: Int  rating: Int! @requiresScopes(scopes: [["customer:read:traits"]]) }`);
    expect(storefrontProblems(schema, list({ 'Query.me': ['self'], 'Person.seen': ['self'] }), ['Person.rating'])).toEqual([
      'Person.rating: refused to a customer:read:self token but non-null, so refusing it nulls Person',
    ]);
  });

  it('reports an internal label that the list shows, or that the schema does not have', () => {
    const problems = storefrontProblems(fixture(sdl), list({ 'Query.me': ['self'], 'Person.label': ['self'] }), ['Person.label', 'Person.rating']);
    expect(problems).toContain('Person.label: an internal label listed as shown to the person');
    expect(problems).toContain('Person.rating: listed as an internal label, but not in the schema');
  });
});
