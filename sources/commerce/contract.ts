import type { ContractFinding } from '../contract.ts';
import { sqlError, type Queryable, type SqlSource } from '../sql.ts';
import { CUSTOMERS_BY_EMAIL } from './customers.ts';
import { run } from './db.ts';

/**
 * The commerce contract (schema.sql), declared once: each relation the source reads (a table or a
 * view of that name, found through the search path as the statements find it), its columns, and
 * what fails without it; then the optional columns, each with what is unavailable without it (the
 * statements that read one decide from the catalog whether it is there: see discounts.ts).
 */
export const RELATIONS = {
  customers: {
    columns: ['id', 'email', 'first_name', 'last_name', 'phone', 'city', 'region', 'postal_code', 'country_code', 'signup_at', 'signup_channel'],
    feeds: 'every commerce field and every lookup by email',
  },
  orders: {
    columns: ['id', 'customer_id', 'placed_at', 'status', 'total_amount', 'currency'],
    feeds: 'orders, purchases, RFM scores and segments',
    optional: { discount_amount: 'traits.discountSensitivity answers with its unavailableReason instead of numbers' },
  },
  order_items: { columns: ['order_id', 'line_no', 'product_id', 'quantity', 'unit_price'], feeds: 'order line items' },
  products: { columns: ['id', 'sku', 'name', 'category', 'price', 'currency'], feeds: 'order line items and carts' },
  carts: { columns: ['id', 'customer_id', 'created_at', 'updated_at', 'status'], feeds: 'carts' },
  cart_items: { columns: ['cart_id', 'product_id', 'quantity', 'unit_price', 'added_at'], feeds: 'carts' },
} as const satisfies Record<string, Relation>;

interface Relation {
  readonly columns: readonly string[];
  readonly feeds: string;
  /** Optional columns, each with what is unavailable without it. */
  readonly optional?: Readonly<Record<string, string>>;
}

type RelationName = keyof typeof RELATIONS;
const NAMES = Object.keys(RELATIONS) as RelationName[];

/** The contract's relations as the catalog shows them: each present relation's columns. */
export type ShopCatalog = ReadonlyMap<RelationName, ReadonlySet<string>>;

const COMMERCE: SqlSource = { name: 'commerce', database: 'the shop database', contract: 'the commerce contract' };

// Tables, partitioned tables, views, materialized views and foreign tables all serve a SELECT.
const CATALOG = `SELECT c.relname::text AS relation, a.attname::text AS column_name
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND pg_catalog.pg_table_is_visible(c.oid)`;

/**
 * Compares the shop database with the contract (`catalog`, when the caller has read it already):
 * a missing relation or column is an error (the fields reading it fail); a missing optional
 * column is a warning naming what is unavailable without it; an email lookup that would read the whole customers relation is a
 * warning (it answers, slowly, and slower as the shop grows). Rejects with SourceError('commerce')
 * only when the database cannot be reached.
 */
export async function checkShopContract(db: Queryable, catalog?: ShopCatalog): Promise<ContractFinding[]> {
  const found = catalog ?? (await readShopCatalog(db));
  const findings: ContractFinding[] = [];
  const error = (message: string) => findings.push({ source: 'commerce', severity: 'error', message });
  for (const name of NAMES) {
    const { columns, feeds } = RELATIONS[name];
    const present = found.get(name);
    if (!present) {
      error(
        `the shop database has no table or view ${name} (${columns.join(', ')}): ${feeds} fail until it exists; ` +
          'a view of that name over the shop\'s own tables meets the contract (docs/sources.md, "The commerce contract")',
      );
      continue;
    }
    const missing = columns.filter((column) => !present.has(column));
    if (missing.length > 0) {
      error(`${name} has no column ${missing.join(', ')}: ${feeds} fail until it has (a view may supply NULL for a value the shop lacks)`);
    }
    // An optional column is not an error, but what lacks it should be known at start-up.
    const { optional = {} }: Relation = RELATIONS[name];
    for (const [column, without] of Object.entries(optional)) {
      if (!present.has(column)) {
        findings.push({ source: 'commerce', severity: 'warning', message: `${name} has no optional column ${column}: ${without} until it has` });
      }
    }
  }
  const customers = found.get('customers');
  if (customers?.has('id') && customers.has('email')) findings.push(...(await emailLookup(db)));
  return findings;
}

/** Reads the catalog for the contract's relations (all of them, or `names`). Rejects with SourceError('commerce'). */
export async function readShopCatalog(db: Queryable, names: readonly RelationName[] = NAMES): Promise<ShopCatalog> {
  const rows = await run<{ relation: RelationName; column_name: string }>(db, CATALOG, [names]);
  const found = new Map<RelationName, Set<string>>();
  for (const { relation, column_name } of rows) found.set(relation, (found.get(relation) ?? new Set()).add(column_name));
  return found;
}

/**
 * Plans the source's own email lookup with sequential scans disabled, so that the plan shows
 * whether any index can serve it (on a small table the planner scans even when one could). A
 * statement with parameters cannot carry a second one, so the setting and the EXPLAIN travel as
 * one simple-protocol string: one round trip, one implicit transaction, which `set_config(...,
 * true)` does not outlive, so the pooled connection goes back unchanged.
 */
async function emailLookup(db: Queryable): Promise<ContractFinding[]> {
  const statement = CUSTOMERS_BY_EMAIL.replace('$1::text[]', `ARRAY[''::text]`);
  const text = `SELECT pg_catalog.set_config('enable_seqscan', 'off', true); EXPLAIN (FORMAT JSON) ${statement}`;
  let plan: unknown;
  try {
    const results = (await db.query(text)) as unknown as Array<{ rows: Array<Record<string, unknown>> }>;
    plan = results.at(-1)?.rows[0]?.['QUERY PLAN'];
  } catch (raw) {
    const failure = sqlError(COMMERCE, raw);
    if (failure.kind !== 'bad_response') throw failure;
    const state = (raw as { code?: unknown }).code;
    return [
      {
        source: 'commerce',
        severity: 'error',
        message: `the shop database rejects the email lookup on customers (SQLSTATE ${String(state)}): lookups by email fail until customers.email is text`,
      },
    ];
  }
  const scanned = [...new Set(seqScans(plan))];
  if (scanned.length === 0) return [];
  const table = scanned[0]!;
  return [
    {
      source: 'commerce',
      severity: 'warning',
      message:
        `a lookup by email reads every row of ${scanned.join(', ')}: no index matches lower(email) on customers. ` +
        `If customers passes the column through (u.email AS email), CREATE INDEX ON ${table} (lower(email)); ` +
        'if it computes the email, index lower() of that same expression, or store a lower-cased copy and index it',
    },
  ];
}

/** The relations a plan reads with a sequential scan (EXPLAIN FORMAT JSON's "Plan" tree). */
function seqScans(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(seqScans);
  if (typeof node !== 'object' || node === null) return [];
  const plan = node as { Plan?: unknown; Plans?: unknown; 'Node Type'?: unknown; 'Relation Name'?: unknown };
  const own = plan['Node Type'] === 'Seq Scan' && typeof plan['Relation Name'] === 'string' ? [plan['Relation Name']] : [];
  return [...own, ...seqScans(plan.Plan), ...seqScans(plan.Plans)];
}
