/** The web source's own models: what its batch functions return and resolvers read. */

/** A decimal amount as PostgreSQL's NUMERIC prints it (exact; never a float). */
export type Decimal = string;

/**
 * Whose events: the shop's customer id as text (the warehouse's `user_id`), an analytics
 * anonymous id (`anonymous_id`, a browser's cookie id), or both; at least one is set (a RangeError
 * otherwise). The subjects, the rows a key reads:
 * - `userId` alone: the rows carrying the user id, plus the not-yet-identified rows (user_id null)
 *   of every anonymous id linked in `identifies` to that user alone.
 * - `anonymousId` alone: that browser's not-yet-identified rows, whatever its links (linked,
 *   ambiguous or none: the caller decided whom to ask for).
 * - both: a signed-in customer and the browser of their current session (bound by the
 *   storefront's token, before its identify call may have loaded): the user's subjects plus the
 *   browser's not-yet-identified rows, unless `identifies` links that browser to another user
 *   (ambiguous: not merged). A browser already linked to the user alone is read once.
 */
export interface WebSubject {
  readonly userId: string | null;
  readonly anonymousId: string | null;
}

/**
 * One subject's events in a window: `days` the window's length (1..365) ending at the source's
 * clock. DataLoader can batch keys of different subjects and windows: every batch function is
 * one statement whatever the mix.
 */
export interface WebKey extends WebSubject {
  readonly days: number;
}

/** A key of a list family: at most `first` (1..100) entries. */
export interface WebListKey extends WebKey {
  readonly first: number;
}

/** What the warehouse calls a person. */
export interface WebIdentity {
  readonly userId: string;
  /**
   * Anonymous ids linked to this user alone in `identifies`, first linked first: their anonymous
   * events (before login, on every device) count as this person's.
   */
  readonly anonymousIds: readonly string[];
  /**
   * Anonymous ids linked to this user and to someone else too (a shared computer, a copied cookie):
   * their anonymous events count for nobody.
   */
  readonly ambiguousAnonymousIds: readonly string[];
}

/** How an anonymous id is tied to users in `identifies`. */
export type AnonymousLink = 'linked' | 'ambiguous' | 'unlinked';

/** What the warehouse knows of a browser by its anonymous id. */
export interface AnonymousVisitorRecord {
  readonly anonymousId: string;
  /**
   * 'linked': identified as exactly one user (userId set); 'ambiguous': identified as several
   * users (their ids are NOT returned: another person's id must not leak); 'unlinked': never
   * identified.
   */
  readonly link: AnonymousLink;
  readonly userId: string | null;
}

/** One consent answer: the value the newest event carrying it had, and that event's time. */
export interface WebConsentAnswer {
  readonly granted: boolean;
  readonly at: Date;
}

/**
 * A subject's consent per purpose, from the consent categories its events carried (Segment's
 * `context.consent.categoryPreferences`); null for a purpose no event carried (no consent object
 * was sent, or no category is configured for it).
 */
export interface WebConsent {
  readonly analytics: WebConsentAnswer | null;
  readonly advertising: WebConsentAnswer | null;
}

/** Where a subject browsed from, as the newest event in the window that carried any of it says. */
export interface WebLocation {
  /** `context_locale` (analytics.js sends the browser's language, e.g. en-US). */
  readonly locale: string | null;
  /** `context_timezone` (IANA; mobile libraries send it). */
  readonly timezone: string | null;
  /** `context_geo_*`: the pipeline's IP geolocation (RudderStack's enrichment; Segment has none). */
  readonly country: string | null;
  readonly region: string | null;
  readonly city: string | null;
  /** When that event happened. */
  readonly at: Date;
}

/** How current the warehouse is: what the pipeline had received, and when it last loaded. */
export interface WarehouseLoad {
  /** The newest received_at over pages and tracks: events the pipeline received after this are not loaded yet. */
  readonly newestReceivedAt: Date | null;
  /** The newest uuid_ts (Segment: when its connector processed the row; RudderStack: when the load file was built); null without the column. */
  readonly loadedAt: Date | null;
  /** When the source read these (its clock). */
  readonly checkedAt: Date;
}

/** Activity in the window. Sessions are cut at gaps longer than 30 minutes (see stream.ts). */
export interface WebSummary {
  readonly lastSeenAt: Date;
  readonly sessionCount: number;
  readonly pageViews: number;
  /** Mean of (last event - first event) per session; a one-event session lasts 0 s. */
  readonly averageSessionSeconds: number;
}

export interface ViewedProduct {
  readonly productId: string;
  /** Name, category and price as the most recent Product Viewed event carried them. */
  readonly name: string | null;
  readonly category: string | null;
  readonly price: Decimal | null;
  readonly currencyCode: string | null;
  readonly lastViewedAt: Date;
  readonly viewCount: number;
  /** Sum of the known times on this product's pages (0 when none is known: last page of a session). */
  readonly timeOnPageSeconds: number;
}

/** Interest in a catalog category, from Product Viewed events. */
export interface CategoryInterest {
  readonly category: string;
  readonly views: number;
  /** Sum of the known times on those product pages. */
  readonly secondsSpent: number;
}

export interface CartChange {
  readonly productId: string;
  readonly name: string | null;
  /** 1 when the event did not say. */
  readonly quantity: number;
  readonly at: Date;
}

/** A Checkout Started with no Order Completed after it, older than the 30-minute session timeout. */
export interface AbandonedCheckout {
  readonly at: Date;
  /** The checkout's `value`, else its `revenue`; null when it carried neither. */
  readonly value: Decimal | null;
  readonly currencyCode: string | null;
}

/** Cart events in the window, most recent first, at most 50 of each kind. */
export interface CartActivity {
  readonly productsAdded: readonly CartChange[];
  readonly productsRemoved: readonly CartChange[];
  readonly abandonedCheckouts: readonly AbandonedCheckout[];
}

/** ua-parser-js's device type, with desktop for none (its convention) and other for TVs, consoles, wearables. */
export type DeviceType = 'desktop' | 'mobile' | 'tablet' | 'other';

/** A kind of device (type, OS, browser) and how much of the person's browsing happened on it. */
export interface WebDevice {
  readonly type: DeviceType;
  /** As ua-parser-js names them ("Mac OS", "iOS", "Windows"; "Chrome", "Mobile Safari", "Edge"); null when unknown. */
  readonly os: string | null;
  readonly browser: string | null;
  readonly sessions: number;
  /** sessions / the person's sessions in the window, 0..1. */
  readonly share: number;
  readonly lastSeenAt: Date;
}

/** Where a session came from: its first event's campaign (UTM) context and referrer. */
export interface Touch {
  readonly at: Date;
  readonly source: string | null;
  readonly medium: string | null;
  readonly campaign: string | null;
  readonly referrer: string | null;
  readonly landingPath: string | null;
}

export interface Touches {
  /** The earliest session in the window (the window may cut a longer history). */
  readonly firstTouch: Touch;
  /** The latest session; the same as firstTouch when there was one. */
  readonly lastTouch: Touch;
}

export interface ProductSearch {
  readonly query: string;
  readonly at: Date;
}
