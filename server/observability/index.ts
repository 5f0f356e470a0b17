import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { CallReport, FamilyCall, FamilyObserver, UpstreamCall, UpstreamResult } from '../../cache/family.ts';
import type { Config } from '../config.ts';
import type { Context } from '../context.ts';
import { httpObservability } from './http.ts';
import { Metrics, type MetricsOptions } from './metrics.ts';
import { requestObservability } from './requests.ts';
import { sourcePeers, startedTelemetry, Tracing, type TracingOptions } from './tracing.ts';

export { Metrics, OperationNames, type MetricsOptions } from './metrics.ts';
export { sourcePeers, startedTelemetry, Tracing, tracingWanted, type TracingOptions } from './tracing.ts';
export { graphqlRequestId, routeOf } from './http.ts';

export interface ObservabilityOptions {
  readonly metrics?: MetricsOptions;
  /** Tracing when given; off (no middleware, no hooks, no SDK work) when absent. */
  readonly tracing?: TracingOptions | null;
  /** The SDK telemetry.ts started, flushed at shutdown. */
  readonly telemetry?: { shutdown(): Promise<void> } | undefined;
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
  /** Middleware for /graphql after the body parser: the operation span (none when tracing is off). */
  readonly graphql: RequestHandler[];
  readonly plugin: ApolloServerPlugin<Context>;
  private readonly telemetry: { shutdown(): Promise<void> } | undefined;

  constructor(options: ObservabilityOptions = {}) {
    this.metrics = new Metrics(options.metrics);
    this.tracing = options.tracing ? new Tracing(options.tracing) : null;
    this.observer = this.tracing ? both(this.metrics.observer, this.tracing.observer) : this.metrics.observer;
    this.graphql = this.tracing ? [this.tracing.middleware] : [];
    this.plugin = requestObservability(this.metrics);
    this.telemetry = options.telemetry;
  }

  /** The app's first middleware: request ids, the HTTP metric, a line per refused request (http.ts). */
  http(logger: Logger): RequestHandler {
    return httpObservability(this.metrics, logger);
  }

  /** GET /metrics. */
  get handler(): RequestHandler {
    return this.metrics.handler;
  }

  /** What the metrics read at scrape time: each source's breaker, and the request budget. */
  attach(target: Parameters<Metrics['attach']>[0]): void {
    this.metrics.attach(target);
  }

  /** Flushes the spans the SDK still holds. */
  async shutdown(): Promise<void> {
    await this.telemetry?.shutdown();
  }
}

/**
 * Tracing when telemetry.ts started the SDK (it reads the standard OTEL_* variables itself), with
 * each configured upstream's address for `server.address`. Null otherwise: no hooks, no spans.
 */
export function tracingFromConfig(config: Config): TracingOptions | null {
  if (!startedTelemetry()) return null;
  const mailchimpPrefix = config.MAILCHIMP_SERVER_PREFIX ?? config.MAILCHIMP_API_KEY?.split('-').pop();
  return {
    peers: sourcePeers({
      commerce: config.DATABASE_URL,
      web: config.ANALYTICS_DATABASE_URL ?? config.DATABASE_URL,
      crm: config.HUBSPOT_ACCESS_TOKEN && config.HUBSPOT_BASE_URL,
      email: config.MAILCHIMP_API_KEY && (config.MAILCHIMP_BASE_URL ?? `https://${mailchimpPrefix}.api.mailchimp.com`),
    }),
  };
}

/** Observability as configured (METRICS_*, and tracing when the SDK was preloaded). */
export function observabilityFromConfig(config: Config): Observability {
  return new Observability({
    metrics: { token: config.METRICS_TOKEN, maxOperations: config.METRICS_MAX_OPERATIONS },
    tracing: tracingFromConfig(config),
    telemetry: startedTelemetry(),
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
