import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from '@opentelemetry/semantic-conventions';
import type { RequestHandler } from 'express';
import type { FamilyObserver } from '../../cache/family.ts';
import { SourceError } from '../../sources/errors.ts';

export interface TracingOptions {
  /** Where spans go: the OTLP/HTTP exporter in production, an in-memory one in tests. */
  readonly exporter: SpanExporter;
  readonly serviceName: string;
  readonly serviceVersion?: string;
  /** Share of new traces recorded (a caller's sampled `traceparent` is always followed). */
  readonly sampleRatio?: number;
  /** Export each span as it ends instead of in batches (tests). */
  readonly simple?: boolean;
}

/**
 * OpenTelemetry tracing: a SERVER span per GraphQL request (continuing the caller's `traceparent`),
 * an INTERNAL span per family call (one request's batch of keys, with what the cache answered) and,
 * inside it, a CLIENT span per upstream batch call. Attributes are counts, names and outcomes,
 * never keys: no customer id or email reaches a span.
 */
export class Tracing {
  readonly tracer: Tracer;
  private readonly provider: NodeTracerProvider;

  constructor(options: TracingOptions) {
    const processor = options.simple ? new SimpleSpanProcessor(options.exporter) : new BatchSpanProcessor(options.exporter);
    this.provider = new NodeTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName,
        ...(options.serviceVersion && { [ATTR_SERVICE_VERSION]: options.serviceVersion }),
      }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
      spanProcessors: [processor],
    });
    // The async-hooks context manager and W3C propagation are what let the request span reach
    // the loaders' calls; registering twice in one process (tests) keeps the first, which is fine
    // since spans come from this provider's own tracer.
    this.provider.register();
    this.tracer = this.provider.getTracer('customer-360');
  }

  /**
   * Express middleware for /graphql, after the body parser: starts the request span and runs the
   * rest of the request inside it (so Apollo, the resolvers and the loaders see it as active).
   */
  readonly middleware: RequestHandler = (req, res, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = this.tracer.startSpan(
      `${req.method} /graphql`,
      { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: req.method, [ATTR_HTTP_ROUTE]: '/graphql' } },
      parent,
    );
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    context.with(trace.setSpan(parent, span), next);
  };

  /** The cache layer's hooks: a span per family call and per upstream call. */
  readonly observer: FamilyObserver = {
    call: (call, run) => {
      const span = this.tracer.startSpan(`${call.source} ${call.family}`, {
        kind: SpanKind.INTERNAL,
        attributes: { 'c360.source': call.source, 'c360.family': call.family, 'c360.batch_size': call.keys },
      });
      const finish = () => span.end();
      return context
        .with(trace.setSpan(context.active(), span), () =>
          run((report) => {
            const misses = report.keys - report.cached - report.stale;
            span.setAttributes({
              'c360.cache.outcome': !call.cached ? 'none' : misses === 0 ? (report.stale > 0 ? 'stale' : 'hit') : misses === report.keys ? 'miss' : 'partial',
              'c360.cache.hits': report.cached,
              'c360.cache.stale': report.stale,
              'c360.cache.misses': call.cached ? misses : report.keys,
              'c360.keys.failed': report.failed,
              'c360.upstream_ms': Math.round(report.upstreamMs * 10) / 10,
            });
            if (report.failed > 0) span.setStatus({ code: SpanStatusCode.ERROR, message: `${report.failed} of ${report.keys} keys failed` });
          }),
        )
        .finally(finish);
    },
    upstream: (call) => {
      const span = this.tracer.startSpan(`${call.source} ${call.family} upstream`, {
        kind: SpanKind.CLIENT,
        attributes: { 'c360.source': call.source, 'c360.family': call.family, 'c360.batch_size': call.batchSize },
      });
      return (result) => {
        span.setAttribute('c360.keys.failed', result.failedKeys);
        if (result.error !== undefined) {
          const kind = result.error instanceof SourceError ? result.error.kind : 'error';
          span.setAttribute('c360.outcome', kind);
          // The kind only: an upstream's message may quote what it was asked for.
          span.setStatus({ code: SpanStatusCode.ERROR, message: kind });
        } else {
          span.setAttribute('c360.outcome', result.failedKeys > 0 ? 'partial' : 'ok');
        }
        span.end();
      };
    },
  };

  /** Flushes the spans still buffered and stops exporting. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/** The OTLP/HTTP exporter; it reads the standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout). */
export function otlpExporter(): SpanExporter {
  return new OTLPTraceExporter();
}
