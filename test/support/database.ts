import { randomBytes } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../sandbox/embedded-postgres.ts';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { seedShop } from '../../sandbox/demo/shop.ts';
import { seedWarehouse } from '../../sandbox/demo/warehouse.ts';

/** A fixed "now" so every generated date, RFM score and abandoned cart is reproducible. */
export const TEST_AS_OF = new Date('2026-11-01T12:00:00Z');

export interface TestDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * A fresh, empty database of this test file's own: on the PostgreSQL server named by
 * TEST_DATABASE_URL (created here, dropped on close), or embedded PGlite when it is unset.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres();
    const pool = new pg.Pool({ connectionString: embedded.url, max: 4 });
    return {
      url: embedded.url,
      pool,
      async close() {
        await pool.end();
        await embedded.close();
      },
    };
  }
  const name = `c360_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  return {
    url: url.toString(),
    pool,
    async close() {
      await pool.end();
      await dropDatabase(serverUrl, name);
    },
  };
}

/**
 * Drops a test database once its last connection is gone. A backend lingers a moment after its
 * client has left; forcing the drop then sends that client a FATAL it no longer listens for, an
 * unhandled error. So: wait for them, and force only a database someone forgot to close.
 */
async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name}${attempt >= 50 ? ' WITH (FORCE)' : ''}`);
        return;
      } catch (error) {
        // 55006: still in use by another session.
        if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
        await setTimeout(100);
      }
    }
  } finally {
    await client.end();
  }
}

/** A fresh database seeded with the demo shop of `world`, and its event warehouse (schema `web`) when asked. */
export async function createDemoDatabase(world: DemoWorld, options: { webHistoryDays?: number } = {}): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await seedShop(db.pool, world);
  if (options.webHistoryDays) await seedWarehouse(db.pool, world, { schema: 'web', historyDays: options.webHistoryDays });
  return db;
}
