import { SourceError } from '../errors.ts';
import { run, type Queryable } from './db.ts';
import { READABLE, TABLE_NAMES, type ConsentPurpose, type Expected, type TableName } from './tables.ts';

/**
 * Which of the expected tables and columns (tables.ts) the warehouse has right now, with each
 * column's type. Segment and RudderStack create an event's table when that event first loads, and
 * a column when it first carries a value: a missing one is data ("none yet"), not a failure.
 */
export interface Layout {
  readonly schema: string;
  /** What the source reads (tables.ts, with its configured consent columns): what `present` is measured against. */
  readonly expected: Expected;
  /** Expected table -> its expected columns that exist -> their type (information_schema's data_type); a missing table has no entry. */
  readonly present: ReadonlyMap<TableName, ReadonlyMap<string, string>>;
  /** Equal for equal layouts: tells whether statements must be rebuilt. */
  readonly key: string;
}

// One statement, filtered to the expected tables: a warehouse holds hundreds of event tables.
const CATALOG = `SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type
  FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY($2::text[])`;

/** Reads the layout of `schema` from the catalog (one statement); throws SourceError('web') when that fails. */
export async function readLayout(db: Queryable, schema: string, expected: Expected): Promise<Layout> {
  const rows = await run<{ table_name: string; column_name: string; data_type: string }>(db, CATALOG, [schema, TABLE_NAMES]);
  const present = new Map<TableName, Map<string, string>>();
  for (const { table_name, column_name, data_type } of rows) {
    const table = table_name as TableName;
    // A table listed with none of our columns still exists: its columns read as null.
    const columns = present.get(table) ?? new Map<string, string>();
    present.set(table, columns);
    if (column_name in expected.tables[table].columns) columns.set(column_name, data_type);
  }
  const key = TABLE_NAMES.map((table) => {
    const columns = present.get(table);
    return columns
      ? `${table}(${[...columns]
          .map(([name, type]) => `${name} ${type}`)
          .sort()
          .join(',')})`
      : `-${table}`;
  }).join(';');
  return { schema, expected, present, key };
}

/** How a declared column is read: as it is, cast to its declared type, or as null (missing, or of a type not READABLE). */
export function readOf(layout: Layout, table: TableName, column: string): 'as is' | 'cast' | 'null' {
  const type = layout.present.get(table)?.get(column);
  if (type === undefined) return 'null';
  const declared = layout.expected.tables[table].columns[column]!;
  return READABLE[declared][type] ?? 'null';
}

/**
 * What the statements read the warehouse through. Called with a table: the SQL of that table as a
 * FROM item (see relationsOf).
 */
export interface Relations {
  (table: TableName): string;
  /**
   * True when `table` has `column` to read (present, of a readable type). A statement may leave
   * out what would read as null anyway, and must where reading a typed NULL would cost a scan
   * (max() of a column the table lacks has no index to stop at).
   */
  has(table: TableName, column: string): boolean;
  /** The column each consent purpose is read from, on every event table; null when none is configured. */
  readonly consent: Readonly<Record<ConsentPurpose, string | null>>;
}

const quote = (name: string) => `"${name}"`;

/**
 * Every expected table as a FROM item with exactly its declared columns, each of its declared
 * type: the table projected onto them (a missing or unreadable column as a typed NULL), or, for a
 * missing table, an empty relation of the same columns. A plain projection is a subquery
 * PostgreSQL pulls up into the outer query, so conditions on user_id and "timestamp" still reach
 * the table's indexes.
 */
export function relationsOf(layout: Layout, quotedSchema: string): Relations {
  const relation = (table: TableName) => {
    const exists = layout.present.has(table);
    const list = Object.entries(layout.expected.tables[table].columns)
      .map(([name, type]) => {
        const read = readOf(layout, table, name);
        if (read === 'as is') return `t.${quote(name)}`;
        return read === 'cast' ? `t.${quote(name)}::${type} AS ${quote(name)}` : `NULL::${type} AS ${quote(name)}`;
      })
      .join(', ');
    return exists ? `(SELECT ${list} FROM ${quotedSchema}.${quote(table)} t)` : `(SELECT ${list} WHERE false)`;
  };
  const has = (table: TableName, column: string) => readOf(layout, table, column) !== 'null';
  return Object.assign(relation, { has, consent: layout.expected.consent });
}

/** True when the warehouse has none of the expected tables: a wrong schema name, or nothing loaded yet. */
export function isEmpty(layout: Layout): boolean {
  return layout.present.size === 0;
}

/** The SourceError every call fails with while the schema has none of the expected tables. */
export function emptySchemaError(schema: string): SourceError {
  return new SourceError('web', 'bad_response', `the event warehouse has none of the expected tables in schema ${schema}`, {
    retryable: false,
  });
}
