import type { Pool } from 'pg';
import { BulkInsert } from '../bulk-insert.ts';
import type { DemoPerson } from '../people.ts';
import { SHOP_CURRENCY, type DemoProduct } from '../shop.ts';
import type { WebActivity } from './activity.ts';
import { messageIdOf } from './ids.ts';
import type { DemoDevice, DemoEvent, TrackEvent } from './session.ts';

const CONTEXT = {
  context_user_agent: 'text',
  context_ip: 'text',
  context_locale: 'text',
  context_campaign_source: 'text',
  context_campaign_medium: 'text',
  context_campaign_name: 'text',
  context_page_referrer: 'text',
};
/** The event's consent answers (see context.ts): on every event table, since every family leaves out refusals. */
const CONSENT = { context_consent_category_preferences_c0002: 'boolean', context_consent_category_preferences_c0004: 'boolean' };
/**
 * Load time and place, on pages and tracks, where the source reads them. An event's own table
 * (product_viewed, ...) leaves them null: nothing reads them there, and five more columns on every
 * row of those tables would slow the demo's start for nothing.
 */
const PLACE = { uuid_ts: 'timestamptz', context_timezone: 'text', context_geo_country: 'text', context_geo_region: 'text', context_geo_city: 'text' };
const TRACK = {
  id: 'text',
  anonymous_id: 'text',
  user_id: 'text',
  event: 'text',
  event_text: 'text',
  timestamp: 'timestamptz',
  received_at: 'timestamptz',
  ...CONTEXT,
  context_page_path: 'text',
  context_page_url: 'text',
  ...CONSENT,
};
const PRODUCT = { product_id: 'text', sku: 'text', category: 'text', name: 'text', price: 'numeric', currency: 'text' };

const TEXT: Record<TrackEvent['name'], string> = {
  product_viewed: 'Product Viewed',
  product_added: 'Product Added',
  product_removed: 'Product Removed',
  checkout_started: 'Checkout Started',
  order_completed: 'Order Completed',
  products_searched: 'Products Searched',
};

/** Counts of what the writers were given. */
export interface WrittenCounts {
  /** Pages and tracks rows: the events a person's sessions are made of. */
  events: number;
  /** Every row, event tables, identifies and users included. */
  rows: number;
}

/**
 * One BulkInsert per warehouse table of `schema` (already quoted), and the mapping of a person's
 * activity to their rows, in the Segment layout: a track is a tracks row plus its event table's row
 * with the same id.
 */
export class WarehouseWriters {
  readonly counts: WrittenCounts = { events: 0, rows: 0 };
  private readonly tables;

  /** `asOf`: the generation's "now" (ms); nothing is loaded after it. */
  constructor(
    pool: Pool,
    schema: string,
    private readonly asOf: number,
  ) {
    const table = (name: string, types: Record<string, string>) => new BulkInsert(pool, `${schema}.${name}`, types);
    this.tables = {
      identifies: table('identifies', {
        id: 'text',
        anonymous_id: 'text',
        user_id: 'text',
        timestamp: 'timestamptz',
        received_at: 'timestamptz',
        email: 'text',
        first_name: 'text',
        last_name: 'text',
        context_user_agent: 'text',
        context_ip: 'text',
        context_locale: 'text',
      }),
      users: table('users', { id: 'text', received_at: 'timestamptz', email: 'text', first_name: 'text', last_name: 'text' }),
      pages: table('pages', {
        id: 'text',
        anonymous_id: 'text',
        user_id: 'text',
        timestamp: 'timestamptz',
        received_at: 'timestamptz',
        path: 'text',
        url: 'text',
        title: 'text',
        referrer: 'text',
        search: 'text',
        name: 'text',
        category: 'text',
        ...CONTEXT,
        ...CONSENT,
        ...PLACE,
      }),
      tracks: table('tracks', { ...TRACK, ...PLACE }),
      product_viewed: table('product_viewed', { ...TRACK, ...PRODUCT, url: 'text' }),
      product_added: table('product_added', { ...TRACK, ...PRODUCT, quantity: 'integer' }),
      product_removed: table('product_removed', { ...TRACK, ...PRODUCT, quantity: 'integer' }),
      checkout_started: table('checkout_started', { ...TRACK, order_id: 'text', value: 'numeric', revenue: 'numeric', currency: 'text' }),
      order_completed: table('order_completed', { ...TRACK, order_id: 'text', total: 'numeric', revenue: 'numeric', currency: 'text' }),
      products_searched: table('products_searched', { ...TRACK, query: 'text' }),
    };
  }

  /** The fullest table's waiting rows. */
  get largest(): number {
    return Math.max(...Object.values(this.tables).map((t) => t.size));
  }

  /**
   * Writes every table's waiting rows, one statement per table, one table after another: PGlite's
   * socket server mixes up statements arriving on several connections at once ("bind message
   * supplies 19 parameters, but prepared statement requires 16").
   */
  async flush(): Promise<void> {
    for (const table of Object.values(this.tables)) await table.flush();
  }

  /** Adds one person's rows. */
  add(person: DemoPerson, activity: WebActivity): void {
    let sequence = 0;
    const id = () => messageIdOf(person.index, sequence++);
    for (const identify of activity.identifies) {
      const { device } = identify;
      this.row('identifies', [
        id(),
        device.anonymousId,
        activity.userId,
        iso(identify.at),
        received(identify.at),
        person.email,
        person.firstName,
        person.lastName,
        device.userAgent,
        device.ip,
        device.locale,
      ]);
    }
    const last = activity.identifies.at(-1);
    if (last) this.row('users', [activity.userId, received(last.at), person.email, person.firstName, person.lastName]);
    for (const { device, events } of activity.visits) {
      for (const event of events) {
        this.counts.events++;
        if (event.type === 'page') this.page(id(), device, event);
        else this.track(id(), device, event);
      }
    }
  }

  private page(id: string, device: DemoDevice, event: DemoEvent): void {
    const { page } = event;
    this.row('pages', [
      id,
      device.anonymousId,
      event.userId,
      iso(event.at),
      received(event.at),
      page.path,
      page.url,
      page.title,
      page.referrer,
      page.search,
      page.name,
      page.category,
      ...context(device, event),
      ...consent(event),
      ...this.place(device, event),
    ]);
  }

  private track(id: string, device: DemoDevice, event: Extract<DemoEvent, { type: 'track' }>): void {
    const track = event.event;
    const common = [
      id,
      device.anonymousId,
      event.userId,
      track.name,
      TEXT[track.name],
      iso(event.at),
      received(event.at),
      ...context(device, event),
      event.page.path,
      event.page.url,
      ...consent(event),
    ];
    this.row('tracks', [...common, ...this.place(device, event)]);
    switch (track.name) {
      case 'product_viewed':
        return this.row(track.name, [...common, ...product(track.product), event.page.url]);
      case 'product_added':
      case 'product_removed':
        return this.row(track.name, [...common, ...product(track.product), track.quantity]);
      case 'checkout_started':
        return this.row(track.name, [...common, track.orderId === null ? null : String(track.orderId), cents(track.valueCents), cents(track.valueCents), SHOP_CURRENCY]);
      case 'order_completed':
        return this.row(track.name, [...common, String(track.orderId), cents(track.totalCents), cents(track.totalCents), SHOP_CURRENCY]);
      case 'products_searched':
        return this.row(track.name, [...common, track.query]);
    }
  }

  /** The PLACE columns of an event. */
  private place(device: DemoDevice, event: DemoEvent): unknown[] {
    const { place } = device;
    return [loaded(event.at, this.asOf), place.timezone, place.country, place.region, place.city];
  }

  private row(table: keyof typeof this.tables, values: readonly unknown[]): void {
    this.tables[table].add(values);
    this.counts.rows++;
  }
}

function context(device: DemoDevice, event: DemoEvent): unknown[] {
  const campaign = event.page.campaign;
  return [device.userAgent, device.ip, device.locale, campaign?.source ?? null, campaign?.medium ?? null, campaign?.name ?? null, event.page.referrer];
}

function consent(event: DemoEvent): unknown[] {
  return [event.consent?.analytics ?? null, event.consent?.advertising ?? null];
}

function product(p: DemoProduct): unknown[] {
  return [String(p.id), p.sku, p.category, p.name, cents(p.priceCents), SHOP_CURRENCY];
}

const cents = (value: number): string => (value / 100).toFixed(2);
const iso = (ms: number): string => new Date(ms).toISOString();
// The pipeline receives an event a moment after it happened (sent in batches from the browser).
const receivedMs = (ms: number): number => ms + 50 + (ms % 1950);
const received = (ms: number): string => new Date(receivedMs(ms)).toISOString();
// The connector loads it a few minutes after receiving it (uuid_ts), never after the generation's now.
const loaded = (ms: number, asOf: number): string => new Date(Math.min(asOf, receivedMs(ms) + 120_000 + (ms % 360_000))).toISOString();
