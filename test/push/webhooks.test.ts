import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryOutcome } from '../../push/webhooks/index.ts';
import { RedisQueue } from '../../push/webhooks/queue.ts';
import { webhookIdOf } from '../../push/webhooks/signing.ts';
import type { ChangeFeed, TriggerEvent, TriggerName } from '../../push/signals.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server.ts';
import { key, testSecurity } from '../auth/helpers.ts';

const world: DemoWorld = { seed: 1414, customers: 30, asOf: TEST_AS_OF };
const customerId = String(personAt(world, 0).customerId);
const REDIS_URL = process.env.REDIS_URL;
const SELECTION = '{ id commerce { rfm { segment } purchases { orderCount } } }';

let db: TestDatabase;
beforeAll(async () => {
  db = await createDemoDatabase(world);
});
afterAll(async () => {
  await db?.close();
});

/** Everything a test opened, closed after it whatever happened. */
const opened: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

/** The push hub as a replica sees it: every trigger event, fired by the test. */
class TestFeed implements ChangeFeed {
  private readonly listeners = new Set<(event: TriggerEvent) => void>();
  onChange(): () => void {
    return () => undefined;
  }
  onTrigger(listener: (event: TriggerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  fire(event: TriggerEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

const event = (trigger: TriggerName = 'CART_ABANDONED', customer = customerId): TriggerEvent => ({
  id: `test:${randomUUID()}`,
  trigger,
  customerId: customer,
  at: new Date().toISOString(),
  receivedAt: Date.now(),
});

interface Received {
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly at: number;
}
type Answer = { status: number; headers?: Record<string, string> };

/** A webhook receiver on a free port: answers each request by its number (0-based), and keeps them all. */
async function receiver(answer: (n: number) => Answer = () => ({ status: 200 })): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type'].map((name) => [name, String(req.headers[name])]));
      const reply = answer(received.length);
      received.push({ headers, body: Buffer.concat(chunks).toString(), at: Date.now() });
      res.writeHead(reply.status, reply.headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

type Mode = 'memory' | 'redis';
type Outgoing = NonNullable<TestServerOptions['outgoingWebhooks']>;

/** A Redis namespace of this test's own, deleted after it. */
function redisPrefix(): string {
  const prefix = `c360test:${randomBytes(6).toString('hex')}:`;
  opened.push(async () => {
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return prefix;
}

/** A replica: the real server with outgoing webhooks from `feed`, retrying fast, its outcomes kept. */
async function replica(feed: TestFeed, outgoing: Partial<Outgoing> = {}, options: Partial<TestServerOptions> = {}): Promise<TestServer & { outcomes: DeliveryOutcome[] }> {
  const outcomes: DeliveryOutcome[] = [];
  const server = await startTestServer(
    db,
    {},
    {
      security: testSecurity(),
      outgoingWebhooks: { feed, retryScheduleMs: [30, 60], pollMs: 20, attemptTimeoutMs: 2000, claimIdleMs: 3000, onDelivery: (outcome) => outcomes.push(outcome), ...outgoing },
      ...options,
    },
  );
  opened.push(() => server.close());
  return Object.assign(server, { outcomes });
}

const REGISTER = `mutation($input: RegisterWebhookEndpointInput!) {
  registerWebhookEndpoint(input: $input) { secret endpoint { id url triggers selection scopes description disabledAt } }
}`;

async function register(server: TestServer, input: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const response = await server.query(REGISTER, { input: { triggers: ['CART_ABANDONED'], selection: SELECTION, ...input } }, key('admin'));
  expect(response.body.errors).toBeUndefined();
  const { secret, endpoint } = response.body.data.registerWebhookEndpoint;
  return { id: endpoint.id, secret };
}

/** Polls `check` every 10 ms until it holds; fails after `withinMs`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${withinMs} ms`);
    await sleep(10);
  }
}

const MODES: Array<[Mode, boolean]> = [
  ['memory', true],
  ['redis', Boolean(REDIS_URL)],
];

describe.each(MODES)('outgoing webhooks (%s queue)', (mode, available) => {
  const start = (feed: TestFeed, outgoing: Partial<Outgoing> = {}) =>
    replica(feed, { ...(mode === 'redis' && { redis: { url: REDIS_URL!, keyPrefix: redisPrefix() } }), ...outgoing });

  it.runIf(available)('POSTs the selection resolved for the event’s customer, signed so that standardwebhooks verifies it, to the endpoints of that trigger only', async () => {
    const feed = new TestFeed();
    const server = await start(feed);
    const [carts, unsubscribes] = await Promise.all([receiver(), receiver()]);
    const cartEndpoint = await register(server, { url: carts.url });
    const unsubscribeEndpoint = await register(server, { url: unsubscribes.url, triggers: ['UNSUBSCRIBED'] });

    const fired = event('CART_ABANDONED');
    feed.fire(fired);
    await eventually('the cart delivery', () => carts.received.length === 1);
    feed.fire(event('UNSUBSCRIBED'));
    await eventually('the unsubscribe delivery', () => unsubscribes.received.length === 1);

    expect(carts.received).toHaveLength(1);
    const [delivery] = carts.received;
    const payload = new Webhook(cartEndpoint.secret).verify(delivery!.body, delivery!.headers);
    const asQueried = await server.query(`{ customer(id: "${customerId}") ${SELECTION} }`, {}, key('personalization'));
    expect(payload).toEqual({ type: 'CART_ABANDONED', id: fired.id, customerId, at: fired.at, data: asQueried.body.data.customer });
    expect(delivery!.headers['webhook-id']).toBe(webhookIdOf(fired.id, cartEndpoint.id));
    expect(delivery!.headers['content-type']).toBe('application/json');
    expect(() => new Webhook(unsubscribeEndpoint.secret).verify(delivery!.body, delivery!.headers)).toThrow();
    expect(server.outcomes.map((outcome) => [outcome.result, outcome.status, outcome.attempt])).toEqual([
      ['delivered', 200, 1],
      ['delivered', 200, 1],
    ]);
  });

  it.runIf(available)('retries after 500s with the schedule’s backoff and the same webhook-id, then stops at the 2xx', async () => {
    const feed = new TestFeed();
    const server = await start(feed, { retryScheduleMs: [50, 150, 5000] });
    const hook = await receiver((n) => ({ status: n < 2 ? 500 : 200 }));
    await register(server, { url: hook.url });

    feed.fire(event());
    await eventually('three attempts', () => server.outcomes.length === 3);

    expect(server.outcomes.map((outcome) => [outcome.result, outcome.status, outcome.attempt])).toEqual([
      ['retrying', 500, 1],
      ['retrying', 500, 2],
      ['delivered', 200, 3],
    ]);
    expect(new Set(hook.received.map((delivery) => delivery.headers['webhook-id'])).size).toBe(1);
    const [first, second, third] = hook.received.map((delivery) => delivery.at);
    expect(second! - first!).toBeGreaterThanOrEqual(50);
    expect(third! - second!).toBeGreaterThanOrEqual(150);
  });

  it.runIf(available)('waits as long as Retry-After says when it is longer than the schedule’s step', async () => {
    const feed = new TestFeed();
    const server = await start(feed, { retryScheduleMs: [20, 20] });
    const hook = await receiver((n) => (n === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }));
    await register(server, { url: hook.url });

    feed.fire(event());
    await eventually('the second attempt', () => server.outcomes.length === 2);

    expect(server.outcomes.map((outcome) => outcome.result)).toEqual(['retrying', 'delivered']);
    expect(hook.received[1]!.at - hook.received[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it.runIf(available)('turns an endpoint off when it answers 410 Gone, and sends it nothing more', async () => {
    const feed = new TestFeed();
    const server = await start(feed);
    const [gone, witness] = await Promise.all([receiver(() => ({ status: 410 })), receiver()]);
    const { id } = await register(server, { url: gone.url });
    await register(server, { url: witness.url });

    feed.fire(event());
    await eventually('both first deliveries', () => gone.received.length === 1 && witness.received.length === 1);
    await eventually('the endpoint disabled', () => server.outcomes.some((outcome) => outcome.result === 'disabled'));
    feed.fire(event());
    await eventually('the witness’s second delivery', () => witness.received.length === 2);

    expect(gone.received).toHaveLength(1);
    const listed = await server.query('{ webhookEndpoints { id disabledAt } }', {}, key('admin'));
    expect(listed.body.data.webhookEndpoints.find((endpoint: { id: string }) => endpoint.id === id).disabledAt).toEqual(expect.any(String));
  });

  it.runIf(available)('dead-letters a delivery after its last attempt; an admin reads it and replays it, which delivers it under the same webhook-id', async () => {
    const feed = new TestFeed();
    const server = await start(feed, { retryScheduleMs: [20] });
    const hook = await receiver((n) => ({ status: n < 2 ? 500 : 200 }));
    const { id } = await register(server, { url: hook.url });
    const fired = event();

    feed.fire(fired);
    await eventually('the dead letter', () => server.outcomes.some((outcome) => outcome.result === 'dead_lettered'));

    const deadLetters = `query($id: ID!) { webhookDeadLetters(endpointId: $id) { id endpointId webhookId trigger customerId attempts reason failedAt } }`;
    const listed = await server.query(deadLetters, { id }, key('admin'));
    expect(listed.body.data.webhookDeadLetters).toEqual([
      {
        id: expect.any(String),
        endpointId: id,
        webhookId: webhookIdOf(fired.id, id),
        trigger: 'CART_ABANDONED',
        customerId,
        attempts: 2,
        reason: 'HTTP 500',
        failedAt: expect.any(String),
      },
    ]);
    const replay = `mutation($id: ID!) { replayWebhookDeadLetter(id: $id) }`;
    const letterId = listed.body.data.webhookDeadLetters[0].id;
    expect((await server.query(replay, { id: letterId }, key('admin'))).body.data).toEqual({ replayWebhookDeadLetter: true });
    await eventually('the replayed delivery', () => server.outcomes.at(-1)?.result === 'delivered');

    expect(hook.received.map((delivery) => delivery.headers['webhook-id'])).toEqual(Array(3).fill(webhookIdOf(fired.id, id)));
    expect((await server.query(deadLetters, { id }, key('admin'))).body.data.webhookDeadLetters).toEqual([]);
    expect((await server.query(replay, { id: letterId }, key('admin'))).body.data).toEqual({ replayWebhookDeadLetter: false });
  });

  it.runIf(available)('signs with the new secret only once it is rotated', async () => {
    const feed = new TestFeed();
    const server = await start(feed);
    const hook = await receiver();
    const { id, secret: old } = await register(server, { url: hook.url });
    const rotated = await server.query(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`, { id }, key('admin'));
    const { secret } = rotated.body.data.rotateWebhookSecret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secret).not.toBe(old);

    feed.fire(event());
    await eventually('the delivery', () => hook.received.length === 1);
    const [delivery] = hook.received;
    expect(() => new Webhook(secret).verify(delivery!.body, delivery!.headers)).not.toThrow();
    expect(() => new Webhook(old).verify(delivery!.body, delivery!.headers)).toThrow();
  });
});

describe('registering an endpoint', () => {
  it('needs the admin scope for every operation', async () => {
    const server = await replica(new TestFeed());
    const input = { url: 'https://hooks.example/a', triggers: ['CART_ABANDONED'], selection: SELECTION };
    const operations = [
      [REGISTER, { input }],
      ['{ webhookEndpoints { id } }', {}],
      ['query($id: ID!) { webhookDeadLetters(endpointId: $id) { id } }', { id: 'x' }],
      ['mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id: 'x' }],
      ['mutation($id: ID!) { removeWebhookEndpoint(id: $id) }', { id: 'x' }],
      ['mutation($id: ID!) { replayWebhookDeadLetter(id: $id) }', { id: '1-0' }],
    ] as const;
    for (const [query, variables] of operations) {
      const refused = await server.query(query, variables, key('personalization'));
      expect(
        refused.body.errors?.map((error) => error.extensions?.code),
        query,
      ).toEqual(['FORBIDDEN']);
    }
    const { id } = await register(server, input);
    const listed = await server.query('{ webhookEndpoints { id url triggers selection scopes description disabledAt } }', {}, key('admin'));
    expect(listed.body.data.webhookEndpoints).toEqual([
      { id, url: input.url, triggers: input.triggers, selection: SELECTION, scopes: ['customer:read:traits'], description: null, disabledAt: null },
    ]);
    expect((await server.query('mutation($id: ID!) { removeWebhookEndpoint(id: $id) }', { id }, key('admin'))).body.data).toEqual({ removeWebhookEndpoint: true });
    expect((await server.query('{ webhookEndpoints { id } }', {}, key('admin'))).body.data).toEqual({ webhookEndpoints: [] });
  });

  it('refuses input it cannot deliver with BAD_USER_INPUT saying what is wrong', async () => {
    const server = await replica(new TestFeed());
    const valid = { url: 'https://hooks.example/a', triggers: ['CART_ABANDONED'], selection: SELECTION };
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ url: 'ftp://hooks.example/a' }, 'url', 'url: expected http or https, got ftp'],
      [{ url: 'hooks.example' }, 'url', 'url: expected an absolute http(s) URL'],
      [{ url: 'https://user:pass@hooks.example/a' }, 'url', 'url: expected no user name or password in the URL'],
      [{ triggers: [] }, 'triggers', 'triggers: expected at least one trigger'],
      [{ scopes: ['customer:read:traits', 'admin'] }, 'scopes', 'scopes: expected some of customer:read:traits, segments:read, customer:read:pii, got admin'],
      [{ scopes: ['segments:read'] }, 'scopes', 'scopes: expected customer:read:traits among them (the customer is read by id)'],
      [{ selection: 'id traits' }, 'selection', 'selection: expected a selection set on Customer in braces'],
      [{ selection: '{ id ' }, 'selection', 'selection: expected a selection set on Customer, e.g. `{ id traits { rfm { segment } } }`: Syntax Error'],
      [{ selection: '{ nickname }' }, 'selection', 'selection: Cannot query field "nickname" on type "Customer".'],
      [
        { selection: '{ email }' },
        'selection',
        "selection: Customer.email needs customer:read:pii or customer:read:self or segments:read; the endpoint's scopes are customer:read:traits",
      ],
      [
        { selection: '{ id } } mutation M { forgetCustomer(email: "a@example.com") { email }' },
        'selection',
        'selection: expected one selection set on Customer, got more than one definition',
      ],
      [{ selection: '{ web(days: 5000) { sessionCount } }' }, 'selection', 'selection: days: expected 1 to 365, got 5000'],
      [{ description: 'x'.repeat(501) }, 'description', 'description: expected at most 500 characters, got 501'],
    ];
    for (const [change, argument, message] of cases) {
      const response = await server.query(REGISTER, { input: { ...valid, ...change } }, key('admin'));
      expect(response.body.data, message).toEqual({ registerWebhookEndpoint: null });
      expect(response.body.errors?.[0]?.message, JSON.stringify(change)).toContain(message);
      expect(response.body.errors?.[0]?.extensions, message).toMatchObject({ code: 'BAD_USER_INPUT', argument });
    }
    expect((await server.query('{ webhookEndpoints { id } }', {}, key('admin'))).body.data).toEqual({ webhookEndpoints: [] });
    const withPii = await server.query(REGISTER, { input: { ...valid, selection: '{ id email }', scopes: ['customer:read:traits', 'customer:read:pii'] } }, key('admin'));
    expect(withPii.body.errors).toBeUndefined();
  });

  it('accepts https only in production', async () => {
    const server = await replica(new TestFeed(), {}, { production: true });
    const response = await server.query(REGISTER, { input: { url: 'http://hooks.example/a', triggers: ['CART_ABANDONED'], selection: SELECTION } }, key('admin'));
    expect(response.body.errors?.[0]).toMatchObject({ message: 'url: expected https (production), got http', extensions: { code: 'BAD_USER_INPUT' } });
  });
});

/** A TCP proxy in front of Redis that the test can take down and bring back, as a network partition would. */
async function redisProxy(): Promise<{ url: string; down(): Promise<void>; up(): Promise<void> }> {
  const target = new URL(REDIS_URL!);
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const down = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  opened.push(() => (server.listening ? down() : undefined));
  return {
    url: `redis://127.0.0.1:${port}`,
    down,
    up: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
  };
}

describe.skipIf(!REDIS_URL)('outgoing webhooks across replicas (Redis)', () => {
  it('delivers each event once per endpoint when two replicas both receive it', async () => {
    const keyPrefix = redisPrefix();
    const feeds = [new TestFeed(), new TestFeed()];
    const replicas = await Promise.all(feeds.map((feed) => replica(feed, { redis: { url: REDIS_URL!, keyPrefix } })));
    const hooks = await Promise.all([receiver(), receiver()]);
    for (const hook of hooks) await register(replicas[0]!, { url: hook.url });

    const events = Array.from({ length: 40 }, () => event());
    for (const fired of events) for (const feed of feeds) feed.fire(fired);
    await eventually('80 deliveries', () => hooks.every((hook) => hook.received.length >= 40));
    // Time for a duplicate, were there one, to arrive.
    await sleep(200);

    const received = hooks.flatMap((hook) => hook.received.map((delivery) => delivery.headers['webhook-id']));
    expect(received).toHaveLength(80);
    expect(new Set(received).size).toBe(80);
    const delivered = replicas.flatMap((server) => server.outcomes).filter((outcome) => outcome.result === 'delivered');
    expect(delivered).toHaveLength(80);
  });

  it('delivers a job that a replica took and never settled (it died mid-delivery) from another replica, once', async () => {
    const keyPrefix = redisPrefix();
    const hook = await receiver();
    const first = await replica(new TestFeed(), { redis: { url: REDIS_URL!, keyPrefix } });
    const { id } = await register(first, { url: hook.url });
    await first.close();
    const redis = new Redis(REDIS_URL!);
    // A replica that stops holding nothing leaves no name behind in the group.
    expect(await redis.xinfo('CONSUMERS', `${keyPrefix}webhooks:queue`, 'deliverers')).toEqual([]);

    // The replica that dies: it takes the job from the group, then is gone without settling it.
    const dying = new RedisQueue({
      redis,
      blocking: redis.duplicate(),
      prefix: `${keyPrefix}webhooks:`,
      consumer: 'dying',
      claimIdleMs: 500,
      dedupeMs: 60_000,
      maxDeadLetters: 10,
    });
    opened.push(() => redis.disconnect());
    const fired = event();
    expect(await dying.enqueue({ webhookId: webhookIdOf(fired.id, id), endpointId: id, event: fired })).toBe(true);
    expect(await dying.take(10, 0)).toHaveLength(1);
    const [, , , consumers] = (await redis.xpending(`${keyPrefix}webhooks:queue`, 'deliverers')) as [number, string, string, Array<[string, string]>];
    expect(consumers).toEqual([['dying', '1']]);

    const survivor = await replica(new TestFeed(), { redis: { url: REDIS_URL!, keyPrefix }, claimIdleMs: 500, attemptTimeoutMs: 400 });
    await eventually('the claimed delivery', () => survivor.outcomes.length === 1);
    await sleep(100);

    expect(hook.received.map((delivery) => delivery.headers['webhook-id'])).toEqual([webhookIdOf(fired.id, id)]);
    expect(survivor.outcomes.map((outcome) => outcome.result)).toEqual(['delivered']);
    expect(await redis.xpending(`${keyPrefix}webhooks:queue`, 'deliverers')).toEqual([0, null, null, null]);
  });

  it('dead-letters, without POSTing, the deliveries of a selection the schema no longer validates', async () => {
    const keyPrefix = redisPrefix();
    const feed = new TestFeed();
    const server = await replica(feed, { redis: { url: REDIS_URL!, keyPrefix }, retryScheduleMs: [] });
    const hook = await receiver();
    const { id } = await register(server, { url: hook.url });
    // As if registered before a schema change that removed the field.
    const redis = new Redis(REDIS_URL!);
    opened.push(() => redis.disconnect());
    const stored = JSON.parse((await redis.hget(`${keyPrefix}webhooks:endpoints`, id))!);
    await redis.hset(`${keyPrefix}webhooks:endpoints`, id, JSON.stringify({ ...stored, selection: '{ id nickname }' }));

    feed.fire(event());
    await eventually('the dead letter', () => server.outcomes.length === 1);

    expect(server.outcomes.map((outcome) => outcome.result)).toEqual(['dead_lettered']);
    expect(hook.received).toHaveLength(0);
    const listed = await server.query('query($id: ID!) { webhookDeadLetters(endpointId: $id) { attempts reason } }', { id }, key('admin'));
    expect(listed.body.data.webhookDeadLetters).toEqual([{ attempts: 1, reason: 'selection failed' }]);
  });

  it('keeps trigger events while Redis is away, without crashing, and delivers them once it is back', async () => {
    const keyPrefix = redisPrefix();
    const proxy = await redisProxy();
    const feed = new TestFeed();
    const server = await replica(feed, { redis: { url: proxy.url, keyPrefix } });
    const hook = await receiver();
    await register(server, { url: hook.url });

    await proxy.down();
    const events = [event(), event(), event()];
    for (const fired of events) feed.fire(fired);
    await eventually('the queueing failure logged', () => server.logs.some((line) => line.includes('could not queue a trigger event')));
    expect(hook.received).toHaveLength(0);

    await proxy.up();
    await eventually('the three deliveries', () => hook.received.length === 3);
    await sleep(100);
    expect(hook.received).toHaveLength(3);
    expect(new Set(hook.received.map((delivery) => JSON.parse(delivery.body).id))).toEqual(new Set(events.map((fired) => fired.id)));
  });
});
