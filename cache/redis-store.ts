import { randomUUID } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import type { Logger } from 'pino';
import { z } from 'zod';
import { createRedisClient, deleteKeys, getBuffers, sendEach, type RedisClient } from './redis-client.ts';
import { MemoryStore, type CacheEntry, type EntityStore, type StoreHealth, type StoreStats } from './store.ts';

export interface RedisStoreOptions {
  /** REDIS_URL: one server, or a Redis Cluster's seed nodes (redis-client.ts). */
  readonly url: string;
  /** Namespace of every key and of the evictions channel, so deployments can share one Redis. */
  readonly keyPrefix?: string;
  /** The local copy in front of Redis: hot keys answer without a round trip for this long. */
  readonly localRetainMs: number;
  readonly localMaxEntries: number;
  readonly localMaxBytes: number;
  /** A Redis command slower than this counts as a cache miss rather than holding the request. */
  readonly commandTimeoutMs: number;
  /** How long start-up waits for Redis before going on without it (default 2000). */
  readonly connectTimeoutMs?: number;
  /** The cap of the reconnect backoff, so also how long a recovered Redis may go unnoticed (default 2000). */
  readonly reconnectMaxDelayMs?: number;
  readonly logger: Logger;
}

/** Declared once: the publisher splits its evictions by it and the subscriber rejects larger ones. */
const MAX_KEYS_PER_EVICTION = 1000;
const MAX_KEY_LENGTH = 1024;
const MAX_MESSAGE_LENGTH = MAX_KEYS_PER_EVICTION * (MAX_KEY_LENGTH + 3) + 256;
/**
 * Deletions Redis could not take (it was away, or the command failed) are kept and sent again with
 * the next delete or on recovery, so a partitioned replica's webhook still reaches the others. Past
 * this many, a key's Redis copy may outlive its deletion until its own retention ends (the recovery
 * line counts them as lostEvictions).
 */
const MAX_PENDING_EVICTIONS = 10_000;
/**
 * Commands in a row that a Redis with its connections open did not answer within the command
 * timeout (stuck, or cut off by the network) before the store stops asking it, as it does while
 * Redis is unreachable: one slow command is a miss, not an outage.
 */
const STALL_AFTER_TIMEOUTS = 3;
/** While stalled, how often one PING asks whether Redis answers again (in the background: no request waits for it). */
const STALL_PROBE_MS = 250;

const Eviction = z.object({
  from: z.string().min(1).max(128),
  keys: z.array(z.string().min(1).max(MAX_KEY_LENGTH)).min(1).max(MAX_KEYS_PER_EVICTION),
});
const Entry = z.object({ value: z.unknown().refine((value) => value !== undefined), storedAt: z.number() });

/**
 * Entries shared by every replica through Redis, with a short-lived local copy in each process.
 * Deletions are published on a channel so every replica drops its local copy within a second
 * (normally within a few milliseconds); the local copy's short retention bounds the damage of a
 * lost message. Values are stored with V8's serializer, which keeps Dates as Dates.
 *
 * Redis is best-effort. Every method resolves whatever Redis does: a value Redis cannot give
 * (down, slow, corrupt) is a miss and a write it cannot take stays local. While Redis is
 * unreachable (`health().state === 'down'`), or stops answering with its connections open
 * (STALL_AFTER_TIMEOUTS commands in a row timed out), the store serves from the in-process copy
 * alone, without a round trip per call, and reconnects (or, stalled, pings every STALL_PROBE_MS)
 * in the background; it logs one line when Redis goes away and one when it is back. While down, entries written here keep their full retention
 * (not the short one of a copy), so the process caches as the in-process store would, within the
 * same entry and byte bounds as the local copy: memory use does not grow because Redis failed.
 * Back on Redis, it drops its local copy (it missed the evictions published meanwhile) and sends
 * the deletions Redis could not take. Messages and values read from Redis are validated: a bad
 * one is dropped and counted (`stats()`), never thrown.
 */
export class RedisStore implements EntityStore {
  private readonly redis: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly local: MemoryStore;
  private readonly id = randomUUID();
  private readonly prefix: string;
  private readonly channel: string;
  private readonly logger: Logger;

  private current: { state: 'up' | 'down'; since: number } = { state: 'down', since: Date.now() };
  private commandsReady = false;
  /** Commands in a row Redis did not answer in time; `stalled` once STALL_AFTER_TIMEOUTS of them, until a probe is answered. */
  private unanswered = 0;
  private stalled = false;
  private probe: NodeJS.Timeout | undefined;
  private subscribed = false;
  private subscribing: Promise<void> = Promise.resolve();
  private warned = false;
  private closing = false;
  private lastError = 'not connected yet';
  private readonly pendingEvictions = new Set<string>();
  private lostEvictions = 0;
  private readonly counts = { droppedMessages: 0, corruptEntries: 0, failedCommands: 0 };
  private readonly throttle = { message: throttled(60_000), entry: throttled(60_000), command: throttled(10_000) };

  private constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.keyPrefix ?? 'c360:';
    this.channel = `${this.prefix}evictions`;
    this.logger = options.logger;
    const maxDelay = options.reconnectMaxDelayMs ?? 2000;
    const settings = {
      // Without Redis, fail fast (a miss) instead of queueing commands behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      lazyConnect: true,
      // Never gives up: exponential from 50 ms, capped, with jitter so replicas do not reconnect in step.
      retryStrategy: (attempt: number) => Math.round(Math.min(50 * 2 ** Math.min(attempt - 1, 16), maxDelay) * (0.8 + Math.random() * 0.4)),
      // ioredis resubscribes only a connection that was subscribed when it dropped; one that never
      // got there (Redis down at start-up) would stay deaf. So we subscribe on every 'ready' ourselves.
      autoResubscribe: false,
    };
    this.redis = createRedisClient(options.url, settings);
    this.subscriber = createRedisClient(options.url, { ...settings, commandTimeout: undefined });
    this.local = new MemoryStore({ maxEntries: options.localMaxEntries, maxBytes: options.localMaxBytes });

    // Reconnect attempts fail once per backoff step; the state change is what gets logged, once.
    for (const client of [this.redis, this.subscriber]) client.on('error', (error: Error) => void (this.lastError = error.message));
    this.redis.on('ready', () =>
      this.update(() => {
        this.commandsReady = true;
        // A new connection answers: whatever stalled the old one is behind it.
        this.answered();
      }),
    );
    this.redis.on('close', () => this.update(() => (this.commandsReady = false)));
    this.subscriber.on('ready', () => void (this.subscribing = this.subscribe()));
    this.subscriber.on('close', () => this.update(() => (this.subscribed = false)));
    this.subscriber.on('message', (_channel: string, message: string) => this.onEviction(message));
  }

  /**
   * Starts the store: waits up to `connectTimeoutMs` for Redis, then resolves either way. Never
   * rejects for Redis being unreachable: the store starts degraded (see `health()`) and connects
   * by itself when Redis answers.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    const timeout = options.connectTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([store.redis.connect(), store.subscriber.connect()])
        // A cluster resolves connect() a tick before it emits 'ready' (which subscribes): let that run.
        .then(() => new Promise((resolve) => setImmediate(resolve)))
        .then(() => store.subscribing),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout))),
    ]);
    clearTimeout(timer);
    if (store.current.state === 'down') store.warnDown('Redis unreachable at start-up, serving from the in-process cache until it answers');
    return store;
  }

  health(): StoreHealth {
    return { kind: 'redis', ...this.current };
  }

  stats(): StoreStats {
    return { ...this.counts };
  }

  async getMany(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    const found = await this.local.getMany(keys);
    const missing = keys.filter((_, i) => found[i] === undefined);
    if (missing.length === 0 || this.current.state === 'down') return found;
    let buffers: Array<Buffer | null>;
    try {
      buffers = await getBuffers(
        this.redis,
        missing.map((key) => this.prefix + key),
      );
    } catch (error) {
      this.commandFailed('read', error);
      return found;
    }
    this.unanswered = 0;
    const fetched = new Map<string, CacheEntry>();
    const refill: Array<{ key: string; entry: CacheEntry; retainMs: number }> = [];
    missing.forEach((key, i) => {
      const buffer = buffers[i];
      const entry = buffer ? this.decode(buffer) : undefined;
      if (!entry) return;
      fetched.set(key, entry);
      refill.push({ key, entry, retainMs: this.options.localRetainMs });
    });
    await this.local.setMany(refill);
    return keys.map((key, i) => found[i] ?? fetched.get(key));
  }

  async setMany(entries: ReadonlyArray<{ key: string; entry: CacheEntry; retainMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    if (this.current.state === 'down') {
      await this.local.setMany(entries);
      return;
    }
    const cap = this.options.localRetainMs;
    // The local copy is written within this call, before anything is awaited (EntityStore.setMany).
    await this.local.setMany(entries.map((e) => ({ ...e, retainMs: Math.min(e.retainMs, cap) })));
    try {
      const results = await sendEach(
        this.redis,
        entries.map(({ key, entry, retainMs }) => ['set', this.prefix + key, serialize(entry), 'PX', Math.max(1, Math.round(retainMs))] as const),
      );
      const failed = results.find(([error]) => error)?.[0];
      if (failed) this.commandFailed('write', failed);
      else this.unanswered = 0;
    } catch (error) {
      this.commandFailed('write', error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    this.local.forget(keys);
    if (this.current.state === 'down') this.keepForLater(keys);
    else await this.evict([...keys, ...this.takePending()]); // and whatever an earlier failure left
  }

  /** The local copy's: its short retention and the evictions every replica publishes bound it. */
  peek(key: string): CacheEntry | undefined {
    return this.local.peek(key);
  }

  /** The local copy's: every deletion here and every eviction another replica publishes goes through it. */
  onForget(listener: (keys: readonly string[] | null) => void): void {
    this.local.onForget(listener);
  }

  /** Through Redis when it answers, so one replica refreshes; otherwise one caller per process. */
  async claim(key: string, ttlMs: number): Promise<boolean> {
    if (this.current.state === 'up') {
      const claimKey = `${this.prefix}claim:${key}`;
      try {
        const claimed = (await this.redis.set(claimKey, this.id, 'PX', ttlMs, 'NX')) === 'OK';
        this.unanswered = 0;
        return claimed;
      } catch (error) {
        this.commandFailed('claim', error);
        // A Redis that stops answering with its connection open runs the SET once it answers
        // again, for a refresh this process then made on its own claim: withdrawn right after it,
        // on the same connection, so no replica is kept from refreshing the key for `ttlMs`.
        void this.redis.eval(WITHDRAW_CLAIM, 1, claimKey, this.id).catch(() => undefined);
      }
    }
    return this.local.claim(key, ttlMs);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.probe);
    this.subscriber.disconnect();
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
    await this.local.close();
  }

  /** Deletes from Redis and tells the other replicas, in messages they accept; keeps what failed for later. */
  private async evict(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += MAX_KEYS_PER_EVICTION) {
      const chunk = keys.slice(start, start + MAX_KEYS_PER_EVICTION);
      try {
        await deleteKeys(
          this.redis,
          chunk.map((key) => this.prefix + key),
        );
        await this.redis.publish(this.channel, JSON.stringify({ from: this.id, keys: chunk }));
        this.unanswered = 0;
      } catch (error) {
        this.commandFailed('delete', error);
        this.keepForLater(chunk);
      }
    }
  }

  private keepForLater(keys: readonly string[]): void {
    for (const key of keys) {
      if (this.pendingEvictions.size < MAX_PENDING_EVICTIONS) this.pendingEvictions.add(key);
      else this.lostEvictions++;
    }
  }

  private takePending(): string[] {
    const keys = [...this.pendingEvictions];
    this.pendingEvictions.clear();
    return keys;
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
      this.update(() => (this.subscribed = this.subscriber.status === 'ready'));
    } catch (error) {
      this.lastError = errorMessage(error);
    }
  }

  /** Applies a change of connection state; logs and recovers only when the store's state changes. */
  private update(change: () => void): void {
    change();
    if (this.closing) return;
    const state = this.commandsReady && this.subscribed && !this.stalled ? 'up' : 'down';
    if (state === this.current.state) return;
    const downForMs = Date.now() - this.current.since;
    this.current = { state, since: Date.now() };
    if (state === 'down') {
      this.warnDown(
        this.stalled
          ? `Redis stopped answering (${STALL_AFTER_TIMEOUTS} commands in a row timed out), serving from the in-process cache until it answers`
          : 'Redis unreachable, serving from the in-process cache until it answers',
      );
      return;
    }
    // Evictions other replicas published while we were away never reached us, and entries written
    // meanwhile kept their full retention: the local copy may hold values Redis no longer has.
    // Dropping it costs one Redis round trip per key; keeping it could serve deleted data for hours.
    this.local.clear();
    const replay = this.takePending();
    const lost = this.lostEvictions;
    this.lostEvictions = 0;
    if (this.warned) {
      this.logger.info({ downForMs, replayedEvictions: replay.length, lostEvictions: lost }, 'Redis reachable again, shared cache restored');
      this.warned = false;
    }
    if (replay.length > 0) void this.evict(replay);
  }

  private warnDown(message: string): void {
    this.warned = true;
    this.logger.warn({ err: { message: this.lastError } }, message);
  }

  /** Another replica's eviction. Anything else on the channel is dropped: it must never throw here. */
  private onEviction(message: string): void {
    let reason = 'too long';
    if (message.length <= MAX_MESSAGE_LENGTH) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
        reason = 'unexpected shape';
      } catch {
        reason = 'not JSON';
      }
      const eviction = reason === 'unexpected shape' ? Eviction.safeParse(parsed) : undefined;
      if (eviction?.success) {
        if (eviction.data.from !== this.id) this.local.forget(eviction.data.keys);
        return;
      }
    }
    this.counts.droppedMessages++;
    // Length and reason only: the keys in a message can carry email addresses.
    this.throttle.message((suppressed) =>
      this.logger.warn({ length: message.length, reason, droppedSince: suppressed, droppedMessages: this.counts.droppedMessages }, 'dropped a malformed eviction message'),
    );
  }

  private decode(buffer: Buffer): CacheEntry | undefined {
    try {
      const parsed = Entry.safeParse(deserialize(buffer));
      if (parsed.success) return parsed.data;
    } catch {
      // Not a V8 serialization at all: the same miss as a wrong shape.
    }
    this.counts.corruptEntries++;
    this.throttle.entry((suppressed) =>
      this.logger.warn({ bytes: buffer.length, corruptSince: suppressed, corruptEntries: this.counts.corruptEntries }, 'unreadable cache entry in Redis, read as a miss'),
    );
    return undefined;
  }

  /** Redis answered a command (or a new connection is ready): no longer stalled. */
  private answered(): void {
    this.unanswered = 0;
    this.stalled = false;
    clearTimeout(this.probe);
    this.probe = undefined;
  }

  /** Stops asking a Redis that does not answer, and pings it in the background until it does. */
  private stall(): void {
    this.update(() => (this.stalled = true));
    const ping = () => {
      this.probe = setTimeout(() => {
        this.redis.ping().then(
          () => this.update(() => this.answered()),
          () => {
            if (this.stalled && !this.closing) ping();
          },
        );
      }, STALL_PROBE_MS);
      this.probe.unref();
    };
    ping();
  }

  private commandFailed(operation: string, error: unknown): void {
    this.counts.failedCommands++;
    if (isTimeout(error) && ++this.unanswered >= STALL_AFTER_TIMEOUTS && !this.stalled && !this.closing) this.stall();
    // A lost connection is reported once by the state change; only failures on a live connection
    // (timeouts, a Redis refusing writes) are worth a line, and then not one per request.
    if (this.redis.status !== 'ready') return;
    this.throttle.command((suppressed) =>
      this.logger.warn({ operation, err: { message: errorMessage(error) }, failedSince: suppressed }, 'Redis command failed, answered from the in-process cache'),
    );
  }
}

/** Deletes a claim only while it is still this store's (KEYS[1] the claim, ARGV[1] the store's id). */
const WITHDRAW_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Calls `log` at most once per `intervalMs`, with how many calls were skipped since the last line. */
function throttled(intervalMs: number): (log: (suppressed: number) => void) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (log) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    last = now;
    log(suppressed);
    suppressed = 0;
  };
}

/** ioredis' error for a command not answered within `commandTimeout`. */
const isTimeout = (error: unknown) => error instanceof Error && error.message === 'Command timed out';

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
