import type { Logger } from 'pino';
import type { SourceName } from '../sources/errors.ts';
import { pastBudget, type SourceGuard } from './guard.ts';
import type { CacheEntry, EntityStore } from './store.ts';

/** How long a source's entries are served: fresh, then stale while refreshing, then only if the source fails. */
export interface FreshnessPolicy {
  readonly ttlMs: number;
  readonly staleWhileRevalidateMs: number;
  readonly staleIfErrorMs: number;
  /** "Not found" is kept only briefly: a new signup must not stay invisible. */
  readonly notFoundTtlMs: number;
}

/**
 * How a family treats a stored entry at `now` (epoch ms): served as it is (`fresh`), served while
 * one background refresh runs (`stale`), or read from the source (`miss`; an entry still within
 * stale-if-error is then only the fallback of a failed read).
 */
export function entryState(entry: CacheEntry | undefined, policy: FreshnessPolicy, now: number): 'fresh' | 'stale' | 'miss' {
  if (!entry) return 'miss';
  const age = now - entry.storedAt;
  if (age <= (entry.value === null ? policy.notFoundTtlMs : policy.ttlMs)) return 'fresh';
  return entry.value !== null && age <= policy.ttlMs + policy.staleWhileRevalidateMs ? 'stale' : 'miss';
}

/** What one batch call of a family did, for the response's provenance. */
export interface CallReport {
  readonly source: SourceName;
  readonly keys: number;
  readonly live: number;
  readonly cached: number;
  readonly stale: number;
  /** Keys the source failed to answer (errors, timeouts). */
  readonly failed: number;
  /** Age of the oldest cached or stale value served, in ms. */
  readonly maxAgeMs: number;
  /** Time spent waiting on the upstream (0 when everything came from the cache). */
  readonly upstreamMs: number;
}

/** Per request: when the answer is due, and where to report what each call did. */
export interface CallContext {
  /**
   * Epoch ms; a source that has not answered by then gives SOURCE_TIMEOUT, and the batch function's
   * signal aborts then (no retry starts after it). Absent: the guard's background budget.
   */
  readonly deadline?: number;
  readonly report?: (report: CallReport) => void;
  /**
   * Told, for each value a call answers, when it was read from its source (epoch ms): now for a
   * live read, when it was stored for a cached or stale one. Traits derive their freshness from it.
   */
  readonly readAt?: (value: unknown, epochMs: number) => void;
  /**
   * Told, for each key a call serves fresh from the shared cache, the entry it served and until
   * when that entry is fresh (epoch ms): what a remembered answer depends on (cache/answers.ts).
   * Live, stale and failed keys are not told; the call's report counts them.
   */
  readonly dependsOn?: (store: EntityStore, key: string, entry: CacheEntry, freshUntil: number) => void;
  /** Told of state kept in process that an answer was computed with (the RFM boundaries): it holds while `current()` still returns `value`. */
  readonly dependsOnKept?: (current: () => unknown, value: unknown) => void;
}

/**
 * Process-wide observation of every family, for metrics and tracing: cache/ only says what
 * happened; what listens (and how it exports) is the server's business. Both hooks are optional
 * and cost nothing when absent.
 */
export interface FamilyObserver {
  /**
   * Wraps each call of a family (one request's batch of keys): `run` does the call, hands its
   * report to `onReport` once (also when it throws), and settles as the call does; the hook returns
   * what `run` returns. The call's upstream requests start inside `run`.
   */
  call?<T>(call: FamilyCall, run: (onReport: (report: CallReport) => void) => Promise<T>): Promise<T>;
  /**
   * One upstream batch call starts (a call's cache misses, a background refresh, or every key
   * without a cache; never a call the breaker or bulkhead turned away); the returned function is
   * called once when it settles.
   */
  upstream?(call: UpstreamCall): (result: UpstreamResult) => void;
}

export interface FamilyCall {
  readonly source: SourceName;
  readonly family: string;
  /** Keys asked for in this call (after the request's deduplication). */
  readonly keys: number;
  /** Whether the family reads through the shared cache. */
  readonly cached: boolean;
}

export interface UpstreamCall {
  readonly source: SourceName;
  readonly family: string;
  /** Keys sent upstream in this call. */
  readonly batchSize: number;
}

export interface UpstreamResult {
  /** Keys answered with an Error (all of them when the whole call failed). */
  readonly failedKeys: number;
  /** Set when the whole call failed: what it threw (usually a SourceError). */
  readonly error?: unknown;
}

/** `R` is what the source answers per key (with `null` in it when the source can say "unknown"). */
export type Family<K, R> = (keys: readonly K[], call: CallContext) => Promise<Array<R | Error>>;

export interface FamilyOptions<K, R> {
  readonly source: SourceName;
  /** Unique per source, e.g. `customer-by-email`; part of every cache key. */
  readonly name: string;
  /** A source batch function (sources/errors.ts BatchFn): `signal` aborts at the call's deadline. */
  readonly batch: (keys: readonly K[], signal?: AbortSignal) => Promise<ReadonlyArray<R | Error>>;
  readonly guard: SourceGuard;
  /** Cache this family's results; absent for families not worth caching (pages, feeds). */
  readonly cache?: {
    readonly store: EntityStore;
    readonly policy: FreshnessPolicy;
    readonly keyOf: (key: K) => string;
    /** Further entries to write beside a value, e.g. a contact id -> email index for webhooks. */
    readonly alsoStore?: (key: K, value: NonNullable<R>) => Array<{ key: string; value: unknown }>;
  };
  readonly logger: Logger;
  readonly observer?: FamilyObserver;
  /**
   * Share upstream batches between concurrent calls (requests): while `maxInFlight` batches of this
   * family are under way, keys from further calls wait and leave together in the next one, up to
   * `maxKeys`. For a quota-bound source whose batch endpoint takes many keys (HubSpot: 100 per call,
   * 100 calls per 10 s), calls then grow with load instead of with requests. A call that does not
   * have to wait leaves at once, so an idle server adds no delay.
   */
  readonly coalesce?: Coalescing;
}

/** FamilyOptions.coalesce. */
export interface Coalescing {
  readonly maxKeys: number;
  readonly maxInFlight: number;
  /**
   * For a rate-limited source: takes the request slot of the next batch before its keys are
   * chosen, so the keys that come while the slot is awaited leave in that batch rather than wait
   * for another slot (HubSpot's `reserveSlot`). One batch awaits a slot at a time; it rejects
   * with the error every waiting caller then gets (no slot before the latest of their deadlines).
   */
  readonly admit?: (deadline: number | undefined) => Promise<void>;
}

/** `family`, with `observer` given to every family it makes (unless the options name another). */
export function observedFamily(observer: FamilyObserver | undefined): typeof family {
  return (options) => family({ observer, ...options });
}

/** Cache keys are `<source>:<family>:<key>`, so invalidation can name them without a lookup. */
export const cacheKey = (source: SourceName, family: string, key: string): string => `${source}:${family}:${key}`;

/**
 * A source batch function behind its guard, its deadline and, when configured, the shared cache:
 * cached keys come from the cache and only the misses go upstream, in one batch; keys already being
 * fetched for another request join that fetch (no stampede on a cold key); stale entries are
 * served while one background refresh runs; when the source fails, entries within the
 * stale-if-error window are served instead of the error. Errors are never cached. Each call
 * reports how many keys were live, cached or stale, and for how long the upstream was waited on.
 *
 * The batch function's signal aborts at the deadline of the call that started the upstream batch
 * (a call that joins a fetch keeps its own deadline for its answer, but does not extend the
 * fetch's); a background refresh gets the guard's background budget.
 */
export function family<K, R>(options: FamilyOptions<K, R>): Family<K, R> {
  const { source, guard, cache, logger } = options;
  const batch = watched(options);
  // One guarded upstream batch; `after` (the cache write) starts inside it, so an answer that comes
  // after its callers' deadline still fills the cache. It is not waited for: the process's own copy
  // holds the values once it is called (EntityStore.setMany), and the shared store's round trip is
  // neither the source's time nor its callers'. Waited for, a slow Redis held the source's bulkhead
  // slot and could turn the source's answer into a timeout.
  const upstreamOf = (after?: (keys: readonly K[], values: ReadonlyArray<R | Error>) => void) => {
    const guarded = (keys: readonly K[], deadline: number | undefined) =>
      guard.run(
        async (signal) => {
          const values = await batch(keys, signal);
          after?.(keys, values);
          return values;
        },
        deadline,
        options.name,
      );
    if (!options.coalesce) return guarded;
    const { admit } = options.coalesce;
    // A slot is taken first only while the breaker is closed: an open one refuses the call at once
    // (no slot to wait for), and its probe takes its slot as any call does.
    const whileClosed = admit && ((deadline: number | undefined) => (guard.state === 'closed' ? admit(deadline) : Promise.resolve()));
    return coalesced(guarded, { ...options.coalesce, admit: whileClosed }, source);
  };
  if (!cache) {
    const upstream = upstreamOf();
    return around(options, async (keys, call) => {
      const started = performance.now();
      const report = (failed: number) =>
        call.report?.({ source, keys: keys.length, live: keys.length - failed, cached: 0, stale: 0, failed, maxAgeMs: 0, upstreamMs: performance.now() - started });
      try {
        const values = await upstream(keys, call.deadline);
        const readAt = Date.now();
        for (const value of values) if (!(value instanceof Error)) call.readAt?.(value, readAt);
        report(values.filter((value) => value instanceof Error).length);
        return [...values];
      } catch (error) {
        report(keys.length);
        throw error;
      }
    });
  }
  const { store, policy } = cache;
  const inFlight = new Map<string, Promise<R | Error>>();
  const fullKey = (key: K) => cacheKey(source, options.name, cache.keyOf(key));
  const retainValue = policy.ttlMs + Math.max(policy.staleWhileRevalidateMs, policy.staleIfErrorMs);

  // When each live answer was stored: its read time for the request that fetched it, so that a
  // later request served from the cache names the very same time.
  const storedAtOf = new WeakMap<object, number>();
  const save = (keys: readonly K[], values: ReadonlyArray<R | Error>): void => {
    const storedAt = Date.now();
    const entries: Array<{ key: string; entry: CacheEntry; retainMs: number }> = [];
    keys.forEach((key, i) => {
      const value = values[i];
      if (value instanceof Error || value === undefined) return;
      if (typeof value === 'object' && value !== null) storedAtOf.set(value, storedAt);
      entries.push({ key: fullKey(key), entry: { value, storedAt }, retainMs: value === null ? policy.notFoundTtlMs : retainValue });
      for (const extra of value === null ? [] : (cache.alsoStore?.(key, value) ?? [])) {
        entries.push({ key: extra.key, entry: { value: extra.value, storedAt }, retainMs: retainValue });
      }
    });
    store.setMany(entries).catch((error: Error) => logger.warn({ err: error, source }, 'cache write failed'));
  };

  const upstream = upstreamOf(save);

  // One upstream batch for keys nobody is fetching yet; every key's promise is shared until it
  // settles, with the deadline of the call that started it. The answer is saved inside the guarded
  // call, so one that comes after the deadline (a request under way when the signal aborted) still
  // fills the cache.
  const fetch = (keys: readonly K[], deadline: number | undefined): Array<Promise<R | Error>> => {
    const todo = keys.filter((key) => !inFlight.has(fullKey(key)));
    if (todo.length > 0) {
      const fetched = upstream(todo, deadline).catch((error: unknown) => todo.map(() => error as Error));
      todo.forEach((key, i) => {
        const promise = fetched.then((values) => values[i]!);
        inFlight.set(fullKey(key), promise);
        void promise.finally(() => inFlight.delete(fullKey(key)));
      });
    }
    return keys.map((key) => inFlight.get(fullKey(key))!);
  };

  const refresh = (keys: readonly K[]) => {
    void (async () => {
      const idle = keys.filter((key) => !inFlight.has(fullKey(key)));
      const won = await Promise.all(idle.map((key) => store.claim(`refresh:${fullKey(key)}`, 10_000).catch(() => false)));
      const claimed = idle.filter((_, i) => won[i]);
      if (claimed.length > 0) await Promise.all(fetch(claimed, undefined));
    })().catch((error: Error) => logger.warn({ err: error, source }, 'background refresh failed'));
  };

  return around(options, async (keys, call) => {
    const fullKeys = keys.map(fullKey);
    const entries = await store.getMany(fullKeys).catch((error: Error) => {
      logger.warn({ err: error, source }, 'cache read failed');
      return keys.map(() => undefined);
    });
    const now = Date.now();
    const out = new Array<R | Error>(keys.length);
    const misses: number[] = [];
    const stale: K[] = [];
    let cached = 0;
    let staleServed = 0;
    let maxAgeMs = 0;
    keys.forEach((key, i) => {
      const entry = entries[i];
      const state = entryState(entry, policy, now);
      if (state === 'miss') {
        misses.push(i);
        return;
      }
      out[i] = entry!.value as R;
      call.readAt?.(entry!.value, entry!.storedAt);
      if (state === 'fresh') {
        cached++;
        call.dependsOn?.(store, fullKeys[i]!, entry!, entry!.storedAt + (entry!.value === null ? policy.notFoundTtlMs : policy.ttlMs));
      } else {
        stale.push(key);
        staleServed++;
      }
      maxAgeMs = Math.max(maxAgeMs, now - entry!.storedAt);
    });
    if (stale.length > 0) refresh(stale);

    let upstreamMs = 0;
    let live = 0;
    let failed = 0;
    if (misses.length > 0) {
      const started = performance.now();
      const results = await Promise.all(
        fetch(
          misses.map((i) => keys[i]!),
          call.deadline,
        ).map((promise) => withDeadline(promise, call.deadline, source)),
      );
      upstreamMs = performance.now() - started;
      misses.forEach((i, j) => {
        const result = results[j]!;
        const entry = entries[i];
        if (!(result instanceof Error)) {
          out[i] = result;
          call.readAt?.(result, (typeof result === 'object' && result !== null && storedAtOf.get(result)) || Date.now());
          live++;
        } else if (entry && entry.value !== null && now - entry.storedAt <= policy.ttlMs + policy.staleIfErrorMs) {
          out[i] = entry.value as R;
          call.readAt?.(entry.value, entry.storedAt);
          staleServed++;
          maxAgeMs = Math.max(maxAgeMs, now - entry.storedAt);
        } else {
          out[i] = result;
          failed++;
        }
      });
    }
    call.report?.({ source, keys: keys.length, live, cached, stale: staleServed, failed, maxAgeMs, upstreamMs });
    return out;
  });
}

/** The batch function, each of its calls announced to the observer. */
function watched<K, R>(options: FamilyOptions<K, R>): FamilyOptions<K, R>['batch'] {
  const watch = options.observer?.upstream;
  if (!watch) return options.batch;
  return async (keys, signal) => {
    const done = watch({ source: options.source, family: options.name, batchSize: keys.length });
    try {
      const values = await options.batch(keys, signal);
      done({ failedKeys: values.reduce((n, value) => (value instanceof Error ? n + 1 : n), 0) });
      return values;
    } catch (error) {
      done({ failedKeys: keys.length, error });
      throw error;
    }
  };
}

/** Each call run inside the observer's `call` hook, its report handed to the hook as well. */
function around<K, R>(options: FamilyOptions<K, R>, run: Family<K, R>): Family<K, R> {
  const observer = options.observer;
  if (!observer?.call) return run;
  const info = { source: options.source, family: options.name, cached: options.cache !== undefined };
  return (keys, call) =>
    observer.call!({ ...info, keys: keys.length }, (onReport) =>
      run(keys, {
        ...call,
        report: (report) => {
          call.report?.(report);
          onReport(report);
        },
      }),
    );
}

/**
 * `run` (one guarded upstream batch) shared by concurrent callers (FamilyOptions.coalesce): up to
 * `maxInFlight` batches run at once; keys asked for meanwhile wait, and leave together (repeats
 * once) in the next batch, with the latest deadline among its callers, so the breaker and the
 * bulkhead see one call. With `admit`, a batch first awaits its slot and only then takes the keys
 * waiting by then. Each caller still gets SOURCE_TIMEOUT at its own deadline, and one whose
 * deadline passed while it waited is left out of the batch.
 */
function coalesced<K, R>(
  run: (keys: readonly K[], deadline: number | undefined) => Promise<ReadonlyArray<R | Error>>,
  { maxKeys, maxInFlight, admit }: Coalescing,
  source: SourceName,
): (keys: readonly K[], deadline: number | undefined) => Promise<ReadonlyArray<R | Error>> {
  interface Waiting {
    readonly keys: readonly K[];
    readonly deadline: number | undefined;
    readonly resolve: (values: ReadonlyArray<R | Error>) => void;
    readonly reject: (error: unknown) => void;
  }
  const waiting: Waiting[] = [];
  let inFlight = 0;
  let admitting = false;
  const gone = (caller: Waiting) => caller.deadline !== undefined && caller.deadline <= Date.now();
  /** The callers of the next batch, up to `maxKeys` keys, and their keys; null when every waiting caller has gone. */
  const take = (): { callers: Waiting[]; unique: Map<K, number> } | null => {
    const callers: Waiting[] = [];
    const unique = new Map<K, number>();
    while (waiting.length > 0) {
      const next = waiting[0]!;
      const fresh = new Set(next.keys.filter((key) => !unique.has(key))).size;
      if (callers.length > 0 && unique.size + fresh > maxKeys) break;
      waiting.shift();
      // Gone already (its caller answered SOURCE_TIMEOUT): not worth a key in the batch.
      if (gone(next)) continue;
      callers.push(next);
      for (const key of next.keys) if (!unique.has(key)) unique.set(key, unique.size);
    }
    return callers.length > 0 ? { callers, unique } : null;
  };
  const latest = (callers: readonly Waiting[]) => (callers.some((caller) => caller.deadline === undefined) ? undefined : Math.max(...callers.map((caller) => caller.deadline!)));
  const send = ({ callers, unique }: { callers: Waiting[]; unique: Map<K, number> }) => {
    run([...unique.keys()], latest(callers))
      .then(
        (values) => {
          for (const caller of callers) caller.resolve(caller.keys.map((key) => values[unique.get(key)!]!));
        },
        (error: unknown) => {
          for (const caller of callers) caller.reject(error);
        },
      )
      .finally(() => {
        inFlight--;
        dispatch();
      });
  };
  const dispatch = () => {
    while (inFlight < maxInFlight && waiting.length > 0 && !admitting) {
      if (!admit) {
        const batch = take();
        if (!batch) continue;
        inFlight++;
        send(batch);
        continue;
      }
      // The slot first, then the keys: whoever waits when it comes leaves in this batch.
      admitting = true;
      inFlight++;
      const until = latest(waiting);
      admit(until).then(
        () => {
          admitting = false;
          const batch = take();
          if (batch) send(batch);
          else inFlight--;
          // Callers beyond `maxKeys` (or none): the next slot, while a batch may still go out.
          dispatch();
        },
        (error: unknown) => {
          admitting = false;
          inFlight--;
          // No slot for anyone who had to be answered by `until`; a caller that came later, with
          // more time, asks for a slot of its own.
          const left = waiting.splice(0).filter((caller) => {
            if (until !== undefined && (caller.deadline === undefined || caller.deadline > until)) return true;
            caller.reject(error);
            return false;
          });
          waiting.push(...left);
          dispatch();
        },
      );
    }
  };
  return (keys, deadline) => {
    if (deadline !== undefined && deadline <= Date.now()) return Promise.reject(pastBudget(source));
    const answer = new Promise<ReadonlyArray<R | Error>>((resolve, reject) => waiting.push({ keys, deadline, resolve, reject }));
    dispatch();
    if (deadline === undefined) return answer;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(pastBudget(source)), deadline - Date.now());
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  };
}

/** A shared fetch as one caller sees it: its own deadline, whatever the fetch's. */
async function withDeadline<T>(promise: Promise<T | Error>, deadline: number | undefined, source: SourceName): Promise<T | Error> {
  if (deadline === undefined) return promise;
  const remaining = deadline - Date.now();
  // Made only when the deadline passes: an Error captures a stack, which every call would pay for.
  const late = () => pastBudget(source);
  if (remaining <= 0) return late();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise, new Promise<Error>((resolve) => (timer = setTimeout(() => resolve(late()), remaining)))]);
  clearTimeout(timer);
  return result;
}
