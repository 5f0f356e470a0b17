import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { gql } from 'graphql-tag';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ordersOf } from '../../sandbox/demo/shop.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 60, asOf: TEST_AS_OF };
const demo = useDemoServer(world);
beforeEach(() => demo.server.reset());

describe('the Federation 2 subgraph', () => {
  it('declares Customer with both keys in its SDL', async () => {
    const { body } = await demo.server.query('{ _service { sdl } }');
    const sdl: string = body.data._service.sdl;
    expect(sdl).toMatch(/type Customer\s+@key\(fields: "id"\)\s+@key\(fields: "email"\)/);
    expect(sdl).toMatch(/@link\(\s*url: "https:\/\/specs.apollo.dev\/federation\/v2.14"/);
  });

  it('resolves _entities in representation order, by id and by email, in one statement per key kind', async () => {
    const byEmail = personAt(world, 9).email;
    const { body } = await demo.server.query(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id email } } }`, {
      r: [
        { __typename: 'Customer', id: '5' },
        { __typename: 'Customer', email: byEmail.toUpperCase() },
        { __typename: 'Customer', id: '999999' },
        { __typename: 'Customer', id: '2' },
      ],
    });
    expect(body.errors).toBeUndefined();
    expect(body.data._entities).toEqual([{ id: '5', email: personAt(world, 4).email }, { id: '10', email: byEmail }, null, { id: '2', email: personAt(world, 1).email }]);
    expect(demo.server.statements).toHaveLength(2);
  });

  it('gives a gateway that asks for it the inline trace (ftv1), its errors masked, and no one else', async () => {
    const query = '{ customer(id: "1") { id crm { lifecycleStage } } }';
    const traced = await demo.server.query(query, undefined, { 'apollo-federation-include-trace': 'ftv1' });
    const plain = await demo.server.query(query);
    expect(traced.body.data).toEqual(plain.body.data);
    const ftv1 = (traced.body.extensions as { ftv1?: unknown } | undefined)?.ftv1;
    expect(typeof ftv1).toBe('string');
    expect(Buffer.from(ftv1 as string, 'base64').length).toBeGreaterThan(20);
    // HubSpot is not configured here, so crm failed: the trace carries the error, masked.
    expect(Buffer.from(ftv1 as string, 'base64').toString('latin1')).toContain('<masked>');
    expect(plain.body.extensions).not.toHaveProperty('ftv1');
  });
});

describe('in a supergraph', () => {
  // A second team's subgraph: loyalty tiers keyed by the same customer id, and a list of
  // customers that the gateway must complete from ours through _entities.
  const loyaltyTypeDefs = gql`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
    type Customer @key(fields: "id") {
      id: ID!
      loyaltyTier: String!
    }
    type Query {
      topMembers: [Customer!]!
    }
  `;
  let loyalty: { url: string; stop: () => Promise<void> };
  let gateway: ApolloServer;

  beforeAll(async () => {
    const apollo = new ApolloServer({
      schema: buildSubgraphSchema([
        {
          typeDefs: loyaltyTypeDefs,
          resolvers: {
            Query: { topMembers: () => ['3', '1', '2'].map((id) => ({ id })) },
            Customer: { loyaltyTier: ({ id }: { id: string }) => (id === '3' ? 'gold' : 'silver') },
          },
        },
      ]),
    });
    const { url } = await startStandaloneServer(apollo, { listen: { port: 0, host: '127.0.0.1' } });
    loyalty = { url, stop: () => apollo.stop() };
    const { body } = await demo.server.query('{ _service { sdl } }');
    const composed = composeServices([
      { name: 'customers', typeDefs: parse(body.data._service.sdl), url: `${demo.server.url}/graphql` },
      { name: 'loyalty', typeDefs: loyaltyTypeDefs, url },
    ]);
    expect(composed.errors).toBeUndefined();
    // Our @authenticated / @requiresScopes reach the supergraph as `for: SECURITY` features, which
    // Apollo Router enforces and the JS gateway refuses to load; without the purpose it ignores
    // them, and this subgraph still enforces its own policy.
    const supergraphSdl = composed.supergraphSdl!.replaceAll(', for: SECURITY)', ')');
    gateway = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
    await gateway.start();
  });
  afterAll(async () => {
    await gateway?.stop();
    await loyalty?.stop();
  });

  it("joins the other subgraph's field onto our customer", async () => {
    const result = await gateway.executeOperation({ query: '{ customer(id: "3") { id email loyaltyTier } }' });
    expect(result.body.kind === 'single' && result.body.singleResult).toMatchObject({
      data: { customer: { id: '3', email: personAt(world, 2).email, loyaltyTier: 'gold' } },
    });
  });

  it('passes our decimal money and Relay page bounds through the gateway', async () => {
    const person = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).find((p) => ordersOf(world, p).length >= 2)!;
    const result = await gateway.executeOperation({
      query: `{ customer(id: "${person.customerId}") { loyaltyTier commerce {
        purchases { totalSpent { __typename currencyCode } }
        orders(first: 1) { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }`,
    });
    const single = result.body.kind === 'single' ? result.body.singleResult : null;
    expect(single?.errors).toBeUndefined();
    const { commerce } = (single?.data as any).customer;
    expect(commerce.purchases.totalSpent).toEqual({ __typename: 'DecimalMoney', currencyCode: 'USD' });
    const cursor = commerce.orders.edges[0].cursor;
    expect(commerce.orders.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: cursor, endCursor: cursor });
  });

  it("completes the other subgraph's customers from ours in one batched _entities call", async () => {
    demo.server.reset();
    const result = await gateway.executeOperation({ query: '{ topMembers { id email loyaltyTier } }' });
    expect(result.body.kind === 'single' && result.body.singleResult.data).toEqual({
      topMembers: [
        { id: '3', email: personAt(world, 2).email, loyaltyTier: 'gold' },
        { id: '1', email: personAt(world, 0).email, loyaltyTier: 'silver' },
        { id: '2', email: personAt(world, 1).email, loyaltyTier: 'silver' },
      ],
    });
    expect(demo.server.statements).toHaveLength(1);
  });
});
