import { composeServices } from '@apollo/composition';
import { printSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLEnumType, type GraphQLObjectType } from 'graphql';
import { gql } from 'graphql-tag';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../server/schema.ts';

/**
 * Subgraphs a company commonly runs beside this one, each written as its team would, without
 * knowing ours: composition with each of them (and all together) must succeed. Each broke
 * composition once: the catalog's `Product` entity (INVALID_FIELD_SHARING), a float `Money`
 * (FIELD_TYPE_MISMATCH), a full Relay `PageInfo` (SATISFIABILITY_ERROR), the orders subgraph's
 * `Order` entity, `LineItem` and `OrderStatus` (INVALID_FIELD_SHARING), and the `Cart` and store
 * `Location` entities of the carts and stores subgraphs.
 */
const OTHERS = {
  catalog: gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
    type Product @key(fields: "id") {
      id: ID!
      sku: String!
      name: String!
      category: String!
      price: Float!
    }
    type Query {
      product(id: ID!): Product
    }
  `,
  billing: gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable"])
    type Money @shareable {
      amount: Float!
      currencyCode: String!
    }
    input MoneyInput {
      amount: Float!
      currencyCode: String!
    }
    type Invoice @key(fields: "id") {
      id: ID!
      total: Money!
    }
    type Query {
      invoicesOver(amount: MoneyInput!): [Invoice!]!
    }
  `,
  reviews: gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable"])
    type PageInfo @shareable {
      hasNextPage: Boolean!
      hasPreviousPage: Boolean!
      startCursor: String
      endCursor: String
    }
    type Review @key(fields: "id") {
      id: ID!
      body: String!
    }
    type ReviewEdge {
      cursor: String!
      node: Review!
    }
    type ReviewConnection {
      edges: [ReviewEdge!]!
      pageInfo: PageInfo!
    }
    type Query {
      reviews(first: Int = 10, after: String): ReviewConnection!
    }
  `,
  orders: gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
    enum OrderStatus {
      PENDING
      PAID
      SHIPPED
      DELIVERED
      CANCELLED
    }
    type LineItem {
      id: ID!
      sku: String!
      quantity: Int!
      price: Float!
    }
    type Order @key(fields: "id") {
      id: ID!
      status: OrderStatus!
      lineItems: [LineItem!]!
      total: Float!
      placedAt: String!
    }
    type Query {
      order(id: ID!): Order
      ordersByStatus(status: OrderStatus!): [Order!]!
    }
  `,
  carts: gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
    type CartItem {
      id: ID!
      sku: String!
      quantity: Int!
    }
    type Cart @key(fields: "id") {
      id: ID!
      items: [CartItem!]!
      subtotal: Float!
      checkoutUrl: String
    }
    type Query {
      cart(id: ID!): Cart
    }
  `,
  stores: gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
    type Location @key(fields: "id") {
      id: ID!
      name: String!
      addressLine1: String!
      city: String!
      region: String
      postalCode: String!
      countryCode: String!
      openingHours: [String!]!
    }
    type Query {
      location(id: ID!): Location
      locationsNear(postalCode: String!): [Location!]!
    }
  `,
};

// The SDL a router or gateway reads from `_service`.
const ours = { name: 'customers', typeDefs: parse(printSubgraphSchema(buildSchema())), url: 'http://customers.invalid/graphql' };
const other = (name: keyof typeof OTHERS) => ({ name, typeDefs: OTHERS[name], url: `http://${name}.invalid/graphql` });
const errorsOf = (result: ReturnType<typeof composeServices>) => result.errors?.map((e) => `${String(e.extensions.code)}: ${e.message}`);

describe('composition beside common subgraphs', () => {
  it.each(Object.keys(OTHERS) as Array<keyof typeof OTHERS>)('composes with a %s subgraph', (name) => {
    const result = composeServices([ours, other(name)]);
    expect(errorsOf(result)).toBeUndefined();
  });

  it('composes with all of them at once, keeping each owner its entity and us our Shop types and DecimalMoney', () => {
    const result = composeServices([ours, ...(Object.keys(OTHERS) as Array<keyof typeof OTHERS>).map(other)]);
    expect(errorsOf(result)).toBeUndefined();
    const api = result.schema!.toAPISchema().toGraphQLJSSchema();
    const fields = (type: string) => (api.getType(type) as GraphQLObjectType).getFields();
    expect(Object.keys(fields('Product'))).toEqual(['id', 'sku', 'name', 'category', 'price']);
    expect(String(fields('Money').amount!.type)).toBe('Float!');
    expect(String(fields('DecimalMoney').amount!.type)).toBe('String!');
    expect(Object.keys(fields('PageInfo')).sort()).toEqual(['endCursor', 'hasNextPage', 'hasPreviousPage', 'startCursor']);
    expect(Object.keys(fields('Order'))).toEqual(['id', 'status', 'lineItems', 'total', 'placedAt']);
    expect(Object.keys(fields('LineItem'))).toEqual(['id', 'sku', 'quantity', 'price']);
    expect((api.getType('OrderStatus') as GraphQLEnumType).getValues().map((v) => v.name)).toEqual(['PENDING', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED']);
    expect(Object.keys(fields('Cart'))).toEqual(['id', 'items', 'subtotal', 'checkoutUrl']);
    expect(Object.keys(fields('Location'))).toEqual(['id', 'name', 'addressLine1', 'city', 'region', 'postalCode', 'countryCode', 'openingHours']);
    expect(String(fields('ShopOrder').status!.type)).toBe('ShopOrderStatus!');
    expect(String(fields('ShopOrder').lineItems!.type)).toBe('[ShopLineItem!]!');
    expect(String(fields('CommerceProfile').carts!.type)).toBe('[ShopCart!]!');
    expect(String(fields('CommerceProfile').location!.type)).toBe('ShopAddress!');
  });

  it('carries our cost declarations into the supergraph for a router, all but our own @batchedCost', () => {
    const { supergraphSdl } = composeServices([ours, other('catalog')]);
    expect(supergraphSdl).toContain('@link(url: "https://specs.apollo.dev/cost/v0.1"');
    expect(supergraphSdl).toMatch(/\): \[Customer\]! .*@listSize\(assumedSize: 100\)/);
    expect(supergraphSdl).toMatch(/emailMarketing: EmailMarketing .*@cost\(weight: 4\)/);
    expect(supergraphSdl).not.toContain('batchedCost');
  });
});
