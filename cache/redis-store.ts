import { randomUUID } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MemoryStore, type CacheEntry, type EntityStore } from './store.ts';


export interface RedisStoreOptions {
  readonly url: string;
  /** Namespace of every key and of the evictions channel, so deployments can share one Redis. */
  readonly keyPrefix?: string;
  /** The local copy in front of Redis: hot keys answer without a round trip for this long. */
  readonly localRetainMs: number;
  readonly localMaxEntries: number;
  readonly localMaxBytes: number;
  /** A Redis command slower than this counts as a cache miss rather than holding the request. */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * Entries shared by every replica through Redis, with a short-lived local copy in each process.
 * Deletions are published on a channel so every replica drops its local copy within a second
 * (normally within a few milliseconds); the local copy's short retention bounds the damage of a
 * lost message. Values are stored with V8's serializer, which keeps Dates as Dates.
 */
export class RedisStore implements EntityStore {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly local: MemoryStore;
  private readonly id = randomUUID();
  private readonly prefix: string;
  private readonly channel: string;

  private constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.keyPrefix ?? 'c360:';
    this.channel = `${this.prefix}evictions`;
    const settings = {
      // Without Redis, fail fast (a miss) instead of queueing commands behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      lazyConnect: true,
    };
    this.redis = new Redis(options.url, settings);
    this.subscriber = new Redis(options.url, { ...settings, commandTimeout: undefined });
    this.local = new MemoryStore({
      maxEntries: options.localMaxEntries,
      maxBytes: options.localMaxBytes,
      maxRetainMs: options.localRetainMs,
    });
    for (const client of [this.redis, this.subscriber]) {
      client.on('error', (error: Error) => options.logger.warn({ err: { message: error.message } }, 'redis connection failed'));
    }
  }

  /** Connects both clients and subscribes to evictions; rejects when Redis cannot be reached. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    await Promise.all([store.redis.connect(), store.subscriber.connect()]);
    store.subscriber.on('message', (_channel: string, message: string) => {
      const { from, keys } = JSON.parse(message) as { from: string; keys: string[] };
      if (from !== store.id) store.local.forget(keys);
    });
    await store.subscriber.subscribe(store.channel);
    return store;
  }

  async getMany(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    const found = await this.local.getMany(keys);
    const missing = keys.filter((_, i) => found[i] === undefined);
    if (missing.length === 0) return found;
    const buffers = await this.redis.mgetBuffer(...missing.map((key) => this.prefix + key));
    const fetched = new Map<string, CacheEntry>();
    const refill: Array<{ key: string; entry: CacheEntry; retainMs: number }> = [];
    missing.forEach((key, i) => {
      const buffer = buffers[i];
      if (!buffer) return;
      const entry = deserialize(buffer) as CacheEntry;
      fetched.set(key, entry);
      refill.push({ key, entry, retainMs: this.options.localRetainMs });
    });
    await this.local.setMany(refill);
    return keys.map((key, i) => found[i] ?? fetched.get(key));
  }

  async setMany(entries: ReadonlyArray<{ key: string; entry: CacheEntry; retainMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    await this.local.setMany(entries);
    const pipeline = this.redis.pipeline();
    for (const { key, entry, retainMs } of entries) pipeline.set(this.prefix + key, serialize(entry), 'PX', Math.max(1, Math.round(retainMs)));
    await pipeline.exec();
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    this.local.forget(keys);
    await this.redis.del(...keys.map((key) => this.prefix + key));
    await this.redis.publish(this.channel, JSON.stringify({ from: this.id, keys }));
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}claim:${key}`, this.id, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
    await this.local.close();
  }
}
