import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt } from '../../sandbox/demo/people.ts';
import { Observability, sourcePeers } from '../../server/observability/index.ts';
import { startObservedServer, world, type ObservedServer } from './support.ts';

const exporter = new InMemorySpanExporter();
// A provider of the test's own (the SDK's stand-in): registering it installs the async context
// manager that carries the operation span to the loaders, as the SDK does in production.
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
let server: ObservedServer;

beforeAll(async () => {
  const peers = sourcePeers({ crm: 'https://api.hubapi.com' });
  server = await startObservedServer({ tracing: { tracer: provider.getTracer('customer-360-test'), peers } });
});
afterAll(async () => {
  await server?.close();
  await provider.shutdown();
});
beforeEach(() => exporter.reset());

const known = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).filter((p) => p.crm && p.emailMarketing);
const PROFILE = `query Profile($email: EmailAddress!) {
  customer(email: $email) { id commerce { purchases { orderCount } } crm { lifecycleStage } emailMarketing { status } }
}`;

/** The spans of the request, once its operation span has ended (it ends when the response is sent). */
async function requestSpans(): Promise<{ request: ReadableSpan; spans: ReadableSpan[] }> {
  for (let i = 0; i < 100; i++) {
    const spans = exporter.getFinishedSpans();
    const request = spans.find((span) => span.attributes['c360.request_id'] !== undefined);
    if (request) return { request, spans };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the request span never ended');
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('tracing', () => {
  it('records a span per operation, per family call and per upstream call, with batch sizes, cache outcomes and semantic attributes', async () => {
    const person = known[0]!;
    const { body } = await server.query(PROFILE, { email: person.email }, { 'x-request-id': 'trace-1' });
    expect(body.errors).toBeUndefined();
    const { request, spans } = await requestSpans();
    expect(request.name).toBe('query Profile');
    expect(request.kind).toBe(SpanKind.INTERNAL);
    expect(request.attributes).toMatchObject({
      'graphql.operation.name': 'Profile',
      'graphql.operation.type': 'query',
      'c360.request_id': 'trace-1',
      'c360.outcome': 'ok',
      'c360.source.crm.status': 'live',
    });

    const crm = spans.find((span) => span.name === 'crm contact-by-email')!;
    expect(crm.kind).toBe(SpanKind.INTERNAL);
    expect(parentOf(crm)).toBe(request.spanContext().spanId);
    expect(crm.attributes).toMatchObject({ 'c360.source': 'crm', 'c360.batch_size': 1, 'c360.cache.outcome': 'miss', 'c360.cache.misses': 1, 'c360.keys.failed': 0 });
    const upstream = spans.find((span) => span.name === 'crm contact-by-email upstream')!;
    expect(upstream.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(upstream)).toBe(crm.spanContext().spanId);
    expect(upstream.attributes).toMatchObject({ 'c360.batch_size': 1, 'c360.outcome': 'ok', 'server.address': 'api.hubapi.com', 'server.port': 443 });
    expect(upstream.attributes['error.type']).toBeUndefined();
    const shop = spans.find((span) => span.name === 'commerce customer-by-email upstream')!;
    expect(shop.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'c360.outcome': 'ok' });
    expect(spans.map((span) => span.name)).toEqual(expect.arrayContaining(['commerce customer-by-email', 'commerce purchases', 'email member', 'email member upstream']));
    for (const span of spans) expect(span.spanContext().traceId).toBe(request.spanContext().traceId);

    exporter.reset();
    await server.query(PROFILE, { email: person.email });
    const warm = await requestSpans();
    expect(warm.spans.find((span) => span.name === 'crm contact-by-email')!.attributes).toMatchObject({ 'c360.cache.outcome': 'hit', 'c360.cache.hits': 1 });
    expect(warm.spans.filter((span) => span.kind === SpanKind.CLIENT)).toEqual([]);
  });

  it("names a remembered answer's operation span as any other, marks it remembered, and has no call under it", async () => {
    const person = known[10]!;
    // Live, then from the shared cache (remembered), then from memory.
    await server.query(PROFILE, { email: person.email });
    await server.query(PROFILE, { email: person.email });
    exporter.reset();
    const { body } = await server.query(PROFILE, { email: person.email }, { 'x-request-id': 'trace-remembered' });
    expect(body.errors).toBeUndefined();
    const { request, spans } = await requestSpans();
    expect(request.name).toBe('query Profile');
    expect(request.attributes).toMatchObject({
      'graphql.operation.name': 'Profile',
      'graphql.operation.type': 'query',
      'c360.request_id': 'trace-remembered',
      'c360.outcome': 'ok',
      'c360.remembered': true,
      'c360.source.crm.status': 'cached',
      'c360.source.email.status': 'cached',
    });
    expect(spans.filter((span) => parentOf(span) === request.spanContext().spanId && span.attributes['c360.source'] !== undefined)).toEqual([]);
  });

  it('gives a batch its size: one upstream span for a page of customers', async () => {
    const ids = known.slice(1, 6).map((p) => String(p.customerId));
    await server.query('query Page($ids: [ID!]) { customers(ids: $ids) { id crm { lifecycleStage } } }', { ids });
    const { spans } = await requestSpans();
    const upstream = spans.filter((span) => span.name === 'crm contact-by-email upstream');
    expect(upstream).toHaveLength(1);
    expect(upstream[0]!.attributes['c360.batch_size']).toBe(5);
  });

  it('marks a failed upstream call with its error kind only', async () => {
    server.hubspot.hang = true;
    try {
      const { body } = await server.query(PROFILE, { email: known[8]!.email });
      expect(body.errors?.[0]?.extensions?.code).toBe('SOURCE_TIMEOUT');
      const { spans } = await requestSpans();
      const upstream = spans.find((span) => span.name === 'crm contact-by-email upstream')!;
      expect(upstream.attributes).toMatchObject({ 'c360.outcome': 'timeout', 'error.type': 'timeout' });
      expect(upstream.status).toEqual({ code: 2, message: 'timeout' });
    } finally {
      server.hubspot.hang = false;
    }
  });

  it('never puts an email, a name or a variable in a span', async () => {
    const person = known[9]!;
    await server.query(PROFILE, { email: person.email });
    const { spans } = await requestSpans();
    const text = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status })));
    expect(text).not.toContain('@');
    expect(text).not.toContain(person.lastName);
    for (const span of spans) {
      for (const value of Object.values(span.attributes)) expect(String(value)).not.toContain(person.email);
    }
  });
});

describe('source peers', () => {
  it('name each upstream by host and port, never by its credentials', () => {
    const peers = sourcePeers({ commerce: 'postgres://reader:s3cret@db.internal:6543/shop', crm: 'https://api.hubapi.com', email: undefined });
    expect(peers).toEqual({
      commerce: { 'server.address': 'db.internal', 'server.port': 6543 },
      crm: { 'server.address': 'api.hubapi.com', 'server.port': 443 },
    });
    expect(JSON.stringify(peers)).not.toContain('s3cret');
  });
});

describe('tracing off', () => {
  it('adds no middleware and no tracing hooks', () => {
    const observability = new Observability({ metrics: { processMetrics: false } });
    expect(observability.tracing).toBeNull();
    expect(observability.graphql).toEqual([]);
    expect(observability.observer).toBe(observability.metrics.observer);
  });
});
