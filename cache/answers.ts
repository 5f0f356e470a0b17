import { LRUCache } from 'lru-cache';
import type { SourceProvenance } from './provenance.ts';
import type { CacheEntry, EntityStore } from './store.ts';

/**
 * What an answer was made from: a shared-cache entry (the answer holds while the store still
 * serves this very entry), or state kept in process (while `current()` still returns `value`).
 */
export type AnswerDependency = { readonly store: EntityStore; readonly key: string; readonly entry: CacheEntry } | { readonly current: () => unknown; readonly value: unknown };

const holds = (dependency: AnswerDependency): boolean =>
  'store' in dependency ? dependency.store.peek!(dependency.key) === dependency.entry : dependency.current() === dependency.value;

/**
 * A response remembered for a repeated operation (server/answers.ts): its data, what it was made
 * of, and what its request's audit line named, so that answering it again tells the caller and
 * the audit log the same as executing it would.
 */
export interface RememberedAnswer {
  /** The response's `data`, as JSON: serialized once, when it is remembered. */
  readonly json: string;
  /** The request's provenance summary: every source `cached`, ages as they were at `answeredAt`. */
  readonly sources: Readonly<Record<string, SourceProvenance>>;
  readonly audit: { readonly fields: readonly string[]; readonly customers: readonly string[]; readonly masked: readonly string[] };
  readonly dependencies: readonly AnswerDependency[];
  /** Epoch ms. */
  readonly answeredAt: number;
  /** Epoch ms: the earliest end of freshness among the entries it was made from. */
  readonly freshUntil: number;
}

/**
 * What one request's execution read from the shared cache, collected only once the request was
 * found to be one whose answer may be remembered (its `key` set), so others pay nothing for it.
 */
export class AnswerRecording {
  /**
   * The operation may be remembered, under this key: set before its first read (by the handler in
   * front of Apollo, which looked the key up, or by the plugin before execution), as only reads
   * made after it count among the answer's dependencies.
   */
  key: string | undefined;
  /** The request was answered from a remembered answer, without executing. */
  remembered = false;
  readonly dependencies: AnswerDependency[] = [];
  freshUntil = Infinity;
  /** Something was served from a store that cannot be peeked: the answer could not be checked later. */
  uncheckable = false;

  constructor(key?: string) {
    this.key = key;
  }

  /** The loaders' CallContext.dependsOn. */
  readonly dependsOn = (store: EntityStore, key: string, entry: CacheEntry, freshUntil: number): void => {
    if (this.key === undefined) return;
    if (!store.peek) {
      this.uncheckable = true;
      return;
    }
    this.dependencies.push({ store, key, entry });
    if (freshUntil < this.freshUntil) this.freshUntil = freshUntil;
  };

  /** The loaders' CallContext.dependsOnKept. */
  readonly dependsOnKept = (current: () => unknown, value: unknown): void => {
    if (this.key !== undefined) this.dependencies.push({ current, value });
  };
}

export interface AnswerCacheOptions {
  /** Answers kept at most (ANSWER_CACHE_MAX_ENTRIES). */
  readonly maxEntries: number;
  /** Their data's JSON, in bytes, at most (ANSWER_CACHE_MAX_MB). */
  readonly maxBytes: number;
}

/** The bounds of the answer cache the server makes when none is given (and ANSWER_CACHE_MAX_ENTRIES', ANSWER_CACHE_MAX_MB's defaults). */
export const DEFAULT_ANSWER_CACHE: AnswerCacheOptions = { maxEntries: 10_000, maxBytes: 64 * 2 ** 20 };

/** What the answer cache did, counted since it was created (for metrics and tests). */
export interface AnswerCounts {
  /** Requests answered from memory. */
  readonly hits: number;
  /** Remembered answers found no longer valid (an entry evicted, refreshed or expired; past freshness) and dropped. */
  readonly invalid: number;
  /** Answers remembered. */
  readonly stored: number;
}

/**
 * Remembered answers, in process, bounded in entries and bytes. An answer is served only while it
 * is fresh (`freshUntil`) and every shared-cache entry it was made from is still the one its store
 * serves (a refresh, or the in-process copy's expiry, ends it; it is dropped when next asked for).
 * Deleting an entry (an eviction by webhook, change signal or `forgetCustomer`, here or published
 * by another replica) drops the answers made from it at once, so a forgotten person's data leaves
 * memory with the entries.
 */
export class AnswerCache {
  private readonly answers: LRUCache<string, RememberedAnswer>;
  /** By shared-cache key, the answers made from its entry: deleting the entry drops them at once (EntityStore.onForget). */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly watched = new WeakSet<EntityStore>();
  private readonly counted = { hits: 0, invalid: 0, stored: 0 };

  constructor(options: AnswerCacheOptions) {
    this.answers = new LRUCache<string, RememberedAnswer>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (answer, key) => answer.json.length + key.length + 64 * answer.dependencies.length,
      // However an answer leaves (dropped, pushed out, expired, replaced), its index entries go too.
      dispose: (answer, key) => this.unindex(key, answer),
    });
  }

  /** The answer for `key` if it still holds at `now` (epoch ms), counted as a hit: the server answers with it. */
  get(key: string, now: number): RememberedAnswer | undefined {
    const answer = this.answers.get(key);
    if (answer === undefined) return undefined;
    if (now > answer.freshUntil || !answer.dependencies.every(holds)) {
      this.answers.delete(key);
      this.counted.invalid++;
      return undefined;
    }
    this.counted.hits++;
    return answer;
  }

  set(key: string, answer: RememberedAnswer): void {
    const ttl = answer.freshUntil - answer.answeredAt;
    if (ttl <= 0) return;
    this.answers.set(key, answer, { ttl });
    // Larger than the byte bound: not kept.
    if (this.answers.peek(key) !== answer) return;
    this.counted.stored++;
    for (const dependency of answer.dependencies) {
      if (!('store' in dependency)) continue;
      if (!this.watched.has(dependency.store)) {
        this.watched.add(dependency.store);
        dependency.store.onForget?.((keys) => this.forget(keys));
      }
      let keys = this.dependents.get(dependency.key);
      if (!keys) this.dependents.set(dependency.key, (keys = new Set()));
      keys.add(key);
    }
  }

  /** Drops the answers made from these shared-cache keys (all of them for null). */
  private forget(keys: readonly string[] | null): void {
    if (keys === null) {
      this.counted.invalid += this.answers.size;
      this.answers.clear();
      return;
    }
    for (const storeKey of keys) {
      for (const key of this.dependents.get(storeKey) ?? []) if (this.answers.delete(key)) this.counted.invalid++;
    }
  }

  private unindex(key: string, answer: RememberedAnswer): void {
    for (const dependency of answer.dependencies) {
      if (!('store' in dependency)) continue;
      const keys = this.dependents.get(dependency.key);
      keys?.delete(key);
      if (keys?.size === 0) this.dependents.delete(dependency.key);
    }
  }

  counts(): AnswerCounts {
    return { ...this.counted };
  }

  get size(): number {
    return this.answers.size;
  }
}
