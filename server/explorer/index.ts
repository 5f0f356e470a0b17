import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { createHash } from 'node:crypto';
import { Router, type Request } from 'express';
import { isLandingPageRequest } from '../auth/authenticate.ts';
import { readVendorFiles } from './vendor.ts';

/** What GET /graphql shows a browser: Apollo Sandbox (from Apollo's CDN), the local GraphiQL, or nothing. */
export type ExplorerMode = 'sandbox' | 'graphiql' | 'none';

/** Where the Sandbox page sends the browser when Apollo's CDN did not load. */
export const GRAPHIQL_FALLBACK_PATH = '/graphql?explorer=graphiql';

/** Which page a request gets: 'graphiql' in that mode, or in sandbox mode when the fallback asks for it. */
export function explorerPageOf(req: Request, mode: ExplorerMode): 'sandbox' | 'graphiql' | null {
  if (mode === 'none' || req.path !== '/graphql' || !isLandingPageRequest(req)) return null;
  return mode === 'graphiql' || req.query.explorer === 'graphiql' ? 'graphiql' : 'sandbox';
}

// Scripts are files, not inline: the page's policy runs scripts from this origin only.
const START_JS = `'use strict';
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({
      url: new URL('/graphql', location.href).href,
      // Subscriptions over the WebSocket at the same path (graphql-transport-ws).
      wsClient: graphqlWs.createClient({ url: new URL('/graphql', location.href).href.replace(/^http/, 'ws'), lazy: true }),
    }),
    defaultEditorToolsVisibility: 'headers',
  }),
);
`;

// Apollo's page creates window.EmbeddedSandbox from its CDN script; the load event fires after that
// script ran or failed, so its absence then means the CDN is unreachable (offline, blocked).
const FALLBACK_JS = `'use strict';
window.addEventListener('load', () => {
  if (typeof window.EmbeddedSandbox === 'undefined') location.replace(${JSON.stringify(GRAPHIQL_FALLBACK_PATH)});
});
`;

const GRAPHIQL_HTML = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width,initial-scale=1" />
    <title>Customer 360 · GraphiQL</title>
    <link rel="stylesheet" href="/explorer/graphiql.css" />
    <style>body { margin: 0; } #graphiql { height: 100dvh; }</style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="/explorer/react.js"></script>
    <script src="/explorer/react-dom.js"></script>
    <script src="/explorer/graphiql.js"></script>
    <script src="/explorer/graphql-ws.js"></script>
    <script src="/explorer/start.js"></script>
  </body>
</html>
`;

export interface Explorer {
  /** GET /explorer/* (the GraphiQL files) and the GraphiQL page at GET /graphql; mount before /graphql. */
  readonly routes: Router;
  /** Apollo's landing page: the Sandbox with the GraphiQL fallback, or none. */
  readonly landingPage: ApolloServerPlugin;
}

/**
 * The explorer of GET /graphql in `mode`. The GraphiQL files are read once, here, and served from
 * this origin (no CDN), whatever the mode but 'none'. Throws when they are missing.
 */
export function createExplorer(mode: ExplorerMode): Explorer {
  const routes = Router();
  if (mode === 'none') return { routes, landingPage: ApolloServerPluginLandingPageDisabled() };
  const files = readVendorFiles();
  files.set('start.js', { body: Buffer.from(START_JS), type: 'text/javascript; charset=utf-8' });
  files.set('fallback.js', { body: Buffer.from(FALLBACK_JS), type: 'text/javascript; charset=utf-8' });
  // Revalidated each time (cache-control no-cache; the names carry no version): each file's ETag is
  // made once, here, and Express answers 304 on it (the app makes no ETag per response).
  const tagged = new Map([...files].map(([name, file]) => [name, { ...file, etag: etagOf(file.body) }]));
  const html = Buffer.from(GRAPHIQL_HTML);
  const page = { body: html, etag: etagOf(html) };
  routes.get('/explorer/:name', (req, res, next) => {
    const file = tagged.get(req.params.name);
    if (!file) return next();
    res.set({ 'cache-control': 'no-cache', etag: file.etag }).type(file.type).send(file.body);
  });
  routes.get('/graphql', (req, res, next) => {
    if (explorerPageOf(req, mode) !== 'graphiql') return next();
    res.set({ 'cache-control': 'no-cache', etag: page.etag }).type('html').send(page.body);
  });
  return { routes, landingPage: mode === 'sandbox' ? sandboxWithFallback() : ApolloServerPluginLandingPageDisabled() };
}

/** A strong ETag for a body served as it is. */
function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Apollo's own Sandbox page, with the script that opens the local GraphiQL when Apollo's CDN is out of reach. */
function sandboxWithFallback(): ApolloServerPlugin {
  const sandbox = ApolloServerPluginLandingPageLocalDefault({ embed: true });
  return {
    async serverWillStart(service) {
      const listener = await sandbox.serverWillStart?.(service);
      const render = listener?.renderLandingPage;
      if (!render) throw new Error('Apollo Server no longer renders the Sandbox page from its landing page plugin');
      return {
        async renderLandingPage() {
          const { html } = await render();
          return {
            html: async () => {
              const page = typeof html === 'string' ? html : await html();
              return page.replace('</body>', '  <script src="/explorer/fallback.js"></script>\n  </body>');
            },
          };
        },
      };
    },
  };
}
