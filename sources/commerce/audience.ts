import { run, type Queryable } from './db.ts';
import type { RfmBoundaries, RfmSegment } from './model.ts';
import { gridCells, rfmSegment } from './rfm.ts';

/**
 * The shop database's part of an audience (audiences/planner.ts): its conditions become SQL, the
 * other sources' answers become `id = ANY(...)` or `lower(email) = ANY(...)` terms, and the whole
 * filter runs as one statement per question (a page, a count, a breakdown, a histogram) here, where
 * customers are listed from. Per-customer aggregates are computed through the orders index only
 * when a condition or the order needs them.
 */

/** An inclusive range; either end may be omitted. */
export interface Range<T> {
  readonly min?: T | null;
  readonly max?: T | null;
}

/** The shop's conditions; each field given narrows (AND). Money amounts are decimal strings in the shop currency. */
export interface CommerceCondition {
  readonly rfmSegments?: readonly RfmSegment[];
  readonly recencyScore?: Range<number>;
  readonly frequencyScore?: Range<number>;
  readonly monetaryScore?: Range<number>;
  readonly orderCount?: Range<number>;
  readonly totalSpent?: Range<string>;
  readonly lastOrderAfter?: Date;
  readonly lastOrderBefore?: Date;
  readonly signedUpAfter?: Date;
  readonly signedUpBefore?: Date;
  /** Bought a product of one of these categories (in a completed order), at or after `since` when given. */
  readonly boughtCategories?: { readonly categories: readonly string[]; readonly since?: Date };
  /** Has an abandoned cart (as `Carts.abandoned` says) last changed at or after `since`, worth at least `minValue`. */
  readonly abandonedCart?: { readonly since?: Date; readonly minValue?: string };
  /** false: has no abandoned cart. */
  readonly hasAbandonedCart?: boolean;
}

/** The positional parameters of one statement. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/**
 * A condition on one customer row `c`, rendered into a statement's parameters when the statement
 * is built. `stats` and `scores` say whether it reads the per-customer aggregates `s` (last order,
 * order count, total spent) and the RFM scores `q`. A predicate is never NULL, so NOT is exact.
 */
export interface Predicate {
  readonly render: (p: Params) => string;
  readonly stats: boolean;
  readonly scores: boolean;
}

export const TRUE: Predicate = { render: () => 'true', stats: false, scores: false };
export const FALSE: Predicate = { render: () => 'false', stats: false, scores: false };

export function allOf(predicates: readonly Predicate[]): Predicate {
  const real = predicates.filter((p) => p !== TRUE);
  if (real.length === 0) return TRUE;
  if (real.includes(FALSE)) return FALSE;
  if (real.length === 1) return real[0]!;
  return combine(real, ' AND ');
}

export function anyOf(predicates: readonly Predicate[]): Predicate {
  const real = predicates.filter((p) => p !== FALSE);
  if (real.length === 0) return FALSE;
  if (real.includes(TRUE)) return TRUE;
  if (real.length === 1) return real[0]!;
  return combine(real, ' OR ');
}

export function not(predicate: Predicate): Predicate {
  if (predicate === TRUE) return FALSE;
  if (predicate === FALSE) return TRUE;
  return { ...predicate, render: (p) => `NOT (${predicate.render(p)})` };
}

function combine(predicates: readonly Predicate[], operator: string): Predicate {
  return {
    render: (p) => predicates.map((predicate) => `(${predicate.render(p)})`).join(operator),
    stats: predicates.some((predicate) => predicate.stats),
    scores: predicates.some((predicate) => predicate.scores),
  };
}

/** Customers whose key (id, or lower-cased email) is among `keys`: another source's answer. */
export function keyIn(key: 'email' | 'customerId', keys: ReadonlySet<string>): Predicate {
  if (keys.size === 0) return FALSE;
  if (key === 'email') return { render: (p) => `lower(c.email) = ANY(${p.add([...keys], 'text[]')})`, stats: false, scores: false };
  // A warehouse user id that is not a shop id matches no customer.
  const ids = [...keys].filter((id) => /^\d{1,18}$/.test(id));
  if (ids.length === 0) return FALSE;
  return { render: (p) => `c.id = ANY(${p.add(ids, 'bigint[]')})`, stats: false, scores: false };
}

/** What a statement is evaluated against: the shop's currency and clock, and the RFM boundaries when scores are read. */
export interface CommerceEnvironment {
  readonly currency: string;
  readonly now: Date;
  readonly abandonedAfterMs: number;
  readonly timeZone: string;
}

/** The predicate of one commerce condition (every field given must hold). */
export function commercePredicate(condition: CommerceCondition, env: CommerceEnvironment): Predicate {
  const parts: Predicate[] = [];
  const stat = (render: (p: Params) => string) => parts.push({ render, stats: true, scores: false });
  const score = (render: (p: Params) => string) => parts.push({ render, stats: true, scores: true });
  const row = (render: (p: Params) => string) => parts.push({ render, stats: false, scores: false });
  const { rfmSegments, recencyScore, frequencyScore, monetaryScore, orderCount, totalSpent } = condition;
  if (rfmSegments) {
    const cells = gridCells(rfmSegments).map((cell) => cell.recency * 10 + cell.frequency);
    score((p) => `coalesce(q.r * 10 + q.f = ANY(${p.add(cells, 'int[]')}), false)`);
  }
  for (const [range, column] of [
    [recencyScore, 'q.r'],
    [frequencyScore, 'q.f'],
    [monetaryScore, 'q.m'],
  ] as const) {
    if (range) score((p) => rangeSql(column, range, 'int', p));
  }
  if (orderCount) stat((p) => rangeSql('s.n', orderCount, 'int', p));
  if (totalSpent) stat((p) => rangeSql('s.total', totalSpent, 'numeric', p));
  if (condition.lastOrderAfter) stat((p) => `coalesce(s.last_at >= ${p.add(condition.lastOrderAfter, 'timestamptz')}, false)`);
  if (condition.lastOrderBefore) stat((p) => `coalesce(s.last_at < ${p.add(condition.lastOrderBefore, 'timestamptz')}, false)`);
  if (condition.signedUpAfter) row((p) => `coalesce(c.signup_at >= ${p.add(condition.signedUpAfter, 'timestamptz')}, false)`);
  if (condition.signedUpBefore) row((p) => `coalesce(c.signup_at < ${p.add(condition.signedUpBefore, 'timestamptz')}, false)`);
  const bought = condition.boughtCategories;
  if (bought) {
    row(
      (p) => `EXISTS (SELECT 1 FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products pr ON pr.id = i.product_id
                       WHERE o.customer_id = c.id AND o.status = 'completed' AND pr.category = ANY(${p.add(bought.categories, 'text[]')})
                         ${bought.since ? `AND o.placed_at >= ${p.add(bought.since, 'timestamptz')}` : ''})`,
    );
  }
  const abandoned = condition.abandonedCart;
  if (abandoned) row((p) => abandonedCartSql(p, env, abandoned));
  if (condition.hasAbandonedCart !== undefined) {
    const has = condition.hasAbandonedCart;
    row((p) => `${has ? '' : 'NOT '}${abandonedCartSql(p, env, {})}`);
  }
  return allOf(parts);
}

function rangeSql(column: string, range: Range<number | string>, type: string, p: Params): string {
  const terms: string[] = [];
  if (range.min !== undefined && range.min !== null) terms.push(`${column} >= ${p.add(range.min, type)}`);
  if (range.max !== undefined && range.max !== null) terms.push(`${column} <= ${p.add(range.max, type)}`);
  return terms.length ? `coalesce(${terms.join(' AND ')}, false)` : 'true';
}

/** The customer's abandoned cart, as `Carts.abandoned` picks it (carts.ts: the latest open cart untouched for longer than the abandonment delay with no order after its last change), meeting `options`. */
function abandonedCartSql(p: Params, env: CommerceEnvironment, options: { since?: Date; minValue?: string }): string {
  const conditions = [
    ...(options.since ? [`a.updated_at >= ${p.add(options.since, 'timestamptz')}`] : []),
    ...(options.minValue ? [`(SELECT coalesce(sum(ki.quantity * ki.unit_price), 0) FROM cart_items ki WHERE ki.cart_id = a.id) >= ${p.add(options.minValue, 'numeric')}`] : []),
  ];
  return `EXISTS (SELECT 1 FROM (
                    SELECT k.id, k.updated_at FROM carts k
                     WHERE k.customer_id = c.id AND k.status = 'open'
                       AND k.updated_at < ${p.add(new Date(env.now.getTime() - env.abandonedAfterMs), 'timestamptz')}
                       AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.placed_at > k.updated_at)
                     ORDER BY k.updated_at DESC, k.id DESC LIMIT 1) a
                   WHERE ${conditions.length ? conditions.join(' AND ') : 'true'})`;
}

/** How a list of customers is ordered; the customer id breaks ties, so the order is total. */
export type AudienceOrderField = 'ID' | 'TOTAL_SPENT' | 'ORDER_COUNT' | 'LAST_ORDER_AT' | 'SIGNED_UP_AT';

export interface AudienceOrder {
  readonly field: AudienceOrderField;
  readonly direction: 'ASC' | 'DESC';
}

/** Where a page starts: after the customer with this id and this value of the order's field (as text). */
export interface AudiencePosition {
  readonly id: string;
  readonly value: string;
}

// A position is the sort value as PostgreSQL prints it (read back with the same type) and the id.
const ORDER_SQL: Record<AudienceOrderField, { expr: string; type: string; stats: boolean }> = {
  ID: { expr: 'c.id', type: 'bigint', stats: false },
  TOTAL_SPENT: { expr: 's.total', type: 'numeric', stats: true },
  ORDER_COUNT: { expr: 's.n', type: 'int', stats: true },
  // Customers without an order sort as the earliest.
  LAST_ORDER_AT: { expr: "coalesce(s.last_at, '-infinity'::timestamptz)", type: 'timestamptz', stats: true },
  SIGNED_UP_AT: { expr: 'c.signup_at', type: 'timestamptz', stats: false },
};

export interface AudiencePage {
  /** The customers of the page with their position (for cursors). */
  readonly rows: ReadonlyArray<{ readonly id: string; readonly value: string }>;
  readonly hasNextPage: boolean;
}

export type Breakdown = 'RFM_SEGMENT' | 'TOP_CATEGORY';
export type HistogramOf = 'ORDERS' | 'ABANDONED_CARTS';
export type HistogramInterval = 'DAY' | 'WEEK' | 'MONTH';

/** The statements over a filter's predicate. Each is one statement against the shop database. */
export interface CommerceAudience {
  /** The currency, clock and abandonment delay the statements use (a condition's predicate is built with the same). */
  readonly env: CommerceEnvironment;
  count(predicate: Predicate): Promise<number>;
  /** Up to `limit` keys of matching customers (email: those with an address), in id order. */
  keys(predicate: Predicate, key: 'email' | 'customerId', limit: number): Promise<string[]>;
  page(predicate: Predicate, order: AudienceOrder, after: AudiencePosition | null, first: number): Promise<AudiencePage>;
  /** Matching customers per RFM segment (null: no completed order) or per top category (by units bought; null: none). */
  breakdown(predicate: Predicate, by: Breakdown): Promise<Array<{ key: string | null; count: number }>>;
  /** Completed orders (with their value) or carts becoming abandoned, of matching customers, per interval in the shop's time zone. */
  histogram(
    predicate: Predicate,
    of: HistogramOf,
    interval: HistogramInterval,
    window: { since: Date; until: Date },
  ): Promise<Array<{ start: Date; count: number; value: string }>>;
}

/** Each statement a CommerceAudience runs, with the rows it returned: the plan counts them. */
export type StatementObserver = (rows: number) => void;

export function commerceAudience(db: Queryable, env: CommerceEnvironment, boundaries: () => Promise<RfmBoundaries>, observe: StatementObserver): CommerceAudience {
  const query = async <R extends object>(text: string, p: Params): Promise<R[]> => {
    let rows: R[] = [];
    try {
      rows = await run<R>(db, text, p.values);
      return rows;
    } finally {
      // A failed statement is a call too.
      observe(rows.length);
    }
  };
  /** The FROM clause a statement over `needs` reads. */
  const from = async (p: Params, needs: { stats: boolean; scores: boolean }): Promise<string> => {
    let text = 'FROM customers c';
    if (needs.stats || needs.scores) {
      text += `
        CROSS JOIN LATERAL (
          SELECT max(o.placed_at) AS last_at, count(*)::int AS n, coalesce(sum(o.total_amount), 0) AS total
            FROM orders o
           WHERE o.customer_id = c.id AND o.status = 'completed' AND o.currency = ${p.add(env.currency, 'text')}) s`;
    }
    if (needs.scores) {
      // scoreRfm's rule in SQL: a quintile is 1 + the boundaries strictly below the value; recency inverted.
      const b = await boundaries();
      text += `
        CROSS JOIN LATERAL (
          SELECT CASE WHEN s.n > 0 THEN 5 - (SELECT count(*) FROM unnest(${p.add(b.recencyDays, 'float8[]')}) x
                                               WHERE x < extract(epoch FROM (${p.add(env.now, 'timestamptz')} - s.last_at)) / 86400)::int END AS r,
                 CASE WHEN s.n > 0 THEN 1 + (SELECT count(*) FROM unnest(${p.add(b.frequency, 'float8[]')}) x WHERE x < s.n)::int END AS f,
                 CASE WHEN s.n > 0 THEN 1 + (SELECT count(*) FROM unnest(${p.add(b.monetary, 'float8[]')}) x WHERE x < s.total)::int END AS m) q`;
    }
    return text;
  };
  return {
    env,
    async count(predicate) {
      const p = new Params();
      const text = `SELECT count(*)::int AS n ${await from(p, predicate)} WHERE ${predicate.render(p)}`;
      const [row] = await query<{ n: number }>(text, p);
      return row?.n ?? 0;
    },
    async keys(predicate, key, limit) {
      const p = new Params();
      const column = key === 'email' ? 'lower(c.email)' : 'c.id::text';
      const text = `SELECT ${column} AS key ${await from(p, predicate)}
                     WHERE ${predicate.render(p)} ${key === 'email' ? "AND c.email IS NOT NULL AND c.email <> ''" : ''}
                     ORDER BY c.id LIMIT ${p.add(limit, 'int')}`;
      return (await query<{ key: string }>(text, p)).map((row) => row.key);
    },
    async page(predicate, order, after, first) {
      const p = new Params();
      const sort = ORDER_SQL[order.field];
      const needs = { stats: predicate.stats || sort.stats, scores: predicate.scores };
      const fromText = await from(p, needs);
      const where = predicate.render(p);
      const comparison = order.direction === 'ASC' ? '>' : '<';
      const keyset = after ? `AND (${sort.expr}, c.id) ${comparison} (${p.add(after.value, sort.type)}, ${p.add(after.id, 'bigint')})` : '';
      const direction = order.direction === 'ASC' ? 'ASC' : 'DESC';
      const text = `SELECT c.id::text AS id, (${sort.expr})::text AS value ${fromText}
                     WHERE ${where} ${keyset}
                     ORDER BY ${sort.expr} ${direction}, c.id ${direction}
                     LIMIT ${p.add(first + 1, 'int')}`;
      const rows = await query<{ id: string; value: string }>(text, p);
      return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
    },
    async breakdown(predicate, by) {
      const p = new Params();
      if (by === 'RFM_SEGMENT') {
        const text = `SELECT q.r, q.f, count(*)::int AS n ${await from(p, { stats: true, scores: true })}
                       WHERE ${predicate.render(p)} GROUP BY q.r, q.f`;
        const counts = new Map<string | null, number>();
        for (const row of await query<{ r: number | null; f: number | null; n: number }>(text, p)) {
          const key = row.r === null || row.f === null ? null : rfmSegment(row.r, row.f);
          counts.set(key, (counts.get(key) ?? 0) + row.n);
        }
        return [...counts].map(([key, count]) => ({ key, count }));
      }
      const text = `SELECT t.category AS key, count(*)::int AS n ${await from(p, predicate)}
                      LEFT JOIN LATERAL (
                        SELECT pr.category FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products pr ON pr.id = i.product_id
                         WHERE o.customer_id = c.id AND o.status = 'completed'
                         GROUP BY pr.category ORDER BY sum(i.quantity) DESC, pr.category LIMIT 1) t ON true
                     WHERE ${predicate.render(p)} GROUP BY t.category`;
      return (await query<{ key: string | null; n: number }>(text, p)).map((row) => ({ key: row.key, count: row.n }));
    },
    async histogram(predicate, of, interval, window) {
      const p = new Params();
      const unit = p.add(interval.toLowerCase(), 'text');
      const zone = p.add(env.timeZone, 'text');
      const members = `SELECT c.id ${await from(p, predicate)} WHERE ${predicate.render(p)}`;
      const since = p.add(window.since, 'timestamptz');
      const until = p.add(window.until, 'timestamptz');
      // A cart is counted when it became abandoned: its last change plus the abandonment delay.
      const text =
        of === 'ORDERS'
          ? `SELECT date_trunc(${unit}, o.placed_at AT TIME ZONE ${zone}) AT TIME ZONE ${zone} AS start, count(*)::int AS n, coalesce(sum(o.total_amount), 0)::text AS value
               FROM orders o
              WHERE o.status = 'completed' AND o.currency = ${p.add(env.currency, 'text')}
                AND o.placed_at >= ${since} AND o.placed_at < ${until} AND o.customer_id IN (${members})
              GROUP BY 1 ORDER BY 1`
          : `SELECT date_trunc(${unit}, (k.updated_at + ${p.add(`${env.abandonedAfterMs / 1000} seconds`, 'interval')}) AT TIME ZONE ${zone}) AT TIME ZONE ${zone} AS start,
                    count(*)::int AS n,
                    coalesce(sum((SELECT sum(ki.quantity * ki.unit_price) FROM cart_items ki WHERE ki.cart_id = k.id)), 0)::text AS value
               FROM carts k
              WHERE k.status = 'open'
                AND k.updated_at < ${p.add(new Date(env.now.getTime() - env.abandonedAfterMs), 'timestamptz')}
                AND k.updated_at + ${p.add(`${env.abandonedAfterMs / 1000} seconds`, 'interval')} >= ${since}
                AND k.updated_at + ${p.add(`${env.abandonedAfterMs / 1000} seconds`, 'interval')} < ${until}
                AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = k.customer_id AND o.placed_at > k.updated_at)
                AND k.customer_id IN (${members})
              GROUP BY 1 ORDER BY 1`;
      return (await query<{ start: Date; n: number; value: string }>(text, p)).map((row) => ({ start: row.start, count: row.n, value: row.value }));
    },
  };
}
