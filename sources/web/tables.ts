/**
 * What the web source reads of the warehouse, declared once: each table, the columns the
 * statements use (with the type a missing one reads as) and what a missing table means for the
 * answers. The statements see a table only through these columns (layout.ts), so a statement that
 * used an undeclared column would fail in every test; schema.sql creates them all with these types
 * (test/web/drift.test.ts compares the two).
 */

/** A column type as information_schema.columns spells it (also valid in a SQL cast). */
export type ColumnType = 'text' | 'timestamp with time zone' | 'numeric' | 'integer';

export interface ExpectedTable {
  readonly columns: Readonly<Record<string, ColumnType>>;
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
    columns: { ...EVENT, ...CAMPAIGN, referrer: TEXT, path: TEXT },
    whenMissing: 'page views read as none, and sessions, devices and touches count track calls only, until the first page call creates the table',
  },
  tracks: {
    columns: { ...EVENT, ...CAMPAIGN, context_page_path: TEXT },
    whenMissing: 'sessions, devices and touches count page views only until the first track call creates the table',
  },
  product_viewed: {
    columns: { ...EVENT, product_id: TEXT, name: TEXT, category: TEXT, price: 'numeric', currency: TEXT },
    whenMissing: `recently viewed products and top categories read as none ${firstEvent('Product Viewed')}`,
  },
  product_added: {
    columns: CART_CHANGE,
    whenMissing: `cart additions read as none ${firstEvent('Product Added')}`,
  },
  product_removed: {
    columns: CART_CHANGE,
    whenMissing: `cart removals read as none ${firstEvent('Product Removed')}`,
  },
  checkout_started: {
    columns: { ...EVENT, value: 'numeric', revenue: 'numeric', currency: TEXT },
    whenMissing: `abandoned checkouts read as none ${firstEvent('Checkout Started')}`,
  },
  order_completed: {
    columns: EVENT,
    // Without orders every started checkout looks abandoned: worth saying plainly.
    whenMissing: `every Checkout Started older than 30 minutes reads as an abandoned checkout ${firstEvent('Order Completed')}`,
  },
  products_searched: {
    columns: { ...EVENT, query: TEXT },
    whenMissing: `searches read as none ${firstEvent('Products Searched')}`,
  },
} as const satisfies Record<string, ExpectedTable>;

export type TableName = keyof typeof TABLES;

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
};

export const TABLE_NAMES = Object.keys(TABLES) as TableName[];
