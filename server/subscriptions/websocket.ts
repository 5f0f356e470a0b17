import type { IncomingMessage, Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { isAuthenticationFailure } from '../auth/authenticate.ts';
import type { Principal } from '../auth/scopes.ts';
import { OperationContext } from './context.ts';
import { prepareOperation, presentErrors, presentResult, tooManyOnConnection } from './operation.ts';
import type { TransportOptions } from './index.ts';

/**
 * WebSocket "Try Again Later": closes a client that does not read fast enough, or whose token
 * cannot be verified right now (the graphql-ws client reconnects).
 */
const TRY_AGAIN_LATER = 1013;
/** A dropped client that never reads never takes the close frame either: its socket is destroyed after this. */
const CLOSE_GRACE_MS = 1000;

interface Extra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  principal: Principal | null;
}

/**
 * GraphQL subscriptions over WebSocket (the `graphql-transport-ws` protocol of graphql-ws) at
 * `path` on the HTTP server. graphql-ws runs the protocol; this file gives it our socket: the
 * credentials (`connectionParams.authorization`, else the upgrade request's `Authorization`
 * header) checked once per connection, each subscribe checked as /graphql checks a query, a
 * ping every `keepAliveMs` (a client that has not answered the previous one is cut), and sends
 * that never wait for the client: a socket whose unsent bytes pass `maxBufferedBytes` is closed
 * (1013) instead of buffering without bound.
 */
export function webSocketTransport(httpServer: Server, path: string, schema: GraphQLSchema, options: TransportOptions): { close(): Promise<void> } {
  const { security, limits, logger } = options;
  const wss = new WebSocketServer({ server: httpServer, path, handleProtocols, maxPayload: limits.maxMessageBytes });
  const protocol = makeServer<Record<string, unknown> | undefined, Extra>({
    schema,
    async onConnect(ctx) {
      const header = authorizationOf(ctx.connectionParams) ?? ctx.extra.request.headers.authorization;
      const result = await security.authenticate(header, ctx.extra.request.socket.remoteAddress);
      if (isAuthenticationFailure(result)) {
        // 4401 as graphql-ws defines it (the client does not retry); 1013 when tokens cannot be verified for now.
        ctx.extra.socket.close(result.status === 401 ? CloseCode.Unauthorized : TRY_AGAIN_LATER, result.message.slice(0, 123));
        return false;
      }
      ctx.extra.principal = result;
      return true;
    },
    async onSubscribe(ctx, _id, payload) {
      // This operation is already among them.
      if (Object.keys(ctx.subscriptions).length > limits.perConnection) return [tooManyOnConnection(limits.perConnection)];
      const principal = ctx.extra.principal!;
      const prepared = await prepareOperation(schema, payload, principal, security);
      if (Array.isArray(prepared)) return prepared;
      return { schema, ...prepared, contextValue: new OperationContext(options.context, principal, prepared.operationName) };
    },
    onError: (_ctx, _id, _payload, errors) => presentErrors(errors),
    onNext: (_ctx, _id, _payload, args, result) => presentResult(result, args.contextValue as OperationContext),
  });

  wss.on('connection', (socket, request) => {
    let answered = true;
    const keepAlive = setInterval(() => {
      if (!answered) return socket.terminate();
      answered = false;
      socket.ping();
    }, limits.keepAliveMs);
    socket.on('pong', () => (answered = true));
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      options.onDropped('websocket');
      logger.warn({ subscriptions: { transport: 'websocket', bufferedBytes: socket.bufferedAmount, limit: limits.maxBufferedBytes } }, 'slow subscriber dropped');
      socket.close(TRY_AGAIN_LATER, `Too slow: more than ${limits.maxBufferedBytes} bytes waiting to be sent.`);
      setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
    };
    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        // Never waits for the client: graphql-ws would stop reading this operation's events while
        // the socket is full, and they would pile up unseen in its stream instead.
        send: async (data) => {
          if (socket.readyState !== socket.OPEN || dropped) return;
          socket.send(data);
          if (socket.bufferedAmount > limits.maxBufferedBytes) drop();
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            handle(String(data)).catch((error: unknown) => {
              logger.error({ err: error }, 'subscription message failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket, request, principal: null },
    );
    socket.once('close', (code, reason) => {
      clearInterval(keepAlive);
      void closed(code, String(reason));
    });
  });

  return {
    close: async () => {
      for (const client of wss.clients) {
        client.close(1001, 'Server stopping');
        setTimeout(() => client.terminate(), CLOSE_GRACE_MS).unref();
      }
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** `Authorization` as `connectionParams` carry it (browsers cannot set headers on a WebSocket): `authorization` or `Authorization`. */
function authorizationOf(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}
