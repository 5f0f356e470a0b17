import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

/**
 * The routes the server answers (app.ts mounts them; a new one belongs here too), as `http_route`
 * labels: a path matches one exactly (`:name` is one segment, never labelled, since the Mailchimp
 * webhook's segment is its secret); anything else is `(unmatched)`, so a scanner's paths cannot
 * grow the series.
 */
export const ROUTES = [
  '/graphql',
  '/graphql/stream',
  '/healthz',
  '/readyz',
  '/metrics',
  '/webhooks/hubspot',
  '/webhooks/mailchimp/:secret',
  '/intake/events',
  '/demo/orders',
  '/explorer/:name',
] as const;
const MATCHERS = ROUTES.map((route) => ({ route, pattern: new RegExp(`^${route.replace(/:\w+/g, '[^/]+')}/?$`) }));
/** The semantic conventions' known methods; any other is `_OTHER`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** Responses the GraphQL layer logs itself. */
const loggedByGraphQL = new WeakSet<Response>();

/** The bounded route label of a request path. */
export function routeOf(path: string): string {
  return MATCHERS.find(({ pattern }) => pattern.test(path))?.route ?? '(unmatched)';
}

/**
 * First middleware of the app: gives every response its `x-request-id` (the caller's when valid),
 * observes `http_server_request_duration_seconds` for every response, refused ones included, and
 * writes a line for each refused (4xx) or failed (5xx) response that the GraphQL layer did not log
 * itself: method, route, status, duration and request id, never a header, the path's parameters
 * or the body.
 */
export function httpObservability(metrics: Metrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const given = req.get('x-request-id');
    const requestId = given && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    res.once('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const method = METHODS.has(req.method) ? req.method : '_OTHER';
      // originalUrl: a router mounted on a prefix rewrites req.url while it runs.
      const route = routeOf(req.originalUrl.split('?')[0]!);
      metrics.httpRequest(method, route, res.statusCode, seconds);
      if (res.statusCode < 400 || loggedByGraphQL.has(res)) return;
      const line = { requestId, method, route, status: res.statusCode, durationMs: Math.round(seconds * 10_000) / 10 };
      if (res.statusCode < 500) logger.info(line, 'request refused');
      else logger.warn(line, 'request failed');
    });
    next();
  };
}

/**
 * The request's id, for the GraphQL layer: from here on it writes the request's line itself
 * (`graphql request`), so the HTTP layer does not write a second one.
 */
export function graphqlRequestId(res: Response): string {
  loggedByGraphQL.add(res);
  return res.locals.requestId as string;
}
