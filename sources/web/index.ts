import { summariesStatement, devicesStatement, touchesStatement } from './activity.ts';
import { cartActivityStatement } from './cart.ts';
import { run, type Queryable } from './db.ts';
import { quoteSchema } from './ddl.ts';
import { identitiesStatement, userIdsByAnonymousIdStatement } from './identity.ts';
import type {
  CartActivity,
  CategoryInterest,
  ProductSearch,
  Touches,
  ViewedProduct,
  WebDevice,
  WebIdentity,
  WebKey,
  WebListKey,
  WebSummary,
} from './model.ts';
import { recentlyViewedProductsStatement, searchesStatement, topCategoriesStatement } from './products.ts';

export type * from './model.ts';
export type { Queryable } from './db.ts';
export { MAX_DAYS, MAX_FIRST } from './db.ts';
export { CART_LIST_LIMIT } from './cart.ts';
export { quoteSchema, warehouseDdl, type WarehouseDdl } from './ddl.ts';

export interface WebOptions {
  /** The warehouse schema of the event source (a plain identifier: /^[a-z_][a-z0-9_]*$/). */
  readonly schema: string;
  /** The source's clock: every window ends here (tests fix it). */
  readonly now?: () => Date;
}

/**
 * The event warehouse's batch functions. Each returns one entry per key, in key order, and runs
 * exactly one SQL statement per call whatever the number of keys (none for no keys); keys may mix
 * windows and page sizes. They throw SourceError('web') when the warehouse fails, and a RangeError
 * for days outside 1..MAX_DAYS or first outside 1..MAX_FIRST (the caller validates input first).
 * A person's events are the rows carrying their user id plus the not-yet-identified rows of every
 * anonymous id linked to them alone (see identities).
 */
export interface WebSource {
  /** Null when the warehouse has no `users` row and no identify call for the id. */
  identities(userIds: readonly string[]): Promise<Array<WebIdentity | null>>;
  /** The one user an anonymous id is linked to; null when linked to none, or to several (ambiguous). */
  userIdsByAnonymousId(anonymousIds: readonly string[]): Promise<Array<string | null>>;
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
  /** Throws SourceError when the warehouse cannot answer or the schema's tables are missing. */
  ping(): Promise<void>;
}

/**
 * The web-analytics warehouse (Segment/RudderStack layout, sources/web/schema.sql) in one schema.
 * Statements are built once here from constants and the validated schema name; throws a TypeError
 * when the schema name is not a plain identifier.
 */
export function createWebSource(db: Queryable, options: WebOptions): WebSource {
  const s = quoteSchema(options.schema);
  const now = options.now ?? (() => new Date());
  const statements = {
    identities: identitiesStatement(s),
    userIdsByAnonymousId: userIdsByAnonymousIdStatement(s),
    summaries: summariesStatement(s),
    recentlyViewedProducts: recentlyViewedProductsStatement(s),
    topCategories: topCategoriesStatement(s),
    cartActivity: cartActivityStatement(s),
    devices: devicesStatement(s),
    touches: touchesStatement(s),
    searches: searchesStatement(s),
  };
  const ping = `SELECT 1 FROM ${s}.identifies LIMIT 1`;
  return {
    identities: (userIds) => statements.identities(db, userIds),
    userIdsByAnonymousId: (anonymousIds) => statements.userIdsByAnonymousId(db, anonymousIds),
    summaries: (keys) => statements.summaries(db, keys, now()),
    recentlyViewedProducts: (keys) => statements.recentlyViewedProducts(db, keys, now()),
    topCategories: (keys) => statements.topCategories(db, keys, now()),
    cartActivity: (keys) => statements.cartActivity(db, keys, now()),
    devices: (keys) => statements.devices(db, keys, now()),
    touches: (keys) => statements.touches(db, keys, now()),
    searches: (keys) => statements.searches(db, keys, now()),
    async ping() {
      await run(db, ping, []);
    },
  };
}
