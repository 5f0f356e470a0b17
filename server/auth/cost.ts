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
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * Query cost, in the shape of Apollo's demand control: each object a field returns costs 1 (leaves
 * 0), a list multiplies what it returns by its size, and fields that call a remote API add their
 * weight once. List sizes come from the arguments (so `customers(ids:)` of 100 costs 100
 * customers, and `first: 50` 50 edges; any list with a `first` argument is that long); other lists
 * count as `defaultListSize` items.
 */

/** Lists whose size an argument other than `first` gives (a list with `first` is that long). */
const LIST_SIZES: Record<string, (args: Record<string, any>) => number> = {
  'Query.customers': (args) => (args.ids ?? args.emails ?? []).length,
  'Query._entities': (args) => (args.representations ?? []).length,
  'CrmContact.properties': (args) => (args.names ?? []).length,
};

/** Connections: the argument sizes the named child list (`edges`), as `@listSize(sizedFields:)` does. */
const CONNECTIONS: Record<string, { size: (args: Record<string, any>) => number; field: string }> = {
  'Query.customerSegment': { size: (args) => args.first ?? 20, field: 'edges' },
  'CommerceProfile.orders': { size: (args) => args.first ?? 10, field: 'edges' },
};

/**
 * Extra weight of fields that reach HubSpot or Mailchimp: their quota is shared by every client,
 * so reading them costs more than reading the shop database.
 */
const REMOTE_WEIGHTS: Record<string, number> = {
  'Customer.crm': 2,
  'Customer.emailMarketing': 3,
  'Identities.hubspotContactId': 2,
  'Identities.mailchimpSubscriberHash': 3,
  'CrmContact.company': 2,
  'CrmContact.owner': 1,
  'EmailMarketing.activity': 3,
  'EmailMarketing.lastOpenedAt': 3,
  'EmailMarketing.lastClickedAt': 3,
  'EmailTag.addedAt': 3,
};

export interface CostOptions {
  /** Items assumed in a list no argument sizes (line items, carts, tags...). */
  readonly defaultListSize: number;
}

/**
 * The cost of one operation with its variables (coerced). Fragments are costed once per use
 * context (memoized), so a document that spreads fragments exponentially is costed in linear time
 * (and comes out astronomically expensive, as it would be to run).
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  options: CostOptions,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const memo = new Map<string, number>();
  const visiting = new Set<string>();

  const setCost = (type: GraphQLCompositeType, set: SelectionSetNode, sized: { field: string; size: number } | null): number => {
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const narrowed = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        if (narrowed && isCompositeType(narrowed)) total += setCost(narrowed, selection.selectionSet, sized);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle never validates; it is costed as nothing here rather than looping.
        if (!fragment || visiting.has(name)) continue;
        const key = `${name}|${sized ? `${sized.field}:${sized.size}` : ''}`;
        let cost = memo.get(key);
        if (cost === undefined) {
          const on = schema.getType(fragment.typeCondition.name.value);
          visiting.add(name);
          cost = on && isCompositeType(on) ? setCost(on, fragment.selectionSet, sized) : 0;
          visiting.delete(name);
          memo.set(key, cost);
        }
        total += cost;
      } else {
        const name = selection.name.value;
        if (name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
        const field = type.getFields()[name];
        if (!field) continue;
        const at = `${type.name}.${name}`;
        const args = argumentsOf(field, selection, variables);
        const returned = getNamedType(field.type);
        const connection = CONNECTIONS[at];
        const children =
          selection.selectionSet && isCompositeType(returned)
            ? setCost(returned, selection.selectionSet, connection ? { field: connection.field, size: connection.size(args) } : null)
            : 0;
        const size = isListType(getNullableType(field.type))
          ? (LIST_SIZES[at]?.(args) ?? (sized?.field === name ? sized.size : typeof args.first === 'number' ? args.first : options.defaultListSize))
          : 1;
        total += (REMOTE_WEIGHTS[at] ?? 0) + size * ((isCompositeType(returned) ? 1 : 0) + children);
      }
    }
    return total;
  };

  const root = schema.getRootType(operation.operation);
  return root ? setCost(root, operation.selectionSet, null) : 0;
}

function argumentsOf(field: Parameters<typeof getArgumentValues>[0], node: Parameters<typeof getArgumentValues>[1], variables: Record<string, unknown>) {
  try {
    return getArgumentValues(field, node, variables);
  } catch {
    // Arguments that do not coerce fail validation on their own; cost them as absent.
    return {};
  }
}
