import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { startTestServer, useDemoServer, type TestServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 20, asOf: TEST_AS_OF };
const demo = useDemoServer(world);
beforeEach(() => demo.server.reset());

const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE = 'application/graphql-response+json; charset=utf-8';

interface Answer {
  status: number;
  contentType: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** One HTTP request to /graphql with exactly these headers (node:http adds no Accept of its own, unlike fetch). */
function send(method: 'GET' | 'POST', options: { params?: Record<string, string>; body?: string; headers?: Record<string, string>; server?: TestServer }): Promise<Answer> {
  const url = new URL(`${(options.server ?? demo.server).url}/graphql`);
  for (const [name, value] of Object.entries(options.params ?? {})) url.searchParams.set(name, value);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: options.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
        resolve({ status: res.statusCode!, contentType: res.headers['content-type'], headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const post = (payload: Record<string, unknown>, headers: Record<string, string> = {}, server?: TestServer) =>
  send('POST', { body: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...headers }, server });

const get = (params: Record<string, string>, headers: Record<string, string> = {}) => send('GET', { params, headers });

/** What a test compares: the whole response but its incidental headers. */
const seen = ({ status, contentType, body }: Answer) => ({ status, contentType, body });

const PREFLIGHT = { 'apollo-require-preflight': 'true' };
const AS_JSON = { accept: 'application/json' };
const AS_GRAPHQL_RESPONSE = { accept: 'application/graphql-response+json' };

/** Request errors: the request is well-formed, but GraphQL refuses it before execution. */
const REQUEST_ERRORS = [
  {
    name: 'a parse error',
    payload: { query: '{' },
    error: { message: 'Syntax Error: Expected Name, found <EOF>.', locations: [{ line: 1, column: 2 }], extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
  },
  {
    name: 'a validation error',
    payload: { query: '{ customer(id: "1") { emial } }' },
    error: {
      message: 'Cannot query field "emial" on type "Customer". Did you mean "email"?',
      locations: [{ line: 1, column: 23 }],
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    },
  },
  {
    name: 'a variable of the wrong type',
    payload: { query: 'query($id: ID!) { customer(id: $id) { id } }', variables: { id: true } },
    error: { message: 'Variable "$id" got invalid value true; ID cannot represent value: true', locations: [{ line: 1, column: 7 }], extensions: { code: 'BAD_USER_INPUT' } },
  },
  {
    name: 'a variable a custom scalar refuses',
    payload: { query: 'query($e: EmailAddress!) { customer(email: $e) { id } }', variables: { e: 'nope' } },
    error: {
      message: 'Variable "$e" got invalid value "nope"; Value is not a valid email address: nope',
      locations: [{ line: 1, column: 7 }],
      extensions: { code: 'BAD_USER_INPUT' },
    },
  },
  {
    name: 'an unknown operationName',
    payload: { query: 'query A { __typename }', operationName: 'B' },
    error: { message: 'Unknown operation named "B".', extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } },
  },
];

/** Accept headers, and the media type and status of a request error answered to each. */
const ACCEPTS = [
  { accept: 'application/json', status: 200, contentType: JSON_TYPE },
  { accept: 'application/graphql-response+json', status: 400, contentType: GRAPHQL_RESPONSE },
  // Both, the new type first, as GraphQL clients send it.
  { accept: 'application/graphql-response+json,application/json;q=0.9', status: 400, contentType: GRAPHQL_RESPONSE },
  { accept: 'application/json, application/graphql-response+json;q=0.5', status: 200, contentType: JSON_TYPE },
  // A wildcard or no header names neither type: application/json, as graphql-http's audit and Apollo have it.
  { accept: '*/*', status: 200, contentType: JSON_TYPE },
  { accept: undefined, status: 200, contentType: JSON_TYPE },
];

describe('a request error', () => {
  it.each(REQUEST_ERRORS.flatMap((error) => ACCEPTS.map((accept) => ({ ...error, ...accept }))))(
    'answers $name to Accept: $accept with $status in that media type, running nothing',
    async ({ payload, error, accept, status, contentType }) => {
      const response = await post(payload, accept === undefined ? {} : { accept });
      expect(seen(response)).toEqual({ status, contentType, body: { errors: [error] } });
      expect(demo.server.statements).toHaveLength(0);
    },
  );

  it("is still logged as the client's (`rejected`, 400) when answered 200 as application/json", async () => {
    await post({ query: '{' }, AS_JSON);
    const lines = demo.server.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === 'graphql request');
    expect(lines).toEqual([expect.objectContaining({ outcome: 'rejected', status: 400, errors: { GRAPHQL_PARSE_FAILED: 1 } })]);
  });

  it('follows the same rules on GET', async () => {
    const params = { query: 'query($id: ID!) { customer(id: $id) { id } }', variables: JSON.stringify({ id: true }) };
    const error = REQUEST_ERRORS[2]!.error;
    expect(seen(await get(params, { ...PREFLIGHT, ...AS_JSON }))).toEqual({ status: 200, contentType: JSON_TYPE, body: { errors: [error] } });
    expect(seen(await get(params, { ...PREFLIGHT, ...AS_GRAPHQL_RESPONSE }))).toEqual({ status: 400, contentType: GRAPHQL_RESPONSE, body: { errors: [error] } });
  });
});

describe('GET', () => {
  const PROFILE = { query: 'query Profile($id: ID!) { customer(id: $id) { id } }', variables: JSON.stringify({ id: '1' }), operationName: 'Profile' };

  it.each([
    { accept: 'application/json', contentType: JSON_TYPE },
    { accept: 'application/graphql-response+json', contentType: GRAPHQL_RESPONSE },
  ])('answers a query with URL-encoded variables and operationName as $accept, never to be cached', async ({ accept, contentType }) => {
    const response = await get(PROFILE, { ...PREFLIGHT, accept });
    expect(seen(response)).toEqual({
      status: 200,
      contentType,
      body: { data: { customer: { id: '1' } }, extensions: { sources: { commerce: expect.objectContaining({ status: 'live', keys: 1 }) } } },
    });
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('takes x-apollo-operation-name as its CSRF header too', async () => {
    const response = await get(PROFILE, { 'x-apollo-operation-name': 'Profile', ...AS_JSON });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ customer: { id: '1' } });
  });

  it.each([
    { accept: 'application/json', contentType: JSON_TYPE },
    { accept: 'application/graphql-response+json', contentType: GRAPHQL_RESPONSE },
  ])('refuses a request without a CSRF header 400 as $accept, whatever it asks', async ({ accept, contentType }) => {
    const response = await get(PROFILE, { accept });
    expect(response).toMatchObject({ status: 400, contentType, body: { errors: [{ extensions: { code: 'BAD_REQUEST' } }] } });
    expect(response.body.errors[0].message).toMatch(/^This operation has been blocked as a potential Cross-Site Request Forgery \(CSRF\)/);
    expect(demo.server.statements).toHaveLength(0);
  });

  it.each([
    { accept: 'application/json', contentType: JSON_TYPE },
    { accept: 'application/graphql-response+json', contentType: GRAPHQL_RESPONSE },
  ])('refuses a mutation 405 with Allow: POST as $accept, running nothing', async ({ accept, contentType }) => {
    const response = await get({ query: 'mutation { forgetCustomer(email: "a@example.com") { cacheKeysCleared } }' }, { ...PREFLIGHT, accept });
    expect(seen(response)).toEqual({
      status: 405,
      contentType,
      body: { errors: [{ message: 'GET requests only support query operations, not mutation operations', extensions: { code: 'BAD_REQUEST' } }] },
    });
    expect(response.headers.allow).toBe('POST');
  });

  it('refuses variables that are not JSON 400 even as application/json: the request is not well-formed', async () => {
    const response = await get({ query: PROFILE.query, variables: '{"id":' }, { ...PREFLIGHT, ...AS_JSON });
    expect(seen(response)).toEqual({
      status: 400,
      contentType: JSON_TYPE,
      body: { errors: [{ message: 'The variables search parameter contains invalid JSON.', extensions: { code: 'BAD_REQUEST' } }] },
    });
  });
});

describe('POST', () => {
  it.each([
    { contentTypeSent: 'application/json', accept: 'application/json', contentType: JSON_TYPE },
    { contentTypeSent: 'application/json; charset=utf-8', accept: 'application/graphql-response+json', contentType: GRAPHQL_RESPONSE },
  ])('answers $contentTypeSent with data, as $accept', async ({ contentTypeSent, accept, contentType }) => {
    const response = await send('POST', { body: JSON.stringify({ query: '{ __typename }' }), headers: { 'content-type': contentTypeSent, accept } });
    expect(seen(response)).toEqual({ status: 200, contentType, body: { data: { __typename: 'Query' } } });
  });

  it('refuses a body that is not application/json 400 (it could come from a form on another site)', async () => {
    const response = await send('POST', { body: '{"query":"{ __typename }"}', headers: { 'content-type': 'text/plain', ...AS_JSON } });
    expect(response).toMatchObject({ status: 400, contentType: JSON_TYPE, body: { errors: [{ extensions: { code: 'BAD_REQUEST' } }] } });
    expect(response.body.errors[0].message).toMatch(/Cross-Site Request Forgery/);
  });

  it('answers 406 to an Accept that names neither JSON type', async () => {
    const response = await post({ query: '{ __typename }' }, { accept: 'text/csv' });
    expect(response).toMatchObject({ status: 406, contentType: JSON_TYPE, body: { errors: [{ extensions: { code: 'BAD_REQUEST' } }] } });
  });

  it('answers a field error 200 with data in either media type: execution ran', async () => {
    for (const headers of [AS_JSON, AS_GRAPHQL_RESPONSE]) {
      const response = await post({ query: '{ customer(id: "1") { id crm { id } } }' }, headers);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        data: { customer: { id: '1', crm: null } },
        errors: [{ path: ['customer', 'crm'], extensions: { code: 'SOURCE_NOT_CONFIGURED' } }],
      });
    }
  });
});

describe('refusals of our own keep their status as application/json', () => {
  it('an operation over a limit: 400 OPERATION_LIMIT_EXCEEDED', async () => {
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: customer(id: "${i + 1}") { id }`).join(' ');
    expect(seen(await post({ query: `{ ${aliases} }` }, AS_JSON))).toEqual({
      status: 400,
      contentType: JSON_TYPE,
      body: { errors: [{ message: 'Aliases limit of 20 exceeded, found 30.', extensions: { code: 'OPERATION_LIMIT_EXCEEDED', limit: 'aliases' } }] },
    });
  });

  it('an argument check: 400 BAD_USER_INPUT', async () => {
    expect(seen(await post({ query: '{ customer { id } }' }, AS_JSON))).toEqual({
      status: 400,
      contentType: JSON_TYPE,
      body: {
        errors: [
          {
            message: 'expected exactly one of id, email, hubspotContactId, anonymousId, got none',
            locations: [{ line: 1, column: 3 }],
            extensions: { code: 'BAD_USER_INPUT' },
          },
        ],
      },
    });
  });

  it('a document over the size limit: 413', async () => {
    const response = await post({ query: `{ __typename } # ${'x'.repeat(20_000)}` }, AS_JSON);
    expect(response).toMatchObject({ status: 413, body: { errors: [{ extensions: { code: 'OPERATION_LIMIT_EXCEEDED', limit: 'documentSize' } }] } });
  });

  describe('on servers that authenticate and rate limit', () => {
    let closed: TestServer;
    let limited: TestServer;
    beforeAll(async () => {
      [closed, limited] = await Promise.all([
        startTestServer(demo.db, {}, { security: { anonymousScopes: null } }),
        startTestServer(demo.db, {}, { security: { rateLimit: { costPerSecond: 1, burst: 1 } } }),
      ]);
    });
    afterAll(async () => Promise.all([closed?.close(), limited?.close()]));

    it('no credentials: 401 UNAUTHENTICATED', async () => {
      const response = await post({ query: '{ __typename }' }, AS_JSON, closed);
      expect(response).toMatchObject({ status: 401, contentType: JSON_TYPE, body: { errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] } });
    });

    it('a spent budget: 429 RATE_LIMITED with Retry-After', async () => {
      let response: Answer | undefined;
      for (let i = 0; i < 5 && response?.status !== 429; i++) response = await post({ query: '{ customer(id: "1") { id } }' }, AS_JSON, limited);
      expect(response).toMatchObject({ status: 429, contentType: JSON_TYPE, body: { errors: [{ extensions: { code: 'RATE_LIMITED' } }] } });
      expect(Number(response!.headers['retry-after'])).toBeGreaterThan(0);
    });
  });
});

describe('content negotiation', () => {
  it.each([
    { accept: 'application/graphql-response+json, application/json', contentType: GRAPHQL_RESPONSE },
    { accept: 'application/json, application/graphql-response+json', contentType: JSON_TYPE },
    { accept: '*/*, application/graphql-response+json', contentType: GRAPHQL_RESPONSE },
    { accept: 'application/*', contentType: JSON_TYPE },
    { accept: 'application/json;q=0, */*', contentType: GRAPHQL_RESPONSE },
    { accept: 'text/html, application/graphql-response+json; charset=utf-8', contentType: GRAPHQL_RESPONSE },
  ])('answers Accept: $accept in the type Apollo itself picks, success or refusal', async ({ accept, contentType }) => {
    const answered = await post({ query: '{ __typename }' }, { accept });
    // A CSRF refusal is written by Apollo before any plugin runs: its negotiation, not ours.
    const refused = await get({ query: '{ __typename }' }, { accept });
    expect([answered.status, answered.contentType, refused.status, refused.contentType]).toEqual([200, contentType, 400, contentType]);
  });
});
