import { z } from 'zod';
import { CHANGES, isWatchedTable, WATCHED_TABLES, WATCHED_TABLE_NAMES, type RowChange, type WatchedTable } from './tables.ts';

/**
 * The LISTEN/NOTIFY fallback's database side: one trigger function, and on each watched table an
 * AFTER trigger per row that NOTIFYs channel `c360_changes` with ids only (no email, no name):
 *
 *   {"table":"orders","op":"INSERT","id":"42","customerId":"7","txid":"1234","at":"2026-12-06T17:00:00.1+00:00"}
 *
 * about 150 bytes, far under NOTIFY's 8000-byte limit. A NOTIFY is sent at commit, so a rolled-back
 * change never arrives; an UPDATE that changed nothing sends none. `txid` (the 64-bit transaction
 * id) makes the signal id unique over time and the same on every replica that listens.
 */
const FUNCTION = `${CHANGES}_notify`;
const UPDATE_TRIGGER = `${CHANGES}_notify_update`;

/** Creates or replaces the function and triggers, in one transaction (so twice is the same as once). */
export function installTriggersSql(): string {
  const triggers = WATCHED_TABLE_NAMES.map((table) => {
    const column = WATCHED_TABLES[table].customerColumn;
    return `DROP TRIGGER IF EXISTS ${FUNCTION} ON ${table};
CREATE TRIGGER ${FUNCTION} AFTER INSERT OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${FUNCTION}('${column}');
DROP TRIGGER IF EXISTS ${UPDATE_TRIGGER} ON ${table};
CREATE TRIGGER ${UPDATE_TRIGGER} AFTER UPDATE ON ${table} FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ${FUNCTION}('${column}');`;
  });
  return `BEGIN;
CREATE OR REPLACE FUNCTION ${FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  changed jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN changed := to_jsonb(OLD); ELSE changed := to_jsonb(NEW); END IF;
  -- TG_ARGV[0]: the column naming the row's customer.
  PERFORM pg_notify('${CHANGES}', json_build_object(
    'table', TG_TABLE_NAME, 'op', TG_OP, 'id', changed ->> 'id', 'customerId', changed ->> TG_ARGV[0],
    'txid', txid_current()::text, 'at', clock_timestamp())::text);
  RETURN NULL;
END
$fn$;
${triggers.join('\n')}
COMMIT;`;
}

/** Removes what installTriggersSql created; nothing happens where it is already gone. */
export function dropTriggersSql(): string {
  const triggers = WATCHED_TABLE_NAMES.map((table) => `DROP TRIGGER IF EXISTS ${FUNCTION} ON ${table};\nDROP TRIGGER IF EXISTS ${UPDATE_TRIGGER} ON ${table};`);
  return `BEGIN;\n${triggers.join('\n')}\nDROP FUNCTION IF EXISTS ${FUNCTION}();\nCOMMIT;`;
}

const payload = z.object({
  table: z.custom<WatchedTable>((value) => typeof value === 'string' && isWatchedTable(value)),
  op: z.enum(['INSERT', 'UPDATE', 'DELETE']),
  id: z.string().min(1),
  customerId: z.string().min(1),
  txid: z.string().regex(/^\d+$/),
  at: z.string().refine((value) => !Number.isNaN(Date.parse(value))),
});

/** The change a trigger's NOTIFY payload describes, or null for a payload the triggers did not write. */
export function parseNotification(text: string): RowChange | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = payload.safeParse(json);
  if (!parsed.success) return null;
  const { table, op, id, customerId, txid, at } = parsed.data;
  return { table, op, id, customerId, version: txid, at: new Date(at).toISOString() };
}
