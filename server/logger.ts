import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * The process logger: JSON lines on stdout. Redaction is a safety net for headers and keys that
 * carry secrets or personal data; the first rule is not to log values at all. A line written while
 * a span is active carries its `trace_id`, `span_id` and `trace_flags` (OpenTelemetry's names for
 * log correlation), so a log line leads to its trace; without tracing there is never an active span.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'customer-360' },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', '*.email', '*.emails', '*.password', '*.token', '*.apiKey'],
        censor: '[redacted]',
      },
      mixin: traceContext,
    },
    destination,
  );
}

function traceContext(): Record<string, string> {
  const span = trace.getActiveSpan()?.spanContext();
  if (!span || !isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId, trace_flags: `0${span.traceFlags.toString(16)}`.slice(-2) };
}
