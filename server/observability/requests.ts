import type { ApolloServerPlugin, GraphQLRequestContextWillSendResponse } from '@apollo/server';
import type { OperationDefinitionNode } from 'graphql';
import { SpanStatusCode } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { whenAnswered } from '../after-response.ts';
import type { Context } from '../context.ts';
import type { Metrics, OperationOutcome } from './metrics.ts';
import { operationSpan } from './tracing.ts';

/** GraphQL names cannot hold `@` or `.`; anything else a client sends is not logged as a name. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/**
 * One log line, one metric sample and the operation span's attributes per GraphQL request: request
 * id (from the request's logger), operation name and type, client, outcome, HTTP status, duration,
 * error codes and, per source, what its data was made of and what it cost. Never the variables,
 * the document or the data, so no personal value reaches a log line.
 */
export function requestObservability(metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      const started = performance.now();
      return {
        async didResolveOperation({ operation }) {
          if (operation) nameOperationSpan(operation);
        },
        async willSendResponse(request) {
          const { contextValue, operation } = request;
          // Classed now: a later plugin may still change the status (graphqlOverHttp); written once the response is.
          const record: OperationRecord = {
            context: contextValue,
            operation,
            outcome: outcomeOf(request),
            status: request.response.http.status ?? 200,
            errors: errorCodes(request),
            seconds: (performance.now() - started) / 1000,
          };
          whenAnswered(contextValue, () => recordOperation(metrics, record));
        },
      };
    },
  };
}

/** One GraphQL request's outcome, as its log line, metric sample and span attributes take it. */
export interface OperationRecord {
  readonly context: Pick<Context, 'log' | 'requestId' | 'provenance' | 'auth'> & { readonly answer?: { readonly remembered: boolean } | undefined };
  /** The operation the document resolved to; none when it did not resolve (a parse or validation error). */
  readonly operation: OperationDefinitionNode | undefined;
  readonly outcome: OperationOutcome;
  readonly status: number;
  /** Error codes and their counts, when the response has errors. */
  readonly errors: Record<string, number> | undefined;
  readonly seconds: number;
}

/** Names the request's operation span (when tracing is on) as the semantic conventions do: `{type} {name}`, or the type alone. */
export function nameOperationSpan(operation: OperationDefinitionNode): void {
  const span = operationSpan();
  if (!span) return;
  const name = operation.name?.value;
  span.updateName(name ? `${operation.operation} ${name}` : operation.operation);
  span.setAttributes({ 'graphql.operation.type': operation.operation, ...(name && { 'graphql.operation.name': name }) });
}

/**
 * Writes one request's line, metric sample and span attributes: what requestObservability does
 * when Apollo sends a response, and what a remembered answer served before Apollo does (server/answers.ts).
 */
export function recordOperation(metrics: Metrics, { context, operation, outcome, status, errors, seconds }: OperationRecord): void {
  const type = operation?.operation ?? 'unknown';
  const name = operation ? (operation.name?.value ?? null) : null;
  metrics.operation(operation ? metrics.operationNames.label(name) : '(unresolved)', type, outcome, seconds);

  const logged = context.log.isLevelEnabled('info');
  const span = operationSpan();
  if (!logged && !span) return;
  const client = clientOf(context);
  const sources = context.provenance.empty ? undefined : context.provenance.summary();
  const remembered = context.answer?.remembered === true;
  if (logged) {
    context.log.info(
      {
        operationName: name && NAME.test(name) ? name : null,
        operationType: type,
        ...(client && { client }),
        outcome,
        status,
        durationMs: Math.round(seconds * 10_000) / 10,
        ...(remembered && { remembered: true }),
        ...(errors && { errors }),
        // A list, not an object keyed by source: the logger redacts any `*.email` key.
        ...(sources && { sources: Object.entries(sources).map(([source, p]) => ({ source, ...p })) }),
      },
      'graphql request',
    );
  }
  if (span) {
    span.setAttributes({
      'c360.request_id': context.requestId,
      'c360.outcome': outcome,
      ...(remembered && { 'c360.remembered': true }),
      ...(client && { 'c360.client': client.name }),
      ...Object.fromEntries(Object.entries(sources ?? {}).map(([source, p]) => [`c360.source.${source}.status`, p.status])),
    });
    // A failed or refused operation's class: its first error code (ErrorCode), never a message.
    const code = errors && (outcome === 'error' || outcome === 'rejected') ? Object.keys(errors)[0]! : undefined;
    if (code) span.setAttribute(ATTR_ERROR_TYPE, code);
    if (code && outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  }
}

function outcomeOf(request: GraphQLRequestContextWillSendResponse<Context>): OperationOutcome {
  const body = request.response.body;
  const result = body.kind === 'single' ? body.singleResult : body.initialResult;
  if (!result.errors?.length) return 'ok';
  const status = request.response.http.status ?? 200;
  if (status >= 400 && status < 500) return 'rejected';
  const data = result.data;
  return data && Object.values(data).some((value) => value !== null) ? 'partial' : 'error';
}

/** How many errors of each code the response carries, e.g. `{ SOURCE_TIMEOUT: 1 }`. */
function errorCodes(request: GraphQLRequestContextWillSendResponse<Context>): Record<string, number> | undefined {
  const body = request.response.body;
  const errors = (body.kind === 'single' ? body.singleResult : body.initialResult).errors;
  if (!errors?.length) return undefined;
  const counts: Record<string, number> = {};
  for (const error of errors) {
    const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'UNKNOWN';
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

/**
 * Who called, when the authentication layer says so (`contextValue.auth.principal`): its client
 * name and kind only. Read defensively: a server without authentication has no `auth`.
 */
function clientOf(context: Pick<Context, 'auth'>): { name: string; kind?: string } | undefined {
  const principal = (context as { auth?: { principal?: { client?: unknown; kind?: unknown } } }).auth?.principal;
  if (typeof principal?.client !== 'string') return undefined;
  return { name: principal.client.slice(0, 100), ...(typeof principal.kind === 'string' && { kind: principal.kind }) };
}
