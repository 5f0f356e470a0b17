import { randomUUID } from 'node:crypto';
import { hubspotDeliveryHeaders } from '../../sandbox/hubspot/signing.ts';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { personAt, populationSize, type DemoWorld } from '../../sandbox/demo/people.ts';
import { progress } from './environment.ts';
import { post } from './harness.ts';
import type { ServerProcess } from './push-process.ts';

// Part 1 of bench/push.ts: change to notification. A graphql-ws subscriber holds
// `customerChanged(id)` for a few customers at a time; for each, one change is made through a
// real path and the time until the subscriber receives the re-resolved profile is taken.

export type LatencySource = 'shop' | 'hubspot' | 'web' | 'postgres';

/** What a source's change is, in the subscriber's `kinds`, and how the bench makes one. */
const KIND: Record<LatencySource, string> = { shop: 'order', hubspot: 'contact.propertyChange', web: 'track', postgres: 'order' };
const SUBSCRIPTION = 'subscription Changed($id: ID!) { customerChanged(id: $id) { sources kinds customer { commerce { purchases { orderCount } } } } }';
/** Subscriptions held at once: the default per-connection limit. */
const BATCH = 10;
/** After subscribing: the server checks each subscribe (as a query) before it listens; graphql-ws does not acknowledge a subscribe. */
const SUBSCRIBE_SETTLE_MS = 300;
/** A change not notified within this is counted as missed. */
const WAIT_MS = 10_000;

export interface LatencySettings {
  readonly changes: number;
  /** The server's HUBSPOT_CLIENT_SECRET and EVENT_INTAKE_SECRET. */
  readonly hubspotSecret: string;
  readonly intakeSecret: string;
  /** `postgres`: commits an order for the customer on the server's database; resolves with when COMMIT returned (performance.now()). */
  readonly commitOrder?: (customerId: string) => Promise<number>;
}

export interface LatencyResult {
  readonly source: LatencySource;
  /** Changes made, notifications received (within WAIT_MS), and of those whose profile showed the change (shop: orderCount one up). */
  readonly changes: number;
  readonly notified: number;
  readonly fresh: number | null;
  /** Change made to notification received, ms. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** The HTTP request that made the change (POST /demo/orders, /webhooks/hubspot, /intake/events) until it was answered, ms. */
  readonly requestP50: number;
  /** Events for the same customers with other kinds (another change of theirs), ignored. */
  readonly otherEvents: number;
}

interface Person {
  readonly customerId: string;
  readonly email: string;
  readonly contactId: string | null;
}

/** Distinct customers for each source (the shop's, a third each), those with a HubSpot contact for `hubspot`. */
export function peopleFor(world: DemoWorld, changes: number): Record<'shop' | 'hubspot' | 'web', Person[]> {
  const all: Person[] = [];
  for (let index = 0; index < populationSize(world); index++) {
    const person = personAt(world, index);
    if (person.customerId !== null) all.push({ customerId: String(person.customerId), email: person.email, contactId: person.crm?.contactId ?? null });
  }
  const hubspot = all.filter((person) => person.contactId !== null).slice(0, changes);
  const taken = new Set(hubspot.map((person) => person.customerId));
  const rest = all.filter((person) => !taken.has(person.customerId));
  const shop = rest.slice(0, changes);
  const web = rest.slice(changes, 2 * changes);
  if (hubspot.length < changes || web.length < changes) throw new Error(`expected ${changes} customers per source in the demo shop, got ${Math.min(hubspot.length, web.length)}`);
  return { shop, hubspot, web };
}

/**
 * Makes one change of `person` through the source's real path; resolves when the server answered,
 * with when the change was committed if that is later than the call (postgres: COMMIT returned).
 */
async function change(server: ServerProcess, source: LatencySource, person: Person, settings: LatencySettings): Promise<number | undefined> {
  let response: Response;
  if (source === 'postgres') return settings.commitOrder!(person.customerId);
  if (source === 'shop') {
    response = await fetch(`${server.url}/demo/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: person.email }) });
  } else if (source === 'hubspot') {
    const now = Date.now();
    const body = JSON.stringify([
      {
        eventId: now * 1000 + Math.floor(Math.random() * 1000),
        subscriptionId: 1,
        portalId: 1,
        appId: 1,
        occurredAt: now,
        subscriptionType: 'contact.propertyChange',
        attemptNumber: 0,
        objectId: Number(person.contactId),
        propertyName: 'lifecyclestage',
        propertyValue: 'customer',
        changeSource: 'CRM',
      },
    ]);
    const url = `${server.url}/webhooks/hubspot`;
    response = await fetch(url, { method: 'POST', headers: hubspotDeliveryHeaders(settings.hubspotSecret, url, body, now), body });
  } else {
    const body = JSON.stringify({
      type: 'track',
      event: 'Product Viewed',
      messageId: randomUUID(),
      userId: person.customerId,
      timestamp: new Date().toISOString(),
      properties: {},
    });
    response = await fetch(`${server.url}/intake/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${settings.intakeSecret}` },
      body,
    });
  }
  const text = await response.text();
  if (!response.ok) throw new Error(`${source}: expected the change to be taken, got HTTP ${response.status}: ${text.slice(0, 200)}`);
  if (source === 'web' && (JSON.parse(text) as { accepted: number }).accepted !== 1) throw new Error(`web: expected the event accepted, got ${text.slice(0, 200)}`);
  return undefined;
}

interface Notification {
  readonly at: number;
  readonly kinds: readonly string[];
  readonly orderCount: number | null;
}

const percentile = (sorted: readonly number[], p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);

/** Part 1 for one source: `settings.changes` sequential changes, each on a customer of its own. */
export async function measureLatency(server: ServerProcess, source: LatencySource, people: readonly Person[], settings: LatencySettings): Promise<LatencyResult> {
  const client: Client = createClient({ url: `${server.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
  const latencies: number[] = [];
  const requests: number[] = [];
  let fresh = 0;
  let otherEvents = 0;
  try {
    for (let start = 0; start < people.length; start += BATCH) {
      const batch = people.slice(start, start + BATCH);
      // The shop's figure checks the profile is re-read: orderCount one up from a cached read just before.
      const before = KIND[source] === 'order' ? await orderCounts(server, batch) : null;
      const waiting = new Map<string, (notification: Notification) => void>();
      const unsubscribes = batch.map((person) =>
        client.subscribe<{ customerChanged: { kinds: string[]; customer: { commerce: { purchases: { orderCount: number } | null } | null } | null } }>(
          { query: SUBSCRIPTION, variables: { id: person.customerId } },
          {
            next: ({ data }) => {
              const event = data?.customerChanged;
              if (!event) return;
              const notification = { at: performance.now(), kinds: event.kinds, orderCount: event.customer?.commerce?.purchases?.orderCount ?? null };
              if (!event.kinds.includes(KIND[source])) return void otherEvents++;
              waiting.get(person.customerId)?.(notification);
            },
            error: (error) => progress.line(`${source}: subscription for customer ${person.customerId} failed: ${JSON.stringify(error).slice(0, 300)}`),
            complete: () => undefined,
          },
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_SETTLE_MS));
      for (const [index, person] of batch.entries()) {
        const received = new Promise<Notification | null>((resolve) => {
          const timer = setTimeout(() => resolve(null), WAIT_MS);
          waiting.set(person.customerId, (notification) => {
            clearTimeout(timer);
            resolve(notification);
          });
        });
        const started = performance.now();
        const committed = await change(server, source, person, settings);
        requests.push(performance.now() - started);
        const notification = await received;
        waiting.delete(person.customerId);
        if (!notification) continue;
        latencies.push(notification.at - (committed ?? started));
        if (before && notification.orderCount === before[index]! + 1) fresh++;
      }
      for (const unsubscribe of unsubscribes) unsubscribe();
      progress.status(`latency, ${source}: ${Math.min(start + BATCH, people.length)} / ${people.length} changes`);
    }
  } finally {
    await client.dispose();
  }
  const sorted = latencies.sort((a, b) => a - b);
  return {
    source,
    changes: people.length,
    notified: sorted.length,
    fresh: KIND[source] === 'order' ? fresh : null,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    requestP50: percentile(
      requests.sort((a, b) => a - b),
      50,
    ),
    otherEvents,
  };
}

/** The customers' order counts now, through one query (which also puts them in the server's cache). */
async function orderCounts(server: ServerProcess, batch: readonly Person[]): Promise<number[]> {
  const query = `{ ${batch.map((person, i) => `c${i}: customer(id: "${person.customerId}") { commerce { purchases { orderCount } } }`).join(' ')} }`;
  const body = await post(`${server.url}/graphql`, query, {});
  return batch.map((_, i) => (body.data?.[`c${i}`] as { commerce: { purchases: { orderCount: number } } } | null)?.commerce?.purchases?.orderCount ?? Number.NaN);
}
