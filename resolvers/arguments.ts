import type { ArgumentCheck } from '../server/argument-checks.ts';
import type { Settings } from '../server/context.ts';
import type { RfmSegment, SegmentPageKey } from '../sources/commerce/model.ts';
import { audienceName, filterOf, histogramWindow, orderOf } from '../audiences/input.ts';
import { decodeCustomerCursor, decodeListCursor, decodeOrderCursor } from './cursors.ts';
import { EmailActivityType, toSource } from './enums.ts';
import { badUserInput } from './errors.ts';
import type {
  AffinitiesCategoriesArgs,
  AnonymousVisitorLocationArgs,
  AnonymousVisitorWebArgs,
  SavedAudienceMembersArgs,
  CommerceProfileOrdersArgs,
  CrmContactPropertiesArgs,
  CustomerLocationArgs,
  CustomerWebArgs,
  EmailMarketingActivityArgs,
  MutationSaveAudienceArgs,
  PurchasesTopCategoriesArgs,
  QueryCustomerArgs,
  QueryCustomerCountsArgs,
  QueryCustomerHistogramArgs,
  QueryCustomerSegmentArgs,
  QueryCustomersArgs,
  QueryFindCustomersArgs,
  QueryVisitorArgs,
  TraitsAffinitiesArgs,
  TraitsChannelArgs,
  TraitsDiscountSensitivityArgs,
  TraitsEngagementTrendArgs,
  TraitsPredictedValueArgs,
  WebBehaviourRecentlyViewedProductsArgs,
  WebBehaviourSearchesArgs,
  WebBehaviourTopCategoriesArgs,
} from './generated/types.ts';

type EmailActivityTypeName = keyof typeof EmailActivityType;

// Each field's arguments are parsed by one function here, used twice: by the pre-execution check
// (server/argument-checks.ts), so bad input fails before any upstream call, and by the resolver,
// for the parsed values.

const MAX_KEYS = 100;

/** Commerce ids are decimal strings of a BIGINT; anything else cannot name a customer. */
export function customerId(value: string, argument: string): string {
  if (!/^[1-9]\d{0,17}$/.test(value)) throw badUserInput(`${argument}: expected a numeric customer id, got "${value.slice(0, 40)}"`, argument);
  return value;
}

/** An email key: at most 254 characters (RFC 5321), so a huge string never reaches a source. */
export function emailKey(value: string, argument: string): string {
  if (value.length > 254) throw badUserInput(`${argument}: expected an email address of at most 254 characters, got ${value.length}`, argument);
  return value;
}

/** A page size within 1..max. */
export function pageSize(value: number | null | undefined, max: number, argument = 'first'): number {
  const size = value ?? max;
  if (!Number.isInteger(size) || size < 1 || size > max) throw badUserInput(`${argument}: expected 1 to ${max}, got ${size}`, argument);
  return size;
}

/** Exactly one of the named arguments is given; returns its name. */
function exactlyOne<T extends Record<string, unknown>>(args: T): keyof T & string {
  const given = Object.keys(args).filter((name) => args[name] !== undefined && args[name] !== null);
  if (given.length !== 1) {
    throw badUserInput(`expected exactly one of ${Object.keys(args).join(', ')}, got ${given.length ? given.join(' and ') : 'none'}`);
  }
  return given[0]!;
}

/** At most `max` keys in a list argument. */
function keyList<T>(values: readonly T[], argument: string): readonly T[] {
  if (values.length > MAX_KEYS) throw badUserInput(`${argument}: expected at most ${MAX_KEYS} keys, got ${values.length}`, argument);
  return values;
}

/** A non-negative decimal amount with at most two fraction digits, e.g. `250` or `19.90`. */
export function decimalAmount(value: string, argument: string): string {
  if (!/^\d{1,12}(\.\d{1,2})?$/.test(value)) throw badUserInput(`${argument}: expected a decimal amount such as "250.00", got "${value.slice(0, 40)}"`, argument);
  return value;
}

/** A web-analytics anonymous id, as the warehouse's `anonymous_id` holds it. */
export function anonymousId(value: string, argument: string): string {
  if (!/^[\w.:-]{1,128}$/.test(value)) throw badUserInput(`${argument}: expected an analytics anonymous id (letters, digits, - _ . :, at most 128)`, argument);
  return value;
}

type CustomerArgs = { id?: string | null; email?: string | null; hubspotContactId?: string | null; anonymousId?: string | null };

/** `Query.customer`: exactly one key. */
export function customerKey(args: CustomerArgs) {
  const kind = exactlyOne({ id: args.id, email: args.email, hubspotContactId: args.hubspotContactId, anonymousId: args.anonymousId });
  if (kind === 'id') return { kind, value: customerId(args.id!, 'id') } as const;
  if (kind === 'email') return { kind, value: emailKey(args.email!, 'email') } as const;
  if (kind === 'anonymousId') return { kind, value: anonymousId(args.anonymousId!, 'anonymousId') } as const;
  if (!/^\d{1,18}$/.test(args.hubspotContactId!)) {
    throw badUserInput(`hubspotContactId: expected a numeric HubSpot contact id, got "${args.hubspotContactId!.slice(0, 40)}"`, 'hubspotContactId');
  }
  return { kind, value: args.hubspotContactId! } as const;
}

/** `Query.customers`: ids or emails, at most 100, each id valid. */
export function customersKeys(args: { ids?: readonly string[] | null; emails?: readonly string[] | null }) {
  return exactlyOne({ ids: args.ids, emails: args.emails }) === 'ids'
    ? ({ kind: 'ids', values: keyList(args.ids!, 'ids').map((id) => customerId(id, 'ids')) } as const)
    : ({ kind: 'emails', values: keyList(args.emails!, 'emails').map((email) => emailKey(email, 'emails')) } as const);
}

interface SegmentArgs {
  first?: number | null;
  after?: string | null;
  filter?: {
    rfmSegments?: readonly RfmSegment[] | null;
    lastOrderBefore?: Date | null;
    lastOrderAfter?: Date | null;
    totalSpentAtLeast?: { amount: string; currencyCode: string } | null;
    hasAbandonedCart?: boolean | null;
  } | null;
}

/** `Query.customerSegment`: page size 1-100, a cursor of ours, money in the shop currency. */
export function segmentKey({ filter, first, after }: SegmentArgs, settings: Settings): SegmentPageKey {
  const spent = filter?.totalSpentAtLeast;
  if (spent && spent.currencyCode !== settings.shopCurrency) {
    throw badUserInput(`filter.totalSpentAtLeast: expected an amount in ${settings.shopCurrency} (the shop currency), got ${spent.currencyCode}`);
  }
  return {
    filter: {
      rfmSegments: filter?.rfmSegments ?? null,
      lastOrderBefore: filter?.lastOrderBefore ?? null,
      lastOrderAfter: filter?.lastOrderAfter ?? null,
      totalSpentAtLeast: spent ? decimalAmount(spent.amount, 'filter.totalSpentAtLeast.amount') : null,
      hasAbandonedCart: filter?.hasAbandonedCart ?? null,
    },
    first: pageSize(first, 100),
    afterId: decodeCustomerCursor(after),
  };
}

/** `CommerceProfile.orders`: page size 1-100 and a cursor of ours. */
export function orderPageArgs(args: { first?: number | null; after?: string | null }) {
  return { first: pageSize(args.first, 100), after: decodeOrderCursor(args.after) };
}

/** Contact property names, each on the allow-list. */
export function crmPropertyNames(names: readonly string[], allowed: readonly string[]): readonly string[] {
  const outside = names.filter((name) => !allowed.includes(name));
  if (outside.length > 0) {
    const list = allowed.length ? allowed.join(', ') : 'none are configured';
    throw badUserInput(`names: expected properties from the allow-list (${list}), got ${outside.slice(0, 5).join(', ')}`, 'names');
  }
  return names;
}

/** `EmailMarketing.activity(first, types)` as the email source takes it: all our types when none is given. */
export function emailActivityArgs(first: number | null | undefined, types: readonly EmailActivityTypeName[] | null | undefined) {
  const names = types?.length ? [...new Set(types)].sort() : (Object.keys(EmailActivityType) as EmailActivityTypeName[]);
  return { count: pageSize(first, 100), types: names.map((name) => toSource(EmailActivityType, name)) };
}

/** `Customer.web(days)`: a window of 1 to 365 days. */
export function webDays(days: number | null | undefined): number {
  return pageSize(days ?? 30, 365, 'days');
}

/** `Traits.predictedValue(days)`: a horizon of 1 to 3650 days. */
export function predictionDays(days: number | null | undefined): number {
  return pageSize(days ?? 90, 3650, 'days');
}

/** `Traits.affinities(days)`: a window of 1 to 365 days (as far back as the warehouse is read). */
export function affinityDays(days: number | null | undefined): number {
  return pageSize(days ?? 90, 365, 'days');
}

/** `Affinities.categories(first)`: 1 to 100. */
export function affinityCategories(first: number | null | undefined): number {
  return pageSize(first ?? 5, 100);
}

/** `Traits.channel(days)`: a window of 1 to 365 days (the warehouse's longest). */
export function channelDays(days: number | null | undefined): number {
  return pageSize(days ?? 90, 365, 'days');
}

/** `Traits.engagementTrend(days)`: periods of 1 to 182 days, two of which fit the warehouse's longest window. */
export function trendDays(days: number | null | undefined): number {
  return pageSize(days ?? 30, 182, 'days');
}

/** `Traits.discountSensitivity(days)`: a window of 1 to 3650 days, or null for the whole history. */
export function discountDays(days: number | null | undefined): number | null {
  return days == null ? null : pageSize(days, 3650, 'days');
}

/** The `first` of a web list: 1 to 100. */
export function webListArgs(args: { first?: number | null }): number {
  return pageSize(args.first, 100);
}

/**
 * `Query._entities`: every representation an object with a `__typename`, and a Customer's with a
 * valid id or email, so a malformed one is BAD_USER_INPUT before execution rather than an
 * internal error from the Federation library.
 */
export function entityRepresentations(args: { representations?: readonly unknown[] | null }) {
  (args.representations ?? []).forEach((value, i) => {
    const at = `representations[${i}]`;
    const representation = value as Record<string, unknown> | null;
    if (!representation || typeof representation !== 'object' || Array.isArray(representation) || typeof representation.__typename !== 'string') {
      throw badUserInput(`${at}: expected an object with a __typename`, 'representations');
    }
    if (representation.__typename !== 'Customer') return;
    if (typeof representation.id === 'string' || typeof representation.id === 'number') customerId(String(representation.id), `${at}.id`);
    else if (typeof representation.email === 'string') emailKey(representation.email, `${at}.email`);
    else throw badUserInput(`${at}: expected a Customer key, id or email`, 'representations');
  });
}

/**
 * A check over the arguments of the field at its coordinate, as graphql-js coerced them
 * (getArgumentValues) against the schema: what that field's generated `Args` type describes, the
 * contract graphql-js itself gives a resolver through GraphQLFieldResolver's TArgs. The callers
 * hold the coerced values as a plain map, so the one assertion is here, and `argumentChecks`
 * pairs each coordinate with its own field's type.
 */
function check<TArgs extends Record<string, unknown>>(parse: (args: TArgs, settings: Settings) => unknown): ArgumentCheck {
  return (args, settings) => parse(args as TArgs, settings);
}

/** The arguments of Federation's `_entities`, which it adds without SDL of ours, so without a generated type. */
type EntitiesArgs = { representations?: readonly unknown[] | null };

/** The checks run before execution, by schema coordinate. */
export const argumentChecks: Record<string, ArgumentCheck> = {
  'Query.customer': check<QueryCustomerArgs>(customerKey),
  'Query._entities': check<EntitiesArgs>(entityRepresentations),
  'Query.customers': check<QueryCustomersArgs>(customersKeys),
  'Query.customerSegment': check<QueryCustomerSegmentArgs>(segmentKey),
  // Filters are checked whole before any source is called (audiences/input.ts).
  'Query.findCustomers': check<QueryFindCustomersArgs>((args, settings) => {
    filterOf(args.filter, settings);
    pageSize(args.first, 100);
    return decodeListCursor(args.after, orderOf(args.orderBy));
  }),
  'Query.customerCounts': check<QueryCustomerCountsArgs>((args, settings) => filterOf(args.filter, settings)),
  'Query.customerHistogram': check<QueryCustomerHistogramArgs>((args, settings) => {
    filterOf(args.filter, settings);
    return histogramWindow(args);
  }),
  'Mutation.saveAudience': check<MutationSaveAudienceArgs>((args, settings) => {
    audienceName(args.name);
    return filterOf(args.filter, settings);
  }),
  'SavedAudience.members': check<SavedAudienceMembersArgs>((args) => {
    pageSize(args.first, 100);
    return decodeListCursor(args.after, orderOf(args.orderBy));
  }),
  'CommerceProfile.orders': check<CommerceProfileOrdersArgs>(orderPageArgs),
  'Purchases.topCategories': check<PurchasesTopCategoriesArgs>((args) => pageSize(args.first, 10)),
  'CrmContact.properties': check<CrmContactPropertiesArgs>((args, settings) => crmPropertyNames(args.names, settings.crmProperties)),
  'EmailMarketing.activity': check<EmailMarketingActivityArgs>((args) => emailActivityArgs(args.first, args.types)),
  'Query.visitor': check<QueryVisitorArgs>((args) => anonymousId(args.anonymousId, 'anonymousId')),
  'Customer.web': check<CustomerWebArgs>((args) => webDays(args.days)),
  'Customer.location': check<CustomerLocationArgs>((args) => webDays(args.days)),
  'AnonymousVisitor.web': check<AnonymousVisitorWebArgs>((args) => webDays(args.days)),
  'AnonymousVisitor.location': check<AnonymousVisitorLocationArgs>((args) => webDays(args.days)),
  'Traits.predictedValue': check<TraitsPredictedValueArgs>((args) => predictionDays(args.days)),
  'Traits.discountSensitivity': check<TraitsDiscountSensitivityArgs>((args) => discountDays(args.days)),
  'Traits.channel': check<TraitsChannelArgs>((args) => channelDays(args.days)),
  'Traits.engagementTrend': check<TraitsEngagementTrendArgs>((args) => trendDays(args.days)),
  'Traits.affinities': check<TraitsAffinitiesArgs>((args) => affinityDays(args.days)),
  'Affinities.categories': check<AffinitiesCategoriesArgs>((args) => affinityCategories(args.first)),
  'WebBehaviour.recentlyViewedProducts': check<WebBehaviourRecentlyViewedProductsArgs>(webListArgs),
  'WebBehaviour.topCategories': check<WebBehaviourTopCategoriesArgs>(webListArgs),
  'WebBehaviour.searches': check<WebBehaviourSearchesArgs>(webListArgs),
};
