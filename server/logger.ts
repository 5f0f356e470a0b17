import { pino, type Logger } from 'pino';

/**
 * The process logger: JSON lines on stdout. Redaction is a safety net for headers and keys that
 * carry secrets or personal data; the first rule is not to log values at all.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'customer-360' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.email', '*.emails', '*.password', '*.token', '*.apiKey'],
      censor: '[redacted]',
    },
  });
}
