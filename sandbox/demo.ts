import type { Logger } from 'pino';
import pg from 'pg';
import { personAt, type DemoWorld } from './demo/people.ts';
import { cartsOf, ordersOf, seedShop } from './demo/shop.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';

export interface Demo {
  readonly world: DemoWorld;
  /** The embedded shop database. */
  readonly databaseUrl: string;
  /** A customer worth showing: repeat buyer with an open cart. */
  readonly exampleEmail: string;
  close(): Promise<void>;
}

/**
 * The embedded default: PGlite served over the wire protocol, seeded with the deterministic demo
 * shop as of now. Progress goes to the logger, since a large DEMO_CUSTOMERS takes a while.
 */
export async function startDemo(options: { customers: number; seed: number; logger: Logger }): Promise<Demo> {
  const world: DemoWorld = { seed: options.seed, customers: options.customers, asOf: new Date() };
  const embedded = await startEmbeddedPostgres();
  const pool = new pg.Pool({ connectionString: embedded.url, max: 1 });
  try {
    await seedShop(pool, world, {
      onProgress: ({ customers, total }) => options.logger.info({ customers, total }, 'seeding the demo shop'),
    });
  } finally {
    await pool.end();
  }
  return { world, databaseUrl: embedded.url, exampleEmail: exampleCustomer(world), close: () => embedded.close() };
}

/** The first repeat buyer with an open cart; in a tiny world, whoever ordered most. */
function exampleCustomer(world: DemoWorld): string {
  let best = { email: personAt(world, 0).email, orders: -1 };
  for (let index = 0; index < Math.min(world.customers, 5000); index++) {
    const person = personAt(world, index);
    const orders = ordersOf(world, person).filter((o) => o.status === 'completed').length;
    if (orders >= 3 && cartsOf(world, person).length > 0) return person.email;
    if (orders > best.orders) best = { email: person.email, orders };
  }
  return best.email;
}
