import type { Logger } from 'pino';
import type { Queryable } from '../../sources/sql.ts';
import type { Signal, SignalProducer, SignalSink } from '../signals.ts';

export interface AbandonedSweepOptions {
  /** The shop database (the server's pool). */
  readonly db: Queryable;
  readonly logger: Logger;
  /** How long an open cart stays untouched before it counts as abandoned, ms (ABANDONED_CART_AFTER_MINUTES). */
  readonly abandonedAfterMs: number;
  /** How often to sweep, ms (60 000 by default): a cart is signalled at most this long after it became abandoned. */
  readonly intervalMs?: number;
  /** The clock (tests set it). */
  readonly now?: () => Date;
}

interface CrossedRow {
  customer_id: string;
  id: string;
  updated_at: Date;
}

/**
 * A cart becomes abandoned by time passing, not by a row change, so no trigger or WAL record says
 * so: every `intervalMs` one statement finds the open carts that crossed the line since the last
 * sweep (last change older than `abandonedAfterMs` now, not then, with no order placed after it:
 * the definition of sources/commerce/carts.ts) and emits `cart.abandoned` per customer, id
 * `commerce:cart.abandoned:<cart id>:<updated_at>`, so every replica's sweep of the same crossing
 * gives the same id (the hub keeps one). A cart touched again crosses again later, with a new id.
 * Carts that crossed while no server ran (or before this one started) are not signalled; a failed
 * sweep is logged, and the next one covers its window.
 */
export class AbandonedCartSweep implements SignalProducer {
  readonly name = 'commerce-abandoned-carts';
  private emit: SignalSink | null = null;
  /** Carts last changed at or before this were abandoned at the last sweep (and signalled then, if they crossed in its window). */
  private sweptUpTo = new Date(0);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> = Promise.resolve(0);
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(private readonly options: AbandonedSweepOptions) {
    this.now = options.now ?? (() => new Date());
    this.log = options.logger.child({ producer: this.name });
  }

  async start(emit: SignalSink): Promise<void> {
    if (this.emit) throw new Error(`${this.name} is already started`);
    this.emit = emit;
    this.sweptUpTo = this.cutoff();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.emit = null;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One sweep now (the timer's, and the tests'): resolves to the number of signals emitted; never rejects. */
  sweep(): Promise<number> {
    this.running = this.running.then(() => this.sweepOnce());
    return this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.sweep().then(() => {
        if (this.emit) this.schedule();
      });
    }, this.options.intervalMs ?? 60_000).unref();
  }

  private cutoff(): Date {
    return new Date(this.now().getTime() - this.options.abandonedAfterMs);
  }

  private async sweepOnce(): Promise<number> {
    if (!this.emit) return 0;
    const from = this.sweptUpTo;
    const to = this.cutoff();
    let rows: CrossedRow[];
    try {
      ({ rows } = await this.options.db.query<CrossedRow>(
        `SELECT DISTINCT ON (c.customer_id) c.customer_id::text AS customer_id, c.id::text AS id, c.updated_at
           FROM carts c
          WHERE c.status = 'open' AND c.updated_at > $1 AND c.updated_at <= $2
            AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.placed_at > c.updated_at)
          ORDER BY c.customer_id, c.updated_at DESC, c.id DESC`,
        [from, to],
      ));
    } catch (error) {
      this.log.warn({ err: error }, 'abandoned-cart sweep failed: the next sweep covers its carts');
      return 0;
    }
    this.sweptUpTo = to;
    const receivedAt = Date.now();
    for (const row of rows) this.emit?.(this.signal(row, receivedAt));
    return rows.length;
  }

  private signal(row: CrossedRow, receivedAt: number): Signal {
    return {
      id: `commerce:cart.abandoned:${row.id}:${row.updated_at.toISOString()}`,
      source: 'commerce',
      kind: 'cart.abandoned',
      subject: { customerId: row.customer_id },
      at: new Date(row.updated_at.getTime() + this.options.abandonedAfterMs).toISOString(),
      receivedAt,
    };
  }
}
