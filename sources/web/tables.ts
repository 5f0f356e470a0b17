/**
 * What the web source reads of the warehouse, declared once: each table, the columns the
 * statements use (with the type a missing one reads as) and what a missing table means for the
 * answers. The statements see a table only through these columns (layout.ts), so a statement that
 * used an undeclared column would fail in every test; schema.sql creates them all with these types
 * (test/web/drift.test.ts compares the two, for the default options).
 *
 * Most columns are fixed names. The consent columns are named by the consent categories a shop's
 * CMP uses (WebOptions.consent), so the full declaration is TABLES plus those columns on every
 * event table: expectedOf builds it, once per source.
 */

/** A column type as information_schema.columns spells it (also valid in a SQL cast). */
export type ColumnType = 'text' | 'timestamp with time zone' | 'numeric' | 'integer' | 'boolean';

export interface ExpectedTable {
  readonly columns: Readonly<Record<string, ColumnType>>;
  /**
   * Columns of `columns` that many warehouses never have, and rightly: a library or pipeline that
   * does not send them (geolocation, timezone, consent, `uuid_ts`). They read as null like any
   * missing column, but their absence is not drift: it is not reported (a present one of an
   * unreadable type still is).
   */
  readonly optional?: readonly string[];
  /** One row per page or track call: carries the call's context, consent preferences included. */
  readonly event?: true;
  /** What reads as none while the table is missing, and what creates it: "<answers> read as none until ...". */
  readonly whenMissing: string;
}

const TEXT = 'text';
const TIME = 'timestamp with time zone';

/** Who an event belongs to and when it happened: every event table has these. */
const EVENT = { id: TEXT, anonymous_id: TEXT, user_id: TEXT, timestamp: TIME } as const;
const CAMPAIGN = {
  context_user_agent: TEXT,
  context_campaign_source: TEXT,
  context_campaign_medium: TEXT,
  context_campaign_name: TEXT,
  context_page_referrer: TEXT,
} as const;
/**
 * Where an event came from and when the pipeline had it: the location family reads the context
 * (locale from analytics.js, timezone from mobile libraries, `context_geo_*` from RudderStack's
 * geolocation enrichment; Segment adds no geo) and the freshness read the arrival and load times
 * (`received_at` on every row of both vendors; `uuid_ts` when the connector writes it).
 */
const STREAM = {
  received_at: TIME,
  uuid_ts: TIME,
  context_locale: TEXT,
  context_timezone: TEXT,
  context_geo_country: TEXT,
  context_geo_region: TEXT,
  context_geo_city: TEXT,
} as const;
const STREAM_OPTIONAL = ['uuid_ts', 'context_locale', 'context_timezone', 'context_geo_country', 'context_geo_region', 'context_geo_city'];
const CART_CHANGE = { ...EVENT, product_id: TEXT, name: TEXT, quantity: 'integer' } as const;

const firstEvent = (event: string) => `until the first ${event} event creates the table`;

export const TABLES = {
  identifies: {
    columns: { anonymous_id: TEXT, user_id: TEXT, timestamp: TIME },
    whenMissing: `no anonymous browsing is linked to a customer (and anonymous ids resolve to nobody) until the first identify call creates the table`,
  },
  users: {
    columns: { id: TEXT },
    // RudderStack skips this table by default ("Skip User Table"); identify calls are enough.
    whenMissing: 'customers are known to the warehouse from their identify calls alone (RudderStack skips this table by default)',
  },
  pages: {
    columns: { ...EVENT, ...CAMPAIGN, ...STREAM, referrer: TEXT, path: TEXT },
    optional: STREAM_OPTIONAL,
    event: true,
    whenMissing: 'page views read as none, and sessions, devices and touches count track calls only, until the first page call creates the table',
  },
  tracks: {
    columns: { ...EVENT, ...CAMPAIGN, ...STREAM, context_page_path: TEXT },
    optional: STREAM_OPTIONAL,
    event: true,
    whenMissing: 'sessions, devices and touches count page views only until the first track call creates the table',
  },
  product_viewed: {
    columns: { ...EVENT, product_id: TEXT, name: TEXT, category: TEXT, price: 'numeric', currency: TEXT },
    event: true,
    whenMissing: `recently viewed products and top categories read as none ${firstEvent('Product Viewed')}`,
  },
  product_added: {
    // The product's category and price feed the affinity trait (Segment's Product Added carries them).
    columns: { ...CART_CHANGE, category: TEXT, price: 'numeric', currency: TEXT },
    event: true,
    whenMissing: `cart additions read as none ${firstEvent('Product Added')}`,
  },
  product_removed: {
    columns: CART_CHANGE,
    event: true,
    whenMissing: `cart removals read as none ${firstEvent('Product Removed')}`,
  },
  checkout_started: {
    columns: { ...EVENT, value: 'numeric', revenue: 'numeric', currency: TEXT },
    event: true,
    whenMissing: `abandoned checkouts read as none ${firstEvent('Checkout Started')}`,
  },
  order_completed: {
    columns: EVENT,
    event: true,
    // Without orders every started checkout looks abandoned: worth saying plainly.
    whenMissing: `every Checkout Started older than 30 minutes reads as an abandoned checkout ${firstEvent('Order Completed')}`,
  },
  products_searched: {
    columns: { ...EVENT, query: TEXT },
    event: true,
    whenMissing: `searches read as none ${firstEvent('Products Searched')}`,
  },
} as const satisfies Record<string, ExpectedTable>;

export type TableName = keyof typeof TABLES;

export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** What consent is asked for: analytics (profiles and measurement) and advertising (targeting). */
export type ConsentPurpose = 'analytics' | 'advertising';

/** The CMP's category id for each purpose (as in `context.consent.categoryPreferences`); null: not asked. */
export type ConsentCategories = Readonly<Record<ConsentPurpose, string | null>>;

/** OneTrust's: C0002 performance (analytics) cookies, C0004 targeting (advertising) cookies. */
export const DEFAULT_CONSENT_CATEGORIES: ConsentCategories = { analytics: 'c0002', advertising: 'c0004' };

const CONSENT_PREFIX = 'context_consent_category_preferences_';
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
/** PostgreSQL keeps the first 63 bytes of a longer name; the pipelines' tables show the cut name. */
const MAX_IDENTIFIER = 63;

/**
 * The column Segment writes a consent category to: `context.consent.categoryPreferences.<id>`
 * flattened and snake-cased the way its warehouses name columns (go-snakecase: words split at
 * each run of capitals and digits that starts a word and at every other character; `C0004` ->
 * `context_consent_category_preferences_c0004`), cut to PostgreSQL's 63 characters. Throws a
 * TypeError for an id with no letter or digit.
 */
export function consentColumnOf(categoryId: string): string {
  const words = categoryId
    .split(/[^A-Za-z0-9]+/)
    .flatMap((chunk) => chunk.match(/[A-Z0-9]*[a-z0-9]*/g) ?? [])
    .filter((word) => word.length > 0);
  const column = `${CONSENT_PREFIX}${words.join('_').toLowerCase()}`.slice(0, MAX_IDENTIFIER);
  if (words.length === 0 || !IDENTIFIER.test(column)) {
    throw new TypeError(`expected a consent category id with letters or digits (such as C0002), got ${JSON.stringify(categoryId)}`);
  }
  return column;
}

/** Everything a source reads: TABLES with the configured consent columns on every event table. */
export interface Expected {
  readonly tables: Readonly<Record<TableName, ExpectedTable>>;
  /** The column each purpose is read from (on every event table); null when no category is configured for it. */
  readonly consent: Readonly<Record<ConsentPurpose, string | null>>;
}

/**
 * The declaration for `categories`. Consent columns are boolean and optional: a pipeline without
 * a CMP (or before its first consent-carrying event) has none, which means no consent object was
 * sent, not a refusal. Throws a TypeError for a category id that makes no column name.
 */
export function expectedOf(categories: ConsentCategories = DEFAULT_CONSENT_CATEGORIES): Expected {
  const consent = {
    analytics: categories.analytics === null ? null : consentColumnOf(categories.analytics),
    advertising: categories.advertising === null ? null : consentColumnOf(categories.advertising),
  };
  const names = [...new Set([consent.analytics, consent.advertising].filter((name): name is string => name !== null))];
  const tables = Object.fromEntries(
    TABLE_NAMES.map((name) => {
      const table: ExpectedTable = TABLES[name];
      if (!table.event || names.length === 0) return [name, table];
      const columns = { ...table.columns, ...Object.fromEntries(names.map((column) => [column, 'boolean' as const])) };
      return [name, { ...table, columns, optional: [...(table.optional ?? []), ...names] }];
    }),
  ) as Record<TableName, ExpectedTable>;
  return { tables, consent };
}

/**
 * The catalog types a column declared as ColumnType is read from: as it is, or cast to the
 * declared type. The pipeline fixes a column's type by the first value it sees (a quantity sent
 * as "2" makes a text column); a type not listed here is read as null and reported, because
 * casting it could fail on some row and take the whole statement with it.
 */
export const READABLE: Readonly<Record<ColumnType, Readonly<Record<string, 'as is' | 'cast'>>>> = {
  text: { text: 'as is', 'character varying': 'as is', character: 'cast' },
  'timestamp with time zone': { 'timestamp with time zone': 'as is', 'timestamp without time zone': 'cast' },
  integer: { integer: 'as is', smallint: 'cast', bigint: 'cast', numeric: 'cast', 'double precision': 'cast', real: 'cast' },
  numeric: { numeric: 'as is', smallint: 'cast', integer: 'cast', bigint: 'cast', 'double precision': 'cast', real: 'cast' },
  // A consent flag sent as "true" makes a text column; casting could fail on any other string.
  boolean: { boolean: 'as is' },
};
