import type { Pool } from 'pg';
import { quoteSchema, warehouseDdl } from '../../sources/web/ddl.ts';
import { personAt, populationSize, type DemoWorld } from './people.ts';
import { DEFAULT_HISTORY_DAYS, webActivityOf } from './warehouse/activity.ts';
import { WarehouseWriters } from './warehouse/tables.ts';

export { DEFAULT_HISTORY_DAYS, devicesOf, sharingPartner, webActivityOf, type WebActivity } from './warehouse/activity.ts';

export interface WarehouseSeedProgress {
  /** People done (customers first, then prospects) out of `total`. */
  readonly people: number;
  readonly total: number;
  /** Pages and tracks rows written so far. */
  readonly events: number;
  /** Every row written so far (event tables, identifies and users too). */
  readonly rows: number;
  readonly elapsedMs: number;
}

export interface WarehouseSeedOptions {
  /** The warehouse schema (a plain identifier); created with its tables when missing. */
  readonly schema: string;
  /** Rows per table per INSERT (default 5000). */
  readonly batchSize?: number;
  /** Days of history before world.asOf (default 180): volume grows linearly with it. */
  readonly historyDays?: number;
  /** Called every few thousand people, and once at the end. */
  readonly onProgress?: (progress: WarehouseSeedProgress) => void;
}

/**
 * Writes the demo event warehouse of `world` into `schema` (Segment layout, sources/web/schema.sql):
 * every person's visits, consistent with the shop (see webActivityOf). Expects the schema's tables
 * empty or absent; indexes are created after the rows (much faster than maintaining them during
 * the load), then the tables are analyzed. Streams: rows go out in batches while the next ones are
 * generated, at most one batch per table in flight, so memory stays flat at any size. Resolves with
 * the final counts.
 */
export async function seedWarehouse(pool: Pool, world: DemoWorld, options: WarehouseSeedOptions): Promise<WarehouseSeedProgress> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 5000;
  const schema = quoteSchema(options.schema);
  const ddl = await warehouseDdl(options.schema);
  await pool.query(ddl.tables);
  const writers = new WarehouseWriters(pool, schema, world.asOf.getTime());
  const total = populationSize(world);
  const progress = (people: number): WarehouseSeedProgress => ({
    people,
    total,
    ...writers.counts,
    elapsedMs: Math.round(performance.now() - started),
  });

  let inFlight: Promise<void> = Promise.resolve();
  for (let index = 0; index < total; index++) {
    const person = personAt(world, index);
    writers.add(person, webActivityOf(world, person, options.historyDays ?? DEFAULT_HISTORY_DAYS));
    if (writers.largest >= batchSize) {
      // Generating the next batch overlaps with PostgreSQL writing this one.
      await inFlight;
      inFlight = writers.flush();
      inFlight.catch(() => {}); // awaited (and thrown) at the next flush; this only marks it handled
    }
    if ((index + 1) % 2000 === 0) options.onProgress?.(progress(index + 1));
  }
  await inFlight;
  await writers.flush();
  await pool.query(ddl.indexes);
  for (const table of TABLES) await pool.query(`ANALYZE ${schema}.${table}`);
  const done = progress(total);
  options.onProgress?.(done);
  return done;
}

const TABLES = ['identifies', 'users', 'pages', 'tracks', 'product_viewed', 'product_added', 'product_removed', 'checkout_started', 'order_completed', 'products_searched'];
