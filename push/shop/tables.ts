import type { Signal } from '../signals.ts';

/**
 * The contract tables (sources/commerce/schema.sql) whose row changes are signals, each with the
 * column naming its customer and the signal kind: declared once, so the triggers, the publication
 * and both decoders derive from this list. Every one has the primary key `id`. Line items
 * (`order_items`, `cart_items`) are left out: an order is written with its items in one
 * transaction, and the contract has a cart's `updated_at` move whenever an item changes.
 */
export const WATCHED_TABLES = {
  customers: { customerColumn: 'id', kind: 'customer' },
  orders: { customerColumn: 'customer_id', kind: 'order' },
  carts: { customerColumn: 'customer_id', kind: 'cart' },
} as const;

export type WatchedTable = keyof typeof WATCHED_TABLES;

export const WATCHED_TABLE_NAMES = Object.keys(WATCHED_TABLES) as WatchedTable[];

/** The NOTIFY channel, the publication and the replication slot: one name for all three. */
export const CHANGES = 'c360_changes';

export type RowOperation = 'INSERT' | 'UPDATE' | 'DELETE';

/** One changed row, as either mechanism reports it. */
export interface RowChange {
  readonly table: WatchedTable;
  readonly op: RowOperation;
  /** The row's `id`. */
  readonly id: string;
  readonly customerId: string;
  /** What makes this change unique over time and the same on every replica: a transaction id (NOTIFY) or an LSN (logical decoding). */
  readonly version: string;
  /** ISO 8601: the row change (NOTIFY) or the commit (logical decoding). */
  readonly at?: string;
}

export const isWatchedTable = (name: string): name is WatchedTable => Object.hasOwn(WATCHED_TABLES, name);

/** The signal of one row change: `commerce:<table>:<id>:<op>:<version>`, about the row's customer. */
export function changeSignal(change: RowChange, receivedAt: number): Signal {
  return {
    id: `commerce:${change.table}:${change.id}:${change.op}:${change.version}`,
    source: 'commerce',
    kind: WATCHED_TABLES[change.table].kind,
    subject: { customerId: change.customerId },
    ...(change.at !== undefined && { at: change.at }),
    receivedAt,
  };
}
