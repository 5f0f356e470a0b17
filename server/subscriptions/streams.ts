import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../resolvers/errors.ts';
import type { ChangeFeed, CustomerChange, TriggerEvent, TriggerName } from '../../push/signals.ts';
import type { Principal } from '../auth/scopes.ts';

/** How much one client may hold open, and how far one subscription may fall behind. */
export interface StreamLimits {
  /** Subscriptions one client (an API key, a JWT's subject, an anonymous address) may hold open on this replica. */
  readonly perClient: number;
  /** Changes waiting to be executed for one subscription; past it the subscription ends with an error. */
  readonly maxPending: number;
}

/**
 * Every subscription's event source on this replica: the feed's changes and trigger events as
 * async iterators, counted per client, and ended together by `closeAll` (server stop).
 */
export class StreamRegistry {
  private readonly perClient = new Map<string, number>();
  private readonly open = new Set<{ return(): Promise<unknown> }>();

  constructor(
    private readonly feed: ChangeFeed,
    readonly limits: StreamLimits,
  ) {}

  /** Subscriptions open on this replica (all clients). */
  get size(): number {
    return this.open.size;
  }

  /** The event sources of one operation: `renew` gives the operation fresh loaders before each event is executed. */
  forOperation(principal: Principal, renew: () => void): ChangeStreams {
    return {
      customer: (customerId) => this.stream(principal, renew, (push) => this.feed.onChange(customerId, push), byCustomer, same),
      everyone: (transform) => this.stream(principal, renew, (push) => this.feed.onChange(null, push), byCustomer, transform),
      triggers: (names) =>
        this.stream<TriggerEvent, TriggerEvent>(
          principal,
          renew,
          (push) => this.feed.onTrigger((event) => (names === null || names.has(event.trigger) ? push(event) : undefined)),
          null,
          same,
        ),
    };
  }

  /** Ends every open subscription (each completes as if its client had asked): server stop. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((stream) => stream.return()));
  }

  private stream<T, R>(
    principal: Principal,
    renew: () => void,
    listen: (push: (item: T) => void) => () => void,
    coalesce: Coalescing<T> | null,
    transform: (item: T) => Promise<R | null>,
  ): AsyncIterableIterator<R> {
    const client = principal.rateLimitKey;
    const held = this.perClient.get(client) ?? 0;
    if (held >= this.limits.perClient) {
      throw new GraphQLError(`Subscription limit reached: at most ${this.limits.perClient} open subscriptions per client, this client has ${held}.`, {
        extensions: { code: ErrorCode.OperationLimitExceeded, limit: 'subscriptionsPerClient' },
      });
    }
    this.perClient.set(client, held + 1);
    const stream: FeedStream<T, R> = new FeedStream<T, R>(listen, coalesce, this.limits.maxPending, renew, transform, () => {
      this.open.delete(stream);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    });
    this.open.add(stream);
    return stream;
  }
}

/** What `Context.changes` offers the subscription resolvers (resolvers/subscription.ts). */
export interface ChangeStreams {
  /** One customer's changes. Throws OPERATION_LIMIT_EXCEEDED when the client holds its limit of subscriptions. */
  customer(customerId: string): AsyncIterableIterator<CustomerChange>;
  /**
   * Every customer's changes, each shaped by `transform` (which runs with the event's fresh
   * loaders, so what it reads is what the event's selection reads) and skipped when it answers null.
   */
  everyone<R>(transform: (change: CustomerChange) => Promise<R | null>): AsyncIterableIterator<R>;
  /** Trigger events of these names (all when null). */
  triggers(names: ReadonlySet<TriggerName> | null): AsyncIterableIterator<TriggerEvent>;
}

const same = async <T>(item: T): Promise<T> => item;

interface Coalescing<T> {
  key(item: T): string;
  merge(older: T, newer: T): T;
}

/**
 * Changes about one customer waiting in one subscription are one change: its event re-resolves
 * the customer anyway, so only the latest state matters, and a burst about one person costs one
 * execution.
 */
const byCustomer: Coalescing<CustomerChange> = {
  key: (change) => change.customerId,
  merge: (older, newer) => ({
    customerId: older.customerId,
    sources: [...new Set([...older.sources, ...newer.sources])],
    kinds: [...new Set([...older.kinds, ...newer.kinds])],
    signalIds: [...new Set([...older.signalIds, ...newer.signalIds])],
    receivedAt: Math.min(older.receivedAt, newer.receivedAt),
  }),
};

/**
 * The feed's events of one subscription, queued until graphql-js asks for the next (it executes
 * events one after another). Written as an iterator, not an async generator: a generator awaiting
 * its next event cannot be returned until that event comes, so a client leaving a quiet
 * subscription would keep its feed listener forever. `return` ends it at once, whatever it waits for.
 */
class FeedStream<T, R> implements AsyncIterableIterator<R> {
  private readonly queue = new Map<string | number, T>();
  private sequence = 0;
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private failure: GraphQLError | null = null;
  private done = false;
  private readonly unlisten: () => void;

  constructor(
    listen: (push: (item: T) => void) => () => void,
    private readonly coalesce: Coalescing<T> | null,
    private readonly maxPending: number,
    private readonly renew: () => void,
    private readonly transform: (item: T) => Promise<R | null>,
    private readonly onEnd: () => void,
  ) {
    this.unlisten = listen((item) => this.push(item));
  }

  async next(): Promise<IteratorResult<R>> {
    try {
      for (;;) {
        const item = await this.take();
        if (item.done) return { done: true, value: undefined };
        // Before the event is executed: its selection must not be answered from the last event's request cache.
        this.renew();
        const shaped = await this.transform(item.value);
        if (this.done) return { done: true, value: undefined };
        if (shaped !== null) return { done: false, value: shaped };
      }
    } catch (error) {
      // Neither graphql-js nor the transports return an iterator whose `next` failed: stop listening here.
      this.end();
      throw error;
    }
  }

  async return(): Promise<IteratorResult<R>> {
    this.end();
    return { done: true, value: undefined };
  }

  async throw(): Promise<IteratorResult<R>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private take(): Promise<IteratorResult<T>> {
    if (this.failure) return Promise.reject(this.failure);
    const first = this.queue.entries().next();
    if (!first.done) {
      this.queue.delete(first.value[0]);
      return Promise.resolve({ done: false, value: first.value[1] });
    }
    if (this.done) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private push(item: T): void {
    if (this.done || this.failure) return;
    if (this.waiting) {
      const waiting = this.waiting;
      this.waiting = null;
      waiting({ done: false, value: item });
      return;
    }
    const key = this.coalesce ? this.coalesce.key(item) : this.sequence++;
    const older = this.queue.get(key);
    if (older !== undefined && this.coalesce) {
      this.queue.set(key, this.coalesce.merge(older, item));
      return;
    }
    if (this.queue.size >= this.maxPending) {
      // The server executes events slower than they come: end this subscription rather than queue without bound.
      this.failure = new GraphQLError(`Subscription ended: more than ${this.maxPending} events were waiting to be sent.`, {
        extensions: { code: ErrorCode.OperationLimitExceeded, limit: 'pendingEvents' },
      });
      this.queue.clear();
      this.unlisten();
      return;
    }
    this.queue.set(key, item);
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    this.queue.clear();
    this.unlisten();
    this.waiting?.({ done: true, value: undefined });
    this.waiting = null;
    this.onEnd();
  }
}
