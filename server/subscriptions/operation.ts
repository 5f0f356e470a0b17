import { unwrapResolverError } from '@apollo/server/errors';
import {
  getOperationAST,
  OperationTypeNode,
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { ErrorCode } from '../../resolvers/errors.ts';
import { SourceError } from '../../sources/errors.ts';
import { limitExceeded, type Limits, type OperationCheck } from '../auth/limits.ts';
import type { Principal } from '../auth/scopes.ts';
import { writeAuditLine } from '../auth/audit.ts';
import { formatError, isExpected } from '../errors.ts';
import type { OperationContext } from './context.ts';

/** A subscribe request as both protocols carry it. */
export interface OperationRequest {
  readonly query?: unknown;
  readonly operationName?: string | null;
  readonly variables?: Record<string, unknown> | null;
}

/** An operation that passed every check, ready for graphql-js `subscribe`. */
export interface PreparedOperation {
  readonly document: DocumentNode;
  readonly operationName: string | undefined;
  readonly variableValues: Record<string, unknown> | undefined;
}

/**
 * Checks a subscribe request as /graphql checks a query, before anything listens: the document's
 * size and tokens, GraphQL validation, that it is a subscription (queries and mutations go to
 * POST /graphql, where their plugins run), then the operation limits (depth, aliases, directives,
 * introspection, cost, the client's rate limit). Returns the errors to answer with instead.
 */
export async function prepareOperation(
  schema: GraphQLSchema,
  request: OperationRequest,
  principal: Principal,
  security: { readonly check: OperationCheck; readonly limits: Limits },
): Promise<PreparedOperation | GraphQLError[]> {
  const { limits } = security;
  if (typeof request.query !== 'string') return [requestError('Expected the operation as a string in `query`.', 'BAD_REQUEST')];
  const bytes = Buffer.byteLength(request.query);
  if (bytes > limits.maxDocumentBytes) return [limitExceeded('documentSize', `Document size limit of ${limits.maxDocumentBytes} bytes exceeded, found ${bytes}.`)];
  let document: DocumentNode;
  try {
    document = parse(request.query, { maxTokens: limits.maxTokens });
  } catch (error) {
    const message = (error as Error).message;
    if (/tokens\. Parsing aborted/.test(message)) return [limitExceeded('tokens', message.replace(/^Syntax Error: /, ''))];
    return [requestError(message, 'GRAPHQL_PARSE_FAILED')];
  }
  const invalid = validate(schema, document);
  if (invalid.length > 0) return invalid.map((error) => requestError(error.message, 'GRAPHQL_VALIDATION_FAILED'));
  const operationName = request.operationName ?? undefined;
  const operation = getOperationAST(document, operationName);
  if (!operation) return [requestError('Expected exactly one operation, or `operationName` naming one of them.', 'OPERATION_RESOLUTION_FAILURE')];
  if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
    return [requestError(`Expected a subscription operation, got a ${operation.operation}: send queries and mutations to POST /graphql.`, 'BAD_REQUEST')];
  }
  const variableValues = request.variables ?? undefined;
  try {
    await security.check({ schema, document, operation, variables: variableValues, principal });
  } catch (error) {
    if (error instanceof GraphQLError) return [error];
    throw error;
  }
  return { document, operationName: operation.name?.value ?? operationName, variableValues };
}

/** Errors as the client may see them (formatError, as /graphql's, without HTTP details). */
export function presentErrors(errors: readonly GraphQLError[]): GraphQLFormattedError[] {
  return errors.map((error) => {
    const formatted = formatError(error.toJSON(), error);
    if (!formatted.extensions?.http) return formatted;
    const { http: _, ...extensions } = formatted.extensions;
    return { ...formatted, extensions };
  });
}

/**
 * One event's result as the client gets it: errors formatted (an internal error's message never
 * leaves), each source's freshness in `extensions.sources` as queries report it. What clients do
 * not see is logged, as /graphql's error logging does, and so is the event's audit line.
 */
export function presentResult(result: ExecutionResult, context: OperationContext): FormattedExecutionResult {
  writeAuditLine(context, context.operationName);
  for (const error of result.errors ?? []) {
    const original = unwrapResolverError(error);
    if (original instanceof SourceError) {
      context.log.warn({ source: original.source, kind: original.kind, path: error.path, err: original }, 'source failed');
    } else if (!isExpected(error)) {
      context.log.error({ err: original, path: error.path }, 'unexpected error');
    }
  }
  return {
    ...(result.data !== undefined && { data: result.data }),
    ...(result.errors && { errors: presentErrors(result.errors) }),
    ...(!context.provenance.empty && { extensions: { ...result.extensions, sources: context.provenance.summary() } }),
  };
}

function requestError(message: string, code: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}

/** The operation was refused before it started because the client may not open another one. */
export function tooManyOnConnection(limit: number): GraphQLError {
  return new GraphQLError(`Subscription limit reached: at most ${limit} subscriptions per connection.`, {
    extensions: { code: ErrorCode.OperationLimitExceeded, limit: 'subscriptionsPerConnection' },
  });
}
