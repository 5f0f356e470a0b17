import { serialize } from 'node:v8';
import { LRUCache } from 'lru-cache';

/** What the shared cache keeps per source and key: the value (null = the source does not know the key). */
export interface CacheEntry {
  readonly value: unknown;
  /** When the value was read from the source (epoch ms). */
  readonly storedAt: number;
}

/**
 * Where entries live: in this process, or in Redis shared by every replica. Every method is
 * best-effort from the caller's point of view: a cache failure must never fail a request, so
 * callers treat a rejected read as misses and a rejected write as done.
 */
export interface EntityStore {
  getMany(keys: readonly string[]): Promise<Array<CacheEntry | undefined>>;
  /** Stores each entry for `retainMs` (how long it may still be served, stale included). */
  setMany(entries: ReadonlyArray<{ key: string; entry: CacheEntry; retainMs: number }>): Promise<void>;
  /** Removes the keys here and, for a shared store, from every replica's local copy. */
  delete(keys: readonly string[]): Promise<void>;
  /** Takes the right to refresh `key` for `ttlMs`; false when another caller (or replica) holds it. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface MemoryStoreOptions {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Caps every entry's retention (a local copy in front of Redis lives only briefly). */
  readonly maxRetainMs?: number;
}

/**
 * An in-process LRU bounded in entries and in bytes. Sizes are measured by V8's structured-clone
 * serialization (what Redis would store), once per write.
 */
export class MemoryStore implements EntityStore {
  private readonly entries: LRUCache<string, CacheEntry>;
  private readonly claims = new Map<string, number>();

  constructor(private readonly options: MemoryStoreOptions) {
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
      this.entries.set(key, entry, { ttl: Math.min(retainMs, this.options.maxRetainMs ?? retainMs) });
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    if ((this.claims.get(key) ?? 0) > now) return false;
    this.claims.set(key, now + ttlMs);
    if (this.claims.size > 10_000) for (const [k, until] of this.claims) if (until <= now) this.claims.delete(k);
    return true;
  }

  /** Drops local copies without telling anyone (used when another replica announced an eviction). */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
