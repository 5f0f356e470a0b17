import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplorerMode } from '../../server/explorer/index.ts';
import { testSecurity } from '../auth/helpers.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

let db: TestDatabase;
const servers = {} as Record<ExplorerMode, TestServer>;
beforeAll(async () => {
  db = await createDemoDatabase({ seed: 360, customers: 5, asOf: TEST_AS_OF });
  // GraphiQL in production, where nothing is anonymous; the Sandbox as outside production by default.
  servers.graphiql = await startTestServer(db, {}, { production: true, security: testSecurity({ explorer: 'graphiql' }) });
  servers.sandbox = await startTestServer(db);
  servers.none = await startTestServer(db, {}, { security: { explorer: 'none' } });
});
afterAll(async () => {
  await Promise.all(Object.values(servers).map((server) => server.close()));
  await db?.close();
});

const page = (server: TestServer, path = '/graphql') => fetch(`${server.url}${path}`, { headers: { accept: 'text/html' } });

/** The Content-Security-Policy header as directive name to its sources. */
function policy(response: Response): Map<string, string[]> {
  const header = response.headers.get('content-security-policy') ?? '';
  return new Map(
    header
      .split(';')
      .map((part) => part.trim().split(/\s+/))
      .map(([name = '', ...sources]) => [name, sources]),
  );
}

/** Every script and stylesheet the page loads. */
const loadedBy = (html: string) => [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);

describe('the local GraphiQL', () => {
  it('is the page of GET /graphql with EXPLORER=graphiql, loading only files of this origin that its CSP admits', async () => {
    const response = await page(servers.graphiql);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toContain('<div id="graphiql">');
    expect(loadedBy(html)).toEqual([
      '/explorer/graphiql.css',
      '/explorer/react.js',
      '/explorer/react-dom.js',
      '/explorer/graphiql.js',
      '/explorer/graphql-ws.js',
      '/explorer/start.js',
    ]);
    const csp = policy(response);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('style-src')).toEqual(["'self'", "'unsafe-inline'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(response.headers.get('content-security-policy')).not.toMatch(/https?:/);
  });

  it('serves each of its files from this origin with its content type, without credentials, while queries still need them', async () => {
    const expected: Record<string, { type: string; holds: string }> = {
      '/explorer/graphiql.css': { type: CSS, holds: '.graphiql-container' },
      '/explorer/react.js': { type: JS, holds: 'react.production.min.js' },
      '/explorer/react-dom.js': { type: JS, holds: 'react-dom.production.min.js' },
      '/explorer/graphiql.js': { type: JS, holds: '.GraphiQL=' },
      '/explorer/graphql-ws.js': { type: JS, holds: '.graphqlWs=' },
      // Queries over HTTP, subscriptions over the WebSocket at the same path.
      '/explorer/start.js': { type: JS, holds: "wsClient: graphqlWs.createClient({ url: new URL('/graphql', location.href).href.replace(/^http/, 'ws'), lazy: true })" },
    };
    for (const [path, { type, holds }] of Object.entries(expected)) {
      const response = await fetch(`${servers.graphiql.url}${path}`);
      expect({ path, status: response.status, type: response.headers.get('content-type') }).toEqual({ path, status: 200, type });
      expect(await response.text()).toContain(holds);
    }
    expect((await servers.graphiql.query('{ __typename }')).status).toBe(401);
  });

  it('answers a repeated request for a file with 304 on its ETag', async () => {
    const first = await fetch(`${servers.graphiql.url}/explorer/graphiql.js`);
    await first.arrayBuffer();
    // node:http, since fetch adds `cache-control: no-cache` to a conditional request (a forced reload).
    const again = await new Promise<number>((resolve, reject) =>
      get(`${servers.graphiql.url}/explorer/graphiql.js`, { headers: { 'if-none-match': first.headers.get('etag')! } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject),
    );
    expect(again).toBe(304);
    expect((await fetch(`${servers.graphiql.url}/explorer/nothing.js`)).status).toBe(404);
  });

  it("is where the Sandbox page sends the browser when Apollo's CDN cannot be loaded", async () => {
    const sandbox = await page(servers.sandbox);
    const html = await sandbox.text();
    expect(html).toContain('https://embeddable-sandbox.cdn.apollographql.com/');
    expect(html).toContain('<script src="/explorer/fallback.js"></script>');
    expect(policy(sandbox).get('script-src')).toContain("'self'");
    const fallback = await fetch(`${servers.sandbox.url}/explorer/fallback.js`);
    expect(fallback.headers.get('content-type')).toBe(JS);
    expect(await fallback.text()).toContain('if (typeof window.EmbeddedSandbox === \'undefined\') location.replace("/graphql?explorer=graphiql")');

    const offline = await page(servers.sandbox, '/graphql?explorer=graphiql');
    expect(offline.status).toBe(200);
    expect(loadedBy(await offline.text())).toContain('/explorer/graphiql.js');
    expect(policy(offline).get('script-src')).toEqual(["'self'"]);
  });

  it('is not served, nor its files, with EXPLORER=none', async () => {
    const response = await page(servers.none);
    expect(await response.text()).not.toMatch(/graphiql|EmbeddedSandbox/i);
    expect(policy(response).get('default-src')).toEqual(["'none'"]);
    expect((await fetch(`${servers.none.url}/explorer/graphiql.js`)).status).toBe(404);
    expect((await page(servers.none, '/graphql?explorer=graphiql')).headers.get('content-type')).not.toContain('text/html');
  });
});
