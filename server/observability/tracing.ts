import { context, createContextKey, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR_DB_SYSTEM_NAME, ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from '@opentelemetry/semantic-conventions';
import type { RequestHandler } from 'express';
import type { FamilyObserver } from '../../cache/family.ts';
import { SourceError } from '../../sources/errors.ts';

/** Where telemetry.ts leaves the SDK it started, so the process can tell and flush it at shutdown. */
export const TELEMETRY = Symbol.for('customer-360.telemetry');

/** The SDK telemetry.ts started before the server's modules loaded, if it did. */
export function startedTelemetry(): { shutdown(): Promise<void> } | undefined {
  return (globalThis as Record<symbol, { shutdown(): Promise<void> } | undefined>)[TELEMETRY];
}

/**
 * Whether tracing is asked for: an OTLP endpoint or an explicit exporter, and the SDK not disabled.
 * The SDK's own default (OTLP to localhost:4318) is not taken as a wish: nothing listens there.
 */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (/^true$/i.test(env.OTEL_SDK_DISABLED?.trim() ?? '')) return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The sources that are SQL databases: their upstream spans are PostgreSQL client spans. */
const POSTGRESQL_SOURCES = new Set(['commerce', 'web']);
const OPERATION = createContextKey('customer-360 graphql operation span');

export interface TracingOptions {
  /** Where spans are made: the SDK's provider (telemetry.ts) by default; a test's own otherwise. */
  readonly tracer?: Tracer;
  /** Each source's upstream address (`sourcePeers`), for `server.address` on its upstream spans. */
  readonly peers?: Readonly<Record<string, Attributes>>;
}

/**
 * Our own spans, inside the SDK's HTTP server span: an INTERNAL span per GraphQL operation, one per
 * family call (one request's batch of keys, with what the cache answered) and, inside it, a CLIENT
 * span per upstream batch call, with the semantic conventions' `db.system.name`, `server.address`
 * and `error.type`. Attributes are counts, names and outcomes, never keys: no customer id or email
 * reaches a span.
 */
export class Tracing {
  readonly tracer: Tracer;
  private readonly peers: Readonly<Record<string, Attributes>>;

  constructor(options: TracingOptions = {}) {
    this.tracer = options.tracer ?? trace.getTracer('customer-360');
    this.peers = options.peers ?? {};
  }

  /**
   * Express middleware for /graphql, after the body parser: starts the operation span and runs the
   * rest of the request inside it (so Apollo, the resolvers and the loaders see it). It is named
   * once the document resolves (`query Profile`); `operationSpan()` finds it from Apollo's hooks.
   */
  readonly middleware: RequestHandler = (_req, res, next) => {
    const span = this.tracer.startSpan('GraphQL Operation', { kind: SpanKind.INTERNAL });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    context.with(trace.setSpan(context.active(), span).setValue(OPERATION, span), next);
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
        attributes: {
          ...(POSTGRESQL_SOURCES.has(call.source) && { [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL }),
          ...this.peers[call.source],
          'c360.source': call.source,
          'c360.family': call.family,
          'c360.batch_size': call.batchSize,
        },
      });
      return (result) => {
        span.setAttribute('c360.keys.failed', result.failedKeys);
        if (result.error !== undefined) {
          const kind = result.error instanceof SourceError ? result.error.kind : 'error';
          span.setAttributes({ 'c360.outcome': kind, [ATTR_ERROR_TYPE]: kind });
          // The kind only: an upstream's message may quote what it was asked for.
          span.setStatus({ code: SpanStatusCode.ERROR, message: kind });
        } else {
          span.setAttribute('c360.outcome', result.failedKeys > 0 ? 'partial' : 'ok');
        }
        span.end();
      };
    },
  };
}

/** The GraphQL operation span of the request being handled, when tracing is on. */
export function operationSpan(): Span | undefined {
  return context.active().getValue(OPERATION) as Span | undefined;
}

/**
 * `server.address` and `server.port` of each source's upstream, from the URLs it was configured
 * with: host and port only, never the credentials a database URL carries.
 */
export function sourcePeers(urls: Readonly<Record<string, string | undefined>>): Record<string, Attributes> {
  const peers: Record<string, Attributes> = {};
  for (const [source, url] of Object.entries(urls)) {
    if (!url) continue;
    const { hostname, port, protocol } = new URL(url);
    const defaultPort = protocol === 'https:' ? 443 : protocol === 'http:' ? 80 : 5432;
    peers[source] = { [ATTR_SERVER_ADDRESS]: hostname.replace(/^\[|\]$/g, ''), [ATTR_SERVER_PORT]: port ? Number(port) : defaultPort };
  }
  return peers;
}
