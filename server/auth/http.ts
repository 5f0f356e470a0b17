import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { ErrorCode } from '../../resolvers/errors.ts';
import { explorerPageOf, type ExplorerMode } from '../explorer/index.ts';
import { requestParts } from './persisted.ts';

/** What Apollo's Sandbox page loads (see @apollo/server's landingPage/default): scripts, styles, fonts, frames. */
const APOLLO_CDN = [
  'https://apollo-server-landing-page.cdn.apollographql.com',
  'https://embeddable-sandbox.cdn.apollographql.com',
  'https://embeddable-explorer.cdn.apollographql.com',
];
const APOLLO_FRAMES = ['https://sandbox.embed.apollographql.com', 'https://explorer.embed.apollographql.com'];

/**
 * Security headers on every response (helmet): HSTS, nosniff, no framing, no referrer, and a
 * Content-Security-Policy that lets nothing load (`default-src 'none'`: responses are JSON). The
 * Sandbox page, where it is served, gets a policy that admits Apollo's CDN, its frames and Google
 * Fonts; the page also sets its own nonce-based policy, and browsers enforce both. The local
 * GraphiQL page loads from this origin only.
 *
 * Helmet's middlewares run once, at start-up, against a recording response; each request gets the
 * recorded headers in one step. Every header here is fixed (no directive depends on the request),
 * so the result is helmet's own, without its dozen middlewares per request.
 */
export function securityHeaders(options: { explorer: ExplorerMode }): RequestHandler[] {
  const base = helmet({ contentSecurityPolicy: false, referrerPolicy: { policy: 'no-referrer' } });
  const api = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  });
  const sandbox = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      // The page's inline scripts carry a nonce its own policy checks; this header cannot know it.
      scriptSrc: ["'self'", "'unsafe-inline'", ...APOLLO_CDN],
      styleSrc: ["'self'", "'unsafe-inline'", ...APOLLO_CDN, 'https://fonts.googleapis.com'],
      fontSrc: ["'self'", 'https://fonts.gstatic.com'],
      imgSrc: ["'self'", 'data:', ...APOLLO_CDN],
      manifestSrc: APOLLO_CDN,
      frameSrc: APOLLO_FRAMES,
      connectSrc: ["'self'", 'https://*.apollographql.com'],
      frameAncestors: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
    },
  });
  const graphiql = helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      // GraphiQL's dialogs inject <style> elements (Radix's scroll lock) and its CSS inlines fonts and icons.
      styleSrc: ["'self'", "'unsafe-inline'"],
      fontSrc: ["'self'", 'data:'],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
    },
  });
  const headers = { api: recordHeaders(base, api), sandbox: recordHeaders(base, sandbox), graphiql: recordHeaders(base, graphiql) };
  return [
    (req, res, next) => {
      const page = explorerPageOf(req, options.explorer);
      headers[page ?? 'api'](res);
      next();
    },
  ];
}

type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Runs `middlewares` against a response that only records what they set and remove, and returns
 * a function that does the same to a real response, in the same order. Throws at start-up if a
 * middleware fails, does not call `next` at once, sets anything but a string, or calls any other
 * method of the response.
 */
function recordHeaders(...middlewares: NodeMiddleware[]): (res: Response) => void {
  const steps: Array<{ name: string; value?: string }> = [];
  const recorder = {
    setHeader(name: string, value: string) {
      if (typeof value !== 'string') throw new Error(`expected a fixed string for the ${name} header, got ${typeof value}`);
      steps.push({ name, value });
      return recorder;
    },
    removeHeader(name: string) {
      steps.push({ name });
    },
  };
  for (const middleware of middlewares) {
    let done = false;
    middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (error) => {
      if (error) throw new Error('a security header middleware failed at start-up', { cause: error });
      done = true;
    });
    if (!done) throw new Error('expected a security header middleware to finish at once, as fixed headers do');
  }
  return (res) => {
    for (const { name, value } of steps) {
      if (value === undefined) res.removeHeader(name);
      else res.setHeader(name, value);
    }
  };
}

/**
 * CORS for browsers: only the configured origins get `Access-Control-Allow-Origin`, and never
 * `Access-Control-Allow-Credentials`: callers authenticate with a bearer token, so a browser's
 * cookies are neither needed nor honoured (a page on another origin cannot ride a session).
 */
export function corsPolicy(origins: readonly string[]): RequestHandler {
  return cors({
    origin: [...origins],
    credentials: false,
    methods: ['GET', 'POST'],
    allowedHeaders: [
      'authorization',
      'content-type',
      'apollo-require-preflight',
      'x-apollo-operation-name',
      'apollographql-client-name',
      'apollographql-client-version',
      'x-request-id',
      'x-time-budget-ms',
    ],
    exposedHeaders: ['x-request-id', 'retry-after', 'server-timing'],
    maxAge: 600,
  });
}

/** The document text may be at most `maxBytes` (413 OPERATION_LIMIT_EXCEEDED otherwise), before it is parsed. */
export function documentSizeLimit(maxBytes: number): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const documents = Array.isArray(req.body) ? req.body.map((item) => (item as { query?: unknown })?.query) : [requestParts(req).query];
    for (const query of documents) {
      const bytes = typeof query === 'string' ? Buffer.byteLength(query) : 0;
      if (bytes > maxBytes) {
        res.status(413).json({
          errors: [
            {
              message: `Document size limit of ${maxBytes} bytes exceeded, found ${bytes}.`,
              extensions: { code: ErrorCode.OperationLimitExceeded, limit: 'documentSize' },
            },
          ],
        });
        return;
      }
    }
    next();
  };
}

/**
 * Errors raised before Apollo (a body that is not JSON or too large) as GraphQL-shaped JSON,
 * instead of Express's HTML page with a stack trace; anything else is masked and logged.
 */
export function httpErrors(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const { status, type } = error as { status?: number; type?: string };
    if (type === 'entity.too.large') return void res.status(413).json(refusal('Request body too large.', 'BAD_REQUEST'));
    if (status && status >= 400 && status < 500) return void res.status(status).json(refusal('Malformed request body.', 'BAD_REQUEST'));
    logger.error({ err: error }, 'unexpected HTTP error');
    res.status(500).json(refusal('Internal server error.', ErrorCode.InternalServerError));
  };
}

function refusal(message: string, code: string) {
  return { errors: [{ message, extensions: { code } }] };
}
