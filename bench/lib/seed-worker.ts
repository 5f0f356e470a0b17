/** Seeds the demo event warehouse in a worker thread, while the main thread seeds the shop. */
import pg from 'pg';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { seedWarehouse } from '../../sandbox/demo/warehouse.ts';
import { serveCalls } from './workers.ts';

serveCalls({
  async warehouse({ url, world, days }: { url: string; world: DemoWorld; days: number }, emit) {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      const done = await seedWarehouse(pool, world, {
        schema: 'web',
        historyDays: days,
        onProgress: ({ people, total, events }) => emit({ people, total, events }),
      });
      return { events: done.events, rows: done.rows };
    } finally {
      await pool.end();
    }
  },
});
