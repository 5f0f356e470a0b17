import type { WebAudienceSource } from '../audience.ts';
import type { ContractFinding } from '../contract.ts';
import { sqlStateOf } from '../sql.ts';
import { summariesStatement, devicesStatement, touchesStatement } from './activity.ts';
import { audienceStatement, createWebAudience } from './audience.ts';
import { affinityEvidenceStatement, type BrowsingEvidence } from './affinity.ts';
import { cartActivityStatement } from './cart.ts';
import { engagementPeriodsStatement, sessionSourcesStatement, type SessionSourceGroup, type WebPeriods } from './channels.ts';
import { consentsStatement } from './consent.ts';
import { checkWarehouse } from './contract.ts';
import { checkKeys, checkSubjects, type Queryable } from './db.ts';
import { quoteSchema } from './ddl.ts';
import { everyRefresh, loadStatement } from './freshness.ts';
import { identitiesStatement, visitorsStatement } from './identity.ts';
import { emptySchemaError, isEmpty, relationsOf, type Layout, type Relations } from './layout.ts';
import { createLayoutKeeper, type WebLogger } from './layout-keeper.ts';
import { locationsStatement } from './location.ts';
import type {
  AnonymousVisitorRecord,
  CartActivity,
  CategoryInterest,
  ProductSearch,
  Touches,
  ViewedProduct,
  WarehouseLoad,
  WebConsent,
  WebDevice,
  WebIdentity,
  WebKey,
  WebListKey,
  WebLocation,
  WebSubject,
  WebSummary,
} from './model.ts';
import { recentlyViewedProductsStatement, searchesStatement, topCategoriesStatement } from './products.ts';
import { DEFAULT_CONSENT_CATEGORIES, expectedOf, type ConsentCategories } from './tables.ts';

export type * from './model.ts';
export type { SessionSourceGroup, WebPeriodCounts, WebPeriods } from './channels.ts';
export type { Queryable } from './db.ts';
export type { WebLogger } from './layout-keeper.ts';
export { consentColumnOf, DEFAULT_CONSENT_CATEGORIES, expectedOf, TABLES, type ConsentCategories, type ConsentPurpose, type Expected, type TableName } from './tables.ts';
export { MAX_DAYS, MAX_FIRST } from './db.ts';
export { CART_LIST_LIMIT } from './cart.ts';
export { VIEW_SECONDS_CAP, type BrowsingEvidence } from './affinity.ts';
export { quoteSchema, warehouseDdl, type WarehouseDdl } from './ddl.ts';

export interface WebOptions {
  /** The warehouse schema of the event source (a plain identifier: /^[a-z_][a-z0-9_]*$/). */
  readonly schema: string;
  /** The source's clock: every window ends here (tests fix it). */
  readonly now?: () => Date;
  /** How long a read of the warehouse catalog (which tables and columns exist) is used; 60 s by default. */
  readonly layoutRefreshMs?: number;
  /** Receives each newly seen drift (a missing table or column) once; nothing is logged without it. */
  readonly logger?: WebLogger;
  /**
   * The consent categories of the shop's CMP, by purpose, as its events carry them in
   * `context.consent.categoryPreferences` (read from `context_consent_category_preferences_<snake
   * id>` on every event table); null for a purpose the CMP does not ask. DEFAULT_CONSENT_CATEGORIES
   * (OneTrust's C0002 and C0004) by default. Events that refused the analytics category are read
   * by no family but `consents`.
   */
  readonly consent?: ConsentCategories;
  /** How long a loadStatus() answer is used before a call reads again, on the `now` clock; 30 s by default. */
  readonly loadStatusRefreshMs?: number;
  /**
   * Where the audience statements run (audience.ts): a pool whose statement timeout allows an
   * analyst's scan of the whole warehouse (the request pool's does not on a large one). `db` by default.
   */
  readonly audienceDb?: Queryable;
}

/** How long a catalog read is used before a call starts another. */
export const DEFAULT_LAYOUT_REFRESH_MS = 60_000;
/** How long a loadStatus() answer is used before a call reads again. */
export const DEFAULT_LOAD_STATUS_REFRESH_MS = 30_000;

/**
 * The event warehouse's batch functions. Each returns one entry per key, in key order, and runs
 * exactly one SQL statement per call whatever the number of keys, the mix of subjects and windows,
 * or the number of anonymous ids linked to a person (none for no keys); keys may mix windows and
 * page sizes. They throw SourceError('web') when the warehouse fails, and a RangeError for a key
 * with neither a user id nor an anonymous id, days outside 1..MAX_DAYS or first outside
 * 1..MAX_FIRST (the caller validates input first). Whose events a key reads: see WebSubject (a
 * user's own rows plus the not-yet-identified rows of the anonymous ids linked to them alone, an
 * anonymous id's not-yet-identified rows, or both for a signed-in session's browser). Events that
 * refused analytics consent (the configured category's column explicitly false) count for no
 * family but `consents`; events without a consent object do count.
 *
 * Schema drift is data: the pipeline creates an event's table when that event first loads and a
 * column when it first carries a value, so a missing table reads as no events of that kind and a
 * missing column as null (see tables.ts for what each table feeds, drift() for what is missing
 * now). Only a schema with none of the tables fails (bad_response, not retryable). Which tables
 * and columns exist comes from the catalog, read when the source is created, again by a call
 * once the last read is older than layoutRefreshMs (in the background: that call does not wait),
 * and at once when a statement meets a table or column that has gone since (the statement then
 * runs once more): those reads are the only statements beside each call's one.
 */
export interface WebSource {
  /** Null when the warehouse has no `users` row and no identify call for the id. */
  identities(userIds: readonly string[]): Promise<Array<WebIdentity | null>>;
  /**
   * Each anonymous id's link (linked to one user, whose id is given; ambiguous, with no user id;
   * unlinked) and its first and last event; null when the warehouse has neither an event nor an
   * identify call for it.
   */
  visitors(anonymousIds: readonly string[]): Promise<Array<AnonymousVisitorRecord | null>>;
  /**
   * Per subject and purpose, the newest event of any time that carried a consent value for it;
   * never null (each purpose null when no event did). Runs no SQL when the warehouse has none of
   * the configured consent columns.
   */
  consents(subjects: readonly WebSubject[]): Promise<WebConsent[]>;
  /** Null when the person has no page or track in the window. */
  summaries(keys: readonly WebKey[]): Promise<Array<WebSummary | null>>;
  /** Most recently viewed first; empty when nothing was viewed in the window. */
  recentlyViewedProducts(keys: readonly WebListKey[]): Promise<ViewedProduct[][]>;
  /** By views, then seconds spent, then name; empty when nothing was viewed. */
  topCategories(keys: readonly WebListKey[]): Promise<CategoryInterest[][]>;
  /** Never null: empty lists when nothing happened in the window. */
  cartActivity(keys: readonly WebKey[]): Promise<CartActivity[]>;
  /** Most used first, each with its share of the window's sessions; empty without sessions. */
  devices(keys: readonly WebKey[]): Promise<WebDevice[][]>;
  /** Null when the person has no session in the window. */
  touches(keys: readonly WebKey[]): Promise<Array<Touches | null>>;
  /** Most recent first; empty when there was no search. */
  searches(keys: readonly WebListKey[]): Promise<ProductSearch[][]>;
  /** The affinity trait's browsing evidence (affinity.ts); empty when nothing was viewed or added. */
  affinityEvidence(keys: readonly WebKey[]): Promise<BrowsingEvidence[][]>;
  /**
   * The context (locale, timezone, geolocation) of the newest event in the window carrying any of
   * it; null when none does. Runs no SQL when pages and tracks have none of those columns.
   */
  locations(keys: readonly WebKey[]): Promise<Array<WebLocation | null>>;
  /** Session starts grouped by campaign tags and referring host; empty without sessions. */
  sessionSources(keys: readonly WebKey[]): Promise<SessionSourceGroup[][]>;
  /** Sessions and page views in the key's last `days` days and the `days` before (2 x days at most MAX_DAYS); never null. */
  engagementPeriods(keys: readonly WebKey[]): Promise<WebPeriods[]>;
  /**
   * How current the warehouse is (newest received_at, newest uuid_ts). Read at most once per
   * loadStatusRefreshMs by this source; concurrent callers share one read; a failure rejects with
   * SourceError('web') and is not kept.
   */
  loadStatus(): Promise<WarehouseLoad>;
  /**
   * Reads the catalog again; throws SourceError when the warehouse cannot answer or the schema has
   * none of the tables.
   */
  ping(): Promise<void>;
  /** What the warehouse lacks now (missing tables and columns, as of the last catalog read), for readiness. */
  drift(): readonly ContractFinding[];
  /**
   * Which identified people (user id = shop customer id) meet a WebCondition, pushed down
   * (audience.ts): one statement per estimate, enumerate and check, with the families' subjects,
   * consent and sessions, on the source's clock. A missing table or column is data here too (nobody
   * matches the fields that read it); the statement is tallied, the catalog reads are not. Also
   * the first-touch medium breakdown of a set of customers (firstTouchMediums), one statement.
   */
  readonly audience: WebAudienceSource;
  /** Reads the catalog again and returns what it lacks (ContractCheck); rejects only when it cannot be read. */
  checkContract(): Promise<ContractFinding[]>;
}

/**
 * The web-analytics warehouse (Segment/RudderStack layout, sources/web/schema.sql) in one schema.
 * Statements are built from constants, the validated schema name, the consent column names
 * derived from the configured categories and the tables and columns the catalog shows (rebuilt
 * when those change); throws a TypeError when the schema name is not a plain identifier or a
 * consent category makes no column name. Starts reading the catalog at once, so the first call
 * usually finds it read.
 */
export function createWebSource(db: Queryable, options: WebOptions): WebSource {
  const s = quoteSchema(options.schema);
  const now = options.now ?? (() => new Date());
  const keeper = createLayoutKeeper({
    db,
    schema: options.schema,
    expected: expectedOf(options.consent ?? DEFAULT_CONSENT_CATEGORIES),
    refreshMs: options.layoutRefreshMs ?? DEFAULT_LAYOUT_REFRESH_MS,
    logger: options.logger ?? silent,
  });
  keeper.refresh().catch(() => {}); // a failed read is repeated by the first call, which reports it

  let built: { key: string; statements: Statements } | null = null;
  const statementsFor = (layout: Layout): Statements => {
    if (built?.key !== layout.key) built = { key: layout.key, statements: buildStatements(relationsOf(layout, s)) };
    return built.statements;
  };

  /**
   * Runs one family's statement with the current layout. A statement that meets a table or
   * column the layout did not expect to be gone (42P01, 42703: dropped or renamed since the last
   * read) reads the catalog again and, when that changed the layout, runs once more.
   */
  async function answer<T>(count: number, ask: (statements: Statements) => Promise<T[]>): Promise<T[]> {
    if (count === 0) return [];
    const layout = await keeper.current();
    if (isEmpty(layout)) throw emptySchemaError(options.schema);
    try {
      return await ask(statementsFor(layout));
    } catch (error) {
      const state = sqlStateOf(error);
      if (state !== UNDEFINED_TABLE && state !== UNDEFINED_COLUMN) throw error;
      const fresh = await keeper.refresh();
      if (fresh.key === layout.key) throw error;
      if (isEmpty(fresh)) throw emptySchemaError(options.schema);
      return ask(statementsFor(fresh));
    }
  }
  /** The same, for families with a window: their keys are checked before any SQL. */
  const windowed = async <K extends WebKey, T>(keys: readonly K[], ask: (statements: Statements, at: Date) => Promise<T[]>) => {
    checkKeys(keys);
    const at = now();
    return answer(keys.length, (statements) => ask(statements, at));
  };

  const loadStatus = everyRefresh(
    () => {
      const at = now();
      return answer(1, async (statements) => [await statements.loadStatus(db, at)]).then(([load]) => load!);
    },
    options.loadStatusRefreshMs ?? DEFAULT_LOAD_STATUS_REFRESH_MS,
    () => now().getTime(),
  );

  return {
    identities: (userIds) => answer(userIds.length, (st) => st.identities(db, userIds)),
    visitors: (anonymousIds) => answer(anonymousIds.length, (st) => st.visitors(db, anonymousIds)),
    consents: async (subjects) => {
      checkSubjects(subjects);
      return answer(subjects.length, (st) => st.consents(db, subjects));
    },
    summaries: (keys) => windowed(keys, (st, at) => st.summaries(db, keys, at)),
    recentlyViewedProducts: (keys) => windowed(keys, (st, at) => st.recentlyViewedProducts(db, keys, at)),
    topCategories: (keys) => windowed(keys, (st, at) => st.topCategories(db, keys, at)),
    cartActivity: (keys) => windowed(keys, (st, at) => st.cartActivity(db, keys, at)),
    devices: (keys) => windowed(keys, (st, at) => st.devices(db, keys, at)),
    touches: (keys) => windowed(keys, (st, at) => st.touches(db, keys, at)),
    searches: (keys) => windowed(keys, (st, at) => st.searches(db, keys, at)),
    affinityEvidence: (keys) => windowed(keys, (st, at) => st.affinityEvidence(db, keys, at)),
    locations: (keys) => windowed(keys, (st, at) => st.locations(db, keys, at)),
    sessionSources: (keys) => windowed(keys, (st, at) => st.sessionSources(db, keys, at)),
    engagementPeriods: (keys) => windowed(keys, (st, at) => st.engagementPeriods(db, keys, at)),
    loadStatus,
    async ping() {
      if (isEmpty(await keeper.refresh())) throw emptySchemaError(options.schema);
    },
    drift: () => keeper.findings().filter((finding) => finding.severity === 'warning'),
    checkContract: () => checkWarehouse(keeper),
    audience: createWebAudience((query) => answer(1, (st) => st.audience(options.audienceDb ?? db, query)), now),
  };
}

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_COLUMN = '42703';

const silent: WebLogger = { warn: () => {}, error: () => {} };

/** Every family's statement, built for one layout. */
function buildStatements(w: Relations) {
  return {
    identities: identitiesStatement(w),
    visitors: visitorsStatement(w),
    consents: consentsStatement(w),
    summaries: summariesStatement(w),
    recentlyViewedProducts: recentlyViewedProductsStatement(w),
    topCategories: topCategoriesStatement(w),
    cartActivity: cartActivityStatement(w),
    devices: devicesStatement(w),
    touches: touchesStatement(w),
    searches: searchesStatement(w),
    affinityEvidence: affinityEvidenceStatement(w),
    locations: locationsStatement(w),
    sessionSources: sessionSourcesStatement(w),
    engagementPeriods: engagementPeriodsStatement(w),
    loadStatus: loadStatement(w),
    audience: audienceStatement(w),
  };
}

type Statements = ReturnType<typeof buildStatements>;
