import {
  execute,
  getArgumentValues,
  isObjectType,
  parse,
  TypeInfo,
  validate,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Invalidator } from '../../cache/invalidation.ts';
import { createLoaders, type Upstreams } from '../../cache/loaders.ts';
import { Provenance } from '../../cache/provenance.ts';
import { argumentChecks } from '../../resolvers/arguments.ts';
import { badUserInput } from '../../resolvers/errors.ts';
import { AuditTrail } from '../../server/auth/audit.ts';
import { effectivePolicy } from '../../server/auth/enforce.ts';
import { coordinate, describePolicy, heldAlternatives } from '../../server/auth/policy.ts';
import type { Principal, Scope } from '../../server/auth/scopes.ts';
import type { Context, Settings } from '../../server/context.ts';
import { formatError, isExpected } from '../../server/errors.ts';

export interface SelectionOptions {
  /** The server's schema with its access policy enforced (`security.protect(buildSchema())`). */
  readonly schema: GraphQLSchema;
  readonly upstreams: Upstreams;
  readonly invalidator: Invalidator;
  readonly settings: Settings;
  readonly logger: Logger;
  /** Time budget of one resolution, as a request's (REQUEST_BUDGET_MS). */
  readonly budgetMs: number;
}

/** What a selection resolved to: `data.customer` (null when nobody has the id) and errors as a client would see them. */
export interface SelectionResult {
  readonly data: Record<string, unknown> | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

const MAX_SELECTION_BYTES = 8192;
const OPERATION_NAME = 'OutgoingWebhook';
const EXAMPLE = '`{ id traits { rfm { segment } } }`';

/**
 * An endpoint's selection on `Customer`, run as a query would be: through the server's protected
 * schema, with fresh loaders and a service principal holding the endpoint's scopes, so a webhook
 * can never read more than an API key with those scopes.
 */
export class SelectionRunner {
  /** Parsed and validated documents by selection: validated once, not at every delivery. */
  private readonly documents = new LRUCache<string, DocumentNode>({ max: 1000 });

  constructor(private readonly options: SelectionOptions) {}

  /**
   * Checks a selection before it is registered: one selection set on `Customer` that the schema
   * validates, whose arguments pass the same checks as a query's, and whose every field the scopes
   * grant. Throws BAD_USER_INPUT (argument `selection`) saying what is wrong.
   */
  check(selection: string, scopes: readonly Scope[]): void {
    const fail = (message: string) => badUserInput(`selection: ${message}`, 'selection');
    if (Buffer.byteLength(selection) > MAX_SELECTION_BYTES) throw fail(`expected at most ${MAX_SELECTION_BYTES} bytes, got ${Buffer.byteLength(selection)}`);
    if (!selection.trim().startsWith('{')) throw fail(`expected a selection set on Customer in braces, e.g. ${EXAMPLE}`);
    let document: DocumentNode;
    try {
      document = documentOf(selection);
    } catch (error) {
      throw fail(`expected a selection set on Customer, e.g. ${EXAMPLE}: ${(error as Error).message}`);
    }
    // A selection that closes the operation's braces could add operations of its own.
    if (document.definitions.length !== 1) throw fail('expected one selection set on Customer, got more than one definition (fragments are not supported; use inline fragments)');
    const { schema } = this.options;
    const errors = validate(schema, document);
    if (errors.length > 0) throw fail(errors.map((error) => error.message).join('; '));

    const principal = servicePrincipal('registration', scopes);
    const refused: string[] = [];
    const typeInfo = new TypeInfo(schema);
    visit(
      document,
      visitWithTypeInfo(typeInfo, {
        Field: (node) => {
          const parent = typeInfo.getParentType();
          const field = typeInfo.getFieldDef();
          // Fields read through an interface are checked at run time, on the object type.
          if (!field || !isObjectType(parent)) return;
          const policy = effectivePolicy(schema, parent, field);
          if (policy && heldAlternatives(policy, principal).length === 0) refused.push(`${coordinate(parent, field)} needs ${describePolicy(policy)}`);
          const check = argumentChecks[`${parent.name}.${field.name}`];
          if (check && node.arguments?.length) {
            try {
              check(getArgumentValues(field, node, { customerId: '1' }), this.options.settings);
            } catch (error) {
              throw fail((error as Error).message);
            }
          }
        },
      }),
    );
    if (refused.length > 0) throw fail(`${[...new Set(refused)].join('; ')}; the endpoint's scopes are ${scopes.join(', ')}`);
  }

  /**
   * Resolves an endpoint's selection for one customer. Never throws for a source's failure: its
   * fields are null with their errors, as in a query. `requestId` names the delivery in logs.
   */
  async run(endpoint: { readonly id: string; readonly selection: string; readonly scopes: readonly Scope[] }, customerId: string, requestId: string): Promise<SelectionResult> {
    const { schema, upstreams, invalidator, settings, logger, budgetMs } = this.options;
    const deadline = Date.now() + budgetMs;
    const provenance = new Provenance();
    const log = logger.child({ requestId });
    const auth = { principal: servicePrincipal(endpoint.id, endpoint.scopes), audit: new AuditTrail() };
    const context: Context = {
      loaders: createLoaders(upstreams, { deadline, report: provenance.record }),
      cache: invalidator.within(deadline),
      provenance,
      requestId,
      log,
      settings,
      auth,
    };
    const result = await execute({ schema, document: this.validated(endpoint.selection), variableValues: { customerId }, contextValue: context, operationName: OPERATION_NAME });
    for (const error of result.errors ?? []) {
      if (!isExpected(error)) log.error({ err: error.originalError ?? error, path: error.path, endpointId: endpoint.id }, 'unexpected error in a webhook selection');
    }
    if (!auth.audit.empty) {
      // The same line a query writes: personal data leaves through webhooks too.
      log.info(
        {
          audit: {
            client: auth.principal.client,
            kind: auth.principal.kind,
            operationName: OPERATION_NAME,
            customerIds: [...auth.audit.customers],
            customerCount: auth.audit.customers.size,
            fields: [...auth.audit.fields].sort(),
            ...(auth.audit.masked.size > 0 && { masked: [...auth.audit.masked].sort() }),
            ...(auth.audit.denied.size > 0 && { denied: [...auth.audit.denied].sort() }),
          },
        },
        'personal data access',
      );
    }
    return {
      data: result.data ?? null,
      ...(result.errors?.length && { errors: result.errors.map((error) => formatError(error.toJSON(), error)) }),
    };
  }

  /**
   * The selection's document, validated against today's schema: execution alone would leave out a
   * field the schema no longer has without a word. Throws when it does not validate.
   */
  private validated(selection: string): DocumentNode {
    let document = this.documents.get(selection);
    if (!document) {
      document = documentOf(selection);
      const errors = validate(this.options.schema, document);
      if (errors.length > 0) throw new Error(`the selection no longer validates: ${errors.map((error) => error.message).join('; ')}`);
      this.documents.set(selection, document);
    }
    return document;
  }
}

/** The operation a selection runs as; throws the parser's GraphQLError. */
function documentOf(selection: string): DocumentNode {
  return parse(`query ${OPERATION_NAME}($customerId: ID!) { customer(id: $customerId) ${selection} }`, { maxTokens: 2000 });
}

/**
 * Who a delivery reads as: the endpoint, with its scopes. Not anonymous, so `@authenticated`
 * fields read as for an API key with the same scopes; bound to no customer.
 */
function servicePrincipal(endpointId: string, scopes: readonly Scope[]): Principal {
  return { kind: 'api-key', client: `webhook:${endpointId}`, rateLimitKey: `webhook:${endpointId}`, scopes: new Set(scopes), customerId: null, anonymousId: null };
}
