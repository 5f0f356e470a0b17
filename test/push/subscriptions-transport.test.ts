import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'graphql-ws';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { KEYS, testSecurity } from '../auth/helpers.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { MemoryFeed, sseSubscribe, wsClient, wsSubscribe, type Results } from './subscriptions-support.ts';

// The transports' limits: subscriptions per client and per connection, events waiting, slow
// clients, keep-alives and server stop, on real servers with real clients and raw sockets.

const world: DemoWorld = { seed: 360, customers: 20, asOf: TEST_AS_OF };
const bearer = (role: keyof typeof KEYS) => `Bearer ${KEYS[role].key}`;
const TRIGGERS = 'subscription { triggerFired { id trigger } }';
const MAX_BUFFERED = 64 * 1024;

let db: TestDatabase;
const feed = new MemoryFeed();
const dropped = { websocket: 0, sse: 0 };
let server: TestServer;

beforeAll(async () => {
  db = await createDemoDatabase(world);
  server = await startTestServer(
    db,
    {},
    {
      security: testSecurity(),
      push: { feed, perClient: 3, perConnection: 2, maxPending: 100, maxBufferedBytes: MAX_BUFFERED, keepAliveMs: 60_000, onDropped: (transport) => dropped[transport]++ },
    },
  );
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

const open: Array<Results | Client | WebSocket> = [];
afterEach(async () => {
  for (const item of open.splice(0)) {
    if (item instanceof WebSocket) item.terminate();
    else await ('dispose' in item ? item.dispose() : item.close());
  }
  await feed.until(0);
});
const track = <T extends Results | Client | WebSocket>(item: T): T => (open.push(item), item);

/** A WebSocket speaking graphql-transport-ws by hand, subscribed to `query`: a client that can stop reading. */
async function rawWebSocket(url: string, authorization: string, query: string): Promise<WebSocket> {
  const socket = track(new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws'));
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization } }));
  const [ack] = await once(socket, 'message');
  expect(JSON.parse(String(ack))).toEqual({ type: 'connection_ack' });
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
  return socket;
}

/** An SSE response read by hand (distinct connection mode). */
async function rawEventStream(url: string, authorization: string, query: string): Promise<IncomingMessage> {
  const req = request(`${url}/graphql/stream`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization } });
  req.end(JSON.stringify({ query }));
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  expect(res.statusCode).toBe(200);
  return res;
}

/** Trigger events with ids of 8 KiB (so a few hundred fill the socket buffers), in small bursts, until `done`. */
async function flood(done: () => boolean): Promise<number> {
  let sent = 0;
  while (!done() && sent < 5000) {
    for (let i = 0; i < 20; i++) feed.trigger('CART_ABANDONED', '3', undefined, `${sent++}:${'x'.repeat(8192)}`);
    await sleep(2);
  }
  return sent;
}

describe('limits per client and per connection', () => {
  it('refuses a subscription past the connection limit and past the client limit, each with its own error, and counts a finished one out', async () => {
    const a = track(wsClient(server.url, bearer('personalization')));
    const first = track(wsSubscribe(a, TRIGGERS));
    track(wsSubscribe(a, TRIGGERS));
    await feed.until(2);
    await expect(wsSubscribe(a, TRIGGERS).next()).rejects.toEqual([
      { message: 'Subscription limit reached: at most 2 subscriptions per connection.', extensions: { code: 'OPERATION_LIMIT_EXCEEDED', limit: 'subscriptionsPerConnection' } },
    ]);

    const b = track(wsClient(server.url, bearer('personalization')));
    track(wsSubscribe(b, TRIGGERS));
    await feed.until(3);
    expect(await wsSubscribe(b, TRIGGERS).next()).toEqual({
      errors: [
        {
          message: 'Subscription limit reached: at most 3 open subscriptions per client, this client has 3.',
          locations: [{ line: 1, column: 16 }],
          path: ['triggerFired'],
          extensions: { code: 'OPERATION_LIMIT_EXCEEDED', limit: 'subscriptionsPerClient' },
        },
      ],
    });
    // Another client has its own count.
    const other = track(wsClient(server.url, bearer('support')));
    track(wsSubscribe(other, TRIGGERS));
    await feed.until(4);

    await first.close();
    await feed.until(3);
    track(wsSubscribe(b, TRIGGERS));
    await feed.until(4);
  });

  it('ends a subscription whose events pile up faster than they are executed, with an error', async () => {
    const client = track(wsClient(server.url, bearer('personalization')));
    const results = wsSubscribe(client, TRIGGERS);
    await feed.until(1);
    for (let i = 0; i < 150; i++) feed.trigger('UNSUBSCRIBED', '3');
    const received: unknown[] = [];
    const ended = await (async () => {
      for (;;) received.push(await results.next());
    })().catch((error: unknown) => error);
    expect(ended).toEqual([
      { message: 'Subscription ended: more than 100 events were waiting to be sent.', extensions: { code: 'OPERATION_LIMIT_EXCEEDED', limit: 'pendingEvents' } },
    ]);
    expect(received.length).toBeLessThanOrEqual(101);
    expect(feed.listeners).toBe(0);
  });
});

describe('slow clients', () => {
  it('drops a WebSocket client that stops reading, instead of buffering for it', async () => {
    const before = dropped.websocket;
    const socket = await rawWebSocket(server.url, bearer('personalization'), TRIGGERS);
    // Listened for before anything can close it: an event emitted before its listener is never seen.
    const closing = once(socket, 'close');
    await feed.until(1);
    socket.pause();
    const sent = await flood(() => dropped.websocket > before);
    expect(dropped.websocket).toBe(before + 1);
    expect(sent).toBeLessThan(5000);
    expect(server.logs.filter((line) => line.includes('slow subscriber dropped') && line.includes('"transport":"websocket"'))).toHaveLength(1);
    socket.resume();
    const [code] = (await closing) as [number];
    // The close frame (1013) when it got through after the backlog, else the cut connection (1006).
    expect([1013, 1006]).toContain(code);
    await feed.until(0);
  });

  it('drops an SSE client that stops reading', async () => {
    const before = dropped.sse;
    const res = await rawEventStream(server.url, bearer('personalization'), TRIGGERS);
    // Listened for before anything can cut it: the client may see the cut while it is not reading
    // (its response then closes at once), and an event emitted before its listener is never seen.
    const aborted = new Promise<boolean>((resolve) => res.once('close', () => resolve(!res.complete)));
    res.on('error', () => undefined);
    await feed.until(1);
    res.pause();
    const sent = await flood(() => dropped.sse > before);
    expect(dropped.sse).toBe(before + 1);
    expect(sent).toBeLessThan(5000);
    expect(server.logs.filter((line) => line.includes('slow subscriber dropped') && line.includes('"transport":"sse"'))).toHaveLength(1);
    res.resume();
    // The connection was cut: the response ends aborted, never completed.
    expect(await aborted).toBe(true);
    await feed.until(0);
  });

  it('keeps an SSE client that reads, through a burst larger than its limit', async () => {
    const before = dropped.sse;
    const res = await rawEventStream(server.url, bearer('personalization'), TRIGGERS);
    res.on('error', () => undefined);
    let text = '';
    res.on('data', (chunk) => (text += String(chunk)));
    const events = () => text.split('event: next').length - 1;
    await feed.until(1);
    // Written within one tick, before the socket has had a turn: half again the limit.
    for (let i = 0; i < 12; i++) feed.trigger('CART_ABANDONED', '3', undefined, `${i}:${'x'.repeat(8192)}`);
    while (events() < 12 && !res.destroyed) await sleep(5);
    expect(events()).toBe(12);
    expect(dropped.sse).toBe(before);
    res.destroy();
    await feed.until(0);
  });
});

describe('keep-alive and stop', () => {
  let quick: TestServer;
  const quickFeed = new MemoryFeed();
  beforeAll(async () => {
    quick = await startTestServer(db, {}, { security: testSecurity(), push: { feed: quickFeed, keepAliveMs: 50 } });
  });
  afterAll(async () => {
    await quick?.close();
  });

  it('pings a WebSocket client, which stays connected by answering', async () => {
    const socket = await rawWebSocket(quick.url, bearer('personalization'), TRIGGERS);
    let pings = 0;
    socket.on('ping', () => pings++);
    while (pings < 3) await sleep(10);
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });

  it('writes a comment line to an SSE stream', async () => {
    const res = await rawEventStream(quick.url, bearer('personalization'), TRIGGERS);
    let text = '';
    for await (const chunk of res) {
      text += String(chunk);
      if (text.split(': keep-alive\n\n').length > 2) break;
    }
    expect(text.split(': keep-alive\n\n').length).toBeGreaterThan(2);
    res.destroy();
  });

  it('ends every subscription when the server stops: each completes, and nothing keeps listening', async () => {
    await quickFeed.until(0);
    const client = wsClient(quick.url, bearer('personalization'));
    const overWs = wsSubscribe(client, TRIGGERS);
    const overSse = sseSubscribe(quick.url, { authorization: bearer('personalization') }, TRIGGERS);
    await quickFeed.until(2);
    // Waiting before the stop: both clients' iterators wait forever when asked only after their end.
    const ends = [overWs.end(), overSse.end()];
    await quick.close();
    expect(await Promise.all(ends)).toEqual([true, true]);
    expect(quickFeed.listeners).toBe(0);
    await client.dispose();
  });
});
