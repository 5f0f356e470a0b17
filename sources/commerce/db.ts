import { runSql, type Queryable, type SqlSource } from '../sql.ts';

export { groupInKeyOrder, inKeyOrder, type Queryable } from '../sql.ts';

const COMMERCE: SqlSource = { name: 'commerce', database: 'the shop database', contract: 'the commerce contract' };

/** Runs one statement against the shop database; failures become SourceError('commerce', ...) (see runSql). */
export function run<R extends object>(db: Queryable, text: string, values: unknown[]): Promise<R[]> {
  return runSql<R>(COMMERCE, db, text, values);
}
