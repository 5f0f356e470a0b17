import { once } from 'node:events';
import type { Client } from 'graphql-ws';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { DEFAULT_LIMITS } from '../../server/auth/limits.ts';
import { key, KEYS, selfToken, testSecurity } from '../auth/helpers.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { MemoryFeed, sseSubscribe, wsClient, wsSubscribe, type Results } from './subscriptions-support.ts';

// Subscriptions end to end: a real server on the demo shop, real graphql-ws and graphql-sse
// clients, and a feed in memory standing in for the hub (the test says what changed).

const world: DemoWorld = { seed: 360, customers: 60, asOf: TEST_AS_OF };
const feed = new MemoryFeed();
let db: TestDatabase;
let server: TestServer;
const bearer = (role: keyof typeof KEYS) => `Bearer ${KEYS[role].key}`;

beforeAll(async () => {
  db = await createDemoDatabase(world);
  server = await startTestServer(db, {}, { security: testSecurity({ limits: { ...DEFAULT_LIMITS, maxDepth: 6 } }), push: { feed } });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

const open: Array<Results | Client> = [];
afterEach(async () => {
  for (const item of open.splice(0)) await ('dispose' in item ? item.dispose() : item.close());
  await feed.until(0);
});
const track = <T extends Results | Client>(item: T): T => (open.push(item), item);

const CUSTOMER_CHANGED = `subscription($id: ID!) {
  customerChanged(id: $id) { customerId sources kinds receivedAt customer { id email commerce { firstName } } }
}`;

const rename = (id: string, firstName: string) => db.pool.query('UPDATE customers SET first_name = $1 WHERE id = $2', [firstName, id]);

describe('customerChanged', () => {
  it('pushes the customer resolved again on each change over WebSocket, never from the last event', async () => {
    const client = track(wsClient(server.url, bearer('support')));
    const results = track(wsSubscribe(client, CUSTOMER_CHANGED, { id: '3' }));
    await feed.until(1);

    await rename('3', 'Ada');
    feed.change('3', { kinds: ['customer', 'order'] });
    const first = await results.next();
    await rename('3', 'Grace');
    feed.change('3', { sources: ['crm'], kinds: ['contact.propertyChange'] });
    const second = await results.next();

    expect(first.errors).toBeUndefined();
    expect(first.data.customerChanged).toMatchObject({
      customerId: '3',
      sources: ['COMMERCE'],
      kinds: ['customer', 'order'],
      customer: { id: '3', commerce: { firstName: 'Ada' } },
    });
    expect(first.data.customerChanged.customer.email).toMatch(/@/);
    expect(first.extensions.sources.commerce).toBeDefined();
    expect(second.data.customerChanged).toMatchObject({ sources: ['CRM'], kinds: ['contact.propertyChange'], customer: { commerce: { firstName: 'Grace' } } });
  });

  it('pushes the same over Server-Sent Events', async () => {
    const results = track(sseSubscribe(server.url, { authorization: bearer('support') }, CUSTOMER_CHANGED, { id: '4' }));
    await feed.until(1);
    await rename('4', 'Lin');
    feed.change('4');
    const first = await results.next();
    await rename('4', 'Mae');
    feed.change('4');
    const second = await results.next();

    expect(first.data.customerChanged.customer.commerce.firstName).toBe('Lin');
    expect(second.data.customerChanged.customer.commerce.firstName).toBe('Mae');
    expect(second.errors).toBeUndefined();
  });

  it('sends nothing about other customers, and refuses identifiers to customer:read:traits alone', async () => {
    const client = track(wsClient(server.url, bearer('personalization')));
    const results = track(wsSubscribe(client, CUSTOMER_CHANGED, { id: '5' }));
    await feed.until(1);
    feed.change('6');
    feed.change('5');
    const result = await results.next();
    expect(result.data.customerChanged).toMatchObject({ customerId: '5', customer: { id: '5', email: null, commerce: { firstName: null } } });
    expect(result.errors.map((e: any) => [e.path.join('.'), e.extensions.code])).toEqual([
      ['customerChanged.customer.email', 'FORBIDDEN'],
      ['customerChanged.customer.commerce.firstName', 'FORBIDDEN'],
    ]);
  });

  it('lets a self token subscribe to its own customer and refuses it any other, listening to nothing', async () => {
    const token = `Bearer ${await selfToken({ sub: '7' })}`;
    const client = track(wsClient(server.url, token));
    const refused = wsSubscribe(client, CUSTOMER_CHANGED, { id: '8' });
    expect(await refused.next()).toEqual({
      errors: [
        expect.objectContaining({ message: 'Forbidden: a customer:read:self token reads only its own customer.', path: ['customerChanged'], extensions: { code: 'FORBIDDEN' } }),
      ],
    });
    expect(await refused.end()).toBe(true);
    expect(feed.listeners).toBe(0);

    const own = track(wsSubscribe(client, CUSTOMER_CHANGED, { id: '7' }));
    await feed.until(1);
    feed.change('7');
    const result = await own.next();
    expect(result.data.customerChanged).toMatchObject({ customerId: '7', sources: null, kinds: null, customer: { id: '7', email: expect.stringMatching(/^[^*]+@/) } });
    // Which systems said what is not the storefront's to show.
    expect(result.errors.map((e: any) => [e.path.join('.'), e.extensions.code])).toEqual([
      ['customerChanged.sources', 'FORBIDDEN'],
      ['customerChanged.kinds', 'FORBIDDEN'],
    ]);
  });

  it('refuses a self token the subscriptions of segments and triggers', async () => {
    const client = track(wsClient(server.url, `Bearer ${await selfToken({ sub: '7' })}`));
    const result = await wsSubscribe(client, 'subscription { triggerFired { id } }').next();
    expect(result.errors).toEqual([expect.objectContaining({ path: ['triggerFired'], extensions: { code: 'FORBIDDEN' } })]);
  });

  it('answers a malformed id with BAD_USER_INPUT', async () => {
    const client = track(wsClient(server.url, bearer('personalization')));
    const result = await wsSubscribe(client, CUSTOMER_CHANGED, { id: 'abc' }).next();
    expect(result.errors).toEqual([expect.objectContaining({ path: ['customerChanged'], extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
  });
});

describe('authentication', () => {
  it('closes a WebSocket without credentials with 4401', async () => {
    const client = track(wsClient(server.url));
    await expect(wsSubscribe(client, CUSTOMER_CHANGED, { id: '3' }).next()).rejects.toMatchObject({ code: 4401, reason: expect.stringContaining('Authentication required') });
  });

  it('closes a WebSocket with a bad key with 4401', async () => {
    const client = track(wsClient(server.url, 'Bearer c360_not-a-key'));
    await expect(wsSubscribe(client, CUSTOMER_CHANGED, { id: '3' }).next()).rejects.toMatchObject({ code: 4401, reason: 'The API key is not valid.' });
  });

  it("takes the upgrade request's Authorization header when connectionParams carry none", async () => {
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers: { authorization: bearer('personalization') } });
    try {
      await once(socket, 'open');
      socket.send(JSON.stringify({ type: 'connection_init' }));
      const [ack] = await once(socket, 'message');
      expect(JSON.parse(String(ack))).toEqual({ type: 'connection_ack' });
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: CUSTOMER_CHANGED, variables: { id: '3' } } }));
      await feed.until(1);
      feed.change('3');
      const [next] = await once(socket, 'message');
      expect(JSON.parse(String(next))).toMatchObject({ id: '1', type: 'next', payload: { data: { customerChanged: { customerId: '3' } } } });
    } finally {
      socket.terminate();
    }
  });

  it('answers an SSE request without credentials 401, as /graphql does', async () => {
    const response = await fetch(`${server.url}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: CUSTOMER_CHANGED, variables: { id: '3' } }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="customer-360"');
    expect(await response.json()).toEqual({ errors: [{ message: expect.stringContaining('Authentication required'), extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(feed.listeners).toBe(0);
  });
});

describe('operation checks', () => {
  it('refuses an operation over the depth limit before it listens', async () => {
    const client = track(wsClient(server.url, bearer('personalization')));
    const deep = 'subscription { customerChanged(id: "3") { customer { commerce { orders(first: 1) { edges { node { lineItems { product { sku } } } } } } } } }';
    await expect(wsSubscribe(client, deep).next()).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'OPERATION_LIMIT_EXCEEDED', limit: 'depth' }) }),
    ]);
    expect(feed.listeners).toBe(0);
  });

  it('answers a subscription sent to POST /graphql with where subscriptions are served', async () => {
    const { status, body } = await server.query(CUSTOMER_CHANGED, { id: '3' }, key('personalization'));
    expect(status).toBe(400);
    expect(body.errors).toEqual([
      {
        message: 'Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql and Server-Sent Events at /graphql/stream, not by POST /graphql.',
        extensions: { code: 'BAD_REQUEST' },
      },
    ]);
    expect(feed.listeners).toBe(0);
  });

  it('sends queries to POST /graphql', async () => {
    const client = track(wsClient(server.url, bearer('personalization')));
    await expect(wsSubscribe(client, '{ customer(id: "3") { id } }').next()).rejects.toEqual([
      { message: 'Expected a subscription operation, got a query: send queries and mutations to POST /graphql.', extensions: { code: 'BAD_REQUEST' } },
    ]);
  });
});

describe('segmentChanged', () => {
  const SEGMENT = `subscription WatchSegment($segment: RfmSegment!) {
    segmentChanged(segment: $segment) { membership currentSegment customerId customer { id email commerce { firstName } } }
  }`;

  async function segments(): Promise<Map<string, string | null>> {
    const ids = Array.from({ length: 40 }, (_, i) => String(i + 10));
    const { body } = await server.query('query($ids: [ID!]) { customers(ids: $ids) { id commerce { rfm { segment } } } }', { ids }, key('personalization'));
    return new Map(body.data.customers.map((c: any) => [c.id, c.commerce.rfm?.segment ?? null]));
  }

  it('pushes the changes of customers in the segment to segments:read, identifiers masked, and tells when one leaves', async () => {
    const bySegment = await segments();
    const [inside, segment] = [...bySegment].find(([, s]) => s !== null)! as [string, string];
    const outside = [...bySegment].find(([, s]) => s !== segment)![0];
    const results = track(sseSubscribe(server.url, { authorization: bearer('analyst') }, SEGMENT, { segment }));
    await feed.until(1);

    feed.change(outside);
    feed.change(inside);
    const first = await results.next();
    feed.change(inside);
    const second = await results.next();
    await db.pool.query(`UPDATE orders SET status = 'cancelled' WHERE customer_id = $1`, [inside]);
    feed.change(inside);
    const third = await results.next();

    expect(first.errors).toBeUndefined();
    expect(first.data.segmentChanged).toMatchObject({ membership: 'IN', currentSegment: segment, customerId: inside, customer: { id: inside } });
    expect(first.data.segmentChanged.customer.email).toMatch(/^[a-z]\*\*\*@/);
    expect(first.data.segmentChanged.customer.commerce.firstName).toMatch(/^[A-Z]\.$/);
    expect(second.data.segmentChanged.membership).toBe('STAYED');
    expect(third.data.segmentChanged).toMatchObject({ membership: 'LEFT', currentSegment: null, customerId: inside });
    // One audit line per event, as per request: whose data, which fields, which masked.
    const audits = server.logs.map((line) => JSON.parse(line)).filter((line) => line.audit?.operationName === 'WatchSegment');
    expect(audits).toHaveLength(3);
    expect(audits[0].audit).toMatchObject({ client: 'analyst', customerIds: [inside], masked: ['CommerceProfile.firstName', 'Customer.email'] });
  });

  it('shows identifiers in the clear to segments:read with customer:read:pii', async () => {
    const [inside, segment] = [...(await segments())].find(([, s]) => s !== null)! as [string, string];
    const client = track(wsClient(server.url, bearer('analystWithPii')));
    const results = track(wsSubscribe(client, SEGMENT, { segment }));
    await feed.until(1);
    feed.change(inside);
    expect((await results.next()).data.segmentChanged.customer.email).toMatch(/^[^*]+@/);
  });
});

describe('triggerFired', () => {
  it('pushes the triggers asked for, with the customer', async () => {
    const client = track(wsClient(server.url, bearer('personalization')));
    const results = track(wsSubscribe(client, 'subscription { triggerFired(triggers: [UNSUBSCRIBED, RFM_SEGMENT_LEFT]) { id trigger segment customerId customer { id } at } }'));
    await feed.until(1);
    feed.trigger('CART_ABANDONED', '3');
    const left = feed.trigger('RFM_SEGMENT_LEFT', '4', 'CHAMPIONS');
    expect((await results.next()).data.triggerFired).toEqual({
      id: left.id,
      trigger: 'RFM_SEGMENT_LEFT',
      segment: 'CHAMPIONS',
      customerId: '4',
      customer: { id: '4' },
      at: '2026-11-01T12:00:00.000Z',
    });
  });
});
