import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import type { CallReport, FamilyCall, FamilyObserver, UpstreamCall, UpstreamResult } from '../../cache/family.ts';
import type { SourceGuard } from '../../cache/guard.ts';
import type { Config } from '../config.ts';
import type { Context } from '../context.ts';
import { Metrics, type MetricsOptions } from './metrics.ts';
import { requestObservability } from './requests.ts';
import { otlpExporter, Tracing, type TracingOptions } from './tracing.ts';

export { Metrics, OperationNames, type MetricsOptions } from './metrics.ts';
export { Tracing, type TracingOptions } from './tracing.ts';

export interface ObservabilityOptions {
  readonly metrics?: MetricsOptions;
  /** Tracing when given; off (no middleware, no hooks, no SDK work) when absent. */
  readonly tracing?: TracingOptions | null;
}

/**
 * Metrics, request logs and tracing, wired together: `observer` goes to the cache layer
 * (createUpstreams), the rest to the HTTP server (startServer). Built once per process.
 */
export class Observability {
  readonly metrics: Metrics;
  readonly tracing: Tracing | null;
  /** The cache layer's hooks: metrics always, tracing when on. */
  readonly observer: FamilyObserver;
  /** Middleware for /graphql after the body parser: the request span (none when tracing is off). */
  readonly graphql: RequestHandler[];
  readonly plugin: ApolloServerPlugin<Context>;

  constructor(options: ObservabilityOptions = {}) {
    this.metrics = new Metrics(options.metrics);
    this.tracing = options.tracing ? new Tracing(options.tracing) : null;
    this.observer = this.tracing ? both(this.metrics.observer, this.tracing.observer) : this.metrics.observer;
    this.graphql = this.tracing ? [this.tracing.middleware] : [];
    this.plugin = requestObservability(this.metrics, this.tracing !== null);
  }

  /** GET /metrics. */
  get handler(): RequestHandler {
    return this.metrics.handler;
  }

  /** What the metrics read at scrape time: each source's breaker, and the request budget. */
  attach(target: { guards: Readonly<Record<string, SourceGuard>>; budgetMs: number }): void {
    this.metrics.attach(target);
  }

  /** Flushes buffered spans. */
  async shutdown(): Promise<void> {
    await this.tracing?.shutdown();
  }
}

/**
 * Tracing as configured: on with `TRACING=otlp`, or when an OTLP endpoint is set and TRACING is
 * not `off`. The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself (endpoint,
 * headers, timeout), so their values never pass through here.
 */
export function tracingFromConfig(config: Config, serviceVersion?: string): TracingOptions | null {
  const endpoint = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? config.OTEL_EXPORTER_OTLP_ENDPOINT;
  const on = config.TRACING === 'otlp' || (config.TRACING === undefined && endpoint !== undefined);
  if (!on) return null;
  return {
    exporter: otlpExporter(),
    serviceName: config.OTEL_SERVICE_NAME,
    sampleRatio: config.TRACING_SAMPLE_RATIO,
    ...(serviceVersion && { serviceVersion }),
  };
}

/** Observability as configured (METRICS_*, TRACING, OTEL_*). */
export function observabilityFromConfig(config: Config, serviceVersion?: string): Observability {
  return new Observability({
    metrics: { token: config.METRICS_TOKEN, maxOperations: config.METRICS_MAX_OPERATIONS },
    tracing: tracingFromConfig(config, serviceVersion),
  });
}

/** Two observers as one: `outer` wraps `inner`, so the tracing span encloses the metrics' work. */
function both(outer: FamilyObserver, inner: FamilyObserver): FamilyObserver {
  return {
    call<T>(call: FamilyCall, run: (onReport: (report: CallReport) => void) => Promise<T>): Promise<T> {
      return outer.call!(call, (reportOuter) =>
        inner.call!(call, (reportInner) =>
          run((report) => {
            reportOuter(report);
            reportInner(report);
          }),
        ),
      );
    },
    upstream(call: UpstreamCall) {
      const endOuter = outer.upstream!(call);
      const endInner = inner.upstream!(call);
      return (result: UpstreamResult) => {
        endInner(result);
        endOuter(result);
      };
    },
  };
}
