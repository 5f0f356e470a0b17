import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreams } from '../../cache/loaders.ts';
import { personAt, populationSize, type DemoWorld } from '../../sandbox/demo/people.ts';
import { crmNotConfigured } from '../../server/sources.ts';
import { createCommerceSource, type CommerceSource, type Queryable } from '../../sources/commerce/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import type { CustomerChange, SignalSource, TriggerEvent } from '../../push/signals.ts';
import { decodeState } from '../../push/trigger-state.ts';
import { createTriggerEvaluator, eventId, memoryTriggerStateStore, redisTriggerStateStore, TriggerStateError, type TriggerStateStore } from '../../push/triggers.ts';
import { createTestDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { TEST_FRESHNESS } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';
import { freePort } from '../../sandbox/ports.ts';

const NOW = TEST_AS_OF;
const DAY = 86_400_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const WORLD: DemoWorld = { seed: 360, customers: 200, asOf: NOW };
const people = Array.from({ length: populationSize(WORLD) }, (_, i) => personAt(WORLD, i));
const withStatus = (status: string) => people.filter((p) => p.emailMarketing?.status === status).map((p) => p.email);
/** Shop customer c's email: Mailchimp members of the stand-in's world, subscribed but for 39 and 40. */
const EMAILS = [...withStatus('subscribed').slice(0, 38), ...withStatus('unsubscribed').slice(0, 2)];
const emailOf = (customerId: string) => EMAILS[Number(customerId) - 1]!;

/**
 * A shop whose purchase models know churn: customers 1-20 bought weekly six times about a year ago
 * and stopped, 21-30 have bought every two weeks for ten months up to two days ago (so they are
 * alive, p about 0.9), 31-40 never ordered. No carts: each test makes the ones it needs.
 */
async function seedShop(db: TestDatabase): Promise<void> {
  await db.pool.query(await readFile(new URL('../../sources/commerce/schema.sql', import.meta.url), 'utf8'));
  await db.pool.query(`INSERT INTO products VALUES (1, 'SKU-1', 'Mug', 'Kitchen', 10.00, 'USD')`);
  for (let c = 1; c <= 40; c++) await db.pool.query(`INSERT INTO customers (id, email, signup_at) VALUES ($1, $2, $3)`, [c, emailOf(String(c)), ago(500 * DAY)]);
  for (let c = 1; c <= 20; c++) for (let n = 0; n < 6; n++) await addOrder(db, c, ago((400 - 7 * n - c) * DAY));
  for (let c = 21; c <= 30; c++) for (let d = 300 - c; d >= 2; d -= 14) await addOrder(db, c, ago(d * DAY), 40 + c);
}

let nextOrder = 1;
async function addOrder(target: TestDatabase, customer: number, placedAt: Date, amount = 50): Promise<void> {
  await target.pool.query(`INSERT INTO orders VALUES ($1, $2, $3, 'completed', $4, 'USD')`, [nextOrder++, customer, placedAt, amount]);
}

let db: TestDatabase;
let standIns: StandIns;
let commerce: CommerceSource;
const statements: string[] = [];
/** While set, every shop statement fails as a refused connection does. */
let shopDown = false;
const shop: Queryable = {
  query: (text, values) => {
    statements.push(text);
    if (shopDown) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    return db.pool.query(text, values);
  },
};

beforeAll(async () => {
  [db, standIns] = await Promise.all([createTestDatabase(), startStandIns(WORLD)]);
  await seedShop(db);
  commerce = createCommerceSource(shop, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 3600_000, now: () => NOW });
  // Computed once here, as start-up does, so evaluations only read them.
  await Promise.all([commerce.rfm.ensure(), commerce.clv.ensure()]);
});
afterAll(async () => {
  await Promise.all([db?.close(), standIns?.close()]);
});
afterEach(() => {
  shopDown = false;
  standIns.mailchimp.knobs.force500 = 0;
});

/** Log lines as objects, to assert on what was logged (and what was not). */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) };
}

/** An evaluator over fresh upstreams (their own breakers) without a cache: every read is live, as after the hub's eviction. */
function evaluatorOver(store: TriggerStateStore, options: { lapseThreshold?: number; logger?: pino.Logger } = {}) {
  const logger = options.logger ?? pino({ level: 'silent' });
  const upstreams = createUpstreams(
    { commerce, crm: crmNotConfigured(), email: standIns.sources().email, web: createWebSource(shop, { schema: 'web' }) },
    { store: null, freshness: TEST_FRESHNESS, guard: { breakerFailures: 50, breakerCooldownMs: 10_000, maxConcurrent: 64, queue: 1000 }, logger },
  );
  return createTriggerEvaluator({ upstreams, store, logger, now: () => NOW, ...(options.lapseThreshold !== undefined && { lapseThreshold: options.lapseThreshold }) });
}

const memoryStore = () => memoryTriggerStateStore({ maxCustomers: 1000, ttlMs: 30 * DAY });

let signals = 0;
/** A change as the hub hands it over, with signal ids of its own. */
function change(customerId: string, kinds: readonly string[], sources: readonly SignalSource[] = ['commerce', 'email']): CustomerChange {
  return { customerId, sources, kinds, signalIds: kinds.map((kind) => `test:${kind}:${++signals}`), receivedAt: Date.now() };
}

const fired = (events: readonly TriggerEvent[]) => events.map((event) => (event.segment ? `${event.trigger} ${event.segment}` : event.trigger));

async function storedState(store: TriggerStateStore, customerId: string) {
  const raw = await store.get(customerId);
  return raw === null ? null : decodeState(raw);
}

async function addCart(customerId: number, updatedAt: Date): Promise<number> {
  const id = customerId * 100 + nextOrder++;
  await db.pool.query(`INSERT INTO carts VALUES ($1, $2, $3, $3, 'open')`, [id, customerId, updatedAt]);
  await db.pool.query(`INSERT INTO cart_items VALUES ($1, 1, 1, 10.00, $2)`, [id, updatedAt]);
  return id;
}

describe('a first sighting', () => {
  it('records a baseline of every part and fires nothing, whatever the person looks like', async () => {
    const store = memoryStore();
    await addCart(31, ago(2 * 3600_000));
    const evaluator = evaluatorOver(store);
    expect(await evaluator.evaluate(change('21', ['order']))).toEqual([]);
    expect(await evaluator.evaluate(change('31', ['cart']))).toEqual([]);
    expect(await evaluator.evaluate(change('39', ['customer']))).toEqual([]);
    expect(await storedState(store, '21')).toEqual({ segment: 'LOYAL', cart: null, pAlive: expect.closeTo(0.87, 2), email: 'subscribed' });
    expect(await storedState(store, '31')).toEqual({ segment: null, cart: expect.any(String), pAlive: null, email: 'subscribed' });
    expect(await storedState(store, '39')).toEqual({ segment: null, cart: null, pAlive: null, email: 'unsubscribed' });
  });

  it('fires when the change itself says a cart was abandoned or a member unsubscribed', async () => {
    const evaluator = evaluatorOver(memoryStore());
    await addCart(32, ago(3 * 3600_000));
    expect(fired(await evaluator.evaluate(change('32', ['cart.abandoned'])))).toEqual(['CART_ABANDONED']);
    expect(fired(await evaluator.evaluate(change('40', ['unsubscribe'], ['email'])))).toEqual(['UNSUBSCRIBED']);
  });

  it('does not fire for an RFM segment it never saw the person outside of', async () => {
    await addOrder(db, 33, ago(DAY));
    expect(await evaluatorOver(memoryStore()).evaluate(change('33', ['order']))).toEqual([]);
  });
});

describe('transitions', () => {
  it('fires RFM_SEGMENT_LEFT and RFM_SEGMENT_ENTERED when orders move a customer, once', async () => {
    const evaluator = evaluatorOver(memoryStore());
    await evaluator.evaluate(change('1', ['customer']));
    for (let n = 1; n <= 8; n++) await addOrder(db, 1, ago(n * DAY), 400);
    const events = await evaluator.evaluate(change('1', ['order']));
    expect(fired(events)).toEqual(['RFM_SEGMENT_LEFT LOST', 'RFM_SEGMENT_ENTERED CHAMPIONS']);
    expect(events[1]).toEqual({
      id: expect.stringMatching(/^trg_[0-9a-f]{32}$/),
      trigger: 'RFM_SEGMENT_ENTERED',
      customerId: '1',
      segment: 'CHAMPIONS',
      at: NOW.toISOString(),
      receivedAt: expect.any(Number),
    });
    expect(await evaluator.evaluate(change('1', ['order']))).toEqual([]);
  });

  it('enters a segment without leaving one on a first order', async () => {
    const evaluator = evaluatorOver(memoryStore());
    await evaluator.evaluate(change('34', ['customer']));
    await addOrder(db, 34, ago(3600_000));
    expect(fired(await evaluator.evaluate(change('34', ['order'])))).toEqual(['RFM_SEGMENT_ENTERED NEW']);
  });

  it('fires CART_ABANDONED when a cart is left untouched past the threshold, once', async () => {
    const evaluator = evaluatorOver(memoryStore());
    const cart = await addCart(35, ago(10 * 60_000));
    expect(await evaluator.evaluate(change('35', ['cart']))).toEqual([]);
    await db.pool.query(`UPDATE carts SET updated_at = $2 WHERE id = $1`, [cart, ago(2 * 3600_000)]);
    expect(fired(await evaluator.evaluate(change('35', ['cart'])))).toEqual(['CART_ABANDONED']);
    expect(await evaluator.evaluate(change('35', ['cart', 'cart.abandoned']))).toEqual([]);
  });

  it('fires CART_RECOVERED when an order follows an abandoned cart, also one touched again first', async () => {
    const store = memoryStore();
    const evaluator = evaluatorOver(store);
    await addCart(36, ago(5 * 3600_000));
    await evaluator.evaluate(change('36', ['customer']));
    await addOrder(db, 36, ago(60_000));
    const events = fired(await evaluator.evaluate(change('36', ['order'])));
    expect(events).toContain('CART_RECOVERED');
    expect(events).not.toContain('CART_ABANDONED');
    expect(await evaluator.evaluate(change('36', ['order']))).toEqual([]);

    const cart = await addCart(37, ago(5 * 3600_000));
    await evaluator.evaluate(change('37', ['customer']));
    await db.pool.query(`UPDATE carts SET updated_at = $2 WHERE id = $1`, [cart, ago(5 * 60_000)]);
    expect(await evaluator.evaluate(change('37', ['cart']))).toEqual([]);
    expect(await storedState(store, '37')).toMatchObject({ cart: String(cart) });
    await addOrder(db, 37, ago(60_000));
    expect(fired(await evaluator.evaluate(change('37', ['order'])))).toContain('CART_RECOVERED');
  });

  it('fires no CART_RECOVERED for an abandoned cart deleted without an order', async () => {
    const evaluator = evaluatorOver(memoryStore());
    const cart = await addCart(38, ago(5 * 3600_000));
    await evaluator.evaluate(change('38', ['customer']));
    await db.pool.query(`DELETE FROM cart_items WHERE cart_id = $1`, [cart]);
    await db.pool.query(`DELETE FROM carts WHERE id = $1`, [cart]);
    expect(await evaluator.evaluate(change('38', ['cart']))).toEqual([]);
  });

  it('fires LIKELY_TO_LAPSE when the probability of being alive crosses below the threshold, once', async () => {
    const evaluator = evaluatorOver(memoryStore());
    await evaluator.evaluate(change('22', ['customer']));
    // Refunds leave the last completed order five months back: for a fortnightly buyer, likely gone.
    await db.pool.query(`UPDATE orders SET status = 'refunded' WHERE customer_id = 22 AND placed_at > $1`, [ago(150 * DAY)]);
    expect(fired(await evaluator.evaluate(change('22', ['order'])))).toContain('LIKELY_TO_LAPSE');
    expect(fired(await evaluator.evaluate(change('22', ['order'])))).not.toContain('LIKELY_TO_LAPSE');
  });

  it('takes the lapse threshold from its setting', async () => {
    const strict = evaluatorOver(memoryStore(), { lapseThreshold: 0.8 });
    const lenient = evaluatorOver(memoryStore(), { lapseThreshold: 0.5 });
    await Promise.all([strict.evaluate(change('23', ['customer'])), lenient.evaluate(change('23', ['customer']))]);
    // The last completed order of 23 moves back from 11 to 25 days: p falls from about 0.89 to 0.7.
    await db.pool.query(`UPDATE orders SET status = 'refunded' WHERE customer_id = 23 AND placed_at > $1`, [ago(20 * DAY)]);
    const order = change('23', ['order']);
    expect(fired(await strict.evaluate(order))).toContain('LIKELY_TO_LAPSE');
    expect(fired(await lenient.evaluate(order))).not.toContain('LIKELY_TO_LAPSE');
  });

  it('fires UNSUBSCRIBED when Mailchimp says the member unsubscribed, once', async () => {
    const evaluator = evaluatorOver(memoryStore());
    await evaluator.evaluate(change('24', ['customer']));
    standIns.mailchimp.setMemberStatus(emailOf('24'), 'unsubscribed');
    expect(fired(await evaluator.evaluate(change('24', ['unsubscribe'], ['email'])))).toEqual(['UNSUBSCRIBED']);
    expect(await evaluator.evaluate(change('24', ['unsubscribe'], ['email']))).toEqual([]);
  });

  it('reads only the changed sources once a baseline exists', async () => {
    const evaluator = evaluatorOver(memoryStore());
    await evaluator.evaluate(change('25', ['customer']));
    statements.length = 0;
    standIns.mailchimp.resetStats();
    await evaluator.evaluate(change('25', ['contact.propertyChange'], ['crm']));
    expect(statements).toEqual([]);
    expect(standIns.mailchimp.stats.requests).toBe(0);
    await evaluator.evaluate(change('25', ['unsubscribe'], ['email']));
    // The customer's record (for their email), and no purchase, cart or history read.
    expect(statements).toHaveLength(1);
    expect(standIns.mailchimp.stats.byEndpoint.member).toBe(1);
  });

  it('reads a burst of changes in one statement per family', async () => {
    const evaluator = evaluatorOver(memoryStore());
    statements.length = 0;
    standIns.mailchimp.resetStats();
    const ids = ['2', '3', '4', '5', '6'];
    await Promise.all(ids.map((id) => evaluator.evaluate(change(id, ['order']))));
    // The customers, their purchase stats (RFM), carts and purchase histories (CLV).
    expect(statements).toHaveLength(4);
    expect(standIns.mailchimp.stats.byEndpoint.member).toBe(ids.length);
  });
});

describe('event ids', () => {
  it('gives a retried evaluation of a change the ids of the first, and another change other ids', async () => {
    const [first, retry, other] = [memoryStore(), memoryStore(), memoryStore()];
    await Promise.all([first, retry, other].map((store) => evaluatorOver(store).evaluate(change('26', ['customer']))));
    standIns.mailchimp.setMemberStatus(emailOf('26'), 'unsubscribed');
    const unsubscribe = { ...change('26', ['unsubscribe', 'contact.propertyChange'], ['email', 'crm']) };
    const [a] = await evaluatorOver(first).evaluate(unsubscribe);
    const [b] = await evaluatorOver(retry).evaluate({ ...unsubscribe, signalIds: [...unsubscribe.signalIds].reverse() });
    const [c] = await evaluatorOver(other).evaluate(change('26', ['unsubscribe'], ['email']));
    expect(a!.id).toBe(b!.id);
    expect(c!.id).not.toBe(a!.id);
    expect(eventId('CART_ABANDONED', unsubscribe)).not.toBe(a!.id);
  });
});

describe('when a source fails', () => {
  it('leaves the failed part as it was, evaluates the rest, and fires the transition once the source is back', async () => {
    const store = memoryStore();
    await evaluatorOver(store).evaluate(change('27', ['customer']));
    standIns.mailchimp.setMemberStatus(emailOf('27'), 'unsubscribed');
    await addCart(27, ago(2 * 3600_000));
    standIns.mailchimp.knobs.force500 = 'always';
    const { lines, logger } = recordingLogger();
    expect(fired(await evaluatorOver(store, { logger }).evaluate(change('27', ['cart', 'unsubscribe'])))).toEqual(['CART_ABANDONED']);
    expect(await storedState(store, '27')).toMatchObject({ email: 'subscribed', cart: expect.any(String) });
    expect(lines).toContainEqual(expect.objectContaining({ customerId: '27', part: 'email', source: 'email', msg: 'trigger part not read, kept as it was' }));
    expect(JSON.stringify(lines)).not.toContain(emailOf('27'));

    standIns.mailchimp.knobs.force500 = 0;
    expect(fired(await evaluatorOver(store).evaluate(change('27', ['customer'])))).toEqual(['UNSUBSCRIBED']);
  });

  it('fires nothing and stores nothing new while the shop database is down', async () => {
    const store = memoryStore();
    await evaluatorOver(store).evaluate(change('28', ['customer']));
    const before = await store.get('28');
    await addCart(28, ago(2 * 3600_000));
    standIns.mailchimp.setMemberStatus(emailOf('28'), 'unsubscribed');
    shopDown = true;
    expect(await evaluatorOver(store).evaluate(change('28', ['cart', 'unsubscribe']))).toEqual([]);
    expect(await store.get('28')).toBe(before);
    shopDown = false;
    expect(fired(await evaluatorOver(store).evaluate(change('28', ['cart'])))).toEqual(['CART_ABANDONED', 'UNSUBSCRIBED']);
  });

  it('takes an unreadable stored state as none, with a warning', async () => {
    const store = memoryStore();
    await store.compareAndSet('29', null, '{"segment": 42}');
    const { lines, logger } = recordingLogger();
    expect(await evaluatorOver(store, { logger }).evaluate(change('29', ['unsubscribe']))).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, customerId: '29', msg: 'trigger state unreadable, taken as none' }));
    expect(await storedState(store, '29')).toMatchObject({ segment: 'CHAMPIONS' });
  });

  it('rejects with a TriggerStateError, and crashes nothing, when Redis is unreachable', async () => {
    const redis = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    const evaluator = evaluatorOver(redisTriggerStateStore({ redis, keyPrefix: 'test:unreachable:', ttlMs: 30 * DAY }));
    const failure = await evaluator.evaluate(change('30', ['order'])).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TriggerStateError);
    expect(failure).toMatchObject({ message: 'trigger state: Redis could not read a state' });
    redis.disconnect();
  });
});

describe('settings', () => {
  it('refuses a lapse threshold or a store bound out of range, saying what it expected', () => {
    expect(() => evaluatorOver(memoryStore(), { lapseThreshold: 1.5 })).toThrow('expected lapseThreshold above 0 and at most 1, got 1.5');
    expect(() => evaluatorOver(memoryStore(), { lapseThreshold: 0 })).toThrow('expected lapseThreshold above 0 and at most 1, got 0');
    expect(() => memoryTriggerStateStore({ maxCustomers: 0, ttlMs: DAY })).toThrow('expected maxCustomers to be a positive integer, got 0');
  });
});

describe.skipIf(!process.env.REDIS_URL)('triggers shared through Redis', () => {
  const keyPrefix = `test:triggers:${process.pid}:${Date.now()}:`;
  const clients: Redis[] = [];
  const client = () => {
    const redis = new Redis(process.env.REDIS_URL!, { enableOfflineQueue: true, maxRetriesPerRequest: 1, commandTimeout: 2000 });
    clients.push(redis);
    return redis;
  };
  afterAll(async () => {
    const redis = client();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('keeps one expiring key per customer, so a second replica compares against the first one’s state', async () => {
    const redis = client();
    const replicaA = evaluatorOver(redisTriggerStateStore({ redis, keyPrefix, ttlMs: 30 * DAY }));
    const replicaB = evaluatorOver(redisTriggerStateStore({ redis: client(), keyPrefix, ttlMs: 30 * DAY }));
    await replicaA.evaluate(change('11', ['customer']));
    const ttl = await redis.pttl(`${keyPrefix}11`);
    expect(ttl).toBeGreaterThan(29 * DAY);
    expect(ttl).toBeLessThanOrEqual(30 * DAY);
    await addCart(11, ago(2 * 3600_000));
    expect(fired(await replicaB.evaluate(change('11', ['cart'])))).toEqual(['CART_ABANDONED']);
  });

  it('fires a transition once when two replicas evaluate the same change at the same time', async () => {
    const stores = [redisTriggerStateStore({ redis: client(), keyPrefix, ttlMs: 30 * DAY }), redisTriggerStateStore({ redis: client(), keyPrefix, ttlMs: 30 * DAY })];
    await evaluatorOver(stores[0]!).evaluate(change('12', ['customer']));
    await addCart(12, ago(2 * 3600_000));
    // Both read the old state before either stores the new one: the race, made certain.
    let reads = 0;
    let bothRead: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    let conflicts = 0;
    const racing = stores.map((store): TriggerStateStore => ({
      get: async (customerId) => {
        const raw = await store.get(customerId);
        if (++reads === 2) bothRead();
        if (reads <= 2) await barrier;
        return raw;
      },
      compareAndSet: async (...args) => {
        const stored = await store.compareAndSet(...args);
        if (!stored) conflicts++;
        return stored;
      },
      delete: (customerId) => store.delete(customerId),
    }));
    const cart = change('12', ['cart']);
    const results = await Promise.all(racing.map((store) => evaluatorOver(store).evaluate(cart)));
    expect(fired(results.flat())).toEqual(['CART_ABANDONED']);
    expect(conflicts).toBe(1);
  });
});
