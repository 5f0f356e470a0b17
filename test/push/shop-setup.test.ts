import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropLogical, dropNotify, SetupError, setupLogical, setupNotify, type SetupConnection } from '../../push/shop/setup.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const schema = () => readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8');

async function triggersOf(db: SetupConnection): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname || '.' || t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'c360_changes%' ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

describe('push:setup notify', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(await schema());
  });
  afterAll(async () => {
    await db?.close();
  });

  it('installs one pair of triggers per watched table, the same when run twice, and --drop removes them and their function', async () => {
    await setupNotify(db.pool);
    await setupNotify(db.pool);
    expect(await triggersOf(db.pool)).toEqual([
      'carts.c360_changes_notify',
      'carts.c360_changes_notify_update',
      'customers.c360_changes_notify',
      'customers.c360_changes_notify_update',
      'orders.c360_changes_notify',
      'orders.c360_changes_notify_update',
    ]);
    await dropNotify(db.pool);
    await dropNotify(db.pool);
    expect(await triggersOf(db.pool)).toEqual([]);
    const { rows } = await db.pool.query(`SELECT 1 FROM pg_proc WHERE proname = 'c360_changes_notify'`);
    expect(rows).toEqual([]);
  });

  it('refuses a contract met by a view, naming it', async () => {
    const other = await createTestDatabase();
    try {
      await other.pool.query(await schema());
      await other.pool.query(`ALTER TABLE carts RENAME TO shop_carts; CREATE VIEW carts AS SELECT * FROM shop_carts`);
      await expect(setupNotify(other.pool)).rejects.toThrow(
        new SetupError('expected carts to be tables, found views or other relations: push needs the tables themselves (see docs/push-shop.md)'),
      );
    } finally {
      await other.close();
    }
  });

  it('refuses logical decoding where wal_level is not logical, saying what to change', async () => {
    // PGlite and the machine's server both run with wal_level=replica.
    const { rows } = await db.pool.query<{ level: string }>(`SELECT current_setting('wal_level') AS level`);
    expect(rows[0]!.level).not.toBe('logical');
    await expect(setupLogical(db.pool)).rejects.toThrow(/^expected wal_level = logical, the server has replica\. Set it in postgresql\.conf .* restart the server/);
    const { rows: publications } = await db.pool.query(`SELECT 1 FROM pg_publication`);
    expect(publications).toEqual([]);
  });
});

const logicalUrl = process.env.TEST_LOGICAL_DATABASE_URL;

describe.skipIf(!logicalUrl)('push:setup logical', () => {
  const suffix = randomBytes(5).toString('hex');
  const database = `c360_setup_${suffix}`;
  const slot = `c360_changes_${suffix}`;
  let pool: pg.Pool;

  const state = async () => {
    const { rows: slots } = await pool.query(`SELECT slot_name, plugin, slot_type FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    const { rows: tables } = await pool.query<{ tablename: string }>(`SELECT tablename FROM pg_publication_tables WHERE pubname = 'c360_changes' ORDER BY 1`);
    return { slots, tables: tables.map((row) => row.tablename) };
  };

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: logicalUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const url = new URL(logicalUrl!);
    url.pathname = `/${database}`;
    pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    await pool.query(await schema());
  });
  afterAll(async () => {
    if (pool) {
      // Whatever a failed test left: a slot outlives its database's connections and holds WAL.
      await pool.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
      await pool.end();
    }
    const admin = new pg.Client({ connectionString: logicalUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('creates the publication of the watched tables and a pgoutput slot, the same when run twice, and --drop removes both', async () => {
    const first = await setupLogical(pool, { slot });
    expect(first).toEqual([
      'created the publication c360_changes of customers, orders, carts',
      `created the replication slot ${slot} (pgoutput): it keeps WAL until a server reads it, so drop it (--drop) if push is no longer used`,
    ]);
    const second = await setupLogical(pool, { slot });
    expect(second).toEqual(['the publication c360_changes exists (its tables: customers, orders, carts)', `the replication slot ${slot} exists`]);
    expect(await state()).toEqual({ slots: [{ slot_name: slot, plugin: 'pgoutput', slot_type: 'logical' }], tables: ['carts', 'customers', 'orders'] });

    expect(await dropLogical(pool, { slot })).toEqual([`dropped the replication slot ${slot}`, 'dropped the publication c360_changes']);
    expect(await dropLogical(pool, { slot })).toEqual([]);
    expect(await state()).toEqual({ slots: [], tables: [] });
  });

  it('puts a publication someone changed back to the watched tables', async () => {
    await pool.query(`CREATE PUBLICATION c360_changes FOR TABLE orders`);
    await setupLogical(pool, { slot });
    expect((await state()).tables).toEqual(['carts', 'customers', 'orders']);
    await dropLogical(pool, { slot });
  });

  it('refuses a slot of that name with another plugin', async () => {
    await pool.query(`SELECT pg_create_logical_replication_slot($1, 'test_decoding')`, [slot]);
    try {
      await expect(setupLogical(pool, { slot })).rejects.toThrow(
        `expected the replication slot ${slot} to be a pgoutput slot of this database, found one with test_decoding in ${database}`,
      );
    } finally {
      await pool.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
      await pool.query(`DROP PUBLICATION IF EXISTS c360_changes`);
    }
  });
});
