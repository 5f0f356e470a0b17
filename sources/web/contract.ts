import type { ContractFinding } from '../contract.ts';
import { isEmpty, readOf, type Layout } from './layout.ts';
import type { LayoutKeeper } from './layout-keeper.ts';
import { TABLE_NAMES } from './tables.ts';

/**
 * The web source's contract check: reads the catalog again (so the layout the statements use is
 * current) and returns what it lacks of tables.ts (see findingsOf). Rejects with SourceError('web')
 * only when the catalog cannot be read.
 */
export async function checkWarehouse(keeper: LayoutKeeper): Promise<ContractFinding[]> {
  await keeper.refresh();
  return [...keeper.findings()];
}

/**
 * The layout's differences from tables.ts, in words an operator can act on: one warning per
 * missing table, one per table with missing columns; a single error when no table is there.
 * Optional columns (consent, geolocation, timezone, locale, uuid_ts: many pipelines never send
 * them) are not reported when absent, since ContractFinding has no severity below a warning and
 * their absence needs no action; one present with a type that reads as null still is.
 */
export function findingsOf(layout: Layout): ContractFinding[] {
  const { schema, expected } = layout;
  const { tables } = expected;
  if (isEmpty(layout)) {
    return [
      {
        source: 'web',
        severity: 'error',
        message:
          `the warehouse has no schema ${schema} with any of the tables ${TABLE_NAMES.join(', ')}: ` +
          'web fields fail until the configured schema is the one the event pipeline loads into',
      },
    ];
  }
  const findings: ContractFinding[] = [];
  for (const table of TABLE_NAMES) {
    const present = layout.present.get(table);
    if (!present) {
      findings.push({ source: 'web', severity: 'warning', message: `${schema}.${table} is missing: ${tables[table].whenMissing}` });
      continue;
    }
    const columns = Object.keys(tables[table].columns);
    const optional = new Set(tables[table].optional);
    const missing = columns.filter((column) => !present.has(column) && !optional.has(column));
    if (missing.length > 0) {
      const [noun, pronoun] = missing.length === 1 ? ['column', 'it'] : ['columns', 'them'];
      findings.push({
        source: 'web',
        severity: 'warning',
        message: `${schema}.${table} has no ${noun} ${missing.join(', ')}: read as null until an event first carries a value for ${pronoun}`,
      });
    }
    const unreadable = columns.filter((column) => present.has(column) && readOf(layout, table, column) === 'null');
    if (unreadable.length > 0) {
      const declared = tables[table].columns;
      const list = unreadable.map((column) => `${column} is ${present.get(column)}, expected ${declared[column]}`).join('; ');
      findings.push({
        source: 'web',
        severity: 'warning',
        message: `${schema}.${table} has columns of another type (${list}): read as null, since the first value fixed the type`,
      });
    }
  }
  return findings;
}
