import { buildSubgraphSchema, printSubgraphSchema } from '@apollo/subgraph';
import { isObjectType } from 'graphql';
import { gql } from 'graphql-tag';
import { describe, expect, it } from 'vitest';
import { policyProblems } from '../../server/auth/coverage.ts';
import { IDENTIFIER_FIELDS, IDENTIFIER_TYPES, identifierKind } from '../../server/auth/personal-data.ts';
import { declaredPolicy } from '../../server/auth/policy.ts';
import { buildSchema } from '../../server/schema.ts';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@requiresScopes", "@authenticated"])';
const fixture = (sdl: string) => buildSubgraphSchema([{ typeDefs: gql(`${LINK}\n${sdl}`), resolvers: {} }]);

describe('the access policy declared in the schema', () => {
  const schema = buildSchema();

  it('covers every field: each root and entity field declares one, every identifier is scoped, nothing is reachable without one', () => {
    expect(policyProblems(schema)).toEqual([]);
  });

  it('finds every field of the documented personal-data list (names and types) and gives each a mask', () => {
    const identifiers = Object.values(schema.getTypeMap())
      .filter(isObjectType)
      .flatMap((type) =>
        Object.values(type.getFields())
          .filter((field) => identifierKind(field))
          .map((field) => `${type.name}.${field.name}`),
      )
      .sort();
    // The list is the contract: a new identifier field must show up here, scoped.
    expect(identifiers).toEqual(
      expect.arrayContaining([
        'CommerceProfile.firstName',
        'CommerceProfile.lastName',
        'CommerceProfile.phone',
        'CrmContact.firstName',
        'CrmContact.lastName',
        'CrmContact.phone',
        'CrmLocation.city',
        'CrmLocation.zip',
        'CrmOwner.email',
        'Customer.email',
        'EmailActivity.url',
        'EmailLocation.latitude',
        'EmailLocation.longitude',
        'EmailMarketing.subscriberHash',
        'Identities.email',
        'Identities.mailchimpSubscriberHash',
        'ShopAddress.city',
        'ShopAddress.postalCode',
      ]),
    );
    for (const coordinate of identifiers) {
      const [type, name] = coordinate.split('.') as [string, string];
      const field = (schema.getType(type) as ReturnType<typeof schema.getQueryType> & object).getFields()[name]!;
      expect(declaredPolicy(schema, field)?.scopes, coordinate).not.toBeNull();
    }
  });

  it('publishes the directives in the subgraph SDL, so a Router enforces the same policy', () => {
    const sdl = printSubgraphSchema(schema);
    expect(sdl).toContain('import: ["@key", "@shareable", "@authenticated", "@requiresScopes", "@cost", "@listSize"]');
    expect(sdl).toMatch(/email: EmailAddress @requiresScopes\(scopes: \[\["customer:read:pii"\], \["customer:read:self"\], \["segments:read"\]\]\)/);
    expect(sdl).toMatch(/me: Customer @authenticated @requiresScopes\(scopes: \[\["customer:read:self"\]\]\)/);
  });

  it('lists names and types in one documented place', () => {
    expect(Object.keys(IDENTIFIER_FIELDS)).toEqual(expect.arrayContaining(['email', 'firstName', 'lastName', 'phone', 'city', 'postalCode', 'ip', 'userAgent']));
    expect(Object.keys(IDENTIFIER_TYPES)).toContain('EmailAddress');
  });
});

describe('the policy check itself', () => {
  it('fails for a personal-data field without a scope', () => {
    const problems = policyProblems(
      fixture(`
        type Query { person(id: ID!): Person @requiresScopes(scopes: [["customer:read:traits"]]) }
        type Person { id: ID! phone: String }`),
    );
    expect(problems).toEqual(['Person.phone: a direct identifier without @requiresScopes']);
  });

  it('fails for an identifier that traits alone may read, and for a non-null one that can be refused', () => {
    const problems = policyProblems(
      fixture(`
        type Query { person(id: ID!): Person @requiresScopes(scopes: [["customer:read:traits"]]) }
        type Person {
          email: String @requiresScopes(scopes: [["customer:read:traits"]])
          phone: String! @requiresScopes(scopes: [["customer:read:pii"]])
        }`),
    );
    expect(problems).toEqual([
      'Person.email: a direct identifier that customer:read:traits alone may read',
      'Person.phone: a direct identifier that is non-null, so refusing it would null its parent',
    ]);
  });

  it('fails for a root field and an entity field without any policy, and for what they lead to', () => {
    const problems = policyProblems(
      fixture(`
        type Query { visits: [Visit!]! }
        type Visit @key(fields: "id") { id: ID! @requiresScopes(scopes: [["customer:read:traits"]]) page: Page }
        type Page { title: String }`),
    );
    expect(problems).toEqual([
      'Query.visits: a root field without @requiresScopes or @authenticated',
      'Visit.page: a field of entity Visit without a policy (reachable through _entities)',
      'Page.title: reachable without any policy',
    ]);
  });
});
