import type { Request, RequestHandler, Response } from 'express';
import type { ExecutionResult, GraphQLSchema } from 'graphql';
import { createHandler } from 'graphql-sse';
import { isAuthenticationFailure, refuseAuthentication } from '../auth/authenticate.ts';
import type { Principal } from '../auth/scopes.ts';
import { OperationContext } from './context.ts';
import { prepareOperation, presentResult } from './operation.ts';
import type { TransportOptions } from './index.ts';

/** How long server stop lets open streams write their `complete` before cutting them. */
const CLOSE_GRACE_MS = 1000;

interface RequestContext {
  readonly principal: Principal;
}

/**
 * GraphQL subscriptions over Server-Sent Events (graphql-sse's distinct connections mode: one
 * POST with `Accept: text/event-stream` per operation). graphql-sse runs the protocol; this file
 * writes its stream: the request's `Authorization` checked first (401 or 503 as /graphql answers
 * them), each operation checked as /graphql checks a query (a refusal is the stream's only
 * event), a comment line every `keepAliveMs`, and writes that never wait for the client: a
 * response whose unsent bytes pass `maxBufferedBytes` is cut. The single connection mode
 * (reservations by token) is off: its tokens are not tied to a principal.
 */
export function serverSentEventsTransport(schema: GraphQLSchema, options: TransportOptions): { handler: RequestHandler; close(): Promise<void> } {
  const { security, limits, logger } = options;
  const open = new Set<Response>();
  const handle = createHandler<Request, RequestContext, Record<PropertyKey, unknown>>({
    schema,
    // No stream token: every request is a distinct connection.
    authenticate: () => null,
    context: (req, params) => new OperationContext(options.context, req.context.principal, params.operationName ?? undefined) as unknown as Record<PropertyKey, unknown>,
    async onSubscribe(req, params) {
      const { principal } = req.context;
      const prepared = await prepareOperation(schema, params, principal, security);
      if (Array.isArray(prepared)) return { errors: prepared };
      return { schema, ...prepared, contextValue: new OperationContext(options.context, principal, prepared.operationName) as unknown as Record<PropertyKey, unknown> };
    },
    onNext: (ctx, _req, result) => presentResult(result as ExecutionResult, ctx as unknown as OperationContext) as ExecutionResult,
  });

  const handler: RequestHandler = async (req, res) => {
    const principal = await security.authenticate(req.get('authorization'), req.ip);
    if (isAuthenticationFailure(principal)) return refuseAuthentication(res, principal);
    const [body, init] = await handle({
      method: req.method,
      url: req.originalUrl,
      headers: { get: (name) => req.get(name) ?? null },
      // express.json() has parsed it (an object or an array) when the request says JSON, the only
      // kind graphql-sse reads; anything else is left for graphql-sse to refuse as not an object.
      body: () => (isObject(req.body) ? req.body : null),
      raw: req,
      context: { principal },
    });
    res.writeHead(init.status, init.statusText, init.headers);
    if (!body || typeof body === 'string') {
      res.end(body ?? undefined);
      return;
    }
    open.add(res);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), limits.keepAliveMs);
    let measuring: NodeJS.Immediate | undefined;
    const finish = () => {
      clearInterval(keepAlive);
      clearImmediate(measuring);
      open.delete(res);
      void body.return?.(undefined);
    };
    // Node holds a chunked response's writes (the socket corked) until the next tick, and a burst
    // of events is written within one: what is still unsent once the socket has had its turn is
    // what the client did not take.
    const measure = () => {
      measuring = undefined;
      if (res.destroyed || res.writableLength <= limits.maxBufferedBytes) return;
      options.onDropped('sse');
      logger.warn({ subscriptions: { transport: 'sse', bufferedBytes: res.writableLength, limit: limits.maxBufferedBytes } }, 'slow subscriber dropped');
      res.destroy();
    };
    res.once('close', finish);
    try {
      for await (const chunk of body) {
        if (!res.writable) break;
        // Never waits for the client: graphql-sse would queue the events unseen while it cannot write.
        res.write(chunk);
        if (res.writableLength > limits.maxBufferedBytes) measuring ??= setImmediate(measure);
      }
      res.end();
    } finally {
      finish();
    }
  };

  return {
    handler,
    // Subscriptions end first (server stop): each stream then sends its `complete` and ends.
    // What is left after a moment (a client that never read its last events) is cut.
    close: async () => {
      for (let waited = 0; open.size > 0 && waited < CLOSE_GRACE_MS; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const res of open) res.destroy();
    },
  };
}

function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === 'object' && value !== null;
}
