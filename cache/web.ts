import type { WebSource } from '../sources/web/index.ts';
import { cacheKey } from './family.ts';
import { declareShapes, type DeclaredShapes } from './shapes.ts';

/** The web source's list families: their keys carry a page size (`first`) beside the window. */
export type WebListFunction = 'recentlyViewedProducts' | 'topCategories' | 'searches';

/** One way clients read `Customer.web`: its window, and the page size of each list it selects. */
export interface WebRead {
  readonly days: number;
  readonly first: Partial<Record<WebListFunction, number>>;
}

/**
 * The `web` reads that go through the shared cache; every other window or page size is read live.
 * Each entry costs every person one key per family it names, and an eviction (forgetCustomer)
 * deletes them all by name, so the list stays short: the schema's defaults, and the one query
 * every example here sends (the personalization query of the README, the demo and the benchmark).
 */
export const WEB_READS = {
  /** `web` with the schema's defaults: 30 days, each list at its default page size. */
  defaults: { days: 30, first: { recentlyViewedProducts: 10, topCategories: 5, searches: 10 } },
  /** `web { recentlyViewedProducts(first: 3) }` (README, demo), `web { topCategories(first: 3) }` (benchmark). */
  personalization: { days: 30, first: { recentlyViewedProducts: 3, topCategories: 3 } },
} as const satisfies Record<string, WebRead>;

/** A windowed key's arguments: `30`. */
type Window = { readonly days: number };
/** A list key's arguments: `30:10`. */
type Page = { readonly days: number; readonly first: number };

const READS: readonly WebRead[] = Object.values(WEB_READS);

const windowed = (family: string) =>
  declareShapes<Window>(
    'web',
    family,
    ({ days }) => `${days}`,
    READS.map(({ days }) => ({ days })),
  );

const listed = (family: string, fn: WebListFunction) =>
  declareShapes<Page>(
    'web',
    family,
    ({ days, first }) => `${days}:${first}`,
    READS.flatMap(({ days, first }) => (first[fn] === undefined ? [] : [{ days, first: first[fn] }])),
  );

/**
 * Per batch function of the web source, its family (the name in cache keys and metric labels) and
 * the shapes of it that are cached, derived from WEB_READS. Keys are
 * `web:<family>:<days>[:<first>]:<userId>`, the user id being the shop's customer id.
 */
export const WEB_SHAPES = {
  summaries: windowed('summary'),
  recentlyViewedProducts: listed('viewed-products', 'recentlyViewedProducts'),
  topCategories: listed('top-categories', 'topCategories'),
  cartActivity: windowed('cart-activity'),
  devices: windowed('devices'),
  touches: windowed('touches'),
  searches: listed('searches', 'searches'),
  // `location` and `traits { demographics { location } }` read it at the default window.
  locations: windowed('location'),
  // `traits { affinities }` at the schema's default window (90 days); other windows are read live.
  affinityEvidence: declareShapes<Window>('web', 'affinity-evidence', ({ days }) => `${days}`, [{ days: 90 }]),
  // `traits { channel }` (90 days) and `traits { engagementTrend }` (30-day periods) at the schema's defaults.
  sessionSources: declareShapes<Window>('web', 'session-sources', ({ days }) => `${days}`, [{ days: 90 }]),
  engagementPeriods: declareShapes<Window>('web', 'engagement-periods', ({ days }) => `${days}`, [{ days: 30 }]),
} as const satisfies Partial<Record<keyof WebSource, DeclaredShapes<Window> | DeclaredShapes<Page>>>;

/** The identity family (by user id): cached, since its key is the person's own id. */
export const WEB_IDENTITY_FAMILY = 'identity';

/**
 * The consent family: cached for a customer's own reads (by user id), since every read of their
 * browsing asks it first; an anonymous browser's, or one with a session's browser added, is live.
 */
export const WEB_CONSENT_FAMILY = 'consent';

/**
 * Every cache key that can hold something of a warehouse user: their identity, their consent and
 * each cached shape of each family. The user id is the shop's customer id.
 */
export function webUserKeys(userId: string): string[] {
  return [cacheKey('web', WEB_IDENTITY_FAMILY, userId), cacheKey('web', WEB_CONSENT_FAMILY, userId), ...Object.values(WEB_SHAPES).flatMap((shapes) => shapes.keysOf(userId))];
}
