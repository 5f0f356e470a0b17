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
 * Query cost, in the shape of Apollo's demand control, plus the upstream calls the operation makes:
 * - each object a field returns costs 1 (leaves 0), and a list multiplies what it returns by its
 *   size. List sizes come from the arguments (so `customers(ids:)` of 100 costs 100 customers, and
 *   `first: 50` 50 edges; any list with a `first` argument is that long); other lists count as
 *   `defaultListSize` items. This is the layer's own work, and the shop database's and the
 *   warehouse's: they answer each field family in one statement whatever the number of keys, so
 *   their rows are what grows.
 * - each call to an upstream whose quota every client shares (HubSpot, Mailchimp) adds its weight.
 *   Calls are counted as the loaders make them: a field resolved for n parents makes
 *   ceil(n / keys per call) calls, so a page of 100 customers costs one HubSpot batch read but
 *   100 Mailchimp GETs. Each field's calls are counted apart (an upper bound: two fields sharing
 *   a loader share its calls).
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
 * Upstreams whose quota every client shares: what one call weighs, and how many keys one call
 * reads (cache/loaders.ts batches to these sizes). HubSpot reads up to 100 records per batch call
 * under a rate limit of about 100 calls per 10 s per app; Mailchimp reads one member per GET with
 * 10 connections per account, so a member costs a call.
 */
const UPSTREAM_CALLS = {
  hubspot: { weight: 20, keysPerCall: 100 },
  mailchimp: { weight: 3, keysPerCall: 1 },
} as const;

/**
 * The fields that call those upstreams, each once per parent object it is resolved for.
 * (`CrmContact.owner` is not one: owners are kept in process and read again in the background.)
 */
const REMOTE_FIELDS: Record<string, keyof typeof UPSTREAM_CALLS> = {
  'Customer.crm': 'hubspot',
  'Identities.hubspotContactId': 'hubspot',
  'CrmContact.company': 'hubspot',
  'Customer.emailMarketing': 'mailchimp',
  'Consent.email': 'mailchimp',
  'Identities.mailchimpSubscriberHash': 'mailchimp',
  'EmailMarketing.activity': 'mailchimp',
  'EmailMarketing.lastOpenedAt': 'mailchimp',
  'CartRecovery.openedEmailSince': 'mailchimp',
  'EmailMarketing.lastClickedAt': 'mailchimp',
  'EmailTag.addedAt': 'mailchimp',
  // The demographics' parts that read the CRM contact (ageBand and gender only when configured).
  'Demographics.location': 'hubspot',
  'Demographics.ageBand': 'hubspot',
  'Demographics.gender': 'hubspot',
  'Demographics.freshness': 'hubspot',
};

export interface CostOptions {
  /** Items assumed in a list no argument sizes (line items, carts, tags...). */
  readonly defaultListSize: number;
}

/** A selection's cost for one object it is selected on: objects, and resolutions of each remote field. */
interface SetCost {
  readonly objects: number;
  readonly resolutions: ReadonlyMap<string, number>;
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
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const { objects, resolutions } = selectionCost(schema, document, variables, options, root, operation.selectionSet);
  let calls = 0;
  for (const [at, count] of resolutions) {
    const upstream = UPSTREAM_CALLS[REMOTE_FIELDS[at]!];
    calls += upstream.weight * Math.ceil(count / upstream.keysPerCall);
  }
  return objects + calls;
}

function selectionCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
  options: CostOptions,
  rootType: GraphQLCompositeType,
  rootSet: SelectionSetNode,
): SetCost {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const memo = new Map<string, SetCost>();
  const visiting = new Set<string>();

  const setCost = (type: GraphQLCompositeType, set: SelectionSetNode, sized: { field: string; size: number } | null): SetCost => {
    let objects = 0;
    const resolutions = new Map<string, number>();
    const add = (cost: SetCost, times: number) => {
      objects += times * cost.objects;
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
        const key = `${name}|${sized ? `${sized.field}:${sized.size}` : ''}`;
        let cost = memo.get(key);
        if (cost === undefined) {
          const on = schema.getType(fragment.typeCondition.name.value);
          visiting.add(name);
          cost = on && isCompositeType(on) ? setCost(on, fragment.selectionSet, sized) : { objects: 0, resolutions: new Map() };
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
        const args = argumentsOf(field, selection, variables);
        const returned = getNamedType(field.type);
        const connection = CONNECTIONS[at];
        const size = isListType(getNullableType(field.type))
          ? (LIST_SIZES[at]?.(args) ?? (sized?.field === name ? sized.size : typeof args.first === 'number' ? args.first : options.defaultListSize))
          : 1;
        // A remote field is resolved once per parent object, whatever the size of what it returns.
        if (REMOTE_FIELDS[at]) resolutions.set(at, (resolutions.get(at) ?? 0) + 1);
        objects += isCompositeType(returned) ? size : 0;
        if (selection.selectionSet && isCompositeType(returned)) {
          add(setCost(returned, selection.selectionSet, connection ? { field: connection.field, size: connection.size(args) } : null), size);
        }
      }
    }
    return { objects, resolutions };
  };

  return setCost(rootType, rootSet, null);
}

function argumentsOf(field: Parameters<typeof getArgumentValues>[0], node: Parameters<typeof getArgumentValues>[1], variables: Record<string, unknown>) {
  try {
    return getArgumentValues(field, node, variables);
  } catch {
    // Arguments that do not coerce fail validation on their own; cost them as absent.
    return {};
  }
}
