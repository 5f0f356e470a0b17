import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
  valueFromASTUntyped,
} from 'graphql';

/**
 * Query cost, in the shape of Apollo's demand control, read from the schema's declarations
 * (schema/base.graphql explains them) so that the schema is the one place that states it:
 * - each object a field returns costs 1 and each leaf 0, or the field's `@cost(weight:)`; a list
 *   multiplies what it returns by its size. `@listSize` gives sizes: a slicing argument's value
 *   (`first: 50` is 50 edges, of a connection through `sizedFields`), or for a list of keys the
 *   number of keys given (`customers(ids:)` of 100 is 100 customers). Other lists count as
 *   `defaultListSize` items. This is the layer's own work, and the shop database's and the
 *   warehouse's: they answer each field family in one statement whatever the number of keys, so
 *   their rows are what grows.
 * - each call to an upstream that reads many keys per call (`@batchedCost`, HubSpot) adds its
 *   weight. Calls are counted as the loaders make them: a field resolved for n parents makes
 *   ceil(n / keys per call) calls, so a page of 100 customers costs one HubSpot batch read. Each
 *   field's calls are counted apart (an upper bound: two fields sharing a loader share its calls).
 */

/** What the schema declares about one field's cost. */
export interface FieldCost {
  /** `@cost(weight:)`: what each instance costs instead of the default (1 for objects, 0 for leaves). */
  readonly weight?: number;
  /** `@listSize`. */
  readonly listSize?: { readonly slicingArguments: readonly string[]; readonly sizedFields: readonly string[]; readonly assumedSize?: number };
  /** `@batchedCost`. */
  readonly batched?: { readonly weight: number; readonly keysPerCall: number };
}

/** Federation adds `_entities` without SDL of ours to carry `@listSize`: one entity per representation. */
const ENTITIES: FieldCost = { listSize: { slicingArguments: [], sizedFields: [] } };

const declared = new WeakMap<GraphQLSchema, ReadonlyMap<string, FieldCost>>();

/** Every field's declared cost, by schema coordinate (`Type.field`); fields that declare nothing are left out. */
export function declaredCosts(schema: GraphQLSchema): ReadonlyMap<string, FieldCost> {
  let costs = declared.get(schema);
  if (costs) return costs;
  const found = new Map<string, FieldCost>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) && !isInterfaceType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const at = `${type.name}.${field.name}`;
      const args = (name: string): Record<string, unknown> | undefined => {
        const directive = field.astNode?.directives?.find((d) => d.name.value === name);
        return directive && Object.fromEntries((directive.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)]));
      };
      const [cost, listSize, batched] = [args('cost'), args('listSize'), args('batchedCost')];
      if (!cost && !listSize && !batched) continue;
      found.set(at, {
        ...(cost && { weight: int(cost.weight, `${at} @cost(weight:)`) }),
        ...(listSize && {
          listSize: {
            slicingArguments: names(listSize.slicingArguments, `${at} @listSize(slicingArguments:)`),
            sizedFields: names(listSize.sizedFields, `${at} @listSize(sizedFields:)`),
            assumedSize: listSize.assumedSize == null ? undefined : int(listSize.assumedSize, `${at} @listSize(assumedSize:)`),
          },
        }),
        ...(batched && { batched: { weight: int(batched.weight, `${at} @batchedCost(weight:)`), keysPerCall: int(batched.keysPerCall, `${at} @batchedCost(keysPerCall:)`) } }),
      });
    }
  }
  found.set('Query._entities', ENTITIES);
  costs = found;
  declared.set(schema, costs);
  return costs;
}

// SDL validation checks that a directive's required arguments are given, not that their literals
// have the declared types; a cost read from a mistyped one could be NaN, which `cost > maxCost`
// never refuses (limits.ts). So a mistyped declaration fails the request instead.

/** A directive argument the definition types `Int`. */
function int(value: unknown, at: string): number {
  if (typeof value !== 'number') throw new Error(`${at}: expected an Int, got ${JSON.stringify(value)}`);
  return value;
}

/** A directive argument the definition types `[String!]`; none when not given. */
function names(value: unknown, at: string): readonly string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((name): name is string => typeof name === 'string')) throw new Error(`${at}: expected a list of names, got ${JSON.stringify(value)}`);
  return value;
}

export interface CostOptions {
  /** Items assumed in a list no argument sizes (line items, carts, tags...). */
  readonly defaultListSize: number;
}

/** A selection's cost for one object it is selected on: its weights, and resolutions of each batched field. */
interface SetCost {
  readonly weights: number;
  readonly resolutions: ReadonlyMap<string, number>;
}

/**
 * The cost of one operation with its variables (coerced). Fragments are costed once per use
 * context (memoized), so a document that spreads fragments exponentially is costed in linear time
 * (and comes out astronomically expensive, as it would be to run).
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown>, options: CostOptions): number {
  return costWith(schema, document, operation, variables, options, { readsVariables: false });
}

/**
 * The cost of one operation as a function of its variables (coerced), planned once per document:
 * when no variable sizes a list (the arguments that size lists are literals, or absent), the cost
 * is the same for any variables and is computed here, once; otherwise (`first: $n`, `ids: $ids`)
 * each call costs the operation with its variables, as `operationCost` does.
 */
export function costPlan(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, options: CostOptions): (variables: Record<string, unknown>) => number {
  const probe = { readsVariables: false };
  const fixed = costWith(schema, document, operation, {}, options, probe);
  if (!probe.readsVariables) return () => fixed;
  return (variables) => operationCost(schema, document, operation, variables, options);
}

/** Set when a list's size was read from arguments that name a variable: the cost then depends on the variables. */
interface Probe {
  readsVariables: boolean;
}

function costWith(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  options: CostOptions,
  probe: Probe,
): number {
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const costs = declaredCosts(schema);
  const { weights, resolutions } = selectionCost(schema, costs, document, variables, options, root, operation.selectionSet, probe);
  let calls = 0;
  for (const [at, count] of resolutions) {
    const { weight, keysPerCall } = costs.get(at)!.batched!;
    calls += weight * Math.ceil(count / keysPerCall);
  }
  return weights + calls;
}

function selectionCost(
  schema: GraphQLSchema,
  costs: ReadonlyMap<string, FieldCost>,
  document: DocumentNode,
  variables: Record<string, unknown>,
  options: CostOptions,
  rootType: GraphQLCompositeType,
  rootSet: SelectionSetNode,
  probe: Probe,
): SetCost {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const memo = new Map<string, SetCost>();
  const visiting = new Set<string>();

  const setCost = (type: GraphQLCompositeType, set: SelectionSetNode, sized: Sized | null): SetCost => {
    let weights = 0;
    const resolutions = new Map<string, number>();
    const add = (cost: SetCost, times: number) => {
      weights += times * cost.weights;
      for (const [at, count] of cost.resolutions) resolutions.set(at, (resolutions.get(at) ?? 0) + times * count);
    };
    for (const selection of set.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const narrowed = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        if (narrowed && isCompositeType(narrowed)) add(setCost(narrowed, selection.selectionSet, sized), 1);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle never validates; it is costed as nothing here rather than looping.
        if (!fragment || visiting.has(name)) continue;
        const key = `${name}|${sized ? `${sized.fields.join()}:${sized.size}` : ''}`;
        let cost = memo.get(key);
        if (cost === undefined) {
          const on = schema.getType(fragment.typeCondition.name.value);
          visiting.add(name);
          cost = on && isCompositeType(on) ? setCost(on, fragment.selectionSet, sized) : { weights: 0, resolutions: new Map() };
          visiting.delete(name);
          memo.set(key, cost);
        }
        add(cost, 1);
      } else {
        const name = selection.name.value;
        if (name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
        const field = type.getFields()[name];
        if (!field) continue;
        const at = `${type.name}.${name}`;
        const declaredCost = costs.get(at) ?? {};
        const isList = isListType(getNullableType(field.type));
        // Arguments size only lists, and a connection's sized fields; no other field's are read.
        const sizing = isList || Boolean(declaredCost.listSize?.sizedFields.length);
        const args = sizing ? argumentsOf(field, selection, variables) : {};
        if (sizing) probe.readsVariables ||= namesVariable(selection);
        const returned = getNamedType(field.type);
        const size = isList ? listSize(declaredCost, args, sized?.fields.includes(name) ? sized.size : null, options) : 1;
        // A batched field is resolved once per parent object, whatever the size of what it returns.
        if (declaredCost.batched) resolutions.set(at, (resolutions.get(at) ?? 0) + 1);
        weights += size * (declaredCost.weight ?? (isCompositeType(returned) ? 1 : 0));
        if (selection.selectionSet && isCompositeType(returned)) {
          const slices = declaredCost.listSize?.sizedFields.length ? { fields: declaredCost.listSize.sizedFields, size: listSize(declaredCost, args, null, options) } : null;
          add(setCost(returned, selection.selectionSet, slices), size);
        }
      }
    }
    return { weights, resolutions };
  };

  return setCost(rootType, rootSet, null);
}

/** A connection's size, for the child lists its `@listSize(sizedFields:)` names. */
interface Sized {
  readonly fields: readonly string[];
  readonly size: number;
}

/**
 * A list's size: given by its connection (`fromParent`), by a slicing argument's value, by the number
 * of keys its list arguments were given (a list of keys, `@listSize` with no slicing argument), by
 * `assumedSize`, or else the default.
 */
function listSize(declared: FieldCost, args: Record<string, unknown>, fromParent: number | null, options: CostOptions): number {
  if (fromParent !== null) return fromParent;
  const spec = declared.listSize;
  if (!spec) return options.defaultListSize;
  const sliced = spec.slicingArguments.map((name) => args[name]).filter((value) => typeof value === 'number');
  if (sliced.length) return Math.max(...sliced);
  if (!spec.slicingArguments.length) {
    const keys = Object.values(args).filter(Array.isArray);
    if (keys.length) return keys.reduce((sum, list) => sum + list.length, 0);
  }
  return spec.assumedSize ?? options.defaultListSize;
}

/** True when an argument of the field is, or holds, a variable. */
function namesVariable(field: FieldNode): boolean {
  const holds = (value: ValueNode): boolean =>
    value.kind === Kind.VARIABLE || (value.kind === Kind.LIST && value.values.some(holds)) || (value.kind === Kind.OBJECT && value.fields.some((entry) => holds(entry.value)));
  return (field.arguments ?? []).some((argument) => holds(argument.value));
}

function argumentsOf(field: Parameters<typeof getArgumentValues>[0], node: Parameters<typeof getArgumentValues>[1], variables: Record<string, unknown>) {
  try {
    return getArgumentValues(field, node, variables);
  } catch {
    // Arguments that do not coerce fail validation on their own; cost them as absent.
    return {};
  }
}
