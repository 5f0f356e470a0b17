import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { Tracing, tracingFromConfig } from '../../server/observability/index.ts';

/** A stand-in OpenTelemetry collector: records each export it receives. */
const received: Array<{ path: string; contentType: string | undefined; bytes: number }> = [];
const collector = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push({ path: req.url ?? '', contentType: req.headers['content-type'], bytes: Buffer.concat(chunks).length });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
let endpoint = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});
afterAll(async () => {
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  await new Promise((resolve) => collector.close(resolve));
});

describe('tracing configuration', () => {
  it('is off unless asked for', () => {
    expect(tracingFromConfig(loadConfig({}))).toBeNull();
    expect(tracingFromConfig(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', TRACING: 'off' }))).toBeNull();
  });

  it('exports spans over OTLP/HTTP to the configured endpoint', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    const options = tracingFromConfig(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'c360-otlp-test' }));
    expect(options).toMatchObject({ serviceName: 'c360-otlp-test', sampleRatio: 1 });
    const tracing = new Tracing(options!);
    tracing.tracer.startSpan('probe').end();
    await tracing.shutdown(); // flushes the batch
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ path: '/v1/traces' });
    expect(received[0]!.bytes).toBeGreaterThan(0);
  });
});
