import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { RedisClient } from '../cache/redis-client.ts';
import { EMAIL_STATUSES } from '../sources/mailchimp/model.ts';

/**
 * What triggers remember about a person between changes (docs/push-triggers.md). Each part is
 * absent until it was read once: an absent part is "never seen", which is not the same as a part
 * seen empty (`null`: no completed order, no abandoned cart, no prediction, not in the audience).
 */
export interface TriggerState {
  /** The RFM segment (`CHAMPIONS`, ...); null without a completed order. */
  readonly segment?: string | null;
  /**
   * The abandoned cart's id. Kept while that cart stays open, even once touched again, until an
   * order is placed or the cart is gone: a customer back at their cart has not recovered it yet.
   */
  readonly cart?: string | null;
  /** The BG/NBD probability of being alive; null without a completed order or without a fit. */
  readonly pAlive?: number | null;
  /** The Mailchimp member's status; null when the person is not in the audience. */
  readonly email?: (typeof EMAIL_STATUSES)[number] | null;
}

const State = z.strictObject({
  segment: z.string().min(1).max(64).nullable().optional(),
  cart: z.string().min(1).max(64).nullable().optional(),
  pAlive: z.number().min(0).max(1).nullable().optional(),
  email: z.enum(EMAIL_STATUSES).nullable().optional(),
});

/** The stored form of a state: JSON, compared byte for byte by compareAndSet. */
export function encodeState(state: TriggerState): string {
  return JSON.stringify(state);
}

/** A stored state, or null when it is not one (written by another version, corrupted): then it counts as none. */
export function decodeState(raw: string): TriggerState | null {
  try {
    const parsed = State.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The store could not answer (Redis down, slow or refusing): the evaluation reports it and changes nothing. */
export class TriggerStateError extends Error {
  override readonly name = 'TriggerStateError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/**
 * Where each customer's last state is kept, as an opaque string per customer id. Every method
 * rejects with a TriggerStateError when the store cannot answer; none retries.
 */
export interface TriggerStateStore {
  /** The customer's stored state, or null when there is none (never seen, or expired). */
  get(customerId: string): Promise<string | null>;
  /**
   * Stores `next` (with the store's retention) if what is stored is still `expected` (null: still
   * nothing) and resolves true; resolves false, storing nothing, when another evaluation wrote first.
   * Atomic across every evaluator sharing the store.
   */
  compareAndSet(customerId: string, expected: string | null, next: string): Promise<boolean>;
  /** Forgets the customer (an erasure request); resolves whether or not there was a state. */
  delete(customerId: string): Promise<void>;
}

export interface MemoryTriggerStateOptions {
  /** Customers remembered at most; the least recently evaluated are forgotten first. */
  readonly maxCustomers: number;
  /** How long a state is kept after its last evaluation. */
  readonly ttlMs: number;
}

/**
 * States in this process only, bounded (LRU): for a single replica. A forgotten customer's next
 * change records a baseline and fires nothing. Never rejects.
 */
export function memoryTriggerStateStore(options: MemoryTriggerStateOptions): TriggerStateStore {
  positiveInteger('maxCustomers', options.maxCustomers);
  positiveInteger('ttlMs', options.ttlMs);
  const states = new LRUCache<string, string>({ max: options.maxCustomers, ttl: options.ttlMs });
  return {
    get: async (customerId) => states.get(customerId) ?? null,
    // Synchronous between the read and the write, so atomic within the process.
    compareAndSet: async (customerId, expected, next) => {
      if ((states.get(customerId) ?? null) !== expected) return false;
      states.set(customerId, next);
      return true;
    },
    delete: async (customerId) => void states.delete(customerId),
  };
}

export interface RedisTriggerStateOptions {
  /**
   * A client of its own or shared. Give it `enableOfflineQueue: false`, `maxRetriesPerRequest: 0`
   * and a `commandTimeout`, so that a Redis away rejects at once instead of queueing evaluations
   * behind a reconnect.
   */
  readonly redis: RedisClient;
  /** Prepended to each customer id: `<prefix><customerId>`. */
  readonly keyPrefix: string;
  /** How long a state is kept after its last evaluation (the key's expiry, renewed by every write). */
  readonly ttlMs: number;
}

// Compare and set in one step on the server: no other command runs between the GET and the SET,
// whichever replica sends them. '' stands for "no key" (a stored state is never empty).
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/**
 * States in Redis, one string key per customer with an expiry, shared by every replica so that
 * each evaluates against the same last state and a transition fires once across the fleet.
 */
export function redisTriggerStateStore(options: RedisTriggerStateOptions): TriggerStateStore {
  positiveInteger('ttlMs', options.ttlMs);
  if (!options.keyPrefix) throw new Error('expected a non-empty keyPrefix for the trigger states, got an empty one');
  const { redis, keyPrefix, ttlMs } = options;
  const keyOf = (customerId: string) => `${keyPrefix}${customerId}`;
  const failed = (what: string) => (error: unknown) => {
    throw new TriggerStateError(`trigger state: Redis could not ${what}`, { cause: error });
  };
  return {
    get: (customerId) => redis.get(keyOf(customerId)).catch(failed('read a state')),
    compareAndSet: (customerId, expected, next) =>
      redis
        .eval(COMPARE_AND_SET, 1, keyOf(customerId), expected ?? '', next, String(ttlMs))
        .then((stored) => stored === 1)
        .catch(failed('store a state')),
    delete: (customerId) =>
      redis
        .del(keyOf(customerId))
        .then(() => undefined)
        .catch(failed('delete a state')),
  };
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`expected ${name} to be a positive integer, got ${value}`);
}
