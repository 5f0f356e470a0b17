import { coerceInputValue, GraphQLError, isInputType, responsePathAsArray, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { FilterNode } from '../audiences/filter.ts';
import { audienceName, crmPropertiesIn, DEFAULT_ORDER, filterOf, histogramWindow, MAX_AUDIENCE_DESCRIPTION, orderOf } from '../audiences/input.ts';
import { Scope } from '../server/auth/scopes.ts';
import type { AudienceQueries } from '../audiences/service.ts';
import type { SavedAudience as StoredAudience } from '../audiences/store.ts';
import type { Context } from '../server/context.ts';
import { pageSize } from './arguments.ts';
import { decodeListCursor, listCursor } from './cursors.ts';
import { badUserInput, ErrorCode } from './errors.ts';
import type { SavedAudienceResolvers, CustomerFilter, CustomerListResolvers, MutationResolvers, QueryResolvers } from './generated/types.ts';
import { ofRecord } from './lookup.ts';

/** Where a field's answer is in the response (its alias when it has one): how its plan is named in `extensions.plans`. */
const pathOf = (info: GraphQLResolveInfo) => responsePathAsArray(info.path).join('.');

function queries(context: Context): AudienceQueries {
  if (!context.audiences) throw new GraphQLError('Audiences are not available on this operation.', { extensions: { code: ErrorCode.BadUserInput } });
  return context.audiences;
}

/**
 * The filter of `input`, for this caller: comparing a CRM property that is a direct identifier
 * (HUBSPOT_EXTRA_PROPERTIES `name:identifier`) would tell who has a given value, so it needs
 * `customer:read:pii` as reading the value does.
 */
function filterFor(input: CustomerFilter | null | undefined, context: Context, argument?: string): FilterNode {
  const filter = filterOf(input, context.settings, argument);
  const identifiers = crmPropertiesIn(filter).filter((name) => context.settings.crmIdentifierProperties?.includes(name));
  if (identifiers.length > 0 && !context.auth.principal.scopes.has(Scope.Pii)) {
    throw new GraphQLError(`Forbidden: filtering on ${identifiers.join(', ')} (a direct identifier) needs the customer:read:pii scope.`, {
      extensions: { code: ErrorCode.Forbidden },
    });
  }
  return filter;
}

/** A saved audience's filter, read back through the schema's input type as a client's would be. */
export function savedFilter(audience: StoredAudience, schema: GraphQLSchema, context: Context): FilterNode {
  const type = schema.getType('CustomerFilter');
  if (!type || !isInputType(type)) throw new Error('the schema has no CustomerFilter input');
  let input: CustomerFilter;
  try {
    input = coerceInputValue(JSON.parse(audience.definition), type) as CustomerFilter;
  } catch {
    throw badUserInput(`audience ${audience.name} v${audience.version}: its definition no longer fits the schema; save it again`);
  }
  return filterFor(input, context, `audience ${audience.name} v${audience.version}`);
}

export const AudienceQuery: Pick<QueryResolvers, 'findCustomers' | 'customerCounts' | 'customerHistogram' | 'audiences' | 'audience'> = {
  findCustomers: (_, args, context, info) => {
    const order = orderOf(args.orderBy);
    return queries(context).list(pathOf(info), filterFor(args.filter, context), order, decodeListCursor(args.after, order), pageSize(args.first, 100));
  },
  customerCounts: (_, args, context, info) => queries(context).counts(pathOf(info), filterFor(args.filter, context), args.by),
  customerHistogram: async (_, args, context, info) => {
    const window = histogramWindow(args);
    const rows = await queries(context).histogram(pathOf(info), filterFor(args.filter, context), args.of, args.interval, window);
    return { buckets: rows.map((row) => ({ start: row.start, count: row.count, value: { amount: row.value, currencyCode: context.settings.shopCurrency } })) };
  },
  audiences: (_, __, context) => queries(context).store.list(),
  audience: (_, args, context) => queries(context).store.get(audienceName(args.name), args.version ?? undefined),
};

export const AudienceMutation: Pick<MutationResolvers, 'saveAudience' | 'deleteAudience'> = {
  saveAudience: async (_, args, context) => {
    const name = audienceName(args.name);
    if (args.description && args.description.length > MAX_AUDIENCE_DESCRIPTION)
      throw badUserInput(`description: expected at most ${MAX_AUDIENCE_DESCRIPTION} characters`, 'description');
    // Checked as a query's filter is, so a saved audience always runs (or is refused by its plan).
    filterFor(args.filter, context);
    return queries(context).store.save(name, { description: args.description ?? null, definition: JSON.stringify(args.filter), savedAt: Date.now() });
  },
  deleteAudience: (_, args, context) => queries(context).store.delete(audienceName(args.name)),
};

export const CustomerList: CustomerListResolvers = {
  totalCount: (list) => list.totalCount(),
  edges: async (list, _, { loaders }) => {
    const page = await list.page();
    const customers = await loaders.customerById.loadMany(page.rows.map((row) => row.id));
    // A customer deleted between the page's statement and this read drops out of the page.
    return customers.flatMap((node, i) => {
      if (node instanceof Error) throw node;
      return node ? [{ cursor: listCursor(list.order, page.rows[i]!), node: ofRecord(node, 'CUSTOMER_ID') }] : [];
    });
  },
  pageInfo: async (list) => {
    const page = await list.page();
    const first = page.rows[0];
    const last = page.rows.at(-1);
    return {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: list.hasPreviousPage,
      startCursor: first ? listCursor(list.order, first) : null,
      endCursor: last ? listCursor(list.order, last) : null,
    };
  },
};

export const SavedAudience: SavedAudienceResolvers = {
  savedAt: (audience) => new Date(audience.savedAt),
  count: (audience, _, context, info) =>
    queries(context)
      .list(`audience(${audience.name}).count`, savedFilter(audience, info.schema, context), DEFAULT_ORDER, null, 1)
      .totalCount(),
  members: (audience, args, context, info) => {
    const order = orderOf(args.orderBy);
    return queries(context).list(pathOf(info), savedFilter(audience, info.schema, context), order, decodeListCursor(args.after, order), pageSize(args.first, 100));
  },
};
