import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { Request, RequestHandler, Response } from 'express';
import { AfterResponse } from './after-response.ts';
import type { Context } from './context.ts';

/**
 * Apollo Server behind Express, as `@as-integrations/express5` mounts it, without the work that
 * integration does for every request and this server does not need: Node's legacy `url.parse` of
 * the whole URL for its query string, and Express's `res.send`, which re-derives the content type,
 * checks freshness for a 304 and converts the body, for answers that are all `no-store` JSON.
 */
export function graphqlHandler(server: ApolloServer<Context>, context: (http: { req: Request; res: Response; afterResponse: AfterResponse }) => Promise<Context>): RequestHandler {
  server.assertStarted('graphqlHandler()');
  return async (req, res) => {
    // The request's log lines and metric sample (whenAnswered), once the client has its answer.
    const afterResponse = new AfterResponse();
    try {
      const headers = new HeaderMap();
      for (const key in req.headers) {
        const value = req.headers[key];
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const query = req.url.indexOf('?');
      const response = await server.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method.toUpperCase(), headers, search: query === -1 ? '' : req.url.slice(query), body: req.body as unknown },
        context: () => context({ req, res, afterResponse }),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } finally {
      afterResponse.run();
    }
  };
}
