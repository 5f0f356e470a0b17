import type { Pool } from 'pg';

/**
 * Multi-row insert through `unnest` of one array per column: one statement per batch, parameters
 * only. `table` is SQL text (a constant, or an identifier the caller validated and quoted); `types`
 * maps each column to its PostgreSQL type. Rows accumulate until `flush`, which hands the batch to
 * the pool and starts a new one at once, so the caller may build the next batch while this one is
 * being written.
 */
export class BulkInsert {
  private columns: unknown[][];
  private readonly sql: string;

  constructor(
    private readonly pool: Pool,
    table: string,
    types: Record<string, string>,
  ) {
    const names = Object.keys(types);
    this.columns = names.map(() => []);
    const arrays = Object.values(types).map((type, i) => `$${i + 1}::${type}[]`);
    this.sql = `INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM unnest(${arrays.join(', ')})`;
  }

  /** Rows waiting for the next flush. */
  get size(): number {
    return this.columns[0]!.length;
  }

  /** One row: a value per column, in the order of `types`. */
  add(row: readonly unknown[]): void {
    row.forEach((value, i) => this.columns[i]!.push(value));
  }

  /** Writes the waiting rows in one statement (nothing when there are none). */
  async flush(): Promise<void> {
    if (this.size === 0) return;
    const columns = this.columns;
    this.columns = columns.map(() => []);
    await this.pool.query(this.sql, columns);
  }
}
