import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingWanted } from '../../server/observability/index.ts';
import { scrubUrl } from '../../server/observability/telemetry.ts';

/**
 * The server as `npm start` runs it (OpenTelemetry preloaded with --import, the embedded demo),
 * exporting to a stand-in collector over OTLP/HTTP. JSON encoding (the standard
 * OTEL_EXPORTER_OTLP_PROTOCOL) lets the test read what arrived.
 */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}
const exports: Array<{ path: string; body: any }> = [];
const collector = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    exports.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

const root = fileURLToPath(new URL('../..', import.meta.url));
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
let child: ChildProcess;
const lines: Array<Record<string, any>> = [];
let url = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  child = spawn(process.execPath, ['--import', 'tsx', '--import', './server/observability/telemetry.ts', 'server/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      DEMO_CUSTOMERS: '30',
      DEMO_WEB_HISTORY_DAYS: '1',
      ...(process.env.REDIS_URL && { REDIS_URL: process.env.REDIS_URL }),
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'c360-otlp-test',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line));
  });
  for (let i = 0; i < 1200 && !url; i++) {
    url = lines.find((line) => line.msg === 'ready')?.url ?? '';
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(url).toMatch(/\/graphql$/);
}, 90_000);
afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await new Promise((resolve) => collector.close(resolve));
});

/** Every span the collector received, with its attributes as a plain object. */
function receivedSpans(): Array<OtlpSpan & { attrs: Record<string, unknown>; scope: string }> {
  return exports.flatMap(({ body }) =>
    (body.resourceSpans ?? []).flatMap((rs: any) =>
      rs.scopeSpans.flatMap((ss: any) =>
        ss.spans.map((span: OtlpSpan) => ({
          ...span,
          scope: ss.scope.name as string,
          attrs: Object.fromEntries(span.attributes.map(({ key, value }) => [key, Object.values(value)[0]])),
        })),
      ),
    ),
  );
}

describe('OpenTelemetry preloaded (telemetry.ts)', () => {
  it("traces a request end to end from the caller's traceparent: HTTP, Express, our spans, PostgreSQL, and its log line", async () => {
    await fetch(url.replace('/graphql', '/healthz'));
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${PARENT}-01` },
      // Orders are never cached, so the shop database is called however warm a shared Redis is.
      body: JSON.stringify({ query: 'query Probe($id: ID!) { customer(id: $id) { id commerce { firstName orders(first: 1) { edges { cursor } } } } }', variables: { id: '3' } }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();

    child.kill('SIGTERM'); // shutdown flushes the SDK's batch
    await new Promise((resolve) => child.once('exit', resolve));

    expect(exports.every(({ path }) => path === '/v1/traces')).toBe(true);
    const resource = exports[0]!.body.resourceSpans[0].resource.attributes as Array<{ key: string; value: { stringValue?: string } }>;
    expect(resource.find((a) => a.key === 'service.name')?.value.stringValue).toBe('c360-otlp-test');

    const spans = receivedSpans().filter((span) => span.traceId === TRACE_ID);
    const http = spans.find((span) => span.scope === '@opentelemetry/instrumentation-http' && span.kind === 2)!;
    expect(http).toBeDefined();
    expect(http.parentSpanId).toBe(PARENT);
    expect(http.attrs).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200 });
    expect(spans.some((span) => span.scope === '@opentelemetry/instrumentation-express')).toBe(true);
    const operation = spans.find((span) => span.name === 'query Probe')!;
    expect(operation.attrs).toMatchObject({ 'graphql.operation.type': 'query', 'graphql.operation.name': 'Probe', 'c360.outcome': 'ok' });
    const sql = spans.filter((span) => span.scope === '@opentelemetry/instrumentation-pg');
    expect(sql.length).toBeGreaterThan(0);
    for (const span of sql) expect(span.attrs['db.system.name']).toBe('postgresql');
    expect(spans.find((span) => span.name.startsWith('commerce ') && span.name.endsWith(' upstream'))?.attrs).toMatchObject({ 'db.system.name': 'postgresql' });
    if (process.env.REDIS_URL) expect(spans.some((span) => span.scope === '@opentelemetry/instrumentation-ioredis' && span.attrs['db.system.name'] === 'redis')).toBe(true);

    // No value a customer could be recognised by: the demo's people all have example.org emails.
    expect(JSON.stringify(receivedSpans().map((span) => span.attrs))).not.toMatch(/@example/);
    // Probes are not traced.
    expect(receivedSpans().some((span) => span.attrs['url.path'] === '/healthz')).toBe(false);
    const line = lines.find((l) => l.msg === 'graphql request' && l.operationName === 'Probe')!;
    expect(line).toMatchObject({ trace_id: TRACE_ID, trace_flags: '01' });
    expect(spans.map((span) => span.spanId)).toContain(line.span_id);
  }, 60_000);
});

describe('when tracing starts', () => {
  it('starts for an OTLP endpoint or an exporter, never when the SDK is disabled', () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingWanted({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingWanted({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(tracingWanted({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
  });
});

describe('URLs on spans', () => {
  it('keep the route and drop what could name a person or hold a secret', () => {
    expect(scrubUrl('https://us21.api.mailchimp.com/3.0/lists/a1b2c3/members/0d8c4d5e9a8b7c6d5e4f3a2b1c0d9e8f?fields=status')).toBe(
      'https://us21.api.mailchimp.com/3.0/lists/{id}/members/{id}?fields=REDACTED',
    );
    expect(scrubUrl('https://api.hubapi.com/crm/v3/objects/contacts/batch/read')).toBe('https://api.hubapi.com/crm/v3/objects/contacts/batch/read');
    expect(scrubUrl('/webhooks/mailchimp/s3cr3t-path')).toBe('/webhooks/mailchimp/{id}');
    expect(scrubUrl('/?variables=%7B%22email%22%3A%22a%40b.c%22%7D&query=x')).toBe('/?variables=REDACTED&query=REDACTED');
  });
});
