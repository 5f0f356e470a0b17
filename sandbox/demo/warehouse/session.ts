import type { DemoProduct } from '../shop.ts';
import type { BrowserConsent, BrowserPlace, EventConsent } from './context.ts';
import { utmSearch, type Campaign, type Traffic } from './traffic.ts';

/** The shop's site: every generated URL starts here. */
export const SITE = 'https://shop.example.com';

/** A browser a person uses: one anonymous id per device (cookies kept). */
export interface DemoDevice {
  readonly userAgent: string;
  readonly anonymousId: string;
  readonly ip: string;
  readonly locale: string;
  /** Its consent banner's answers over time; null when it never showed one (see context.ts). */
  readonly consent: BrowserConsent | null;
  /** Where its address geolocates, and its timezone. */
  readonly place: BrowserPlace;
}

/** The page a hit happened on, as pages stores it and tracks carry it in context_page_*. */
export interface PageInfo {
  readonly path: string;
  readonly url: string;
  readonly title: string;
  readonly name: string;
  readonly category: string | null;
  readonly search: string | null;
  readonly referrer: string | null;
  /** Only the landing page of a session carries the campaign, as analytics.js reads it from the URL. */
  readonly campaign: Campaign | null;
}

export type TrackEvent =
  | { readonly name: 'product_viewed'; readonly product: DemoProduct }
  | { readonly name: 'product_added' | 'product_removed'; readonly product: DemoProduct; readonly quantity: number }
  | { readonly name: 'checkout_started'; readonly orderId: number | null; readonly valueCents: number }
  | { readonly name: 'order_completed'; readonly orderId: number; readonly totalCents: number }
  | { readonly name: 'products_searched'; readonly query: string };

/** An event; `userId` and `consent` are filled in once the person's visits are known (webActivityOf). */
export type DemoEvent =
  | { readonly type: 'page'; at: number; readonly page: PageInfo; userId: string | null; consent: EventConsent | null }
  | { readonly type: 'track'; at: number; readonly page: PageInfo; readonly event: TrackEvent; userId: string | null; consent: EventConsent | null };

export type PageContent =
  | { readonly kind: 'home' }
  | { readonly kind: 'category'; readonly category: string }
  | { readonly kind: 'product'; readonly product: DemoProduct }
  | { readonly kind: 'search'; readonly query: string }
  | { readonly kind: 'cart' | 'checkout' | 'confirmation' | 'account' };

const FIXED: Record<'home' | 'cart' | 'checkout' | 'confirmation' | 'account', [path: string, name: string]> = {
  home: ['/', 'Home'],
  cart: ['/cart', 'Cart'],
  checkout: ['/checkout', 'Checkout'],
  confirmation: ['/checkout/confirmation', 'Order Confirmation'],
  account: ['/account/login', 'Login'],
};

/**
 * One visit on one device, built forward in time: pages, the tracks fired on them, and where the
 * person logs in (events from there on carry the user id, unless the device was identified before).
 */
export class SessionBuilder {
  readonly events: DemoEvent[] = [];
  /** Index of the first event after logging in, or null when the person never logs in here. */
  loginIndex: number | null = null;
  private page: PageInfo | null = null;

  constructor(
    readonly device: DemoDevice,
    private t: number,
    private readonly traffic: Traffic,
  ) {
    this.t = Math.round(t);
  }

  get start(): number {
    return this.events[0]?.at ?? this.t;
  }

  get now(): number {
    return this.t;
  }

  /** A page view `afterMs` after the previous hit (the first one lands with the session's traffic). */
  visit(content: PageContent, afterMs: number): this {
    if (this.events.length > 0) this.t += Math.round(afterMs);
    const landing = this.page === null;
    const { path, title, name, category, search } = describe(content);
    const campaignSearch = landing ? utmSearch(this.traffic.campaign) : null;
    const query = [search, campaignSearch?.slice(1)].filter(Boolean).join('&');
    this.page = {
      path,
      url: `${SITE}${path}${query ? `?${query}` : ''}`,
      title: `${title} | Demo Shop`,
      name,
      category,
      search: query ? `?${query}` : null,
      referrer: landing ? this.traffic.referrer : this.page!.url,
      campaign: landing ? this.traffic.campaign : null,
    };
    this.events.push({ type: 'page', at: this.t, page: this.page, userId: null, consent: null });
    return this;
  }

  /** A track call on the current page, `afterMs` after the previous hit. */
  track(event: TrackEvent, afterMs: number): this {
    if (!this.page) throw new Error('a track call needs a page to happen on');
    this.t += Math.round(afterMs);
    this.events.push({ type: 'track', at: this.t, page: this.page, event, userId: null, consent: null });
    return this;
  }

  /** The person logs in here (a no-op when they already did in this session). */
  login(): this {
    this.loginIndex ??= this.events.length;
    return this;
  }

  /** Moves the whole session by `ms` (to make a hit land at a time fixed by the shop). */
  shift(ms: number): this {
    for (const event of this.events) event.at += ms;
    this.t += ms;
    return this;
  }
}

function describe(content: PageContent): { path: string; title: string; name: string; category: string | null; search: string | null } {
  switch (content.kind) {
    case 'category':
      return { path: `/c/${content.category.toLowerCase()}`, title: content.category, name: 'Category', category: content.category, search: null };
    case 'product':
      return { path: `/products/${content.product.id}`, title: content.product.name, name: 'Product', category: content.product.category, search: null };
    case 'search':
      return { path: '/search', title: `Search: ${content.query}`, name: 'Search', category: null, search: `q=${encodeURIComponent(content.query)}` };
    default: {
      const [path, name] = FIXED[content.kind];
      return { path, title: name, name, category: null, search: null };
    }
  }
}
