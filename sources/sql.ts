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

// Connection-level failures (refused, reset, server shutting down or not accepting connections,
// out of connection slots): the database is unreachable rather than our statement wrong.
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);
// statement_timeout and lock_timeout, and a socket that stopped answering.
const TIMEOUT = new Set(['57014', '55P03', 'ETIMEDOUT']);
/** A PostgreSQL error code (SQLSTATE): five digits or upper-case letters. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * The SQLSTATE a statement failed with (42P01 undefined_table, 42703 undefined_column, ...), read
 * from a SourceError's cause or a driver error; undefined when the failure has none.
 */
export function sqlStateOf(error: unknown): string | undefined {
  const cause = error instanceof SourceError ? error.cause : error;
  const code = (cause as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined;
}

/**
 * Runs one statement, turning driver failures into SourceError of `source`. Only failures that
 * say the database is down or slow are `timeout` (statement_timeout, a pool that could not hand
 * out a connection in time) or `unavailable` (an unreachable server, a dropped connection), the
 * kinds a breaker should count. A statement the server rejected (a missing table or column, a
 * type mismatch: any other SQLSTATE) is `bad_response`, not retryable: the database is up and
 * asking again gives the same answer. The SQL text, the parameters and PostgreSQL's detail stay
 * in `cause`, for logs only.
 */
export async function runSql<R extends object>(source: SqlSource, db: Queryable, text: string, values: unknown[]): Promise<R[]> {
  try {
    return (await db.query<R>(text, values)).rows;
  } catch (error) {
    throw sqlError(source, error);
  }
}

/** The SourceError for a failed statement (see runSql). */
export function sqlError(source: SqlSource, error: unknown): SourceError {
  const raw = (error as { code?: unknown } | null | undefined)?.code;
  const code = typeof raw === 'string' ? raw : undefined;
  const message = error instanceof Error ? error.message : '';
  const timeout = () => new SourceError(source.name, 'timeout', `${source.database} did not answer in time`, { cause: error });
  const unavailable = () => new SourceError(source.name, 'unavailable', `${source.database} is unreachable`, { cause: error });
  if (code !== undefined && TIMEOUT.has(code)) return timeout();
  // Class 08: connection exceptions.
  if (code !== undefined && (UNAVAILABLE.has(code) || code.startsWith('08'))) return unavailable();
  if (code === undefined || !SQLSTATE.test(code)) {
    // No SQLSTATE: the driver's own failures (pg-pool's connection timeout, a terminated socket),
    // known only by their message. A server error's message may name a column such as
    // "connected_at", so these patterns are never read for errors that carry a SQLSTATE.
    if (/timeout/i.test(message)) return timeout();
    if (/Connection terminated|connect/i.test(message)) return unavailable();
  }
  return new SourceError(source.name, 'bad_response', `${source.database} rejected a query (does it meet ${source.contract}?)`, {
    retryable: false,
    cause: error,
  });
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
