import type { CrmCondition, EmailCondition, PropertyCondition, Touch, WebCondition } from '../sources/audience.ts';
import type { AudienceOrder, CommerceCondition, Range } from '../sources/commerce/audience.ts';
import { decimalAmount } from '../resolvers/arguments.ts';
import { EmailSubscriptionStatus, LifecycleStage } from '../resolvers/enums.ts';
import { badUserInput } from '../resolvers/errors.ts';
import type {
  CommerceFilter,
  CrmFilter,
  CustomerFilter,
  CustomerOrder,
  DecimalMoneyInput,
  EmailFilter,
  IntRange,
  DecimalMoneyRange,
  QueryCustomerHistogramArgs,
  TouchFilter,
  WebFilter,
} from '../resolvers/generated/types.ts';
import type { FilterNode } from './filter.ts';

/** The most and/or/not levels a filter may nest, and the most source conditions it may hold. */
export const MAX_FILTER_DEPTH = 6;
export const MAX_FILTER_CONDITIONS = 20;
const MAX_LIST = 50;
const MAX_VALUES = 100;
const MAX_TEXT = 200;
/** HubSpot's search takes at most six filters in a group (reference: search-and-webhooks.md). */
const MAX_CRM_FILTERS = 6;

export interface FilterSettings {
  readonly shopCurrency: string;
  readonly crmProperties: readonly string[];
}

/** The CRM properties a filter compares, anywhere in it (for the identifier check: see resolvers/audiences.ts). */
export function crmPropertiesIn(node: FilterNode): string[] {
  switch (node.kind) {
    case 'all':
    case 'any':
      return node.of.flatMap(crmPropertiesIn);
    case 'not':
      return crmPropertiesIn(node.of);
    case 'crm':
      return (node.condition.properties ?? []).map((condition) => condition.property);
    default:
      return [];
  }
}

/**
 * The GraphQL filter as the planner reads it, checked before any call: shapes, ranges, list sizes,
 * the shop currency, the CRM property allow-list, the nesting depth and the number of conditions.
 * Throws BAD_USER_INPUT naming the argument path (`filter.or[1].email.minRating`).
 */
export function filterOf(input: CustomerFilter | null | undefined, settings: FilterSettings, argument = 'filter'): FilterNode {
  const counter = { conditions: 0 };
  const node = input ? convert(input, settings, argument, 1, counter) : { kind: 'all' as const, of: [] };
  return node;
}

function convert(input: CustomerFilter, settings: FilterSettings, path: string, depth: number, counter: { conditions: number }): FilterNode {
  if (depth > MAX_FILTER_DEPTH) throw badUserInput(`${path}: expected and/or/not nested at most ${MAX_FILTER_DEPTH} deep`, path);
  const parts: FilterNode[] = [];
  const leaf = (node: FilterNode) => {
    counter.conditions += 1;
    if (counter.conditions > MAX_FILTER_CONDITIONS) throw badUserInput(`${path}: expected at most ${MAX_FILTER_CONDITIONS} source conditions in a filter`, path);
    parts.push(node);
  };
  if (input.commerce) leaf({ kind: 'commerce', condition: commerceCondition(input.commerce, settings, `${path}.commerce`) });
  if (input.crm) leaf({ kind: 'crm', condition: crmCondition(input.crm, settings, `${path}.crm`) });
  if (input.email) leaf({ kind: 'email', condition: emailCondition(input.email, `${path}.email`) });
  if (input.web) leaf({ kind: 'web', condition: webCondition(input.web, `${path}.web`) });
  if (input.and) parts.push(...list(input.and, `${path}.and`, MAX_LIST).map((child, i) => convert(child, settings, `${path}.and[${i}]`, depth + 1, counter)));
  if (input.or) {
    const branches = list(input.or, `${path}.or`, MAX_LIST).map((child, i) => convert(child, settings, `${path}.or[${i}]`, depth + 1, counter));
    if (branches.length === 0) throw badUserInput(`${path}.or: expected at least one filter`, `${path}.or`);
    parts.push({ kind: 'any', of: branches });
  }
  if (input.not) parts.push({ kind: 'not', of: convert(input.not, settings, `${path}.not`, depth + 1, counter) });
  return parts.length === 1 ? parts[0]! : { kind: 'all', of: parts };
}

function commerceCondition(input: CommerceFilter, settings: FilterSettings, path: string): CommerceCondition {
  const condition: { -readonly [K in keyof CommerceCondition]: CommerceCondition[K] } = {};
  if (input.rfmSegments) condition.rfmSegments = nonEmpty(input.rfmSegments, `${path}.rfmSegments`, 20);
  if (input.recencyScore) condition.recencyScore = intRange(input.recencyScore, `${path}.recencyScore`, 1, 5);
  if (input.frequencyScore) condition.frequencyScore = intRange(input.frequencyScore, `${path}.frequencyScore`, 1, 5);
  if (input.monetaryScore) condition.monetaryScore = intRange(input.monetaryScore, `${path}.monetaryScore`, 1, 5);
  if (input.orderCount) condition.orderCount = intRange(input.orderCount, `${path}.orderCount`, 0, 1_000_000);
  if (input.totalSpent) condition.totalSpent = moneyRange(input.totalSpent, settings, `${path}.totalSpent`);
  if (input.lastOrderAfter) condition.lastOrderAfter = input.lastOrderAfter;
  if (input.lastOrderBefore) condition.lastOrderBefore = input.lastOrderBefore;
  if (input.signedUpAfter) condition.signedUpAfter = input.signedUpAfter;
  if (input.signedUpBefore) condition.signedUpBefore = input.signedUpBefore;
  if (input.boughtCategories) {
    const { categories, since } = input.boughtCategories;
    condition.boughtCategories = { categories: texts(categories, `${path}.boughtCategories.categories`, MAX_LIST), ...(since && { since }) };
  }
  if (input.abandonedCart) {
    const { since, minValue } = input.abandonedCart;
    condition.abandonedCart = { ...(since && { since }), ...(minValue && { minValue: money(minValue, settings, `${path}.abandonedCart.minValue`) }) };
  }
  if (input.hasAbandonedCart !== undefined && input.hasAbandonedCart !== null) condition.hasAbandonedCart = input.hasAbandonedCart;
  return nonEmptyCondition(condition, path);
}

function crmCondition(input: CrmFilter, settings: FilterSettings, path: string): CrmCondition {
  const condition: { -readonly [K in keyof CrmCondition]: CrmCondition[K] } = {};
  if (input.lifecycleStages) condition.lifecycleStages = nonEmpty(input.lifecycleStages, `${path}.lifecycleStages`, 20).map((stage) => LifecycleStage[stage]);
  if (input.leadStatuses) condition.leadStatuses = texts(input.leadStatuses, `${path}.leadStatuses`, MAX_VALUES);
  if (input.ownerIds) condition.ownerIds = texts(input.ownerIds, `${path}.ownerIds`, MAX_VALUES);
  if (input.companies) condition.companies = texts(input.companies, `${path}.companies`, MAX_VALUES);
  if (input.properties) {
    condition.properties = list(input.properties, `${path}.properties`, MAX_CRM_FILTERS).map((property, i): PropertyCondition => {
      const at = `${path}.properties[${i}]`;
      if (!settings.crmProperties.includes(property.property)) {
        const allowed = settings.crmProperties.length ? settings.crmProperties.join(', ') : 'none are configured';
        throw badUserInput(`${at}.property: expected a property of the allow-list (${allowed}), got ${property.property.slice(0, 64)}`, `${at}.property`);
      }
      const { operator } = property;
      if (operator === 'IN' || operator === 'NOT_IN') {
        if (!property.values || property.value) throw badUserInput(`${at}: ${operator} takes \`values\`, not \`value\``, at);
        return { property: property.property, operator, values: texts(property.values, `${at}.values`, MAX_VALUES) };
      }
      if (operator === 'HAS_PROPERTY' || operator === 'NOT_HAS_PROPERTY') {
        if (property.value || property.values) throw badUserInput(`${at}: ${operator} takes neither \`value\` nor \`values\``, at);
        return { property: property.property, operator };
      }
      if (property.value === undefined || property.value === null || property.values) throw badUserInput(`${at}: ${operator} takes \`value\`, not \`values\``, at);
      return { property: property.property, operator, value: text(property.value, `${at}.value`) };
    });
  }
  const filters = Object.keys(condition).length - (condition.properties ? 1 : 0) + (condition.properties?.length ?? 0);
  if (filters > MAX_CRM_FILTERS) {
    throw badUserInput(
      `${path}: expected at most ${MAX_CRM_FILTERS} conditions (HubSpot's search takes six filters in a group), got ${filters}: split it with \`or\` or drop some`,
      path,
    );
  }
  return nonEmptyCondition(condition, path);
}

function emailCondition(input: EmailFilter, path: string): EmailCondition {
  const condition: { -readonly [K in keyof EmailCondition]: EmailCondition[K] } = {};
  if (input.statuses) condition.statuses = nonEmpty(input.statuses, `${path}.statuses`, 6).map((status) => EmailSubscriptionStatus[status]);
  if (input.optedInSince) condition.optedInSince = input.optedInSince;
  if (input.openedSince) condition.openedSince = input.openedSince;
  if (input.clickedSince) condition.clickedSince = input.clickedSince;
  if (input.minRating !== undefined && input.minRating !== null) {
    if (!Number.isInteger(input.minRating) || input.minRating < 1 || input.minRating > 5) {
      throw badUserInput(`${path}.minRating: expected 1 to 5, got ${input.minRating}`, `${path}.minRating`);
    }
    condition.minRating = input.minRating;
  }
  if (input.tags) condition.tags = texts(input.tags, `${path}.tags`, MAX_LIST);
  return nonEmptyCondition(condition, path);
}

function webCondition(input: WebFilter, path: string): WebCondition {
  const condition: { -readonly [K in keyof WebCondition]: WebCondition[K] } = {};
  if (input.viewedCategories) {
    const { categories, since } = input.viewedCategories;
    condition.viewedCategories = { categories: texts(categories, `${path}.viewedCategories.categories`, MAX_LIST), since };
  }
  if (input.viewedProducts) {
    const { productIds, since } = input.viewedProducts;
    condition.viewedProducts = { productIds: texts(productIds, `${path}.viewedProducts.productIds`, MAX_VALUES), since };
  }
  if (input.sessions) {
    const { min, since } = input.sessions;
    if (!Number.isInteger(min) || min < 1 || min > 10_000) throw badUserInput(`${path}.sessions.min: expected 1 to 10000, got ${min}`, `${path}.sessions.min`);
    condition.sessions = { min, since };
  }
  if (input.lastSeenAfter) condition.lastSeenAfter = input.lastSeenAfter;
  if (input.lastSeenBefore) condition.lastSeenBefore = input.lastSeenBefore;
  if (input.firstTouch) condition.firstTouch = touch(input.firstTouch, `${path}.firstTouch`);
  if (input.lastTouch) condition.lastTouch = touch(input.lastTouch, `${path}.lastTouch`);
  return nonEmptyCondition(condition, path);
}

function touch(input: TouchFilter, path: string): Touch {
  const result = {
    ...(input.campaigns && { campaigns: texts(input.campaigns, `${path}.campaigns`, MAX_LIST) }),
    ...(input.mediums && { mediums: texts(input.mediums, `${path}.mediums`, MAX_LIST) }),
  };
  if (!result.campaigns && !result.mediums) throw badUserInput(`${path}: expected campaigns or mediums`, path);
  return result;
}

function intRange(range: IntRange, path: string, lowest: number, highest: number): Range<number> {
  for (const end of ['min', 'max'] as const) {
    const value = range[end];
    if (value !== undefined && value !== null && (value < lowest || value > highest)) {
      throw badUserInput(`${path}.${end}: expected ${lowest} to ${highest}, got ${value}`, `${path}.${end}`);
    }
  }
  return checkedRange({ min: range.min ?? null, max: range.max ?? null }, path, (a, b) => a > b);
}

function moneyRange(range: DecimalMoneyRange, settings: FilterSettings, path: string): Range<string> {
  const min = range.min ? money(range.min, settings, `${path}.min`) : null;
  const max = range.max ? money(range.max, settings, `${path}.max`) : null;
  return checkedRange({ min, max }, path, (a, b) => Number(a) > Number(b));
}

function checkedRange<T>(range: { min: T | null; max: T | null }, path: string, greater: (a: T, b: T) => boolean): Range<T> {
  if (range.min === null && range.max === null) throw badUserInput(`${path}: expected min, max or both`, path);
  if (range.min !== null && range.max !== null && greater(range.min, range.max)) throw badUserInput(`${path}: expected min at most max`, path);
  return range;
}

function money(input: DecimalMoneyInput, settings: FilterSettings, path: string): string {
  if (input.currencyCode !== settings.shopCurrency) {
    throw badUserInput(`${path}: expected an amount in ${settings.shopCurrency} (the shop currency), got ${input.currencyCode}`, path);
  }
  return decimalAmount(input.amount, `${path}.amount`);
}

function list<T>(values: readonly T[], path: string, max: number): readonly T[] {
  if (values.length > max) throw badUserInput(`${path}: expected at most ${max} items, got ${values.length}`, path);
  return values;
}

function nonEmpty<T>(values: readonly T[], path: string, max: number): readonly T[] {
  if (values.length === 0) throw badUserInput(`${path}: expected at least one value`, path);
  return [...new Set(list(values, path, max))];
}

function texts(values: readonly string[], path: string, max: number): readonly string[] {
  return nonEmpty(
    values.map((value, i) => text(value, `${path}[${i}]`)),
    path,
    max,
  );
}

function text(value: string, path: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_TEXT) throw badUserInput(`${path}: expected 1 to ${MAX_TEXT} characters`, path);
  return trimmed;
}

function nonEmptyCondition<T extends object>(condition: T, path: string): T {
  if (Object.keys(condition).length === 0) throw badUserInput(`${path}: expected at least one condition`, path);
  return condition;
}

export const DEFAULT_ORDER: AudienceOrder = { field: 'ID', direction: 'ASC' };
const MAX_BUCKETS = 400;
const BUCKET_DAYS = { DAY: 1, WEEK: 7, MONTH: 28 } as const;
const NAME = /^[\w.-]{1,64}$/;
export const MAX_AUDIENCE_DESCRIPTION = 500;

export function orderOf(input: CustomerOrder | null | undefined): AudienceOrder {
  return input ? { field: input.field, direction: input.direction ?? 'ASC' } : DEFAULT_ORDER;
}

/** `customerHistogram`'s window: since before until, at most MAX_BUCKETS buckets. */
export function histogramWindow(args: Pick<QueryCustomerHistogramArgs, 'since' | 'until' | 'interval'>, now = new Date()): { since: Date; until: Date } {
  const until = args.until ?? now;
  if (args.since >= until) throw badUserInput('since: expected a time before `until` (now when omitted)', 'since');
  const buckets = (until.getTime() - args.since.getTime()) / (BUCKET_DAYS[args.interval] * 86_400_000);
  if (buckets > MAX_BUCKETS)
    throw badUserInput(`since: expected at most ${MAX_BUCKETS} ${args.interval.toLowerCase()} buckets between since and until, got ${Math.ceil(buckets)}`, 'since');
  return { since: args.since, until };
}

export function audienceName(name: string): string {
  if (!NAME.test(name)) throw badUserInput('name: expected 1-64 letters, digits, `-`, `_` or `.`', 'name');
  return name;
}
