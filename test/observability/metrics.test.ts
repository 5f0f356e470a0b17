import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt } from '../../sandbox/demo/people.ts';
import { Observability, OperationNames } from '../../server/observability/index.ts';
import { exposedNames, startObservedServer, valueOf, world, type ObservedServer } from './support.ts';

let server: ObservedServer;

beforeAll(async () => {
  server = await startObservedServer({ breakerFailures: 2 });
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => {
  server.logs.length = 0;
  server.hubspot.hang = false;
  server.hubspot.errorRate = 0;
});

const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i));
const known = people.filter((p) => p.crm && p.emailMarketing);
const PROFILE = `query Profile($email: EmailAddress!) {
  customer(email: $email) { id commerce { purchases { orderCount } } crm { lifecycleStage } emailMarketing { status } }
}`;
const PAGE = `query Page($ids: [ID!]) { customers(ids: $ids) { id crm { lifecycleStage } emailMarketing { status } } }`;

describe('GET /metrics', () => {
  it('counts upstream calls by source, family and outcome, with their batch sizes and latencies', async () => {
    const ids = known.slice(0, 6).map((p) => String(p.customerId));
    const { body } = await server.query(PAGE, { ids });
    expect(body.errors).toBeUndefined();
    const { status, text } = await server.scrape();
    expect(status).toBe(200);
    expect(valueOf(text, 'c360_source_calls_total', { source: 'crm', family: 'contact-by-email', outcome: 'ok' })).toBe(1);
    expect(valueOf(text, 'c360_source_batch_size_sum', { source: 'crm', family: 'contact-by-email' })).toBe(6);
    expect(valueOf(text, 'c360_source_batch_size_sum', { source: 'email', family: 'member' })).toBe(6);
    expect(valueOf(text, 'c360_source_calls_total', { source: 'commerce', family: 'customer-by-id', outcome: 'ok' })).toBe(1);
    expect(valueOf(text, 'c360_source_call_duration_seconds_count', { source: 'email', family: 'member' })).toBe(1);
    expect(valueOf(text, 'c360_source_call_duration_seconds_sum', { source: 'email', family: 'member' })).toBeGreaterThan(0);
    expect(valueOf(text, 'c360_source_in_flight', { source: 'crm' })).toBe(0);
    expect(text).toMatch(/^# TYPE c360_source_in_flight gauge$/m);
  });

  it('counts cache hits and misses per source and family', async () => {
    const person = known[7]!;
    const before = await server.scrape();
    await server.query(PROFILE, { email: person.email });
    await server.query(PROFILE, { email: person.email });
    const after = await server.scrape();
    const delta = (result: string, source: string, family: string) =>
      valueOf(after.text, 'c360_cache_lookups_total', { source, family, result }) - valueOf(before.text, 'c360_cache_lookups_total', { source, family, result });
    expect(delta('miss', 'crm', 'contact-by-email')).toBe(1);
    expect(delta('hit', 'crm', 'contact-by-email')).toBe(1);
    expect(delta('miss', 'email', 'member')).toBe(1);
    expect(delta('hit', 'email', 'member')).toBe(1);
    expect(delta('hit', 'commerce', 'customer-by-email')).toBe(1);
  });

  it('counts answers remembered and requests answered from them', async () => {
    const person = known[9]!;
    const before = await server.scrape();
    // Live, then every source from the shared cache (remembered), then from memory.
    for (let i = 0; i < 3; i++) await server.query(PROFILE, { email: person.email });
    const after = await server.scrape();
    const delta = (result: string) => valueOf(after.text, 'c360_answers_total', { result }) - valueOf(before.text, 'c360_answers_total', { result });
    expect([delta('stored'), delta('hit'), delta('invalid')]).toEqual([1, 1, 0]);
  });

  it('counts GraphQL operations by name, type and outcome, with their latency', async () => {
    const before = await server.scrape();
    await server.query(PROFILE, { email: known[8]!.email });
    await server.query('query Broken { customer(id: "1") { nope } }');
    await server.query('{ customer(id: "1") { id } }');
    const after = await server.scrape();
    const delta = (labels: Record<string, string>) => valueOf(after.text, 'c360_graphql_operations_total', labels) - valueOf(before.text, 'c360_graphql_operations_total', labels);
    expect(delta({ operation: 'Profile', type: 'query', outcome: 'ok' })).toBe(1);
    // A document that does not validate never resolves an operation: its name is not trusted.
    expect(delta({ operation: '(unresolved)', outcome: 'rejected' })).toBe(1);
    expect(delta({ operation: '(anonymous)', type: 'query', outcome: 'ok' })).toBe(1);
    expect(valueOf(after.text, 'c360_graphql_operation_duration_seconds_count', { operation: 'Profile', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after.text, 'c360_request_budget_seconds')).toBe(5);
  });

  it('exposes the process metrics', async () => {
    const names = exposedNames((await server.scrape()).text);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(names).toContain(name);
    }
  });

  it('never carries an email or a customer id in a label', async () => {
    await server.query(PROFILE, { email: known[12]!.email });
    const { text } = await server.scrape();
    const values = text
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .flatMap((line) => [...line.matchAll(/="([^"]*)"/g)].map((m) => m[1]!));
    expect(values.filter((value) => value.includes('@'))).toEqual([]);
    const ids = new Set(people.map((p) => String(p.customerId)));
    // `le` bucket bounds are numbers by design; no other label value may be one.
    const labelled = text
      .split('\n')
      .filter((line) => line.startsWith('c360_'))
      .flatMap((line) => [...line.matchAll(/(\w+)="([^"]*)"/g)]);
    expect(labelled.filter(([, name, value]) => name !== 'le' && ids.has(value!))).toEqual([]);
  });
});

describe('operation names as labels', () => {
  it('keeps GraphQL-looking names up to a bound, and files the rest under (other)', () => {
    const names = new OperationNames(2);
    expect(names.label('Profile')).toBe('Profile');
    expect(names.label(undefined)).toBe('(anonymous)');
    expect(names.label('jane.doe@example.com')).toBe('(other)');
    expect(names.label('x'.repeat(65))).toBe('(other)');
    expect(names.label('Page')).toBe('Page');
    expect(names.label('Third')).toBe('(other)');
    expect(names.label('Profile')).toBe('Profile');
  });
});

describe('process metrics', () => {
  it("are the process's: every server in it exposes them once, and one with them off does not", async () => {
    const scrape = async (observability: Observability) => {
      const http = express().get('/metrics', observability.handler).listen(0, '127.0.0.1');
      await new Promise((resolve) => http.once('listening', resolve));
      try {
        return await (await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`)).text();
      } finally {
        http.close();
      }
    };
    const [first, second, without] = await Promise.all([
      scrape(new Observability()),
      scrape(new Observability()),
      scrape(new Observability({ metrics: { processMetrics: false } })),
    ]);
    for (const text of [first, second]) {
      expect(text.match(/^# TYPE process_cpu_seconds_total /gm)).toHaveLength(1);
      expect(text.match(/^# TYPE nodejs_eventloop_lag_p99_seconds /gm)).toHaveLength(1);
      expect(text).toContain('# TYPE c360_graphql_operations_total counter');
    }
    expect(without).not.toContain('process_cpu_seconds_total');
  });
});

describe('METRICS_TOKEN', () => {
  it('answers 401 without the bearer token, and the metrics with it', async () => {
    const observability = new Observability({ metrics: { token: 'metrics-token-0123456789', processMetrics: false } });
    const app = express().get('/metrics', observability.handler);
    const http = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`;
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('# TYPE c360_graphql_operations_total counter');
    } finally {
      http.close();
    }
  });
});

describe('request logs', () => {
  it('writes one line per request with its id, operation, client, duration and per-source timings, and no personal value', async () => {
    const person = known[13]!;
    const response = await server.query(PROFILE, { email: person.email }, { 'x-request-id': 'req-logs-1' });
    expect(response.headers.get('x-request-id')).toBe('req-logs-1');
    const lines = server.logs.filter((line) => line.msg === 'graphql request');
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({ requestId: 'req-logs-1', operationName: 'Profile', operationType: 'query', outcome: 'ok', status: 200 });
    expect(line.durationMs).toBeGreaterThan(0);
    expect(line.sources.map((s: { source: string }) => s.source).sort()).toEqual(['commerce', 'crm', 'email']);
    expect(line.sources.find((s: { source: string }) => s.source === 'crm')).toMatchObject({ status: 'live', keys: 1, calls: 1 });
    if (line.client !== undefined) expect(typeof line.client.name).toBe('string');
    const everything = JSON.stringify(server.logs);
    expect(everything).not.toContain(person.email);
    expect(everything).not.toContain(person.lastName);
    expect(everything).not.toContain('variables');
  });

  it('logs the error codes of a failed request, not its messages', async () => {
    await server.query('query Bad { customer(id: "1", email: "a@example.com") { id } }');
    const line = server.logs.find((l) => l.msg === 'graphql request')!;
    expect(line).toMatchObject({ operationName: 'Bad', outcome: 'rejected', status: 400, errors: { BAD_USER_INPUT: 1 } });
    expect(JSON.stringify(server.logs)).not.toContain('a@example.com');
  });
});

// Last: the breaker it opens stays open for the rest of the file.
describe('a failing source', () => {
  it('reports a failing source by outcome, its failed keys, and its breaker opening', async () => {
    server.hubspot.hang = true;
    const ids = [known[10]!, known[11]!].map((p) => String(p.customerId));
    const first = await server.query(PAGE, { ids: [ids[0]] });
    const second = await server.query(PAGE, { ids: [ids[1]] });
    for (const { body } of [first, second]) expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'SOURCE_TIMEOUT', source: 'crm' });
    const { text } = await server.scrape();
    expect(valueOf(text, 'c360_source_calls_total', { source: 'crm', outcome: 'timeout' })).toBe(2);
    expect(valueOf(text, 'c360_source_failed_keys_total', { source: 'crm' })).toBe(2);
    expect(valueOf(text, 'c360_breaker_state', { source: 'crm' })).toBe(2);
    expect(valueOf(text, 'c360_breaker_state', { source: 'email' })).toBe(0);
  });
});
