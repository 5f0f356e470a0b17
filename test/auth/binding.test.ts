import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { graphql } from 'graphql';
import { gql } from 'graphql-tag';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../server/auth/audit.ts';
import { enforceScopes } from '../../server/auth/enforce.ts';
import { Scope, type Principal } from '../../server/auth/scopes.ts';

// The guard's binding rules on a schema of the test's own, shaped like the real one (server/auth
// must not depend on the real schema's progress): a visitor token is bound to its browser exactly
// as a customer token is bound to its customer.

const ALL = '[["customer:read:traits"], ["customer:read:self"], ["visitor:read:self"], ["segments:read"]]';
const SDL = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@requiresScopes", "@authenticated"])
  type Query {
    me: Customer @authenticated @requiresScopes(scopes: [["customer:read:self"]])
    customer(id: ID!): Customer @requiresScopes(scopes: [["customer:read:traits"], ["customer:read:self"]])
    customers(ids: [ID!]!): [Customer]! @requiresScopes(scopes: [["customer:read:traits"], ["customer:read:self"]])
    visitor(anonymousId: ID!): Visitor @requiresScopes(scopes: [["customer:read:traits"], ["visitor:read:self"]])
  }
  interface Visitor { seen: Int }
  type Customer implements Visitor @key(fields: "id") {
    id: ID @requiresScopes(scopes: [["customer:read:traits"], ["customer:read:self"], ["segments:read"]])
    "Deliberately open to a visitor token too: the binding still refuses it a customer."
    seen: Int @requiresScopes(scopes: ${ALL})
  }
  type AnonymousVisitor implements Visitor {
    anonymousId: ID @requiresScopes(scopes: ${ALL})
    seen: Int @requiresScopes(scopes: ${ALL})
    "Leads to another browser, and to a customer: paths the real schema does not have."
    neighbour: AnonymousVisitor
    owner: Customer
  }
`;

const customers: Record<string, { id: string }> = { '7': { id: '7' }, '8': { id: '8' } };
const visitors: Record<string, { record: { anonymousId: string } }> = {
  own: { record: { anonymousId: 'own' } },
  other: { record: { anonymousId: 'other' } },
};
let calls: string[] = [];
const called = <T>(name: string, value: T) => (calls.push(name), value);

const resolvers = {
  Query: {
    me: (_: unknown, __: unknown, context: { auth: { principal: Principal } }) => called('me', customers[context.auth.principal.customerId!] ?? null),
    customer: (_: unknown, args: { id: string }) => called('customer', customers[args.id] ?? null),
    customers: (_: unknown, args: { ids: string[] }) =>
      called(
        'customers',
        args.ids.map((id) => customers[id] ?? null),
      ),
    visitor: (_: unknown, args: { anonymousId: string }) => called('visitor', visitors[args.anonymousId] ?? null),
  },
  Visitor: { __resolveType: (value: object) => ('record' in value ? 'AnonymousVisitor' : 'Customer') },
  Customer: {
    __resolveReference: (reference: { id: string }) => called('_entities', customers[reference.id] ?? null),
    seen: () => 3,
  },
  AnonymousVisitor: {
    anonymousId: (visitor: { record: { anonymousId: string } }) => visitor.record.anonymousId,
    seen: () => 5,
    neighbour: () => visitors.other,
    owner: () => customers['7'],
  },
};
const schema = enforceScopes(buildSubgraphSchema([{ typeDefs: SDL, resolvers: resolvers as GraphQLResolverMap<unknown> }]));

const principal = (scopes: Scope[], bound: Partial<Pick<Principal, 'customerId' | 'anonymousId'>> = {}): Principal => ({
  kind: 'jwt',
  client: 'test',
  rateLimitKey: '',
  scopes: new Set(scopes),
  customerId: null,
  anonymousId: null,
  ...bound,
});
const visitorToken = principal([Scope.Visitor], { anonymousId: 'own' });
const customerToken = principal([Scope.Self], { customerId: '7', anonymousId: 'own' });
const traitsKey = { ...principal([Scope.Traits]), kind: 'api-key' as const };

async function run(source: string, who: Principal) {
  const audit = new AuditTrail();
  const result = await graphql({ schema, source, contextValue: { auth: { principal: who, audit } } });
  return { data: result.data, errors: result.errors?.map((e) => ({ path: e.path, message: e.message, code: e.extensions.code })), audit };
}

const VISITOR_ONLY = 'Forbidden: a visitor:read:self token reads only its own visitor.';
const SELF_ONLY = 'Forbidden: a customer:read:self token reads only its own customer.';

beforeEach(() => {
  calls = [];
});

describe('a visitor token', () => {
  it('reads its own browser', async () => {
    const { data, errors } = await run('{ visitor(anonymousId: "own") { seen ... on AnonymousVisitor { anonymousId } } }', visitorToken);
    expect(errors).toBeUndefined();
    expect(data).toEqual({ visitor: { seen: 5, anonymousId: 'own' } });
  });

  it('gets the same FORBIDDEN for another browser and for one nobody knows, decided from the arguments alone', async () => {
    for (const id of ['other', 'nobody']) {
      const { data, errors } = await run(`{ visitor(anonymousId: "${id}") { seen } }`, visitorToken);
      expect(data).toEqual({ visitor: null });
      expect(errors).toEqual([{ path: ['visitor'], message: VISITOR_ONLY, code: 'FORBIDDEN' }]);
    }
    expect(calls).toEqual([]);
  });

  it('reads nothing about customers: me, customer, customers and _entities are FORBIDDEN, with no resolver run', async () => {
    const { data, errors, audit } = await run(
      '{ me { id } customer(id: "7") { id } customers(ids: ["7"]) { id } _entities(representations: [{ __typename: "Customer", id: "7" }]) { ... on Customer { id } } }',
      visitorToken,
    );
    expect(data).toEqual({ me: null, customer: null, customers: [null], _entities: [null] });
    expect(errors?.map((e) => [e.path, e.code])).toEqual([
      [['me'], 'FORBIDDEN'],
      [['customer'], 'FORBIDDEN'],
      [['customers', 0], 'FORBIDDEN'],
      [['_entities', 0], 'FORBIDDEN'],
    ]);
    expect(calls).toEqual([]);
    expect([...audit.denied].sort()).toEqual(['Query._entities', 'Query.customer', 'Query.customers', 'Query.me']);
  });

  it("is refused another browser and a customer reached below its own, even where a field's policy would admit it", async () => {
    const { data, errors } = await run('{ visitor(anonymousId: "own") { ... on AnonymousVisitor { neighbour { anonymousId seen } owner { seen } } } }', visitorToken);
    expect(data).toEqual({ visitor: { neighbour: { anonymousId: null, seen: null }, owner: { seen: null } } });
    expect(errors).toEqual([
      { path: ['visitor', 'neighbour', 'anonymousId'], message: VISITOR_ONLY, code: 'FORBIDDEN' },
      { path: ['visitor', 'neighbour', 'seen'], message: VISITOR_ONLY, code: 'FORBIDDEN' },
      { path: ['visitor', 'owner', 'seen'], message: VISITOR_ONLY, code: 'FORBIDDEN' },
    ]);
  });
});

describe('a customer token', () => {
  it('reads no browser, not even the one of its own session', async () => {
    const { data, errors } = await run('{ visitor(anonymousId: "own") { seen } }', customerToken);
    expect(data).toEqual({ visitor: null });
    expect(errors).toEqual([{ path: ['visitor'], message: 'Forbidden: Query.visitor needs customer:read:traits or visitor:read:self.', code: 'FORBIDDEN' }]);
    expect(calls).toEqual([]);
  });

  it('stays bound to its customer', async () => {
    const { data, errors } = await run('{ me { id seen } customer(id: "8") { id } customers(ids: ["7", "8"]) { id } }', customerToken);
    expect(data).toEqual({ me: { id: '7', seen: 3 }, customer: null, customers: [{ id: '7' }, null] });
    expect(errors).toEqual([
      { path: ['customer'], message: SELF_ONLY, code: 'FORBIDDEN' },
      { path: ['customers', 1], message: SELF_ONLY, code: 'FORBIDDEN' },
    ]);
  });
});

describe('an unbound caller', () => {
  it('reads any browser and what it leads to', async () => {
    const { data, errors } = await run('{ visitor(anonymousId: "other") { seen ... on AnonymousVisitor { anonymousId neighbour { anonymousId } owner { id } } } }', traitsKey);
    expect(errors).toBeUndefined();
    expect(data).toEqual({ visitor: { seen: 5, anonymousId: 'other', neighbour: { anonymousId: 'other' }, owner: { id: '7' } } });
  });
});
