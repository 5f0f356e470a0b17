import { SourceError, type SourceName } from './errors.ts';

/** What a SQL source needs of a database: `pg.Pool` fits, and so does a counting wrapper. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** Who is asking, for the errors `runSql` throws: the source, its database and the contract it reads. */
export interface SqlSource {
  readonly name: SourceName;
  /** As a message names it: "the shop database". */
  readonly database: string;
  /** As a message names it: "the commerce contract". */
  readonly contract: string;
}

// Connection-level failures (refused, reset, server shutting down or not accepting connections):
// the database is unreachable rather than our statement wrong.
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);
const TIMEOUT = new Set(['57014', 'ETIMEDOUT']);

/**
 * Runs one statement, turning driver failures into SourceError of `source`: timeouts
 * (statement_timeout, a pool that could not hand out a connection in time), an unreachable server,
 * or a database that does not meet the contract (a missing table or column). The SQL text, the
 * parameters and PostgreSQL's detail stay in `cause`, for logs only.
 */
export async function runSql<R extends object>(source: SqlSource, db: Queryable, text: string, values: unknown[]): Promise<R[]> {
  try {
    return (await db.query<R>(text, values)).rows;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : '';
    if ((typeof code === 'string' && TIMEOUT.has(code)) || /timeout/i.test(message)) {
      throw new SourceError(source.name, 'timeout', `${source.database} did not answer in time`, { cause: error });
    }
    if ((typeof code === 'string' && UNAVAILABLE.has(code)) || /Connection terminated|connect/i.test(message)) {
      throw new SourceError(source.name, 'unavailable', `${source.database} is unreachable`, { cause: error });
    }
    throw new SourceError(source.name, 'bad_response', `${source.database} rejected a query (does it meet ${source.contract}?)`, {
      retryable: false,
      cause: error,
    });
  }
}

/** Puts rows back in key order: one entry per key, null where no row matched. */
export function inKeyOrder<K, V>(keys: readonly K[], rows: readonly V[], keyOf: (row: V) => K): Array<V | null> {
  const byKey = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => byKey.get(key) ?? null);
}

/** Groups rows under their key, in key order; keys without rows get an empty list. */
export function groupInKeyOrder<K, V>(keys: readonly K[], rows: readonly V[], keyOf: (row: V) => K): V[][] {
  const groups = new Map<K, V[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return keys.map((key) => groups.get(key) ?? []);
}
