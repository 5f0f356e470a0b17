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
    await this.pool.query(
      `INSERT INTO ${this.s}.identifies (id, anonymous_id, user_id, "timestamp", received_at) VALUES ($1, $2, $3, $4, $4)`,
      [this.id(), anonymousId, userId, at],
    );
    await this.pool.query(`INSERT INTO ${this.s}.users (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [userId, at]);
  }

  async page(who: Who, at: Date, context: Context = {}): Promise<string> {
    const id = this.id();
    await this.pool.query(
      `INSERT INTO ${this.s}.pages (id, anonymous_id, user_id, "timestamp", received_at, path, referrer, context_user_agent,
                                    context_campaign_source, context_campaign_medium, context_campaign_name)
       VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10)`,
      [id, who.anonymousId ?? null, who.userId ?? null, at, context.path ?? '/', context.referrer ?? null, context.userAgent ?? null,
        context.source ?? null, context.medium ?? null, context.campaign ?? null],
    );
    return id;
  }

  /** A track call; `properties` are event-table columns (product_id, name, category, price, quantity, query, value, ...). */
  async track(who: Who, event: EventTable, at: Date, properties: Record<string, unknown> = {}, context: Context = {}): Promise<string> {
    const id = this.id();
    const common = [id, who.anonymousId ?? null, who.userId ?? null, event, at, context.userAgent ?? null, context.source ?? null,
      context.medium ?? null, context.campaign ?? null, context.referrer ?? null, context.path ?? null];
    const columns = `id, anonymous_id, user_id, event, event_text, "timestamp", received_at, context_user_agent, context_campaign_source,
                     context_campaign_medium, context_campaign_name, context_page_referrer, context_page_path`;
    const values = `$1, $2, $3, $4, $4, $5, $5, $6, $7, $8, $9, $10, $11`;
    await this.pool.query(`INSERT INTO ${this.s}.tracks (${columns}) VALUES (${values})`, common);
    const names = Object.keys(properties);
    const placeholders = names.map((_, i) => `, $${common.length + i + 1}`).join('');
    await this.pool.query(
      `INSERT INTO ${this.s}.${event} (${columns}${names.map((n) => `, ${n}`).join('')}) VALUES (${values}${placeholders})`,
      [...common, ...Object.values(properties)],
    );
    return id;
  }

  private id(): string {
    return `fx-${++this.next}`;
  }
}

export const MINUTE = 60_000;
export const DAY = 86_400_000;
