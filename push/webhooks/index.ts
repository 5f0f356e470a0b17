import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createRedisClient, type RedisClient, type RedisClientOptions } from '../../cache/redis-client.ts';
import { badUserInput } from '../../resolvers/errors.ts';
import type { ChangeFeed, TriggerEvent } from '../signals.ts';
import { Deliverer, type DeliveryOutcome } from './deliver.ts';
import { endpointOf, MemoryEndpointStore, newSecret, RedisEndpointStore, type Endpoint, type EndpointInput, type EndpointStore } from './endpoints.ts';
import { MemoryQueue, RedisQueue, type DeadLetter, type DeliveryQueue } from './queue.ts';
import type { SelectionRunner } from './selection.ts';
import { webhookIdOf } from './signing.ts';

export type { DeliveryOutcome } from './deliver.ts';
export type { DeadLetter } from './queue.ts';
export type { Endpoint, EndpointInput } from './endpoints.ts';

export interface OutgoingWebhooksOptions {
  /** Where trigger events come from (the push hub): every replica's, on every replica. */
  readonly feed: ChangeFeed;
  /** Resolves endpoints' selections (the server's protected schema and sources). */
  readonly selection: SelectionRunner;
  readonly logger: Logger;
  /** Endpoints must be https in production; http is accepted otherwise. */
  readonly production: boolean;
  /**
   * REDIS_URL (one server or a cluster's seed nodes): endpoints, the queue and dead letters in
   * Redis, shared by every replica and kept across restarts. Without it, all of them live in this
   * process and a restart loses them.
   */
  readonly redis?: { readonly url: string; readonly keyPrefix?: string };
  /** OUTGOING_WEBHOOK_RETRY_SCHEDULE_MS: the wait before each retry (Standard Webhooks': 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). */
  readonly retryScheduleMs?: readonly number[];
  /** OUTGOING_WEBHOOK_TIMEOUT_MS: how long one POST may take (10 s). */
  readonly attemptTimeoutMs?: number;
  /** OUTGOING_WEBHOOK_CLAIM_IDLE_MS: a job held this long by a replica that went away is delivered by another (60 s). */
  readonly claimIdleMs?: number;
  /** OUTGOING_WEBHOOK_CONCURRENCY: deliveries in flight per replica (16). */
  readonly concurrency?: number;
  /** How long an idle replica waits on the queue before looking at due retries again (1 s). */
  readonly pollMs?: number;
  /** How long an (event, endpoint) pair is remembered so the fleet enqueues it once (24 h). */
  readonly dedupeMs?: number;
  /** OUTGOING_WEBHOOK_MAX_DEAD_LETTERS: dead letters kept, all endpoints together (10,000). */
  readonly maxDeadLetters?: number;
  /** The longest `Retry-After` honoured (24 h). */
  readonly maxRetryAfterMs?: number;
  /** Trigger events kept while Redis refuses them, to enqueue once it is back (10,000; the oldest go first). */
  readonly maxBacklog?: number;
  /** Told of every attempt's outcome (metrics). */
  readonly onDelivery?: (outcome: DeliveryOutcome) => void;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
export const WEBHOOK_DEFAULTS = {
  retryScheduleMs: [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR],
  attemptTimeoutMs: 10 * SECOND,
  claimIdleMs: MINUTE,
  concurrency: 16,
  pollMs: SECOND,
  dedupeMs: 24 * HOUR,
  maxDeadLetters: 10_000,
  maxRetryAfterMs: 24 * HOUR,
  maxBacklog: 10_000,
} as const;

/** Counts since start, for metrics and tests. */
export interface FanOutStats {
  /** Jobs added to the queue by this replica. */
  readonly enqueued: number;
  /** Jobs another replica (or an earlier copy of the event) had already added: not a delivery. */
  readonly repeats: number;
  /** Fan-outs that failed (Redis down) and went to the backlog. */
  readonly failures: number;
  /** Trigger events dropped because the backlog was full: their deliveries are lost. */
  readonly lost: number;
  /** Trigger events waiting for Redis now. */
  readonly backlog: number;
}

/**
 * Outgoing webhooks: the endpoint registry an admin manages (GraphQL, resolvers/webhooks.ts), the
 * fan-out of each trigger event to the endpoints that want it (a queued job per endpoint, once
 * across the fleet), and this replica's deliverer. See docs/push-webhooks.md.
 */
export class OutgoingWebhooks {
  private readonly counts = { enqueued: 0, repeats: 0, failures: 0, lost: 0 };
  private readonly backlog: TriggerEvent[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  /** Whether the last fan-out failed: logged once when it starts and once when it ends. */
  private failing = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly options: OutgoingWebhooksOptions,
    private readonly endpoints: EndpointStore,
    private readonly queue: DeliveryQueue,
    private readonly deliverer: Deliverer,
    private readonly clients: readonly RedisClient[],
  ) {
    this.unsubscribe = options.feed.onTrigger((event) => void this.fanOut(event));
    deliverer.start();
  }

  /**
   * Starts delivering. With Redis, waits up to 2 s for it and starts anyway when it does not
   * answer: fan-outs wait in the backlog and the deliverer retries until Redis is back.
   */
  static async start(options: OutgoingWebhooksOptions): Promise<OutgoingWebhooks> {
    const settings = { ...WEBHOOK_DEFAULTS, ...definedOf(options) };
    if (settings.claimIdleMs <= settings.attemptTimeoutMs) {
      throw new Error(`outgoing webhooks: expected the claim bound (${settings.claimIdleMs} ms) above the attempt timeout (${settings.attemptTimeoutMs} ms)`);
    }
    let endpoints: EndpointStore;
    let queue: DeliveryQueue;
    const clients: RedisClient[] = [];
    if (options.redis) {
      const prefix = `${options.redis.keyPrefix ?? 'c360:'}webhooks:`;
      const connection: RedisClientOptions = {
        lazyConnect: true,
        // Fail fast while Redis is away: the fan-out keeps its own bounded backlog.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 2 * SECOND,
        connectTimeout: 2 * SECOND,
        retryStrategy: (attempt: number) => Math.round(Math.min(50 * 2 ** Math.min(attempt - 1, 16), 2000) * (0.8 + Math.random() * 0.4)),
      };
      const redis = createRedisClient(options.redis.url, connection);
      // The blocking read waits up to pollMs: its timeout must allow that.
      const blocking = createRedisClient(options.redis.url, { ...connection, commandTimeout: settings.pollMs + 5 * SECOND });
      clients.push(redis, blocking);
      // Reconnects are ioredis's; the deliverer logs the queue's failures once per outage.
      for (const client of clients) client.on('error', () => undefined);
      await Promise.race([Promise.allSettled(clients.map((client) => client.connect())), new Promise((resolve) => setTimeout(resolve, 2 * SECOND).unref())]);
      if (redis.status !== 'ready') options.logger.warn('outgoing webhooks: Redis is not reachable yet; deliveries wait until it is');
      endpoints = new RedisEndpointStore(redis, `${prefix}endpoints`);
      const consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
      queue = new RedisQueue({ redis, blocking, prefix, consumer, claimIdleMs: settings.claimIdleMs, dedupeMs: settings.dedupeMs, maxDeadLetters: settings.maxDeadLetters });
    } else {
      endpoints = new MemoryEndpointStore();
      queue = new MemoryQueue({ dedupeMs: settings.dedupeMs, maxDeadLetters: settings.maxDeadLetters });
    }
    const deliverer = new Deliverer({
      queue,
      endpoints,
      select: (endpoint, customerId, requestId) => options.selection.run(endpoint, customerId, requestId),
      logger: options.logger,
      ...settings,
      ...(options.onDelivery && { onDelivery: options.onDelivery }),
    });
    return new OutgoingWebhooks({ ...options, ...settings }, endpoints, queue, deliverer, clients);
  }

  /** Registers an endpoint (BAD_USER_INPUT naming the field when the input is not valid); the secret is returned here only. */
  async register(input: EndpointInput): Promise<{ endpoint: Endpoint; secret: string }> {
    const endpoint = endpointOf(input, { production: this.options.production, now: Date.now() });
    this.options.selection.check(endpoint.selection, endpoint.scopes);
    await this.endpoints.put(endpoint);
    return { endpoint, secret: endpoint.secret };
  }

  /** A new secret for the endpoint, returned here only; BAD_USER_INPUT when there is no such endpoint. */
  async rotateSecret(id: string): Promise<{ endpoint: Endpoint; secret: string }> {
    const endpoint = await this.endpoints.get(id);
    if (!endpoint) throw badUserInput(`id: expected an endpoint's id, got "${id.slice(0, 64)}"`, 'id');
    const rotated = { ...endpoint, secret: newSecret(), secretRotatedAt: Date.now() };
    await this.endpoints.put(rotated);
    return { endpoint: rotated, secret: rotated.secret };
  }

  /** False when there was no such endpoint. Its queued jobs are dropped when they come up. */
  remove(id: string): Promise<boolean> {
    return this.endpoints.remove(id);
  }

  list(): Promise<Endpoint[]> {
    return this.endpoints.list();
  }

  deadLetters(endpointId: string, first: number): Promise<DeadLetter[]> {
    return this.queue.deadLetters(endpointId, first);
  }

  replay(id: string): Promise<boolean> {
    return this.queue.replay(id);
  }

  stats(): FanOutStats {
    return { ...this.counts, backlog: this.backlog.length };
  }

  /** Stops taking events and jobs, lets deliveries in flight finish, and closes Redis. */
  async stop(): Promise<void> {
    this.unsubscribe();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.deliverer.stop();
    await this.queue.close();
    for (const client of this.clients) client.disconnect();
  }

  /** Queues one job per endpoint that wants the event; on failure, keeps the event for later. Never rejects. */
  private async fanOut(event: TriggerEvent): Promise<void> {
    try {
      const wanted = (await this.endpoints.list()).filter((endpoint) => endpoint.disabledAt === null && endpoint.triggers.includes(event.trigger));
      for (const endpoint of wanted) {
        const added = await this.queue.enqueue({ webhookId: webhookIdOf(event.id, endpoint.id), endpointId: endpoint.id, event });
        this.counts[added ? 'enqueued' : 'repeats']++;
      }
      if (this.failing) {
        this.failing = false;
        this.options.logger.info({ backlog: this.backlog.length }, 'outgoing webhooks: queueing trigger events again');
      }
    } catch (error) {
      this.counts.failures++;
      if (!this.failing) this.options.logger.warn({ err: error, eventId: event.id }, 'outgoing webhooks: could not queue a trigger event; kept to try again');
      this.failing = true;
      // Jobs enqueued before the failure are not added twice on the next try: their keys dedupe them.
      this.backlog.push(event);
      if (this.backlog.length > this.options.maxBacklog!) {
        this.backlog.shift();
        this.counts.lost++;
      }
      this.flushTimer ??= setTimeout(() => void this.flush(), SECOND);
    }
  }

  private async flush(): Promise<void> {
    this.flushTimer = null;
    const events = this.backlog.splice(0);
    // Each failure puts its event back and arms the timer again.
    for (const event of events) await this.fanOut(event);
  }
}

/** The options that were given, so a default is not overwritten by an explicit `undefined`. */
function definedOf<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
