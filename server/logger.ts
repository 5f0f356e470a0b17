import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

/** What a censored value is written as. */
export const CENSOR = '[redacted]';
/** Keys whose values are never written, at the top of a line or one level below it (`err.email`, `customer.token`). */
const SECRET_KEYS = ['email', 'emails', 'password', 'token', 'apiKey'];
/** Request headers that carry credentials, under `req.headers`. */
const SECRET_HEADERS = ['authorization', 'cookie'];

/**
 * The process logger: JSON lines on stdout. Redaction is a safety net for headers and keys that
 * carry secrets or personal data; the first rule is not to log values at all. A line written while
 * a span is active carries its `trace_id`, `span_id` and `trace_flags` (OpenTelemetry's names for
 * log correlation), so a log line leads to its trace; without tracing there is never an active span.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'customer-360' },
      // The same rules as pino's `redact` paths ('*.email', 'req.headers.authorization', ...) and
      // the top level too, checked key by key: pino's redaction copies every line it writes, which
      // was a tenth of a cached request's CPU (docs/benchmarks.md).
      formatters: { log: redact, bindings: redact },
      mixin: traceContext,
    },
    destination,
  );
  // pino applies a bindings formatter to the root's bindings only; every child's go through here.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redact(bindings), options);
  } as typeof child;
  return logger;
}

/**
 * The line with every secret key's value censored, at the top and one level down, and the
 * credential headers of `req.headers`; the line itself when there is none, else a copy (what the
 * caller passed is never changed).
 */
export function redact<T extends Record<string, unknown>>(line: T): T {
  let copy: Record<string, unknown> | undefined;
  for (const key in line) {
    if (!Object.hasOwn(line, key)) continue;
    const value: unknown = line[key];
    let safe = value;
    if (SECRET_KEYS.includes(key)) safe = CENSOR;
    else if (typeof value === 'object' && value !== null) safe = key === 'req' ? censoredHeaders(censored(value, SECRET_KEYS)) : censored(value, SECRET_KEYS);
    if (safe !== value) (copy ??= { ...line })[key] = safe;
  }
  return (copy as T | undefined) ?? line;
}

function censored(value: object, keys: readonly string[]): object {
  let copy: Record<string, unknown> | undefined;
  for (const key of keys) {
    if (Object.hasOwn(value, key)) (copy ??= copyOf(value))[key] = CENSOR;
  }
  return copy ?? value;
}

/** A shallow copy; an error stays an error (its class, message and stack), for pino's serializer. */
function copyOf(value: object): Record<string, unknown> {
  if (Array.isArray(value)) return Object.assign([], value) as unknown as Record<string, unknown>;
  if (value instanceof Error) return Object.create(Object.getPrototypeOf(value) as object, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
  return { ...value };
}

function censoredHeaders(req: object): object {
  const headers = (req as { headers?: unknown }).headers;
  if (typeof headers !== 'object' || headers === null) return req;
  const safe = censored(headers, SECRET_HEADERS);
  return safe === headers ? req : { ...req, headers: safe };
}

function traceContext(): Record<string, string> {
  const span = trace.getActiveSpan()?.spanContext();
  if (!span || !isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId, trace_flags: `0${span.traceFlags.toString(16)}`.slice(-2) };
}
