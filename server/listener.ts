import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { Context } from './context.ts';

/**
 * A plugin whose hooks keep nothing of a request's own: one listener serves every request, where
 * Apollo's usual `requestDidStart` would build a new one (and its closures) per request.
 */
export function everyRequest(listener: GraphQLRequestListener<Context>): ApolloServerPlugin<Context> {
  return { requestDidStart: async () => listener };
}
