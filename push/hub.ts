import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Invalidator } from '../cache/invalidation.ts';
import { createLoaders, type Upstreams } from '../cache/loaders.ts';
import { createRedisClient, sendEach, type RedisClient } from '../cache/redis-client.ts';
import { SourceError } from '../sources/errors.ts';
import type { ChangeFeed, CustomerChange, Signal, SignalSource, TriggerEvaluator, TriggerEvent } from './signals.ts';

/** A shop customer id as the warehouse's user id holds it (anything else is not a customer). */
const CUSTOMER_ID = /^[1-9]\d{0,18}$/;
/** Signal ids remembered: a signal seen within this time (from a source or from another replica) is not handled again. */
const SEEN_TTL_MS = 10 * 60_000;
const SEEN_MAX = 100_000;

export interface HubOptions {
  readonly upstreams: Upstreams;
  readonly invalidator: Invalidator;
  readonly logger: Logger;
  /** Turns changes into trigger events; none are fired without it. */
  readonly evaluator?: TriggerEvaluator;
  /**
   * Redis (REDIS_URL): changes and trigger events reach the subscribers of every replica through
   * pub/sub, and a signal that several replicas receive (a NOTIFY, a warehouse poll) is claimed by
   * one of them for trigger evaluation. Without it the hub serves this process alone. One server or
   * a Redis Cluster (`url` lists its seed nodes): a cluster carries pub/sub to every node's clients.
   */
  readonly redis?: { readonly url: string; readonly keyPrefix?: string };
  /** How long signals about the same person are gathered into one change (PUSH_COALESCE_MS). */
  readonly coalesceMs?: number;
  /** The time budget of resolving a batch's people and evaluating its triggers. */
  readonly budgetMs?: number;
  /** Told of each signal's outcome (metrics): `changed`, `duplicate`, `unresolved`, `failed`. */
  readonly onSignal?: (source: SignalSource, outcome: SignalOutcome) => void;
  /** Told of each change delivered to this replica's listeners, with its age since the first signal. */
  readonly onChange?: (change: CustomerChange, ageMs: number) => void;
}

export type SignalOutcome = 'changed' | 'duplicate' | 'unresolved' | 'failed';

interface Envelope {
  readonly origin: string;
  readonly change?: CustomerChange;
  readonly trigger?: TriggerEvent;
}

/**
 * The push hub (docs/push.md): producers hand it signals (`emit`); it drops the ones already seen,
 * gathers a few milliseconds of them, resolves each to the shop's customer by the same identity
 * rules as queries (through the request loaders, so one batch costs one call per family), evicts
 * what the cache holds about those people, and tells the listeners: this replica's at once, the
 * others' through Redis. Trigger evaluation runs once per change across the fleet, on the replica
 * that claims its signals first.
 */
export class PushHub implements ChangeFeed {
  /** This process among the replicas (pub/sub messages from itself are ignored). */
  readonly replica = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly seen = new LRUCache<string, true>({ max: SEEN_MAX, ttl: SEEN_TTL_MS });
  private readonly changeListeners = new Map<string | null, Set<(change: CustomerChange) => void>>();
  private readonly triggerListeners = new Set<(event: TriggerEvent) => void>();
  private pending: Signal[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly publisher?: RedisClient;
  private readonly subscriber?: RedisClient;
  private readonly prefix: string;
  private stopped = false;

  constructor(private readonly options: HubOptions) {
    this.prefix = options.redis?.keyPrefix ?? 'c360:';
    if (options.redis) {
      const settings = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResubscribe: false } as const;
      this.publisher = createRedisClient(options.redis.url, { ...settings, commandTimeout: 1000 });
      this.subscriber = createRedisClient(options.redis.url, settings);
      for (const client of [this.publisher, this.subscriber]) client.on('error', () => undefined);
      this.subscriber.on('ready', () => void this.subscriber!.subscribe(this.channel).catch(() => undefined));
      this.subscriber.on('message', (_channel: string, message: string) => this.received(message));
    }
  }

  private get channel(): string {
    return `${this.prefix}push`;
  }

  /** Connects to Redis when configured (never rejects: pub/sub resumes when Redis is back). */
  async start(): Promise<void> {
    await Promise.allSettled([this.publisher?.connect(), this.subscriber?.connect()]);
  }

  /** Hands in one signal; never throws. Producers call this as their `SignalSink`. */
  readonly emit = (signal: Signal): void => {
    if (this.stopped) return;
    if (this.seen.has(signal.id)) return this.options.onSignal?.(signal.source, 'duplicate');
    this.seen.set(signal.id, true);
    this.pending.push(signal);
    this.timer ??= setTimeout(() => this.flush(), this.options.coalesceMs ?? 20);
  };

  onChange(customerId: string | null, listener: (change: CustomerChange) => void): () => void {
    let listeners = this.changeListeners.get(customerId);
    if (!listeners) this.changeListeners.set(customerId, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.changeListeners.delete(customerId);
    };
  }

  onTrigger(listener: (event: TriggerEvent) => void): () => void {
    this.triggerListeners.add(listener);
    return () => void this.triggerListeners.delete(listener);
  }

  /** Handles what is pending, then closes the Redis connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
    await this.flushing;
    this.publisher?.disconnect();
    this.subscriber?.disconnect();
  }

  /** Resolves when every signal emitted so far has been handled (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.timer || this.pending.length > 0) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.flush();
      }
      await this.flushing;
    }
    await this.flushing;
  }

  private flush(): void {
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    // One batch at a time: a person's changes reach listeners in the order their signals came.
    this.flushing = this.flushing.then(() => this.handle(batch)).catch((error: unknown) => this.options.logger.error({ err: error }, 'push batch failed'));
  }

  private async handle(batch: readonly Signal[]): Promise<void> {
    const { upstreams, logger } = this.options;
    const loaders = createLoaders(upstreams, { deadline: Date.now() + (this.options.budgetMs ?? 5000) });
    const resolved = await Promise.all(batch.map((signal) => this.resolve(signal, loaders)));
    const byCustomer = new Map<string, { signals: Signal[]; email: string | null; contactId: string | null }>();
    resolved.forEach((person, index) => {
      const signal = batch[index]!;
      if (!person) return;
      if ('failed' in person) {
        this.options.onSignal?.(signal.source, 'failed');
        logger.warn({ source: signal.source, kind: signal.kind, reason: person.failed }, 'push signal could not be resolved to a customer');
        return;
      }
      const entry = byCustomer.get(person.customerId) ?? { signals: [], email: person.email, contactId: null };
      entry.signals.push(signal);
      entry.contactId ??= signal.subject.contactId ?? null;
      byCustomer.set(person.customerId, entry);
      this.options.onSignal?.(signal.source, 'changed');
    });
    for (const [index, person] of resolved.entries()) if (person === null) this.options.onSignal?.(batch[index]!.source, 'unresolved');
    if (byCustomer.size === 0) return;

    // Evicted before anyone is told, so whoever re-reads the person reads the sources.
    await this.options.invalidator.peopleChanged([...byCustomer].map(([customerId, { email, contactId }]) => ({ customerId, email, contactId })));
    const changes = [...byCustomer].map(([customerId, { signals }]): CustomerChange => ({
      customerId,
      sources: [...new Set(signals.map((signal) => signal.source))],
      kinds: [...new Set(signals.map((signal) => signal.kind))],
      signalIds: signals.map((signal) => signal.id),
      receivedAt: Math.min(...signals.map((signal) => signal.receivedAt)),
    }));
    for (const change of changes) {
      this.deliverChange(change);
      this.publish({ origin: this.replica, change });
    }
    const evaluator = this.options.evaluator;
    if (!evaluator) return;
    const claimed = await this.claim(changes);
    const events = await Promise.all(
      claimed.map((change) =>
        evaluator.evaluate(change).catch((error: unknown) => {
          logger.warn({ err: error, customerId: change.customerId }, 'trigger evaluation failed');
          return [];
        }),
      ),
    );
    for (const event of events.flat()) {
      this.deliverTrigger(event);
      this.publish({ origin: this.replica, trigger: event });
    }
  }

  /**
   * The shop customer a signal is about: null when no customer is (an anonymous browser not yet
   * linked, an email the shop does not know), `failed` when a source needed to tell could not answer.
   */
  private async resolve(signal: Signal, loaders: ReturnType<typeof createLoaders>): Promise<{ customerId: string; email: string | null } | { failed: string } | null> {
    const { customerId, email, contactId, anonymousId } = signal.subject;
    try {
      if (customerId !== undefined) {
        if (!CUSTOMER_ID.test(customerId)) return null;
        const customer = await loaders.customerById.load(customerId);
        // Deleted or never a customer: nothing to re-resolve, but a subscriber may still be told.
        return { customerId, email: customer?.email ?? null };
      }
      if (email !== undefined) {
        const customer = await loaders.customerByEmail.load(email);
        return customer ? { customerId: customer.id, email: customer.email } : null;
      }
      if (contactId !== undefined) {
        const contact = await loaders.crmContactById.load(contactId);
        if (!contact?.email) return null;
        const customer = await loaders.customerByEmail.load(contact.email);
        return customer ? { customerId: customer.id, email: customer.email } : null;
      }
      if (anonymousId !== undefined) {
        const visitor = await loaders.webVisitor.load(anonymousId);
        const userId = visitor?.link === 'linked' ? visitor.userId : null;
        if (!userId || !CUSTOMER_ID.test(userId)) return null;
        const customer = await loaders.customerById.load(userId);
        return { customerId: userId, email: customer?.email ?? null };
      }
      return null;
    } catch (error) {
      // Named by source and kind only: an upstream's message may quote what it was asked.
      return { failed: error instanceof SourceError ? `${error.source} ${error.kind}` : 'unexpected error' };
    }
  }

  /**
   * The changes whose triggers this replica evaluates: with Redis, those with a signal no other
   * replica claimed first (a NOTIFY reaches every replica; one evaluates it); alone, all of them.
   * Redis down: this replica evaluates (a trigger may then fire on two replicas; the trigger store's
   * compare-and-set and the webhooks' idempotency keys keep that harmless).
   */
  private async claim(changes: readonly CustomerChange[]): Promise<CustomerChange[]> {
    if (!this.publisher) return [...changes];
    try {
      // A claim key per signal, each on its own node on a cluster (no command spans two of them).
      const results = await sendEach(
        this.publisher,
        changes.flatMap((change) => change.signalIds.map((id) => ['set', `${this.prefix}push:claim:${id}`, this.replica, 'PX', SEEN_TTL_MS, 'NX'] as const)),
      );
      let at = 0;
      return changes.filter((change) => {
        const answers = results.slice(at, (at += change.signalIds.length));
        return answers.some(([error, answer]) => error !== null || answer === 'OK');
      });
    } catch {
      return [...changes];
    }
  }

  private publish(envelope: Envelope): void {
    if (!this.publisher || this.publisher.status !== 'ready') return;
    this.publisher.publish(this.channel, JSON.stringify(envelope)).catch((error: Error) => this.options.logger.warn({ err: error }, 'push fan-out failed'));
  }

  /** Another replica's change or trigger event, for this replica's listeners (once, whoever saw it too). */
  private received(message: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message) as Envelope;
    } catch {
      return;
    }
    if (envelope.origin === this.replica) return;
    if (envelope.change) {
      const fresh = envelope.change.signalIds.filter((id) => !this.seen.has(id));
      if (fresh.length === 0) return;
      for (const id of fresh) this.seen.set(id, true);
      // Evicted by the replica that resolved it (the shared cache tells every replica's local copy).
      this.deliverChange(envelope.change);
    }
    if (envelope.trigger) {
      const key = `trigger:${envelope.trigger.id}`;
      if (this.seen.has(key)) return;
      this.deliverTrigger(envelope.trigger);
    }
  }

  private deliverChange(change: CustomerChange): void {
    this.options.onChange?.(change, Date.now() - change.receivedAt);
    for (const key of [change.customerId, null]) {
      for (const listener of this.changeListeners.get(key) ?? []) this.call(() => listener(change));
    }
  }

  private deliverTrigger(event: TriggerEvent): void {
    this.seen.set(`trigger:${event.id}`, true);
    for (const listener of this.triggerListeners) this.call(() => listener(event));
  }

  private call(listener: () => void): void {
    try {
      listener();
    } catch (error) {
      this.options.logger.error({ err: error }, 'push listener failed');
    }
  }
}
