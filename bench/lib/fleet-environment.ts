import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { placeOrder, type PlacedOrder } from '../../sandbox/demo/place-order.ts';
import { mintApiKey } from '../../server/auth/api-keys.ts';
import { Scope } from '../../server/auth/scopes.ts';
import { API_KEY, LIST_ID } from './credentials.ts';
import type { FleetStandInCounts } from './fleet-standins.ts';
import { WorkerClient } from './workers.ts';

/** The fleet benchmark's stand-ins (fleet-standins.ts, in their worker), with HubSpot's real limit on. */
export class FleetStandIns {
  private constructor(
    private readonly worker: WorkerClient,
    readonly hubspotUrl: string,
    readonly mailchimpUrl: string,
    /** What the HubSpot stand-in enforces (its default). */
    readonly rateLimit: { max: number; intervalMs: number } | null,
    /** A token of this run's own: the servers' shared HubSpot quota is keyed by its hash, so no other run's count mixes in. */
    readonly accessToken: string,
  ) {}

  static async start(world: DemoWorld, latency: { hubspotMs: number; mailchimpMs: number }): Promise<FleetStandIns> {
    const worker = new WorkerClient(new URL('./fleet-standins.ts', import.meta.url));
    const accessToken = `pat-fleet-${randomBytes(12).toString('hex')}`;
    const started = await worker.call<{ hubspotUrl: string; mailchimpUrl: string; rateLimit: { max: number; intervalMs: number } | null }>('start', {
      world,
      accessToken,
      ...latency,
    });
    return new FleetStandIns(worker, started.hubspotUrl, started.mailchimpUrl, started.rateLimit, accessToken);
  }

  counts = () => this.worker.call<FleetStandInCounts>('counts');
  reset = () => this.worker.call<void>('reset');

  async close(): Promise<void> {
    await this.worker.call('close');
    await this.worker.close();
  }
}

/**
 * A replica's environment: only what the benchmark must set (the database, the stand-ins in place
 * of HubSpot and Mailchimp) plus `extra`; every other setting at its default.
 */
export function replicaEnv(databaseUrl: string, standIns: FleetStandIns, extra: Record<string, string> = {}): Record<string, string> {
  return {
    // As the image (Dockerfile) and compose.yaml run it: credentials required, no explorer.
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    HUBSPOT_ACCESS_TOKEN: standIns.accessToken,
    HUBSPOT_BASE_URL: standIns.hubspotUrl,
    MAILCHIMP_API_KEY: API_KEY,
    MAILCHIMP_LIST_ID: LIST_ID,
    MAILCHIMP_BASE_URL: standIns.mailchimpUrl,
    ...extra,
  };
}

/**
 * API keys for the fleet: `admin` (forgetCustomer, the invalidation) and `load` (the load
 * generator, with the personalization engine's scopes). The load key's cost budget is raised:
 * every request comes from one client here, and the throughput of the servers is measured, not
 * the per-client budget (1,000 cost per second by default), which a real deployment sizes per client.
 */
export function fleetKeys(): { env: string; admin: string; load: string } {
  const admin = mintApiKey('bench-admin', [Scope.Admin]);
  const load = mintApiKey('bench-load', [Scope.Traits, Scope.Pii]);
  const entries = [admin.entry, { ...load.entry, rateLimit: { costPerSecond: 1_000_000, burst: 1_000_000 } }];
  return { env: JSON.stringify(entries), admin: admin.key, load: load.key };
}

/** Places a completed order for the customer in the shop database (a change the replicas' caches have not seen). */
export async function placeOrderFor(databaseUrl: string, customerId: string): Promise<PlacedOrder | null> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await placeOrder(
      {
        async transaction(body) {
          await client.query('BEGIN');
          try {
            const result = await body({ query: async (text, values) => ({ rows: (await client.query(text, values)).rows }) });
            await client.query('COMMIT');
            return result;
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
        },
      },
      { customerId },
    );
  } finally {
    await client.end();
  }
}
