import {
  getArgumentValues,
  getVariableValues,
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Principal } from '../server/auth/scopes.ts';
import type { Context } from '../server/context.ts';
import { DocumentPlans } from '../server/plan.ts';
import { customerKey, customersKeys } from './arguments.ts';
import type { IdentifiedBy } from './generated/types.ts';
import { customerWithEmail, customerWithId, mayRead, selectedNames, startByEmail, type EarlyStart } from './lookup.ts';

// The lookups of an operation's root fields, started in front of Apollo Server's pipeline
// (server/front.ts): a request whose document Apollo has validated before, and whose operation
// check has passed, starts reading its customers before the pipeline runs. The resolvers then find
// the same loads in the request's loaders (a DataLoader reads a key once per request), so nothing
// is read twice, and a lookup by id puts the shop's identity statement, and after it the sources
// keyed by email, on the wire sooner by the pipeline's time.

/** One root field of an operation that looks customers up, as its document gives it. */
interface PlannedLookup {
  readonly field: 'customer' | 'customers' | 'me';
  /** The field as the document writes it (its arguments: literals or variables) and as the schema defines it. */
  readonly node: FieldNode;
  readonly definition: GraphQLField<unknown, unknown>;
  /** What the field selects (EarlyStart.selected). */
  readonly selected: ReadonlySet<string>;
}

const KEY_ARGUMENTS: Readonly<Record<PlannedLookup['field'], ReadonlySet<string>>> = {
  customer: new Set(['id', 'email']),
  customers: new Set(['ids', 'emails']),
  me: new Set(),
};

/** An operation's root lookups, and whether they are all it asks (`__typename` aside). */
interface OperationLookups {
  readonly lookups: readonly PlannedLookup[];
  readonly alone: boolean;
}

/**
 * The lookups each query of `document` starts at its root, from the document alone: `customer` by
 * id or email, `customers` by ids or emails, and `me`. A root field under a directive (@include,
 * @skip) or with another key (a HubSpot contact id, an anonymous id: each a read before the
 * lookup) is left to its resolver.
 */
function planLookups(schema: GraphQLSchema, document: DocumentNode): ReadonlyMap<OperationDefinitionNode, OperationLookups> {
  const rootFields = schema.getQueryType()?.getFields() ?? {};
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  const plans = new Map<OperationDefinitionNode, OperationLookups>();
  for (const operation of document.definitions) {
    if (operation.kind !== Kind.OPERATION_DEFINITION || operation.operation !== OperationTypeNode.QUERY) continue;
    const lookups: PlannedLookup[] = [];
    let alone = true;
    for (const selection of operation.selectionSet.selections) {
      const field = selection.kind === Kind.FIELD ? selection.name.value : null;
      if (field === '__typename') continue;
      if (selection.kind !== Kind.FIELD || selection.directives?.length || (field !== 'customer' && field !== 'customers' && field !== 'me')) {
        alone = false;
        continue;
      }
      const definition = rootFields[field];
      if (!definition || !(selection.arguments ?? []).every((arg) => KEY_ARGUMENTS[field].has(arg.name.value))) {
        alone = false;
        continue;
      }
      const selected = new Set<string>();
      selectedNames(selection.selectionSet, fragments, selected);
      lookups.push({ field, node: selection, definition, selected });
    }
    if (lookups.length > 0) plans.set(operation, { lookups, alone });
  }
  return plans;
}

const plans = new DocumentPlans('head start', planLookups);

/** A request of a document Apollo validated before, whose operation check has passed. */
export interface CheckedRequest {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly principal: Principal;
}

/**
 * Starts the request's root lookups in `loaders` (those its resolvers will use), before Apollo
 * Server's pipeline. Resolves when the pipeline should run: when the operation asks for nothing
 * but its lookups, once their slowest reads are on their way (by id, the shop's identity
 * statement, then the sources keyed by email: nothing of the operation could start before it,
 * and the pipeline's work then overlaps the slowest source's wait instead of delaying it); with
 * other root fields, which must not wait for a slow shop, after one turn of the event loop, in
 * which the lookups' first reads leave. Null when the operation has no lookup to start.
 */
export function headStart(loaders: Context['loaders'], request: CheckedRequest): Promise<unknown> | null {
  const plan = plans.of(request.schema, request.document).get(request.operation);
  if (!plan) return null;
  // The variables as execution will coerce them (a custom scalar's rules included): with any it
  // refuses, Apollo answers the error and nothing is read.
  const coerced = getVariableValues(request.schema, request.operation.variableDefinitions ?? [], request.variables ?? {}, { maxErrors: 1 });
  if ('errors' in coerced) return null;
  const started = startLookups(loaders, plan.lookups, { ...request, variables: coerced.coerced });
  return plan.alone ? started : new Promise((resolve) => setImmediate(resolve));
}

/**
 * Starts the planned lookups of one request, with its variables, for its principal: only those
 * the principal may ask (the root field's policy; a token bound to one customer starts its own
 * `me` alone), only with keys the resolvers would accept (anything else is theirs to refuse).
 * What the reads find, or how they fail, is the resolvers' to answer. Resolves once each lookup
 * has its slowest reads on their way: by email at once (the sources keyed by email start beside
 * the shop's lookup), by id once the shop has given the email and they have started.
 */
function startLookups(loaders: Context['loaders'], lookups: readonly PlannedLookup[], { schema, variables, principal }: CheckedRequest): Promise<unknown> {
  const bound = principal.customerId !== null || principal.anonymousId !== null;
  const started: Array<Promise<unknown>> = [];
  const byId = (id: string, by: IdentifiedBy, early: EarlyStart) => started.push(customerWithId(loaders, id, by, early).catch(ignore));
  // The sources keyed by email first, the slowest among them leading: the shop's statement would
  // otherwise be built and sent before their requests (as customerWithEmail orders them too).
  const byEmail = (email: string, early: EarlyStart) => {
    const starting = startByEmail(loaders, email, early);
    if (starting) started.push(starting);
    void customerWithEmail(loaders, email).catch(ignore);
  };
  for (const { field, node, definition, selected } of lookups) {
    if ((bound && field !== 'me') || !mayRead(schema, principal, 'Query', field)) continue;
    const early: EarlyStart = { selected, schema, principal };
    try {
      if (field === 'me') {
        if (principal.customerId !== null) byId(principal.customerId, 'TOKEN', early);
        continue;
      }
      // The arguments as execution gives them to the resolver; then the resolver's own key checks.
      const args = getArgumentValues(definition, node, variables);
      if (field === 'customer') {
        const key = customerKey(args);
        if (key.kind === 'id') byId(key.value, 'CUSTOMER_ID', early);
        else if (key.kind === 'email') byEmail(key.value, early);
      } else {
        const keys = customersKeys(args);
        for (const key of keys.values) {
          if (keys.kind === 'ids') byId(key, 'CUSTOMER_ID', early);
          else byEmail(key, early);
        }
      }
    } catch {
      // A key the resolver will refuse: it answers the error, and nothing is read.
    }
  }
  return Promise.all(started);
}

const ignore = () => undefined;
