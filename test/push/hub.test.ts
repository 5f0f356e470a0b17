import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Invalidator } from '../../cache/invalidation.ts';
import { createUpstreams, type Upstreams } from '../../cache/loaders.ts';
import { MemoryStore } from '../../cache/store.ts';
import { PushHub, type HubOptions } from '../../push/hub.ts';
import type { CustomerChange, Signal, TriggerEvent } from '../../push/signals.ts';
import { contactIdOf, personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createCommerceSource } from '../../sources/commerce/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { TEST_FRESHNESS } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

const world: DemoWorld = { seed: 14, customers: 40, asOf: TEST_AS_OF };
const logger = pino({ level: 'silent' });
let db: TestDatabase;
let standIns: StandIns;
let upstreams: Upstreams;
let statements: string[];

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
  statements = [];
  const counting = { query: (text: string, values?: unknown[]) => (statements.push(text), db.pool.query(text, values)) };
  upstreams = createUpstreams(
    {
      commerce: createCommerceSource(counting, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000, now: () => TEST_AS_OF }),
      ...standIns.sources(),
      web: createWebSource(counting, { schema: 'web', now: () => TEST_AS_OF }),
    },
    {
      store: new MemoryStore({ maxEntries: 10_000, maxBytes: 10_000_000 }),
      freshness: TEST_FRESHNESS,
      guard: { breakerFailures: 5, breakerCooldownMs: 10_000, maxConcurrent: 64, queue: 1000 },
      logger,
    },
  );
});
afterAll(async () => {
  await standIns?.close();
  await db?.close();
});

let sequence = 0;
const signal = (subject: Signal['subject'], extra: Partial<Signal> = {}): Signal => ({
  id: `test:${sequence++}`,
  source: 'commerce',
  kind: 'order',
  subject,
  receivedAt: Date.now(),
  ...extra,
});

function hub(options: Partial<HubOptions> = {}): PushHub {
  return new PushHub({ upstreams, invalidator: new Invalidator(upstreams, logger), logger, coalesceMs: 5, ...options });
}

/** A customer of the demo world with a CRM contact and a linked browser. */
function customerIndex(): number {
  for (let index = 0; index < world.customers; index++) {
    const person = personAt(world, index);
    if (person.customerId && person.crm) return index;
  }
  throw new Error('no customer with a CRM contact in the demo world');
}

describe('the push hub', () => {
  it('resolves each kind of subject to the shop customer and tells that customer’s listeners once', async () => {
    const index = customerIndex();
    const person = personAt(world, index);
    const customerId = String(person.customerId);
    const feed = hub();
    const mine: CustomerChange[] = [];
    const all: CustomerChange[] = [];
    feed.onChange(customerId, (change) => mine.push(change));
    feed.onChange(null, (change) => all.push(change));

    feed.emit(signal({ customerId }));
    feed.emit(signal({ email: person.email.toUpperCase() }, { source: 'email', kind: 'unsubscribe' }));
    feed.emit(signal({ contactId: contactIdOf(index) }, { source: 'crm', kind: 'contact.propertyChange' }));
    await feed.settled();

    // Three signals gathered into one change, naming every source and kind.
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ customerId, sources: ['commerce', 'email', 'crm'], kinds: ['order', 'unsubscribe', 'contact.propertyChange'] });
    expect(mine[0]!.signalIds).toHaveLength(3);
    expect(all).toEqual(mine);
    await feed.stop();
  });

  it('drops a signal it has seen and one about nobody', async () => {
    const changes: CustomerChange[] = [];
    const outcomes: string[] = [];
    const counted = hub({ onSignal: (_source, outcome) => outcomes.push(outcome) });
    counted.onChange(null, (change) => changes.push(change));
    const once = signal({ customerId: '1' });
    counted.emit(once);
    counted.emit(once);
    counted.emit(signal({ anonymousId: 'never-seen-browser' }, { source: 'web', kind: 'page' }));
    counted.emit(signal({ email: 'nobody@example.invalid' }, { source: 'email', kind: 'subscribe' }));
    counted.emit(signal({ customerId: 'not-a-number' }));
    await counted.settled();
    expect(changes.map((change) => change.customerId)).toEqual(['1']);
    expect(outcomes.sort()).toEqual(['changed', 'duplicate', 'unresolved', 'unresolved', 'unresolved']);
    await counted.stop();
  });

  it('resolves a batch of signals in one statement per family', async () => {
    const feed = hub();
    const changes: CustomerChange[] = [];
    feed.onChange(null, (change) => changes.push(change));
    statements.length = 0;
    for (let id = 1; id <= 20; id++) feed.emit(signal({ customerId: String(id) }));
    await feed.settled();
    expect(changes).toHaveLength(20);
    // The customers by id: one statement for twenty signals.
    expect(statements.filter((text) => /FROM customers/i.test(text))).toHaveLength(1);
    await feed.stop();
  });

  it('evicts what the cache holds about the person before telling anyone', async () => {
    const store = upstreams.store!;
    const key = 'commerce:purchases:3';
    await store.setMany([{ key, entry: { value: { cached: true }, storedAt: Date.now() }, retainMs: 60_000 }]);
    const feed = hub();
    let seenInCache: unknown = 'not called';
    feed.onChange('3', () => void store.getMany([key]).then(([entry]) => (seenInCache = entry ?? null)));
    feed.emit(signal({ customerId: '3' }));
    await feed.settled();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seenInCache).toBeNull();
    await feed.stop();
  });

  it('evaluates triggers and tells trigger listeners; a failing evaluator loses nothing else', async () => {
    const events: TriggerEvent[] = [];
    const evaluated: string[] = [];
    const feed = hub({
      evaluator: {
        evaluate: async (change) => {
          evaluated.push(change.customerId);
          if (change.customerId === '2') throw new Error('trigger store down');
          return [{ id: `t:${change.customerId}`, trigger: 'CART_ABANDONED', customerId: change.customerId, at: new Date().toISOString(), receivedAt: change.receivedAt }];
        },
      },
    });
    feed.onTrigger((event) => events.push(event));
    feed.emit(signal({ customerId: '1' }));
    feed.emit(signal({ customerId: '2' }));
    await feed.settled();
    expect(evaluated.sort()).toEqual(['1', '2']);
    expect(events.map((event) => event.customerId)).toEqual(['1']);
    await feed.stop();
  });
});

describe.skipIf(!process.env.REDIS_URL)('the push hub across replicas (Redis)', () => {
  const keyPrefix = `c360-test-${randomBytes(4).toString('hex')}:`;
  afterAll(async () => {
    const redis = new Redis(process.env.REDIS_URL!);
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('a signal one replica receives reaches the other’s listeners; one both receive is told once each and evaluated once', async () => {
    const evaluations: string[] = [];
    const evaluator = {
      evaluate: async (change: CustomerChange): Promise<TriggerEvent[]> => {
        evaluations.push(change.customerId);
        return [{ id: `t:${change.signalIds.join()}`, trigger: 'UNSUBSCRIBED', customerId: change.customerId, at: new Date().toISOString(), receivedAt: change.receivedAt }];
      },
    };
    const [a, b] = [hub({ redis: { url: process.env.REDIS_URL!, keyPrefix }, evaluator }), hub({ redis: { url: process.env.REDIS_URL!, keyPrefix }, evaluator })];
    await Promise.all([a.start(), b.start()]);
    // The subscriber connection subscribes on 'ready': give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const seenByB: CustomerChange[] = [];
    const triggersByA: TriggerEvent[] = [];
    const triggersByB: TriggerEvent[] = [];
    b.onChange('4', (change) => seenByB.push(change));
    a.onTrigger((event) => triggersByA.push(event));
    b.onTrigger((event) => triggersByB.push(event));

    // Only A receives it (a webhook): B's listeners hear of it through Redis.
    a.emit(signal({ customerId: '4' }, { id: 'only-a' }));
    await a.settled();
    await expect.poll(() => seenByB.length).toBe(1);
    await expect.poll(() => triggersByB.length).toBe(1);

    // Both receive it (a NOTIFY reaches every replica): each tells its listeners once, one evaluates.
    const both = signal({ customerId: '4' }, { id: 'both' });
    a.emit(both);
    b.emit(both);
    await Promise.all([a.settled(), b.settled()]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seenByB.map((change) => change.signalIds)).toEqual([['only-a'], ['both']]);
    expect(evaluations).toEqual(['4', '4']);
    expect(triggersByA).toHaveLength(2);
    expect(triggersByB).toHaveLength(2);
    await Promise.all([a.stop(), b.stop()]);
  });
});
