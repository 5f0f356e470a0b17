/** The web source's own models: what its batch functions return and resolvers read. */

/** A decimal amount as PostgreSQL's NUMERIC prints it (exact; never a float). */
export type Decimal = string;

/**
 * One person's events in a window: `userId` is the shop's customer id as text (the warehouse's
 * `user_id`), `days` the window's length (1..365) ending at the source's clock. DataLoader can batch
 * keys of different windows: every batch function is one statement whatever the mix.
 */
export interface WebKey {
  readonly userId: string;
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
