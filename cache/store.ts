import { serialize } from 'node:v8';
import { LRUCache } from 'lru-cache';

/** What the shared cache keeps per source and key: the value (null = the source does not know the key). */
export interface CacheEntry {
  readonly value: unknown;
  /** When the value was read from the source (epoch ms). */
  readonly storedAt: number;
}

/**
 * Whether the store can do its job, for readiness and health reports. A Redis store that is
 * `down` still answers, from its in-process copy only: degraded, not failed. `since` is when the
 * state last changed (epoch ms).
 */
export type StoreHealth = { readonly kind: 'memory'; readonly state: 'up' } | { readonly kind: 'redis'; readonly state: 'up' | 'down'; readonly since: number };

/** What a shared store absorbed instead of failing, counted since it was created (for metrics). */
export interface StoreStats {
  /** Messages on the evictions channel that were not a valid eviction (not JSON, wrong shape, too long). */
  readonly droppedMessages: number;
  /** Values in the shared store that could not be decoded into an entry; each was read as a miss. */
  readonly corruptEntries: number;
  /** Commands to the shared store that failed or timed out; each read became misses, each write local only. */
  readonly failedCommands: number;
}

/**
 * Where entries live: in this process, or in Redis shared by every replica. Every method is
 * best-effort from the caller's point of view: a cache failure must never fail a request, so
 * callers treat a rejected read as misses and a rejected write as done. (The stores here go
 * further and do not reject for their backend: RedisStore answers a read Redis cannot serve with
 * misses, and keeps a write Redis cannot take in its in-process copy.)
 */
export interface EntityStore {
  getMany(keys: readonly string[]): Promise<Array<CacheEntry | undefined>>;
  /**
   * Stores each entry for `retainMs` (how long it may still be served, stale included). The
   * process's own copy (all of a MemoryStore, a RedisStore's local one) holds the entries when the
   * call returns, before its promise settles: a reader in this process that does not wait for the
   * promise (a source's answer, cache/family.ts) already finds them; the promise is the shared
   * store's round trip.
   */
  setMany(entries: ReadonlyArray<{ key: string; entry: CacheEntry; retainMs: number }>): Promise<void>;
  /** Removes the keys here and, for a shared store, from every replica's local copy. */
  delete(keys: readonly string[]): Promise<void>;
  /** Takes the right to refresh `key` for `ttlMs`; false when another caller (or replica) holds it. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /**
   * The entry this process would serve for `key` now without a round trip (the in-process copy),
   * or undefined: how a remembered answer checks that what it was made from is still what the
   * cache holds (cache/answers.ts). A store without it never has its entries' answers remembered.
   */
  peek?(key: string): CacheEntry | undefined;
  /**
   * Tells `listener` of the keys every deletion removes from this process (`delete`, an eviction
   * another replica published, `null` when the whole in-process copy is dropped), at once: what
   * was made from those entries (cache/answers.ts) goes with them.
   */
  onForget?(listener: (keys: readonly string[] | null) => void): void;
  close(): Promise<void>;
  /** Never throws; a store without it is assumed up. */
  health?(): StoreHealth;
  /** Counters for metrics, from a store with failures to absorb (RedisStore). */
  stats?(): StoreStats;
}

export interface MemoryStoreOptions {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/**
 * An in-process LRU bounded in entries and in bytes. Sizes are measured by V8's structured-clone
 * serialization (what Redis would store), once per write.
 */
export class MemoryStore implements EntityStore {
  private readonly entries: LRUCache<string, CacheEntry>;
  private readonly claims = new Map<string, number>();
  private readonly forgetListeners: Array<(keys: readonly string[] | null) => void> = [];

  constructor(options: MemoryStoreOptions) {
    this.entries = new LRUCache<string, CacheEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) => serialize(entry.value).length + key.length + 16,
    });
  }

  async getMany(keys: readonly string[]): Promise<Array<CacheEntry | undefined>> {
    return keys.map((key) => this.entries.get(key));
  }

  async setMany(entries: ReadonlyArray<{ key: string; entry: CacheEntry; retainMs: number }>): Promise<void> {
    for (const { key, entry, retainMs } of entries) {
      this.entries.set(key, entry, { ttl: retainMs });
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    this.forget(keys);
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    if ((this.claims.get(key) ?? 0) > now) return false;
    this.claims.set(key, now + ttlMs);
    if (this.claims.size > 10_000) for (const [k, until] of this.claims) if (until <= now) this.claims.delete(k);
    return true;
  }

  peek(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  /** Drops local copies without telling anyone (used when another replica announced an eviction). */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
    for (const listener of this.forgetListeners) listener(keys);
  }

  /** Drops every entry (claims stay), e.g. a local copy that may have missed evictions. */
  clear(): void {
    this.entries.clear();
    for (const listener of this.forgetListeners) listener(null);
  }

  onForget(listener: (keys: readonly string[] | null) => void): void {
    this.forgetListeners.push(listener);
  }

  health(): StoreHealth {
    return { kind: 'memory', state: 'up' };
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
