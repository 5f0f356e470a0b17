/**
 * OpenTelemetry's Node SDK, loaded with `node --import` before the server's own modules, because an
 * instrumentation can only patch a module (pg, ioredis, express, http) that is imported after it is
 * registered. `npm start`, `npm run dev` and the image start the server this way (docs/operations.md,
 * "Tracing"). Everything else comes from the standard OTEL_* variables, read by the SDK itself.
 *
 * Nothing starts unless traces have somewhere to go: an OTLP endpoint or OTEL_TRACES_EXPORTER. So a
 * plain `npm start` pays for no hooks at all.
 */
import { register } from 'node:module';
import type { Span } from '@opentelemetry/api';
import type { InstrumentationBase } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION, ATTR_URL_FULL, ATTR_URL_PATH, ATTR_URL_QUERY } from '@opentelemetry/semantic-conventions';
import { TELEMETRY, tracingWanted } from './tracing.ts';

/** Probes and scrapes: a span each would drown the requests worth tracing. */
const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * A URL for a span: path segments that could name a person (an id, a hash of an email, anything
 * with a digit, `@` or `%`) become `{id}`, query values `REDACTED`. Mailchimp's member URLs end in
 * the MD5 of the email, and a GET /graphql carries the document and variables in its query.
 */
export function scrubUrl(url: string): string {
  const parsed = new URL(url, 'http://_');
  const path = parsed.pathname
    .split('/')
    .map((segment) => (segment === '' || /^[A-Za-z_.-]+$/.test(segment) || /^(v\d{1,2}|\d\.\d)$/.test(segment) ? segment : '{id}'))
    .join('/');
  const query = [...parsed.searchParams.keys()].map((key) => `${encodeURIComponent(key)}=REDACTED`).join('&');
  const origin = url.startsWith('/') ? '' : parsed.origin;
  return `${origin}${path}${query ? `?${query}` : ''}`;
}

/** The instrumentations, configured so that no secret or personal value reaches a span. */
function instrumentations(): InstrumentationBase[] {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => UNTRACED.has((req.url ?? '').split('?')[0]!),
      requestHook: (span: Span, request) => {
        if (!('setHeader' in request)) {
          const [path = '', query] = (request.url ?? '').split('?', 2);
          // The Mailchimp webhook's path holds its secret.
          if (path.startsWith('/webhooks/')) span.setAttribute(ATTR_URL_PATH, scrubUrl(path));
          if (query) span.setAttribute(ATTR_URL_QUERY, scrubUrl(`/?${query}`).slice(2));
        } else {
          const outgoing = request as { protocol?: string; host?: string; path?: string };
          span.setAttribute(ATTR_URL_FULL, scrubUrl(`${outgoing.protocol ?? 'http:'}//${outgoing.host ?? 'localhost'}${outgoing.path ?? '/'}`));
        }
      },
    }),
    new ExpressInstrumentation(),
    // Statements only inside a traced request: not the pool's housekeeping or the demo's seeding.
    // Parameter values are never recorded (enhancedDatabaseReporting stays off).
    new PgInstrumentation({ requireParentSpan: true }),
    // Cache keys name customers: the command name only.
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
  ];
}

function start(env: NodeJS.ProcessEnv): NodeSDK | undefined {
  if (!tracingWanted(env)) return undefined;
  // Metrics are Prometheus' (GET /metrics) and logs go to stdout, unless the operator asks for
  // OTLP ones too: the SDK would otherwise push both to the collector by default.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const used = instrumentations();
  // Without this loader hook, modules imported as ESM are patched only in part (pg is, express
  // is not); it is limited to the modules the instrumentations patch, so nothing else is wrapped.
  const include = used.flatMap((i) => i.getModuleDefinitions().map((d) => d.name));
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: [...include, ...include.map((n) => `node:${n}`)] } });
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK's detectors, override these.
    resource: defaultResource().merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: 'customer-360',
        ...(env.npm_package_version && { [ATTR_SERVICE_VERSION]: env.npm_package_version }),
      }),
    ),
    instrumentations: used,
  });
  sdk.start();
  return sdk;
}

const sdk = start(process.env);
if (sdk) (globalThis as Record<symbol, unknown>)[TELEMETRY] = sdk;
