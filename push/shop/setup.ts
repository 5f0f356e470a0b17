/**
 * Prepares the shop database for push: `npm run push:setup -- <logical|notify> [--drop]`, with
 * DATABASE_URL in the environment.
 * - `logical`: the publication `c360_changes` of the watched tables and the replication slot
 *   PUSH_SHOP_SLOT (`c360_changes` by default; slot names are unique per cluster) with pgoutput,
 *   after checking wal_level. Needs a role allowed to create them.
 * - `notify`: the LISTEN/NOTIFY fallback's trigger function and triggers.
 * Running it again changes nothing; `--drop` removes what the mode created. Each step is also an
 * exported function, which the tests call.
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { CHANGES, WATCHED_TABLE_NAMES } from './tables.ts';
import { dropTriggersSql, installTriggersSql } from './triggers.ts';

/** What a step needs of a connection: `pg.Client` and `pg.Pool` fit. */
export interface SetupConnection {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** The set-up cannot be done as asked; the message says why and what to change. */
export class SetupError extends Error {
  override readonly name = 'SetupError';
}

export interface LogicalNames {
  /** `c360_changes` by default. */
  readonly slot?: string;
  /** `c360_changes` by default. */
  readonly publication?: string;
}

/**
 * Creates the publication of the watched tables (or sets its tables, if it exists) and the
 * logical replication slot with pgoutput (unless it exists). Returns what it did, one line each.
 * Throws SetupError when wal_level is not logical, a table is missing or a view, or a slot of that
 * name exists with another plugin or in another database.
 */
export async function setupLogical(db: SetupConnection, names: LogicalNames = {}): Promise<string[]> {
  const { slot, publication } = namesOf(names);
  const { rows: level } = await db.query<{ wal_level: string }>(`SELECT current_setting('wal_level') AS wal_level`);
  if (level[0]!.wal_level !== 'logical') {
    throw new SetupError(
      `expected wal_level = logical, the server has ${level[0]!.wal_level}. Set it in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and ` +
        'restart the server; max_replication_slots and max_wal_senders must be at least 1 (the default is 10). On a managed service: ' +
        'Amazon RDS/Aurora rds.logical_replication = 1, Cloud SQL cloudsql.logical_decoding = on, Azure wal_level = logical. ' +
        'Where that is not possible, use the NOTIFY triggers instead: npm run push:setup -- notify',
    );
  }
  await checkTables(db);
  const done: string[] = [];
  const tables = WATCHED_TABLE_NAMES.join(', ');
  const { rows: existing } = await db.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (existing.length === 0) {
    await db.query(`CREATE PUBLICATION ${publication} FOR TABLE ${tables}`);
    done.push(`created the publication ${publication} of ${tables}`);
  } else {
    // Sets the list again, in case someone changed it; a no-op when it is right.
    await db.query(`ALTER PUBLICATION ${publication} SET TABLE ${tables}`);
    done.push(`the publication ${publication} exists (its tables: ${tables})`);
  }
  const { rows: slots } = await db.query<{ plugin: string; database: string | null; here: boolean }>(
    `SELECT plugin, database, database = current_database() AS here FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const found = slots[0];
  if (!found) {
    await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    done.push(`created the replication slot ${slot} (pgoutput): it keeps WAL until a server reads it, so drop it (--drop) if push is no longer used`);
  } else if (!found.here || found.plugin !== 'pgoutput') {
    throw new SetupError(
      `expected the replication slot ${slot} to be a pgoutput slot of this database, found one with ${found.plugin ?? 'no plugin'} in ${found.database ?? 'no database'}: ` +
        'drop it or choose another name',
    );
  } else {
    done.push(`the replication slot ${slot} exists`);
  }
  return done;
}

/**
 * Drops the slot (so it no longer holds WAL) and the publication, where they exist. Throws
 * SetupError while a server still streams from the slot.
 */
export async function dropLogical(db: SetupConnection, names: LogicalNames = {}): Promise<string[]> {
  const { slot, publication } = namesOf(names);
  const done: string[] = [];
  const { rows: slots } = await db.query<{ active_pid: number | null }>(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`, [
    slot,
  ]);
  if (slots[0]?.active_pid) throw new SetupError(`the replication slot ${slot} is in use (server process ${slots[0].active_pid}): stop the servers that push first`);
  if (slots[0]) {
    await db.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
    done.push(`dropped the replication slot ${slot}`);
  }
  const { rows: existing } = await db.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (existing.length > 0) {
    await db.query(`DROP PUBLICATION ${publication}`);
    done.push(`dropped the publication ${publication}`);
  }
  return done;
}

/** Installs (or replaces) the NOTIFY trigger function and triggers. Throws SetupError when a table is missing or a view. */
export async function setupNotify(db: SetupConnection): Promise<string[]> {
  await checkTables(db);
  await db.query(installTriggersSql());
  return [`installed the triggers notifying ${CHANGES} on ${WATCHED_TABLE_NAMES.join(', ')}`];
}

/** Removes the NOTIFY triggers and their function, where they exist. */
export async function dropNotify(db: SetupConnection): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NULL`, [WATCHED_TABLE_NAMES]);
  if (rows.length > 0) throw new SetupError(`expected the tables ${WATCHED_TABLE_NAMES.join(', ')}; missing: ${rows.map((row) => row.name).join(', ')}`);
  await db.query(dropTriggersSql());
  return [`removed the triggers notifying ${CHANGES}`];
}

/** Triggers and publications need tables: a view meeting the contract cannot have either. */
async function checkTables(db: SetupConnection): Promise<void> {
  const { rows } = await db.query<{ name: string; kind: string | null }>(
    `SELECT name, (SELECT relkind::text FROM pg_class WHERE oid = to_regclass(name)) AS kind FROM unnest($1::text[]) AS name`,
    [WATCHED_TABLE_NAMES],
  );
  const missing = rows.filter((row) => row.kind === null).map((row) => row.name);
  if (missing.length > 0) throw new SetupError(`expected the tables ${WATCHED_TABLE_NAMES.join(', ')} (sources/commerce/schema.sql); missing: ${missing.join(', ')}`);
  const notTables = rows.filter((row) => row.kind !== 'r' && row.kind !== 'p').map((row) => row.name);
  if (notTables.length > 0) {
    throw new SetupError(`expected ${notTables.join(', ')} to be tables, found views or other relations: push needs the tables themselves (see docs/push-shop.md)`);
  }
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function namesOf(names: LogicalNames): { slot: string; publication: string } {
  const slot = names.slot ?? CHANGES;
  const publication = names.publication ?? CHANGES;
  for (const [what, name] of [
    ['slot', slot],
    ['publication', publication],
  ]) {
    if (!NAME.test(name!)) throw new SetupError(`expected a plain lower-case ${what} name, got ${JSON.stringify(name)}`);
  }
  return { slot, publication };
}

const USAGE = `usage: npm run push:setup -- <logical|notify> [--drop]   (DATABASE_URL: the shop database)
  logical  the publication c360_changes and the replication slot PUSH_SHOP_SLOT (c360_changes; needs wal_level = logical)
  notify   the LISTEN/NOTIFY triggers, where logical replication is not allowed
  --drop   removes what the mode created (a slot nobody reads keeps WAL: drop it when push is no longer used)`;

/** The command: exit 0 done, 1 the database refused, 2 a usage error. */
async function main(args: readonly string[]): Promise<number> {
  const [mode, flag, ...rest] = args;
  if ((mode !== 'logical' && mode !== 'notify') || (flag !== undefined && flag !== '--drop') || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const url = process.env.DATABASE_URL;
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    process.stderr.write(`DATABASE_URL: expected the shop database's postgres:// URL\n${USAGE}\n`);
    return 2;
  }
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const drop = flag === '--drop';
    const names = { slot: process.env.PUSH_SHOP_SLOT || undefined };
    const done = mode === 'logical' ? await (drop ? dropLogical(client, names) : setupLogical(client, names)) : await (drop ? dropNotify(client) : setupNotify(client));
    process.stdout.write(done.length > 0 ? `${done.map((line) => `- ${line}`).join('\n')}\n` : 'nothing to do\n');
    return 0;
  } catch (error) {
    process.stderr.write(`push:setup ${mode}${flag ? ` ${flag}` : ''} failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main(process.argv.slice(2));
