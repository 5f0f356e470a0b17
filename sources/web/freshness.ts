import { run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { WarehouseLoad } from './model.ts';

/**
 * How current the warehouse is: the newest received_at and the newest uuid_ts over pages and
 * tracks, in one statement. Each max() reads one end of an index (schema.sql's *_received_idx and
 * *_loaded_idx); a column the table lacks is left out rather than read as a typed NULL, whose max()
 * would scan the whole table for nothing.
 */
export function loadStatement(w: Relations) {
  const newest = (column: 'received_at' | 'uuid_ts') => {
    const parts = (['pages', 'tracks'] as const).filter((table) => w.has(table, column)).map((table) => `(SELECT max(x.${column}) FROM ${w(table)} x)`);
    // greatest() skips nulls: a table with no rows does not hide the other's newest.
    return parts.length === 0 ? 'NULL::timestamptz' : `greatest(${parts.join(', ')})`;
  };
  const text = `SELECT ${newest('received_at')} AS newest_received_at, ${newest('uuid_ts')} AS loaded_at`;
  return async (db: Queryable, now: Date): Promise<WarehouseLoad> => {
    const [row] = await run<{ newest_received_at: Date | null; loaded_at: Date | null }>(db, text, []);
    return { newestReceivedAt: row?.newest_received_at ?? null, loadedAt: row?.loaded_at ?? null, checkedAt: now };
  };
}

/**
 * `read` at most once per `refreshMs` of `clock`: callers within that time get the last answer,
 * concurrent callers share one read, and a failed read rejects its callers and is not kept (the
 * next call reads again).
 */
export function everyRefresh<T>(read: () => Promise<T>, refreshMs: number, clock: () => number): () => Promise<T> {
  let kept: { value: T; readAt: number } | null = null;
  let reading: Promise<T> | null = null;
  return () => {
    if (kept && clock() - kept.readAt < refreshMs) return Promise.resolve(kept.value);
    if (reading) return reading;
    const startedAt = clock();
    reading = read()
      .then((value) => {
        kept = { value, readAt: startedAt };
        return value;
      })
      .finally(() => {
        reading = null;
      });
    return reading;
  };
}
