import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import {
  getVariableValues,
  GraphQLError,
  Kind,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import { ErrorCode } from '../../resolvers/errors.ts';
import type { Context } from '../context.ts';
import { DocumentPlans } from '../plan.ts';
import { costPlan } from './cost.ts';
import type { CostLimiter } from './rate-limit.ts';
import { maySeeSchema, type Principal } from './scopes.ts';

export interface Limits {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxDirectives: number;
  /** Lexer tokens in a document (graphql-js's own parse limit). */
  readonly maxTokens: number;
  /** Bytes of the document text (checked on the HTTP request, before parsing). */
  readonly maxDocumentBytes: number;
  /** Most an operation may cost (see cost.ts). */
  readonly maxCost: number;
  /** Items assumed in a list no argument sizes. */
  readonly defaultListSize: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxDepth: 12,
  maxAliases: 20,
  maxDirectives: 20,
  maxTokens: 2000,
  maxDocumentBytes: 16_384,
  maxCost: 10_000,
  defaultListSize: 10,
};

type LimitName = 'depth' | 'aliases' | 'directives' | 'cost' | 'documentSize' | 'tokens';

/** A 400 with OPERATION_LIMIT_EXCEEDED, naming the limit. */
export function limitExceeded(limit: LimitName, message: string, status = 400): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.OperationLimitExceeded, limit, http: { status } } });
}

/**
 * Checks one operation before execution, in this order, so a refused one costs no upstream call
 * and no rate-limit budget: depth, aliases and directives (graphql-armor's rules), who may read
 * the schema itself (introspection and `_service`: segments:read or admin), the cost against
 * `maxCost`, then the client's rate limit (cost-weighted, 429 with Retry-After). Throws the
 * GraphQLError to answer with. Variables that do not coerce are left for execution to report.
 */
export type OperationCheck = (args: {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown> | undefined;
  principal: Principal;
}) => Promise<void>;

/** What the limits make of one document, whoever sends it with whatever variables. */
interface LimitsPlan {
  /** The first depth, alias or directive limit the document exceeds; null when none. */
  readonly shape: Rejection | null;
  /** Per operation of the document, planned on its first check. */
  readonly operations: Map<OperationDefinitionNode, OperationPlan>;
}

interface OperationPlan {
  readonly readsSchema: boolean;
  /** Planned on first use, after the checks before it passed (a schema's mistyped cost declaration throws here). */
  cost?: (variables: Record<string, unknown>) => number;
}

interface Rejection {
  readonly limit: LimitName;
  readonly message: string;
}

/** The OperationCheck of these limits; /graphql runs it in `operationLimitsPlugin` (or in front of Apollo, server/front.ts), the subscription transports on subscribe. */
export function operationCheck(limits: Limits, limiter: CostLimiter | null): OperationCheck {
  const shapeRules = armorRules(limits);
  const plans = new DocumentPlans<LimitsPlan>('operation limits', (schema, document) => ({ shape: shapeRejection(schema, document, shapeRules), operations: new Map() }));
  return async ({ schema, document, operation, variables, principal }) => {
    const plan = plans.of(schema, document);
    if (plan.shape) throw limitExceeded(plan.shape.limit, plan.shape.message);
    let planned = plan.operations.get(operation);
    if (!planned) {
      planned = { readsSchema: readsSchema(document, operation.selectionSet, new Set()) };
      plan.operations.set(operation, planned);
    }
    if (!maySeeSchema(principal) && planned.readsSchema) {
      throw new GraphQLError('Forbidden: introspection and `_service` need the segments:read or admin scope.', {
        extensions: { code: ErrorCode.Forbidden, http: { status: 403 } },
      });
    }
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
    if (coerced.errors) return;
    planned.cost ??= costPlan(schema, document, operation, limits);
    const cost = planned.cost(coerced.coerced);
    if (cost > limits.maxCost) {
      throw limitExceeded('cost', `Operation cost limit of ${limits.maxCost} exceeded, found ${Math.round(cost)}.`);
    }
    if (limiter) await limiter.consume(principal, Math.max(1, Math.ceil(cost)));
  };
}

/**
 * Runs the check on each operation of /graphql before execution, unless it already ran for the
 * request in front of Apollo (server/front.ts): then its outcome
 * stands, so that no request is checked, or charged, twice.
 */
export function operationLimitsPlugin(check: OperationCheck): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        // Not async: the check's own promise, already rejected when the shape or the cost is over,
        // so Apollo (which runs every plugin's hook at once) answers with it before the argument checks.
        didResolveOperation({ document, schema, operation, request, contextValue }) {
          if (contextValue.checked) return contextValue.checked.refusal ? Promise.reject(contextValue.checked.refusal) : Promise.resolve();
          if (!operation) return Promise.resolve(); // no operation to run: execution will say so, with no upstream call
          return check({ schema, document, operation, variables: request.variables, principal: contextValue.auth.principal });
        },
      };
    },
  };
}

let rejections: Rejection[] | null = null;

/** Depth (fragments flattened), aliases and directives, as graphql-armor's validation rules. */
function armorRules(limits: Limits): ValidationRule[] {
  const reject = (limit: LimitName) => [(_: unknown, error: GraphQLError) => void rejections?.push({ limit, message: error.message.replace(/^Syntax Error: /, '') })];
  const { validationRules } = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, flattenFragments: true, onReject: reject('depth') },
    maxAliases: { n: limits.maxAliases, onReject: reject('aliases') },
    maxDirectives: { n: limits.maxDirectives, onReject: reject('directives') },
    costLimit: { enabled: false },
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return validationRules;
}

/** The first limit graphql-armor's rules find exceeded in the document, or null. */
function shapeRejection(schema: GraphQLSchema, document: DocumentNode, rules: ValidationRule[]): Rejection | null {
  // validate() is synchronous, so the module-level list belongs to this call alone.
  rejections = [];
  try {
    validate(schema, document, rules);
    return rejections[0] ?? null;
  } finally {
    rejections = null;
  }
}

/** True when the selection reaches `__schema`, `__type` or `_service` (root fields, maybe through fragments). */
function readsSchema(document: DocumentNode, set: SelectionSetNode, seen: Set<string>): boolean {
  return set.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return ['__schema', '__type', '_service'].includes(selection.name.value);
    if (selection.kind === Kind.INLINE_FRAGMENT) return readsSchema(document, selection.selectionSet, seen);
    const name = selection.name.value;
    if (seen.has(name)) return false;
    seen.add(name);
    const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === name) as
      FragmentDefinitionNode | undefined;
    return fragment ? readsSchema(document, fragment.selectionSet, seen) : false;
  });
}
