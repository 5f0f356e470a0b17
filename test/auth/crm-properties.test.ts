import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { graphql } from 'graphql';
import { gql } from 'graphql-tag';
import { describe, expect, it } from 'vitest';
import { CrmContact } from '../../resolvers/crm.ts';
import { AuditTrail } from '../../server/auth/audit.ts';
import { enforceScopes } from '../../server/auth/enforce.ts';
import { Scope, type Principal } from '../../server/auth/scopes.ts';
import type { Settings } from '../../server/context.ts';

// CrmContact.properties (the real resolver) under the guard, on a schema of the test's own whose
// contact even a self token may reach (as `me`), to show that the per-value rule holds on its own.
const SDL = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@requiresScopes"])
  type Query {
    contact: CrmContact @requiresScopes(scopes: [["customer:read:traits"], ["segments:read"]])
    me: CrmContact @requiresScopes(scopes: [["customer:read:self"]])
  }
  type CrmContact {
    properties(names: [String!]!): [CrmProperty!]!
  }
  type CrmProperty {
    name: String!
    value: String
  }
`;
const VALUES = { preferred_store: 'Berlin Mitte', mobilephone: '+49 170 5550123', passport_number: 'C01X00T47' };
const schema = enforceScopes(
  buildSubgraphSchema([
    {
      typeDefs: SDL,
      resolvers: { Query: { contact: () => ({ properties: VALUES }), me: () => ({ properties: VALUES }) }, CrmContact } as GraphQLResolverMap<unknown>,
    },
  ]),
);
const SETTINGS: Settings = {
  shopCurrency: 'USD',
  crmProperties: ['preferred_store', 'mobilephone', 'passport_number'],
  crmIdentifierProperties: ['mobilephone', 'passport_number'],
};
const query = (root: string) => `{ ${root} { properties(names: ["preferred_store", "mobilephone", "passport_number"]) { name value } } }`;

const caller = (...scopes: Scope[]): Principal => ({
  kind: 'api-key',
  client: 'test',
  rateLimitKey: '',
  scopes: new Set(scopes),
  customerId: scopes.includes(Scope.Self) ? '7' : null,
  anonymousId: null,
});

async function run(who: Principal, settings: Settings = SETTINGS, root = who.scopes.has(Scope.Self) ? 'me' : 'contact') {
  const audit = new AuditTrail();
  const result = await graphql({ schema, source: query(root), contextValue: { auth: { principal: who, audit }, settings } });
  const values = (result.data?.[root] as { properties: Array<{ value: string | null }> } | null)?.properties.map((p) => p.value);
  return { values, errors: result.errors?.map((e) => ({ path: e.path, message: e.message, code: e.extensions.code })), audit };
}

const refusal = (name: string, position: number, root = 'contact') => ({
  path: [root, 'properties', position, 'value'],
  message: `Forbidden: the CRM property ${name} is a direct identifier and needs customer:read:pii (segments:read reads it masked).`,
  code: 'FORBIDDEN',
});

describe('CRM properties configured as direct identifiers', () => {
  it('are read in the clear with customer:read:pii', async () => {
    const { values, errors, audit } = await run(caller(Scope.Traits, Scope.Pii));
    expect(errors).toBeUndefined();
    expect(values).toEqual(Object.values(VALUES));
    expect(audit.fields).toContain('CrmProperty.value');
  });

  it('are masked for segments:read (phone-like names keep their last two digits, the rest is redacted)', async () => {
    const { values, errors, audit } = await run(caller(Scope.Segments));
    expect(errors).toBeUndefined();
    expect(values).toEqual(['Berlin Mitte', '***23', '***']);
    expect([...audit.masked]).toEqual(['CrmProperty.value']);
  });

  it('are null with FORBIDDEN at their own entry for customer:read:traits alone, the traits still answering', async () => {
    const { values, errors, audit } = await run(caller(Scope.Traits));
    expect(values).toEqual(['Berlin Mitte', null, null]);
    expect(errors).toEqual([refusal('mobilephone', 1), refusal('passport_number', 2)]);
    expect([...audit.denied]).toEqual(['CrmProperty.value']);
  });

  it('never reach a self or visitor token, whatever else it holds', async () => {
    const visitor = { ...caller(Scope.Visitor, Scope.Segments), anonymousId: 'own' };
    for (const [who, root] of [
      [caller(Scope.Self), 'me'],
      [caller(Scope.Self, Scope.Pii), 'me'],
      [visitor, 'contact'],
    ] as const) {
      const { values, errors } = await run(who);
      expect({ values, errors }).toEqual({ values: ['Berlin Mitte', null, null], errors: [refusal('mobilephone', 1, root), refusal('passport_number', 2, root)] });
    }
  });

  it('are plain traits when nothing is configured as an identifier', async () => {
    const { values, errors } = await run(caller(Scope.Traits), { shopCurrency: 'USD', crmProperties: SETTINGS.crmProperties });
    expect(errors).toBeUndefined();
    expect(values).toEqual(Object.values(VALUES));
  });

  it('never put a value in an error or the audit trail', async () => {
    for (const who of [caller(Scope.Traits), caller(Scope.Segments), caller(Scope.Self)]) {
      const { errors, audit } = await run(who);
      const text = JSON.stringify({ errors, audit: [...audit.fields, ...audit.masked, ...audit.denied] });
      for (const value of Object.values(VALUES)) expect(text).not.toContain(value);
    }
  });
});
