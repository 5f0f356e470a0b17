import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

/** The query the hello-world answers. */
export const HELLO_QUERY = '{ hello }';

/**
 * Apollo Server's own hello world, as its getting-started guide writes it (one field, one resolver,
 * `startStandaloneServer`, every default, those of NODE_ENV=production under `npm run bench`): the
 * yardstick for how fast a GraphQL server can answer on this machine, run in the benchmark's main
 * thread like the server under test.
 */
export async function startHelloWorld(): Promise<{ url: string; close(): Promise<void> }> {
  const server = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  return { url, close: () => server.stop() };
}
