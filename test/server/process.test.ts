import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { setTimeout } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { postGraphQL } from '../support/server.ts';

const ROOT = new URL('../../', import.meta.url);

/**
 * The server as `npm run dev` runs it (the TypeScript through tsx, no build needed), or with
 * `compiled` as `npm start` and the image do (node on dist/, once built), output collected.
 */
function start(env: Record<string, string>, { compiled = false } = {}) {
  const child = spawn(process.execPath, compiled ? ['dist/server/main.js'] : ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const match = /"url":"(http:[^"]+)".*"msg":"ready"/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', () => reject(new Error(`exited before ready:\n${output}`)));
  });
  return { child, ready, output: () => output };
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let data = '';
  for await (const chunk of stream) data += String(chunk);
  return data;
}

describe('the server process', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDemoDatabase({ seed: 360, customers: 20, asOf: TEST_AS_OF });
  });
  afterAll(async () => db?.close());

  it('serves the configured database and finishes an in-flight request on SIGTERM, exiting 0', async () => {
    const server = start({ DATABASE_URL: db.url });
    const url = await server.ready;
    // The request is in flight when the signal lands: its headers and half its body are sent
    // first, the rest only after the server began shutting down.
    const body = JSON.stringify({ query: '{ customers(ids: ["1", "2"]) { id commerce { purchases { orderCount } } } }' });
    const request = http.request(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const response = once(request, 'response') as Promise<[http.IncomingMessage]>;
    request.write(body.slice(0, 20));
    await setTimeout(300);
    server.child.kill('SIGTERM');
    await setTimeout(300);
    request.end(body.slice(20));
    const [res] = await response;
    expect(res.statusCode).toBe(200);
    const answer = JSON.parse(await text(res));
    expect(answer.data.customers.map((c: { id: string }) => c.id)).toEqual(['1', '2']);
    const [code, signal] = await once(server.child, 'exit');
    expect({ code, signal, output: server.output().slice(-600) }).toMatchObject({ code: 0, signal: null });
    expect(server.output()).toContain('"msg":"stopped"');
  });

  it('starts the embedded demo with nothing configured and prints an example query', async () => {
    const server = start({ DEMO_CUSTOMERS: '40' });
    const url = await server.ready;
    const email = /customer\(email: "([^"]+)"\)/.exec(server.output())![1]!;
    const { body } = await postGraphQL(url, `{ customer(email: "${email}") { commerce { purchases { orderCount } } } }`);
    expect(body.data.customer.commerce.purchases.orderCount).toBeGreaterThan(0);
    expect(server.output()).toContain('Open Apollo Sandbox at');
    server.child.kill('SIGTERM');
    expect((await once(server.child, 'exit'))[0]).toBe(0);
  });

  it('runs compiled, as `npm start` does: the build holds every file the server reads at run time', { timeout: 180_000 }, async () => {
    await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: ROOT });
    const server = start({ DATABASE_URL: db.url, EXPLORER: 'graphiql' }, { compiled: true });
    const url = await server.ready;
    const { body } = await postGraphQL(url, '{ customers(ids: ["1"]) { id commerce { purchases { orderCount } } } }');
    expect(body).toMatchObject({ data: { customers: [{ id: '1', commerce: { purchases: { orderCount: expect.any(Number) } } }] } });
    const graphiql = await fetch(new URL('/explorer/graphiql.js', url));
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain('.GraphiQL=');
    server.child.kill('SIGTERM');
    expect((await once(server.child, 'exit'))[0]).toBe(0);
  });

  it('refuses to start on bad configuration, naming each bad setting', async () => {
    const server = start({ PORT: 'http', DATABASE_URL: 'mysql://u:pw-never-shown@db/x' });
    const [code] = await once(server.child, 'exit');
    expect(code).toBe(1);
    expect(server.output()).toMatch(/PORT: .*got "http"/);
    expect(server.output()).toContain('DATABASE_URL');
    expect(server.output()).not.toContain('pw-never-shown');
    await server.ready.catch(() => undefined);
  });
});
