import type pg from 'pg';
import { quoteSchema, warehouseDdl } from '../../sources/web/index.ts';

/** Whose event: a known user, a browser not yet identified, or both (after login). */
export interface Who {
  readonly userId?: string;
  readonly anonymousId?: string;
}

export interface Context {
  readonly userAgent?: string;
  readonly source?: string;
  readonly medium?: string;
  readonly campaign?: string;
  readonly referrer?: string;
  readonly path?: string;
  /** Segment's consent categories (context.consent.categoryPreferences), by the default columns' ids. */
  readonly consent?: { readonly c0002?: boolean; readonly c0004?: boolean };
  readonly locale?: string;
  readonly timezone?: string;
  readonly geo?: { readonly country?: string; readonly region?: string; readonly city?: string };
  /** When the pipeline received it (default: the event's time) and loaded it (default: never said). */
  readonly receivedAt?: Date;
  readonly loadedAt?: Date;
}

/** The context columns of pages and tracks beyond the campaign, as a context sets them. */
function streamColumns(context: Context): Record<string, unknown> {
  const columns: Record<string, unknown> = {
    context_consent_category_preferences_c0002: context.consent?.c0002,
    context_consent_category_preferences_c0004: context.consent?.c0004,
    context_locale: context.locale,
    context_timezone: context.timezone,
    context_geo_country: context.geo?.country,
    context_geo_region: context.geo?.region,
    context_geo_city: context.geo?.city,
    received_at: context.receivedAt,
    uuid_ts: context.loadedAt,
  };
  // Only what was set: a test may have dropped a column it does not set.
  return Object.fromEntries(Object.entries(columns).filter(([, value]) => value !== undefined));
}

type EventTable = 'product_viewed' | 'product_added' | 'product_removed' | 'checkout_started' | 'order_completed' | 'products_searched';

/**
 * Small explicit warehouse rows for hand-written cases: every call is one row (a track is two: the
 * tracks row and its event table's, with the same id, as Segment writes them).
 */
export class WarehouseFixture {
  private next = 0;
  private readonly s: string;

  constructor(
    private readonly pool: pg.Pool,
    readonly schema: string,
  ) {
    this.s = quoteSchema(schema);
  }

  async create(): Promise<this> {
    const ddl = await warehouseDdl(this.schema);
    await this.pool.query(ddl.tables + ddl.indexes);
    return this;
  }

  async identify(anonymousId: string, userId: string, at: Date): Promise<void> {
    await this.pool.query(`INSERT INTO ${this.s}.identifies (id, anonymous_id, user_id, "timestamp", received_at) VALUES ($1, $2, $3, $4, $4)`, [
      this.id(),
      anonymousId,
      userId,
      at,
    ]);
    await this.pool.query(`INSERT INTO ${this.s}.users (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [userId, at]);
  }

  async page(who: Who, at: Date, context: Context = {}): Promise<string> {
    const id = this.id();
    await this.insert('pages', {
      id,
      anonymous_id: who.anonymousId ?? null,
      user_id: who.userId ?? null,
      timestamp: at,
      received_at: at,
      path: context.path ?? '/',
      referrer: context.referrer ?? null,
      context_user_agent: context.userAgent ?? null,
      context_campaign_source: context.source ?? null,
      context_campaign_medium: context.medium ?? null,
      context_campaign_name: context.campaign ?? null,
      ...streamColumns(context),
    });
    return id;
  }

  /** A track call; `properties` are event-table columns (product_id, name, category, price, quantity, query, value, ...). */
  async track(who: Who, event: EventTable, at: Date, properties: Record<string, unknown> = {}, context: Context = {}): Promise<string> {
    const id = this.id();
    const common = {
      id,
      anonymous_id: who.anonymousId ?? null,
      user_id: who.userId ?? null,
      event,
      event_text: event,
      timestamp: at,
      received_at: at,
      context_user_agent: context.userAgent ?? null,
      context_campaign_source: context.source ?? null,
      context_campaign_medium: context.medium ?? null,
      context_campaign_name: context.campaign ?? null,
      context_page_referrer: context.referrer ?? null,
      context_page_path: context.path ?? null,
      ...streamColumns(context),
    };
    await this.insert('tracks', common);
    await this.insert(event, { ...common, ...properties });
    return id;
  }

  /** One row; column names are the fixture's own constants and the test's property names. */
  private async insert(table: string, row: Record<string, unknown>): Promise<void> {
    const names = Object.keys(row);
    await this.pool.query(`INSERT INTO ${this.s}.${table} (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
  }

  private id(): string {
    return `fx-${++this.next}`;
  }
}

export const MINUTE = 60_000;
export const DAY = 86_400_000;

/**
 * The plan of a statement the source sent, with sequential scans forbidden: that shows whether an
 * index could serve at all (test tables are small enough that the planner would rather scan them).
 */
export async function planWithoutSeqScan(pool: pg.Pool, statement: { text: string; values?: unknown[] }): Promise<string> {
  const client = await pool.connect();
  try {
    await client.query('SET enable_seqscan = off');
    const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.values);
    return JSON.stringify(rows[0]['QUERY PLAN']);
  } finally {
    await client.query('RESET enable_seqscan');
    client.release();
  }
}

/** The indexes of `table` a plan uses (sorted, once each), and whether it scans the table. */
export function indexUse(plan: string, table: string): { indexes: string[]; sequential: boolean } {
  return {
    indexes: [...new Set([...plan.matchAll(/"Index Name":\s*"([a-z_]+)"/g)].map((m) => m[1]!).filter((name) => name.startsWith(`${table}_`)))].sort(),
    sequential: new RegExp(`"Node Type":\\s*"Seq Scan"[^}]*"Relation Name":\\s*"${table}"`).test(plan),
  };
}
