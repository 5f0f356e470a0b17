import { contactIdOf, indexOfEmail, populationSize, type DemoWorld } from '../demo/people.ts';
import { validationError, type Reply } from './bodies.ts';
import { contactPropertyDefinitions } from './properties.ts';
import { contactById, type StoredObject } from './records.ts';

/**
 * CRM search (`POST /crm/v3/objects/contacts/search`) over the demo world, as HubSpot's search
 * guide describes it: filters AND within a group, groups OR; one sort; pages of at most 200 with an
 * integer `after`; no paging past the first 10,000 results. String properties compare
 * case-insensitively (and `IN` values must be lower-case), enumerations exactly.
 *
 * The world is generated on demand, so a search would otherwise regenerate every person. Instead a
 * per-world index is built once, on the first search (in slices, so the event loop stays free): the
 * person index of every contact (hs_object_id order) and, per filterable property, a dictionary of
 * its distinct values with one code per contact, plus the two timestamps as numbers. Filters on
 * those properties scan codes; the rest (email, phone, zip, ...) regenerate the contacts that
 * survive the indexed filters. Email `EQ`/`IN` narrows to the named people first (a demo email
 * encodes its person's index). Recent results are kept, so paging costs a slice, not a search.
 */

export const SEARCH_LIMITS = {
  groups: 5,
  filtersPerGroup: 6,
  filters: 18,
  defaultPageSize: 10,
  maxPageSize: 200,
  /** Results one query may page through; `after + limit` beyond it is a 400. */
  results: 10_000,
  queryLength: 3000,
} as const;

export const OPERATORS = ['EQ', 'NEQ', 'LT', 'LTE', 'GT', 'GTE', 'BETWEEN', 'IN', 'NOT_IN', 'HAS_PROPERTY', 'NOT_HAS_PROPERTY', 'CONTAINS_TOKEN', 'NOT_CONTAINS_TOKEN'] as const;
type Operator = (typeof OPERATORS)[number];

type PropertyType = 'string' | 'number' | 'datetime' | 'enumeration';

const TYPES: ReadonlyMap<string, PropertyType> = new Map(contactPropertyDefinitions().map((d) => [String(d.name), d.type as PropertyType]));

/** Properties kept as dictionary codes: few distinct values each, so a filter is one scan of codes. */
const CODED = [
  'lifecyclestage',
  'hs_lead_status',
  'hubspot_owner_id',
  'company',
  'website',
  'jobtitle',
  'city',
  'state',
  'country',
  'preferred_store',
  'loyalty_tier',
  'firstname',
  'lastname',
] as const;
const TIMES = ['createdate', 'lastmodifieddate'] as const;

interface Filter {
  readonly propertyName: string;
  readonly operator: Operator;
  readonly value?: string;
  readonly highValue?: string;
  readonly values?: readonly string[];
}

export interface SearchQuery {
  readonly groups: ReadonlyArray<readonly Filter[]>;
  readonly sort: { readonly property: string; readonly descending: boolean } | null;
  /** Properties asked for; empty = HubSpot's defaults. */
  readonly properties: readonly string[];
  readonly limit: number;
  readonly after: number;
}

/** One page of a search: the contacts on it, how many matched in all, and where the next page starts. */
export interface SearchPage {
  readonly total: number;
  readonly contacts: readonly StoredObject[];
  readonly nextAfter: number | null;
}

/** Checks a search body as HubSpot does; a Reply is the 400 to send instead. */
export function parseSearch(body: unknown, resultCap: number): SearchQuery | Reply {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return validationError('Invalid input JSON on line 1, column 1: expected an object');
  const input = body as Record<string, unknown>;
  if (input.query !== undefined) {
    if (typeof input.query !== 'string') return validationError('query must be a string');
    if (input.query.length > SEARCH_LIMITS.queryLength) return validationError(`query is longer than ${SEARCH_LIMITS.queryLength} characters`);
    // Full-text `query` is not what the audience push-down uses; the stand-in says so rather than ignore it.
    if (input.query !== '') return validationError('the HubSpot stand-in does not implement the full-text query; use filterGroups');
  }
  const groups = parseGroups(input.filterGroups);
  if ('status' in groups) return groups;
  const sort = parseSort(input.sorts);
  if (sort !== null && 'status' in sort) return sort;
  const properties = Array.isArray(input.properties) ? input.properties.filter((p): p is string => typeof p === 'string') : [];
  const limit = input.limit === undefined || input.limit === null ? SEARCH_LIMITS.defaultPageSize : input.limit;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > SEARCH_LIMITS.maxPageSize) {
    return validationError(`limit must be an integer between 0 and ${SEARCH_LIMITS.maxPageSize}`);
  }
  const after = input.after === undefined || input.after === null || input.after === '' ? 0 : input.after;
  if (typeof after !== 'string' && typeof after !== 'number') return validationError('after must be an integer string');
  if (!/^\d{1,9}$/.test(String(after))) return validationError(`after must be an integer string, got ${JSON.stringify(after)}`);
  const offset = Number(after);
  if (offset + limit > resultCap) {
    return validationError(`Search results are limited to ${resultCap}: after ${offset} with limit ${limit} asks for results beyond that`);
  }
  return { groups, sort, properties, limit, after: offset };
}

function parseGroups(raw: unknown): Filter[][] | Reply {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return validationError('filterGroups must be an array');
  if (raw.length > SEARCH_LIMITS.groups) return validationError(`Too many filter groups: ${raw.length}; the maximum is ${SEARCH_LIMITS.groups}`);
  const groups: Filter[][] = [];
  let total = 0;
  for (const group of raw as unknown[]) {
    const filters = (group as { filters?: unknown } | null)?.filters;
    if (!Array.isArray(filters)) return validationError('every filter group needs a filters array');
    if (filters.length > SEARCH_LIMITS.filtersPerGroup) {
      return validationError(`Too many filters in a filter group: ${filters.length}; the maximum is ${SEARCH_LIMITS.filtersPerGroup}`);
    }
    total += filters.length;
    const parsed: Filter[] = [];
    for (const filter of filters as unknown[]) {
      const checked = parseFilter(filter);
      if ('status' in checked) return checked;
      parsed.push(checked);
    }
    groups.push(parsed);
  }
  if (total > SEARCH_LIMITS.filters) return validationError(`Too many filters: ${total}; the maximum across all filter groups is ${SEARCH_LIMITS.filters}`);
  return groups;
}

function parseFilter(raw: unknown): Filter | Reply {
  const f = (raw ?? {}) as Record<string, unknown>;
  const { propertyName, operator } = f;
  if (typeof propertyName !== 'string' || !TYPES.has(propertyName)) return validationError(`Unknown property for CONTACT filter: ${String(propertyName)}`);
  if (typeof operator !== 'string' || !(OPERATORS as readonly string[]).includes(operator)) return validationError(`Unknown filter operator: ${String(operator)}`);
  const op = operator as Operator;
  const type = TYPES.get(propertyName)!;
  const scalar = (name: 'value' | 'highValue'): string | Reply => {
    const value = f[name];
    if (typeof value !== 'string' && typeof value !== 'number') return validationError(`${op} on ${propertyName} needs a ${name}`);
    const text = String(value);
    if ((type === 'number' || type === 'datetime') && Number.isNaN(keyOf(type, text))) {
      return validationError(`${text} is not a valid ${type} value for ${propertyName}`);
    }
    return text;
  };
  if (op === 'HAS_PROPERTY' || op === 'NOT_HAS_PROPERTY') return { propertyName, operator: op };
  if (op === 'IN' || op === 'NOT_IN') {
    if (!Array.isArray(f.values) || f.values.length === 0 || !f.values.every((v) => typeof v === 'string' || typeof v === 'number')) {
      return validationError(`${op} on ${propertyName} needs a non-empty values array`);
    }
    return { propertyName, operator: op, values: f.values.map(String) };
  }
  const value = scalar('value');
  if (typeof value !== 'string') return value;
  if (op !== 'BETWEEN') return { propertyName, operator: op, value };
  const highValue = scalar('highValue');
  return typeof highValue === 'string' ? { propertyName, operator: op, value, highValue } : highValue;
}

function parseSort(raw: unknown): { property: string; descending: boolean } | Reply | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw)) return validationError('sorts must be an array');
  if (raw.length === 0) return null;
  if (raw.length > 1) return validationError(`Only one sort is supported, got ${raw.length}`);
  const sort = raw[0] as unknown;
  // The SDK types a sort as a string ("-createdate" = descending); the guide shows objects.
  const [property, descending] =
    typeof sort === 'string'
      ? [sort.replace(/^-/, ''), sort.startsWith('-')]
      : [(sort as { propertyName?: unknown } | null)?.propertyName, (sort as { direction?: unknown } | null)?.direction === 'DESCENDING'];
  if (typeof property !== 'string' || !TYPES.has(property)) return validationError(`Unknown sort property: ${String(property)}`);
  return { property, descending };
}

/** Runs a parsed query against the world's index. */
export async function search(world: DemoWorld, query: SearchQuery): Promise<SearchPage> {
  const index = await searchIndex(world);
  const key = JSON.stringify([query.groups, query.sort]);
  let matches = index.recent.get(key);
  if (matches) index.recent.delete(key);
  else matches = sortPositions(index, world, evaluate(index, world, query.groups), query.sort);
  index.recent.set(key, matches);
  if (index.recent.size > RECENT_QUERIES) index.recent.delete(index.recent.keys().next().value!);
  const page = matches.subarray(query.after, query.after + query.limit);
  const contacts = Array.from(page, (position) => contactAt(world, index, position));
  const end = query.after + page.length;
  return { total: matches.length, contacts, nextAfter: end < matches.length && query.limit > 0 ? end : null };
}

/** Builds (or waits for) the world's index ahead of the first search; e.g. at demo start-up. */
export async function prepareSearchIndex(world: DemoWorld): Promise<void> {
  await searchIndex(world);
}

const RECENT_QUERIES = 8;

interface Column {
  readonly values: ReadonlyArray<string | null>;
  readonly codes: Uint16Array | Uint32Array;
}

interface SearchIndex {
  /** Person index of each contact, ascending (hs_object_id order); a contact's position is its place here. */
  readonly people: Int32Array;
  readonly columns: ReadonlyMap<string, Column>;
  readonly times: ReadonlyMap<string, Float64Array>;
  /** Sorted matching positions of recent queries, oldest first. */
  readonly recent: Map<string, Int32Array>;
}

const indexes = new Map<string, Promise<SearchIndex>>();
const SLICE = 5000;
const WORLDS_KEPT = 4;

function searchIndex(world: DemoWorld): Promise<SearchIndex> {
  const key = `${world.seed}/${world.customers}/${world.asOf.getTime()}`;
  let index = indexes.get(key);
  if (!index) {
    index = buildIndex(world);
    indexes.set(key, index);
    // Worlds a process no longer serves (tests start many small ones) give their memory back.
    if (indexes.size > WORLDS_KEPT) indexes.delete(indexes.keys().next().value!);
  }
  return index;
}

async function buildIndex(world: DemoWorld): Promise<SearchIndex> {
  const size = populationSize(world);
  const people = new Int32Array(size);
  const dictionaries = CODED.map(() => new Map<string | null, number>());
  const codes = CODED.map(() => new Uint32Array(size));
  const times = TIMES.map(() => new Float64Array(size));
  let count = 0;
  for (let start = 0; start < size; start += SLICE) {
    for (let i = start; i < Math.min(size, start + SLICE); i++) {
      const contact = contactById(world, contactIdOf(i));
      if (!contact) continue;
      people[count] = i;
      CODED.forEach((name, c) => {
        const value = contact.properties[name] ?? null;
        const dictionary = dictionaries[c]!;
        let code = dictionary.get(value);
        if (code === undefined) dictionary.set(value, (code = dictionary.size));
        codes[c]![count] = code;
      });
      TIMES.forEach((name, t) => (times[t]![count] = Date.parse(contact.properties[name] ?? '')));
      count++;
    }
    // Slices keep an in-process stand-in (the demo) answering while a large world is indexed.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const columns = new Map<string, Column>();
  CODED.forEach((name, c) => {
    const all = codes[c]!.subarray(0, count);
    columns.set(name, { values: [...dictionaries[c]!.keys()], codes: dictionaries[c]!.size <= 0xffff ? Uint16Array.from(all) : all.slice() });
  });
  return {
    people: people.slice(0, count),
    columns,
    times: new Map(TIMES.map((name, t) => [name, times[t]!.slice(0, count)])),
    recent: new Map(),
  };
}

function contactAt(world: DemoWorld, index: SearchIndex, position: number): StoredObject {
  return contactById(world, contactIdOf(index.people[position]!))!;
}

/** A value as filters compare it: lower-cased text, exact enumeration values, numbers, epoch ms. */
function keyOf(type: PropertyType, value: string): string | number {
  switch (type) {
    case 'string':
      return value.toLowerCase();
    case 'enumeration':
      return value;
    case 'number':
      return value.trim() === '' ? Number.NaN : Number(value);
    case 'datetime':
      // Epoch ms, as HubSpot's APIs take dates; an ISO string is accepted too.
      return /^-?\d+$/.test(value.trim()) ? Number(value) : value.trim() === '' ? Number.NaN : Date.parse(value);
  }
}

type Test = (key: string | number | null) => boolean;

/** The filter as a test of one contact's (keyed) value; null = the contact has no value. */
function compile(filter: Filter, type: PropertyType): Test {
  const key = (value: string) => keyOf(type, value);
  const positive = (): Test => {
    switch (filter.operator) {
      case 'HAS_PROPERTY':
      case 'NOT_HAS_PROPERTY':
        return (v) => v !== null;
      case 'EQ':
      case 'NEQ': {
        const wanted = key(filter.value!);
        return (v) => v !== null && v === wanted;
      }
      case 'IN':
      case 'NOT_IN': {
        // String values are matched as given against the lower-cased property: HubSpot asks for
        // lower-case values, and an upper-case one matches nothing.
        const wanted = new Set<string | number>(type === 'string' ? filter.values! : filter.values!.map(key));
        return (v) => v !== null && wanted.has(v);
      }
      case 'LT':
        return ordered((v, w) => v < w);
      case 'LTE':
        return ordered((v, w) => v <= w);
      case 'GT':
        return ordered((v, w) => v > w);
      case 'GTE':
        return ordered((v, w) => v >= w);
      case 'BETWEEN': {
        const low = key(filter.value!);
        const high = key(filter.highValue!);
        return (v) => v !== null && v >= low && v <= high;
      }
      case 'CONTAINS_TOKEN':
      case 'NOT_CONTAINS_TOKEN':
        return containsToken(filter.value!.toLowerCase());
    }
  };
  const ordered = (compare: (v: string | number, w: string | number) => boolean): Test => {
    const wanted = key(filter.value!);
    return (v) => v !== null && compare(v, wanted);
  };
  const test = positive();
  // The negative operators match contacts without a value too (see docs/audiences-crm.md: unverified).
  const negative = filter.operator === 'NEQ' || filter.operator === 'NOT_IN' || filter.operator === 'NOT_HAS_PROPERTY' || filter.operator === 'NOT_CONTAINS_TOKEN';
  return negative ? (v) => !test(v) : test;
}

/** A token of the value (split on what is not a letter or digit), or the whole value, matches; `*` is a wildcard. */
function containsToken(token: string): Test {
  const pattern = new RegExp(`^${token.split('*').map(escapeRegExp).join('.*')}$`);
  return (v) =>
    v !== null &&
    (pattern.test(String(v).toLowerCase()) ||
      String(v)
        .toLowerCase()
        .split(/[^\p{L}\p{N}]+/u)
        .some((t) => pattern.test(t)));
}

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** Sorted positions of the contacts matching any group (every contact when there is none). */
function evaluate(index: SearchIndex, world: DemoWorld, groups: ReadonlyArray<readonly Filter[]>): Int32Array {
  const all = index.people.length;
  if (groups.length === 0) return Int32Array.from({ length: all }, (_, i) => i);
  const matched = groups.map((filters) => evaluateGroup(index, world, filters));
  if (matched.length === 1) return matched[0]!;
  const mask = new Uint8Array(all);
  for (const positions of matched) for (const p of positions) mask[p] = 1;
  const union: number[] = [];
  mask.forEach((hit, p) => hit && union.push(p));
  return Int32Array.from(union);
}

function evaluateGroup(index: SearchIndex, world: DemoWorld, filters: readonly Filter[]): Int32Array {
  let positions: Int32Array | null = seedFromEmails(index, filters);
  const slow: Array<{ name: string; test: Test; type: PropertyType }> = [];
  for (const filter of filters) {
    const type = TYPES.get(filter.propertyName)!;
    const test = compile(filter, type);
    const column = index.columns.get(filter.propertyName);
    const time = index.times.get(filter.propertyName);
    let keep: (position: number) => boolean;
    if (column) {
      const accept = Uint8Array.from(column.values, (v) => (test(v === null || v === '' ? null : keyOf(type, v)) ? 1 : 0));
      keep = (p) => accept[column.codes[p]!] === 1;
    } else if (time) {
      keep = (p) => test(Number.isNaN(time[p]!) ? null : time[p]!);
    } else if (filter.propertyName === 'hs_object_id') {
      keep = (p) => test(Number(contactIdOf(index.people[p]!)));
    } else {
      slow.push({ name: filter.propertyName, test, type });
      continue;
    }
    positions = positions ? positions.filter(keep) : Int32Array.from(positionsWhere(index.people.length, keep));
  }
  positions ??= Int32Array.from({ length: index.people.length }, (_, i) => i);
  if (slow.length === 0) return positions;
  return positions.filter((p) => {
    const contact = contactAt(world, index, p);
    return slow.every(({ name, test, type }) => {
      const value = contact.properties[name] ?? null;
      return test(value === null || value === '' ? null : keyOf(type, value));
    });
  });
}

function* positionsWhere(count: number, keep: (position: number) => boolean): Generator<number> {
  for (let p = 0; p < count; p++) if (keep(p)) yield p;
}

/** With an email `EQ` or `IN` in the group, only those people can match: their positions (the email is still checked). */
function seedFromEmails(index: SearchIndex, filters: readonly Filter[]): Int32Array | null {
  const filter = filters.find((f) => f.propertyName === 'email' && (f.operator === 'EQ' || f.operator === 'IN'));
  if (!filter) return null;
  const positions = new Set<number>();
  for (const email of filter.values ?? [filter.value!]) {
    const person = indexOfEmail(email);
    const position = person === null ? -1 : binarySearch(index.people, person);
    if (position >= 0) positions.add(position);
  }
  return Int32Array.from([...positions].sort((a, b) => a - b));
}

function binarySearch(sorted: Int32Array, wanted: number): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! === wanted) return mid;
    if (sorted[mid]! < wanted) low = mid + 1;
    else high = mid - 1;
  }
  return -1;
}

/** Positions in the sort's order: by the property (no value last, ascending), then by id; by id alone without a sort. */
function sortPositions(index: SearchIndex, world: DemoWorld, positions: Int32Array, sort: SearchQuery['sort']): Int32Array {
  if (!sort || sort.property === 'hs_object_id') return sort?.descending ? positions.slice().reverse() : positions;
  const type = TYPES.get(sort.property)!;
  const column = index.columns.get(sort.property);
  const time = index.times.get(sort.property);
  const keys = new Map<number, string | number | null>();
  for (const p of positions) {
    const raw = column ? column.values[column.codes[p]!] : time ? null : contactAt(world, index, p).properties[sort.property];
    keys.set(p, time ? time[p]! : raw === null || raw === undefined || raw === '' ? null : keyOf(type, raw));
  }
  const direction = sort.descending ? -1 : 1;
  return positions.slice().sort((a, b) => {
    const x = keys.get(a) ?? null;
    const y = keys.get(b) ?? null;
    if (x === y) return a - b;
    if (x === null) return direction;
    if (y === null) return -direction;
    return (x < y ? -1 : 1) * direction;
  });
}
