import { readFile } from 'node:fs/promises';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * The schema name as SQL: validated as a plain lower-case identifier and double-quoted, so even a
 * reserved word is safe. The only text the web source and the demo generator put into SQL that is
 * not a constant of their own. Throws a TypeError for anything else.
 */
export function quoteSchema(schema: string): string {
  if (!IDENTIFIER.test(schema) || schema.length > 63) {
    throw new TypeError(`expected a warehouse schema name matching ${IDENTIFIER} (at most 63 characters), got ${JSON.stringify(schema)}`);
  }
  return `"${schema}"`;
}

/** The warehouse DDL (schema.sql) for one schema, split so a bulk load can create indexes after the rows. */
export interface WarehouseDdl {
  /** CREATE SCHEMA and CREATE TABLE, all IF NOT EXISTS. */
  readonly tables: string;
  /** CREATE INDEX IF NOT EXISTS for every index the source reads through. */
  readonly indexes: string;
}

const MARKER = '-- Indexes';

/** Reads schema.sql and substitutes the quoted schema name (throws a TypeError when it is not a plain identifier). */
export async function warehouseDdl(schema: string): Promise<WarehouseDdl> {
  const quoted = quoteSchema(schema);
  const text = (await readFile(new URL('./schema.sql', import.meta.url), 'utf8')).replaceAll(':"schema"', quoted);
  const at = text.indexOf(MARKER);
  return { tables: text.slice(0, at), indexes: text.slice(at) };
}
