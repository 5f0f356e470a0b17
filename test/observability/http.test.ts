import diagnostics from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personAt } from '../../sandbox/demo/people.ts';
import { routeOf } from '../../server/observability/index.ts';
import { startObservedServer, valueOf, world, type ObservedServer } from './support.ts';

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

describe("a GraphQL request's audit and request lines", () => {
  it('are written once its response is, so the client does not wait for them, from memory too', async () => {
    const person = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).find((p) => p.customerId)!;
    // How many lines had been written when each response's end() was called.
    const linesAtEnd: number[] = [];
    const onStart = (message: unknown) => {
      const { response } = message as { response: ServerResponse };
      const end = response.end;
      response.end = function (this: ServerResponse, ...args: unknown[]) {
        linesAtEnd.push(server.logs.length);
        return (end as (...rest: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['end'];
    };
    diagnostics.subscribe('http.server.request.start', onStart);
    try {
      // The first reads its sources, the second the shared cache (and is remembered), the third is answered from memory.
      for (const answered of ['executed', 'executed', 'remembered']) {
        const before = server.logs.length;
        linesAtEnd.length = 0;
        const { body } = await server.query(`query Lines { customer(id: "${person.customerId}") { id } }`);
        expect(body.errors, answered).toBeUndefined();
        const written = server.logs.map((line, index) => ({ line, index })).slice(before);
        const request = written.find(({ line }) => line.msg === 'graphql request');
        const audit = written.find(({ line }) => line.audit !== undefined);
        expect(request?.line.remembered === true ? 'remembered' : 'executed').toBe(answered);
        expect(linesAtEnd, answered).toHaveLength(1);
        expect(request!.index, answered).toBeGreaterThanOrEqual(linesAtEnd[0]!);
        expect(audit!.index, answered).toBeGreaterThanOrEqual(linesAtEnd[0]!);
      }
    } finally {
      diagnostics.unsubscribe('http.server.request.start', onStart);
    }
  });
});
