import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatError } from '../../server/errors.ts';
import { GraphQLError } from 'graphql';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('when the shop database is unreachable', () => {
  let server: TestServer;
  let pool: pg.Pool;
  beforeAll(async () => {
    // Port 1 on loopback: nothing listens, so the driver gets a real ECONNREFUSED.
    pool = new pg.Pool({ connectionString: 'postgres://postgres:hunter2@127.0.0.1:1/shop', connectionTimeoutMillis: 2000 });
    server = await startTestServer({ pool });
  });
  afterAll(async () => {
    await server?.close();
    await pool?.end();
  });

  it('answers SOURCE_UNAVAILABLE naming the source on its own fields, with nothing of the cause', async () => {
    const { status, body } = await server.query('{ customer(email: "someone@example.com") { id } }');
    expect(status).toBe(200);
    // Looked up by email, the customer stays: the other sources could answer by that email.
    expect(body).toEqual({
      data: { customer: { id: null } },
      errors: [
        {
          message: 'The commerce source is unavailable.',
          locations: [{ line: 1, column: 44 }],
          path: ['customer', 'id'],
          extensions: { code: 'SOURCE_UNAVAILABLE', source: 'commerce', retryable: true },
        },
      ],
      extensions: { sources: { commerce: expect.objectContaining({ status: 'failed', keys: 1, failed: 1, live: 0 }) } },
    });
  });

  it('reports itself not ready on /readyz, and alive on /healthz', async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', sources: { commerce: { status: 'down', lastError: 'unavailable' } } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('logs the failure with the request id but never the password or the email asked for', async () => {
    server.reset();
    const { headers } = await server.query('{ customer(email: "private.person@example.com") { id } }');
    const log = server.logs.join('\n');
    expect(log).toContain(headers.get('x-request-id'));
    expect(log).toContain('"source":"commerce"');
    expect(log).not.toContain('hunter2');
    expect(log).not.toContain('private.person');
  });
});

describe('when the shop database does not meet the contract', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase(); // no tables at all
    server = await startTestServer(db);
  });
  afterAll(async () => {
    await server?.close();
    await db?.close();
  });

  it('names the source and leaks no SQL, table name or driver message', async () => {
    const { body } = await server.query('{ customer(id: "1") { id } }');
    expect(body.errors?.[0]?.extensions).toEqual({ code: 'SOURCE_UNAVAILABLE', source: 'commerce', retryable: false });
    const text = JSON.stringify(body);
    for (const leak of ['relation', 'SELECT', 'does not exist', 'customers', 'ANY(']) expect(text).not.toContain(leak);
  });

  it('does not open the breaker over a contract error: the refused statement waits a cool-down, other fields still reach the database', async () => {
    // The test server's breaker opens after 5 failures that say a source is down; its cool-down is 10 s.
    server.reset();
    for (let i = 0; i < 7; i++) {
      const { body } = await server.query(`{ customer(id: "${i + 1}") { id } }`);
      expect(body.errors?.[0]?.extensions).toEqual({ code: 'SOURCE_UNAVAILABLE', source: 'commerce', retryable: false });
    }
    // The lookup statement went out at most once (none when the test above already met the
    // refusal, within the cool-down); every other request failed fast without it.
    expect(server.statements.filter((text) => /FROM customers/i.test(text)).length).toBeLessThanOrEqual(1);
    server.reset();
    const segment = await server.query('{ customerSegment(first: 1) { edges { cursor } } }');
    expect(segment.body.errors?.[0]?.extensions).toEqual({ code: 'SOURCE_UNAVAILABLE', source: 'commerce', retryable: false });
    expect(server.statements.length).toBeGreaterThan(0);
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { sources: { commerce: { breaker: string } } };
    expect(ready.sources.commerce.breaker).toBe('closed');
  });
});

describe('error masking', () => {
  it('masks an unexpected error entirely, keeping only where it happened', () => {
    const error = new GraphQLError('connect to postgres://admin:s3cret@db failed', {
      path: ['customer'],
      originalError: new Error('connect to postgres://admin:s3cret@db failed'),
      extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at secret.ts:1'] },
    });
    expect(formatError({ message: error.message, path: ['customer'], extensions: error.extensions }, error)).toEqual({
      message: 'Internal server error.',
      path: ['customer'],
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });
});
