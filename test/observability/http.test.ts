import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeOf } from '../../server/observability/index.ts';
import { startObservedServer, valueOf, type ObservedServer } from './support.ts';

let server: ObservedServer;

beforeAll(async () => {
  server = await startObservedServer();
});
afterAll(async () => {
  await server?.close();
});

const METRIC = 'http_server_request_duration_seconds_count';
const count = (text: string, route: string, status: string, method = 'POST') =>
  valueOf(text, METRIC, { http_request_method: method, http_route: route, http_response_status_code: status });
const graphql = (init: RequestInit) => fetch(`${server.url}/graphql`, { method: 'POST', ...init });

describe('HTTP requests', () => {
  it('are counted by method, route and status, refused ones included, each refusal with a log line of its own', async () => {
    const before = (await server.scrape()).text;
    const token = 'definitely-not-a-key-0123456789';
    const responses = {
      ok: await graphql({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'query Ok { __typename }' }) }),
      unauthorized: await graphql({ headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"query":"{ __typename }"}' }),
      tooLarge: await graphql({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(300_000)}` }) }),
      badType: await graphql({ headers: { 'content-type': 'text/plain' }, body: '{ __typename }' }),
      unknown: await fetch(`${server.url}/wp-login.php`),
      webhook: await fetch(`${server.url}/webhooks/mailchimp/the-secret-segment`),
    };
    expect(Object.fromEntries(Object.entries(responses).map(([name, r]) => [name, r.status]))).toEqual({
      ok: 200,
      unauthorized: 401,
      tooLarge: 413,
      badType: 400,
      unknown: 404,
      webhook: 404,
    });
    const after = (await server.scrape()).text;
    const grew = (route: string, status: string, method = 'POST') => count(after, route, status, method) - count(before, route, status, method);
    expect([grew('/graphql', '200'), grew('/graphql', '401'), grew('/graphql', '413'), grew('/graphql', '400')]).toEqual([1, 1, 1, 1]);
    expect(grew('(unmatched)', '404', 'GET')).toBe(1);
    expect(grew('/webhooks/mailchimp/:secret', '404', 'GET')).toBe(1);
    expect(after).not.toContain('the-secret-segment');
    expect(after).not.toContain('wp-login');

    // Every response has a request id; each refusal is logged once with it, the GraphQL answer is not.
    const ids = Object.values(responses).map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(/^[\w.-]{1,64}$/);
    const refused = server.logs.filter((line) => line.msg === 'request refused' && ids.includes(line.requestId));
    expect(refused.map(({ method, route, status }) => ({ method, route, status }))).toEqual([
      { method: 'POST', route: '/graphql', status: 401 },
      { method: 'POST', route: '/graphql', status: 413 },
      { method: 'POST', route: '/graphql', status: 400 },
      { method: 'GET', route: '(unmatched)', status: 404 },
      { method: 'GET', route: '/webhooks/mailchimp/:secret', status: 404 },
    ]);
    expect(server.logs.filter((line) => line.requestId === responses.ok.headers.get('x-request-id')).map((line) => line.msg)).toEqual(['graphql request']);
    const text = JSON.stringify(server.logs);
    expect(text).not.toContain(token);
    expect(text).not.toContain('the-secret-segment');
  });

  it('label a path by its declared route only', () => {
    expect(routeOf('/graphql')).toBe('/graphql');
    expect(routeOf('/graphql/')).toBe('/graphql');
    expect(routeOf('/webhooks/mailchimp/abc')).toBe('/webhooks/mailchimp/:secret');
    expect(routeOf('/webhooks/mailchimp/abc/def')).toBe('(unmatched)');
    expect(routeOf('/graphqlx')).toBe('(unmatched)');
  });
});
