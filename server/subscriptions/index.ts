import type { Server } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import { GraphQLError, OperationTypeNode, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { ChangeFeed } from '../../push/signals.ts';
import type { Security } from '../auth/index.ts';
import type { ContextParts } from './context.ts';
import { serverSentEventsTransport } from './sse.ts';
import { StreamRegistry, type StreamLimits } from './streams.ts';
import { webSocketTransport } from './websocket.ts';

/** Limits of the subscription transports; docs/push-subscriptions.md lists their settings. */
export interface SubscriptionLimits extends StreamLimits {
  /** Subscriptions one WebSocket connection may hold open (SUBSCRIPTION_MAX_PER_CONNECTION). */
  readonly perConnection: number;
  /** Bytes a client may leave unread (sent, not yet taken by its socket) before it is dropped (SUBSCRIPTION_MAX_BUFFERED_BYTES). */
  readonly maxBufferedBytes: number;
  /** A WebSocket ping, or an SSE comment line, every this many ms (SUBSCRIPTION_KEEPALIVE_MS); a WebSocket that misses a pong is cut. */
  readonly keepAliveMs: number;
  /** The largest WebSocket message a client may send (the document limit plus room for variables). */
  readonly maxMessageBytes: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: Omit<SubscriptionLimits, 'maxMessageBytes'> = {
  perClient: 20,
  perConnection: 10,
  maxPending: 100,
  maxBufferedBytes: 1024 * 1024,
  keepAliveMs: 12_000,
};

/** `ServerOptions.push`: the feed subscriptions listen to, and the limits that differ from the defaults. */
export interface PushOptions extends Partial<Omit<SubscriptionLimits, 'maxMessageBytes'>> {
  readonly feed: ChangeFeed;
  /** Told of each client dropped for reading too slowly (metrics). */
  readonly onDropped?: (transport: 'websocket' | 'sse') => void;
}

/** What each transport is given. */
export interface TransportOptions {
  readonly security: Security['subscriptions'];
  readonly limits: SubscriptionLimits;
  readonly context: ContextParts;
  readonly logger: Logger;
  onDropped(transport: 'websocket' | 'sse'): void;
}

export interface Subscriptions {
  /** The SSE endpoint's handler, for `app.use('/graphql/stream', express.json(...), handler)` (before /graphql's own middleware). */
  readonly sse: RequestHandler;
  /** Ends every subscription when Apollo Server stops (each completes, then WebSockets close with 1001); list it before the HTTP drain plugin. */
  readonly plugin: ApolloServerPlugin;
  /** The open subscriptions, per client and in all. */
  readonly streams: StreamRegistry;
}

/**
 * GraphQL subscriptions (docs/push-subscriptions.md): the WebSocket transport on `httpServer`
 * at `path`, the SSE handler to mount, both fed by `push.feed` and checked as /graphql is.
 */
export function startSubscriptions(
  httpServer: Server,
  path: string,
  schema: GraphQLSchema,
  push: PushOptions,
  parts: Omit<ContextParts, 'streams'> & { readonly security: Security['subscriptions'] },
): Subscriptions {
  const { feed, onDropped, ...overrides } = push;
  const limits: SubscriptionLimits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...overrides, maxMessageBytes: parts.security.limits.maxDocumentBytes + 64 * 1024 };
  const streams = new StreamRegistry(feed, limits);
  const options: TransportOptions = {
    security: parts.security,
    limits,
    context: { ...parts, streams },
    logger: parts.logger,
    onDropped: (transport) => onDropped?.(transport),
  };
  const ws = webSocketTransport(httpServer, path, schema, options);
  const sse = serverSentEventsTransport(schema, options);
  return {
    sse: sse.handler,
    streams,
    plugin: {
      async serverWillStart() {
        return {
          async drainServer() {
            // Runs before ApolloServerPluginDrainHttpServer's (listed first), which ends every socket
            // without a request in flight one macrotask after stop begins, an upgraded WebSocket
            // included: each operation's `complete` and each socket's close frame must be written
            // by then, so this turn is queued first.
            const ending = streams.closeAll();
            await new Promise((resolve) => setImmediate(resolve));
            await ending;
            const closing = ws.close();
            await sse.close();
            await closing;
          },
        };
      },
    },
  };
}

/**
 * Answers a subscription sent to POST /graphql with a 400 saying where subscriptions are served
 * (or that they are off), instead of executing it as a query with no event to resolve.
 */
export function subscriptionsOverHttp(enabled: boolean): ApolloServerPlugin {
  const message = enabled
    ? 'Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql and Server-Sent Events at /graphql/stream, not by POST /graphql.'
    : 'Subscriptions are not enabled on this server.';
  return {
    async requestDidStart() {
      return {
        didResolveOperation({ operation }) {
          if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return Promise.resolve();
          return Promise.reject(new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } }));
        },
      };
    },
  };
}
