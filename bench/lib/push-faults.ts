import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { endpointOf, RedisEndpointStore } from '../../push/webhooks/endpoints.ts';
import { webhookIdOf } from '../../push/webhooks/signing.ts';
import type { TriggerEvent } from '../../push/signals.ts';
import { progress } from './environment.ts';
import { freePort } from '../../sandbox/ports.ts';
import { RedisProcess, startServerProcess, type ServerProcess } from './push-process.ts';

// Part 2 of bench/push.ts: delivery under faults. A private redis-server (AOF, fsync always), two
// replicas (the real server process, embedded demo, REDIS_URL set: the real PushHub and
// OutgoingWebhooks), one endpoint registered for CART_ABANDONED, and a driver that publishes
// trigger events on the hub's channel as another replica's hub does (`{ origin, trigger }` on
// `c360:push`). Meanwhile one replica is killed (-9) and replaced, and Redis is shut down and
// started again on its AOF. A local receiver verifies each delivery's signature and counts them
// by `webhook-id`.

export interface FaultSettings {
  readonly events: number;
  /** Events published per second. */
  readonly rate: number;
  readonly replicaCustomers: number;
  readonly claimIdleMs: number;
  readonly redisDownMs: number;
  /** Published share at which a replica is killed, and at which Redis restarts. */
  readonly killAt: number;
  readonly restartAt: number;
  readonly logDir: string;
}

export interface FaultResult {
  readonly events: number;
  readonly deliveredUnique: number;
  readonly lost: number;
  readonly lostIds: string[];
  /** Deliveries beyond the first of a webhook-id. */
  readonly duplicates: number;
  readonly deliveries: number;
  readonly badSignatures: number;
  /** Deliveries of ids this run did not publish. */
  readonly foreign: number;
  /** Publishes that failed (Redis down) or reached no subscribed replica, and were made again. */
  readonly republished: number;
  readonly publishSeconds: number;
  /** Last publish to last new delivery. */
  readonly drainSeconds: number;
  readonly totalSeconds: number;
  readonly timeline: Array<{ atSeconds: number; what: string; published: number; delivered: number }>;
  /** Queue state at the end (Redis): pending in the consumer group, scheduled retries, dead letters. */
  readonly pending: number;
  readonly retries: number;
  readonly deadLetters: number;
  readonly replicaEnv: Record<string, string>;
  readonly replicaStartupSeconds: number[];
}

const PREFIX = 'c360:';
const TRIGGER = 'CART_ABANDONED';
const SELECTION = '{ id commerce { purchases { orderCount } } }';

interface Receiver {
  readonly url: string;
  readonly counts: Map<string, number>;
  readonly stats: { deliveries: number; badSignatures: number; lastNewAt: number };
  close(): Promise<void>;
}

/** The webhook receiver: verifies each delivery (Standard Webhooks) and counts it by webhook-id; answers 200. */
async function startReceiver(secret: () => string): Promise<Receiver> {
  const counts = new Map<string, number>();
  const stats = { deliveries: 0, badSignatures: 0, lastNewAt: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      stats.deliveries++;
      const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(req.headers[name])]));
      try {
        new Webhook(secret()).verify(Buffer.concat(chunks).toString(), headers);
      } catch {
        stats.badSignatures++;
        return void res.writeHead(401).end();
      }
      const id = headers['webhook-id']!;
      const seen = counts.get(id) ?? 0;
      if (seen === 0) stats.lastNewAt = performance.now();
      counts.set(id, seen + 1);
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    counts,
    stats,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Part 2; always stops what it started. */
export async function measureFaults(settings: FaultSettings): Promise<FaultResult> {
  const dir = await mkdtemp(`${tmpdir()}/c360-bench-push-`);
  let redis: RedisProcess | undefined;
  let receiver: Receiver | undefined;
  let driver: Redis | undefined;
  const replicas: ServerProcess[] = [];
  let secret = '';
  try {
    redis = await RedisProcess.start(dir);
    receiver = await startReceiver(() => secret);
    driver = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    driver.on('error', () => undefined);
    await new Promise((resolve) => driver!.once('ready', resolve));
    const endpoint = endpointOf(
      { url: receiver.url, triggers: [TRIGGER], selection: SELECTION, scopes: ['customer:read:traits'], description: 'bench/push.ts' },
      { production: false, now: Date.now() },
    );
    secret = endpoint.secret;
    await new RedisEndpointStore(driver, `${PREFIX}webhooks:endpoints`).put(endpoint);

    const replicaEnv = {
      REDIS_URL: redis.url,
      DEMO_CUSTOMERS: String(settings.replicaCustomers),
      DEMO_WEB_HISTORY_DAYS: '1',
      OUTGOING_WEBHOOK_CLAIM_IDLE_MS: String(settings.claimIdleMs),
      OUTGOING_WEBHOOK_TIMEOUT_MS: '2000',
      OUTGOING_WEBHOOK_RETRY_SCHEDULE_MS: '1000,2000,5000,10000,20000',
      PUSH_ABANDONED_SWEEP_SECONDS: '0',
      LOG_LEVEL: 'warn',
    };
    const startReplica = async (name: string) => {
      const replica = await startServerProcess(replicaEnv, `${settings.logDir}/push-faults-${name}.log`);
      replicas.push(replica);
      return replica;
    };
    progress.line(`faults: starting two replicas (embedded demo of ${settings.replicaCustomers} customers each, Redis at ${redis.url})`);
    const [first] = await Promise.all([startReplica('replica-1'), startReplica('replica-2')]);
    // The hub subscribes once its connection is ready, just after /healthz answers.
    await sleep(1000);

    const events: TriggerEvent[] = Array.from({ length: settings.events }, (_, i) => ({
      id: `bench:${endpoint.id.slice(0, 8)}:${i}`,
      trigger: TRIGGER,
      customerId: String(1 + (i % settings.replicaCustomers)),
      at: new Date().toISOString(),
      receivedAt: Date.now(),
    }));
    const expected = new Set(events.map((event) => webhookIdOf(event.id, endpoint.id)));
    const started = performance.now();
    const timeline: FaultResult['timeline'] = [];
    let published = 0;
    let republished = 0;
    const unique = () => [...receiver!.counts.keys()].filter((id) => expected.has(id)).length;
    const mark = (what: string) => {
      timeline.push({ atSeconds: (performance.now() - started) / 1000, what, published, delivered: unique() });
      progress.line(`faults: ${what} (${published} published, ${unique()} delivered)`);
    };

    let replacement: Promise<ServerProcess> | undefined;
    let restart: Promise<void> | undefined;
    const publishOne = async (event: TriggerEvent) => {
      const message = JSON.stringify({ origin: 'bench-driver', trigger: { ...event, at: new Date().toISOString(), receivedAt: Date.now() } });
      for (let attempt = 0; ; attempt++) {
        // A replica's hub hands its own trigger events to its own webhooks directly; the driver has
        // none, so an event no replica heard (Redis down, or no replica subscribed) is sent again.
        const receivers = await driver!.publish(`${PREFIX}push`, message).catch(() => 0);
        if (receivers > 0) return;
        if (attempt === 0) republished++;
        await sleep(100);
      }
    };
    const tickMs = 20;
    const perTick = Math.max(1, Math.round((settings.rate * tickMs) / 1000));
    while (published < events.length) {
      const tick = performance.now();
      const slice = events.slice(published, published + perTick);
      await Promise.all(slice.map(publishOne));
      published += slice.length;
      if (!replacement && published >= settings.killAt * events.length) {
        await replicas[0]!.kill();
        mark(`replica 1 (pid ${first.pid}) killed with SIGKILL; starting a replacement`);
        replacement = startReplica('replica-3').then((replica) => {
          mark(`replacement replica ready after ${replica.startupSeconds.toFixed(1)} s`);
          return replica;
        });
      }
      if (!restart && published >= settings.restartAt * events.length) {
        mark('Redis SHUTDOWN');
        restart = (async () => {
          await redis.down();
          await sleep(settings.redisDownMs);
          await redis.up();
          mark(`Redis started again on its AOF (down ${settings.redisDownMs} ms and start-up)`);
        })();
      }
      progress.status(`faults: ${published} published, ${unique()} delivered`);
      await sleep(Math.max(0, tickMs - (performance.now() - tick)));
    }
    const publishedAt = performance.now();
    mark('all published');
    await Promise.all([replacement, restart]);

    // Drained when everything arrived, or when nothing new has arrived for a while (a job held by
    // the killed replica waits claimIdleMs before another claims it; a failed attempt waits for its retry).
    const quietMs = 3 * settings.claimIdleMs + 30_000;
    let lastCount = -1;
    let lastChange = performance.now();
    for (;;) {
      const count = unique();
      if (count === expected.size) break;
      if (count !== lastCount) [lastCount, lastChange] = [count, performance.now()];
      if (performance.now() - lastChange > quietMs) break;
      progress.status(`faults: draining, ${count} / ${expected.size} delivered`);
      await sleep(200);
    }
    mark('drained');
    await sleep(2000);

    const lostIds = [...expected].filter((id) => !receiver!.counts.has(id));
    let deliveries = 0;
    let foreign = 0;
    for (const [id, count] of receiver.counts) {
      if (expected.has(id)) deliveries += count;
      else foreign += count;
    }
    const [pending, retries, deadLetters] = await Promise.all([
      driver.xpending(`${PREFIX}webhooks:queue`, 'deliverers').then(
        (answer) => Number(answer[0] ?? 0),
        () => -1,
      ),
      driver.zcard(`${PREFIX}webhooks:retries`),
      driver.xlen(`${PREFIX}webhooks:dead`),
    ]);
    return {
      events: events.length,
      deliveredUnique: expected.size - lostIds.length,
      lost: lostIds.length,
      lostIds: lostIds.slice(0, 20),
      duplicates: deliveries - (expected.size - lostIds.length),
      deliveries,
      badSignatures: receiver.stats.badSignatures,
      foreign,
      republished,
      publishSeconds: (publishedAt - started) / 1000,
      drainSeconds: Math.max(0, (receiver.stats.lastNewAt - publishedAt) / 1000),
      totalSeconds: (receiver.stats.lastNewAt - started) / 1000,
      timeline,
      pending,
      retries,
      deadLetters,
      replicaEnv: { ...replicaEnv, REDIS_URL: 'redis://127.0.0.1:<private port>' },
      replicaStartupSeconds: replicas.map((replica) => replica.startupSeconds),
    };
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop()));
    driver?.disconnect();
    await receiver?.close();
    await redis?.down();
    await rm(dir, { recursive: true, force: true });
  }
}
