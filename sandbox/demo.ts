import { randomBytes } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import pg from 'pg';
import { installTriggersSql } from '../push/shop/triggers.ts';
import { personAt, personByEmail, type DemoWorld } from './demo/people.ts';
import { cartsOf, ordersOf, seedShop } from './demo/shop.ts';
import { seedWarehouse } from './demo/warehouse.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { prepareSearchIndex, startHubSpotStandIn } from './hubspot/index.ts';
import { startMailchimpStandIn } from './mailchimp/index.ts';

/** Where the demo's stand-ins listen and the credentials they accept (fresh on every start). */
export interface DemoUpstreams {
  readonly databaseUrl: string;
  readonly hubspot: { readonly baseUrl: string; readonly accessToken: string; readonly extraProperties: readonly string[] };
  readonly mailchimp: { readonly baseUrl: string; readonly apiKey: string; readonly listId: string };
}

export interface Demo extends DemoUpstreams {
  readonly world: DemoWorld;
  /**
   * The database in-process, with the push triggers installed: its `listen` hears the NOTIFYs of
   * statements run on it (the demo's orders, sandbox/demo/place-order.ts), not those of socket clients.
   */
  readonly db: PGlite;
  /** A customer worth showing: repeat buyer with an open cart. */
  readonly exampleEmail: string;
  /** The browser the example customer signed in on last (their newest identify call), for the demo's `me` token. */
  readonly exampleSessionAnonymousId: string | null;
  /** The never-identified browser with the most page views, for the README's visitor queries. */
  readonly exampleAnonymousId: string | null;
  close(): Promise<void>;
}

/**
 * The embedded default: PGlite served over the wire protocol, seeded with the deterministic demo
 * shop and its event warehouse (schema `web`) as of now, and the HubSpot and Mailchimp stand-ins
 * serving the same people. Progress goes
 * to the logger, since a large DEMO_CUSTOMERS takes a while.
 */
export async function startDemo(options: { customers: number; seed: number; webHistoryDays: number; logger: Logger }): Promise<Demo> {
  const world: DemoWorld = { seed: options.seed, customers: options.customers, asOf: new Date() };
  const embedded = await startEmbeddedPostgres();
  const pool = new pg.Pool({ connectionString: embedded.url, max: 1 });
  const exampleEmail = exampleCustomer(world);
  let examples: Examples;
  try {
    await seedShop(pool, world, {
      onProgress: ({ customers, total }) => options.logger.info({ customers, total }, 'seeding the demo shop'),
    });
    await seedWarehouse(pool, world, {
      schema: 'web',
      historyDays: options.webHistoryDays,
      onProgress: ({ people, total, events }) => options.logger.info({ people, total, events }, 'seeding the demo event warehouse'),
    });
    examples = await exampleBrowsers(pool, String(personByEmail(world, exampleEmail)?.customerId ?? 1));
    // After seeding, so the seed itself notifies nobody.
    await pool.query(installTriggersSql());
  } finally {
    await pool.end();
  }
  const accessToken = `pat-demo-${randomBytes(12).toString('hex')}`;
  const apiKey = `${randomBytes(16).toString('hex')}-us1`;
  const hubspot = await startHubSpotStandIn({ world, accessToken });
  // The stand-in's search index, built in the background now rather than on the first audience
  // question (about 30 s for a 1,000,000-customer demo, a few milliseconds for the default).
  prepareSearchIndex(world).catch(() => undefined);
  const mailchimp = await startMailchimpStandIn({ world, apiKey, listId: 'demo' });
  return {
    world,
    db: embedded.db,
    databaseUrl: embedded.url,
    hubspot: { baseUrl: hubspot.url, accessToken, extraProperties: ['preferred_store', 'loyalty_tier'] },
    mailchimp: { baseUrl: mailchimp.url, apiKey, listId: 'demo' },
    exampleEmail,
    ...examples,
    async close() {
      await Promise.all([hubspot.close(), mailchimp.close()]);
      await embedded.close();
    },
  };
}

type Examples = Pick<Demo, 'exampleSessionAnonymousId' | 'exampleAnonymousId'>;

/** Browsers worth showing, read from the seeded warehouse (schema `web`). */
async function exampleBrowsers(pool: pg.Pool, customerId: string): Promise<Examples> {
  const session = await pool.query<{ anonymous_id: string }>(
    `SELECT anonymous_id FROM web.identifies WHERE user_id = $1 AND anonymous_id IS NOT NULL ORDER BY "timestamp" DESC LIMIT 1`,
    [customerId],
  );
  const anonymous = await pool.query<{ anonymous_id: string }>(
    `SELECT p.anonymous_id FROM web.pages p
      WHERE p.user_id IS NULL AND NOT EXISTS (SELECT 1 FROM web.identifies i WHERE i.anonymous_id = p.anonymous_id)
      GROUP BY p.anonymous_id ORDER BY count(*) DESC, p.anonymous_id LIMIT 1`,
  );
  return { exampleSessionAnonymousId: session.rows[0]?.anonymous_id ?? null, exampleAnonymousId: anonymous.rows[0]?.anonymous_id ?? null };
}

/** The first repeat buyer with an open cart; in a tiny world, whoever ordered most. */
function exampleCustomer(world: DemoWorld): string {
  let best = { email: personAt(world, 0).email, orders: -1 };
  for (let index = 0; index < Math.min(world.customers, 5000); index++) {
    const person = personAt(world, index);
    const orders = ordersOf(world, person).filter((o) => o.status === 'completed').length;
    if (orders >= 3 && cartsOf(world, person).length > 0 && person.crm && person.emailMarketing) return person.email;
    if (orders > best.orders) best = { email: person.email, orders };
  }
  return best.email;
}
