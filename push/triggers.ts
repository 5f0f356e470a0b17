import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { createLoaders, type Loaders, type Upstreams } from '../cache/loaders.ts';
import { predictClv } from '../sources/commerce/index.ts';
import { SourceError, type SourceName } from '../sources/errors.ts';
import type { CustomerChange, TriggerEvaluator, TriggerEvent, TriggerName } from './signals.ts';
import { decodeState, encodeState, TriggerStateError, type TriggerState, type TriggerStateStore } from './trigger-state.ts';

export { memoryTriggerStateStore, redisTriggerStateStore, TriggerStateError, type TriggerState, type TriggerStateStore } from './trigger-state.ts';

/** TRIGGER_LAPSE_THRESHOLD's default: "likely to lapse" is a probability of being alive below even odds. */
export const DEFAULT_LAPSE_THRESHOLD = 0.5;
/** TRIGGER_READ_TIMEOUT_MS's default: the deadline of an evaluation's reads. */
export const DEFAULT_READ_TIMEOUT_MS = 5000;
/** Compare-and-set attempts before an evaluation gives up on a customer other evaluations keep writing. */
const MAX_ATTEMPTS = 3;

export interface TriggerEvaluatorOptions {
  /** The process's upstreams (cache/loaders.ts createUpstreams): reads go through their guards and cache. */
  readonly upstreams: Upstreams;
  /** Where each customer's last state is kept: Redis when several replicas run (trigger-state.ts). */
  readonly store: TriggerStateStore;
  readonly logger: Logger;
  /** LIKELY_TO_LAPSE fires when the probability of being alive crosses below this (0 < t <= 1). */
  readonly lapseThreshold?: number;
  /** Evaluations started together share one deadline this far ahead (ms). */
  readonly readTimeoutMs?: number;
  /** The clock of the events' `at` (tests fix it). */
  readonly now?: () => Date;
}

/**
 * The parts of the state, each with the source it is read from. Declared once: which parts a
 * change reads, and the failure of which source leaves which part alone, derive from it.
 */
const PARTS = { segment: 'commerce', cart: 'commerce', pAlive: 'commerce', email: 'email' } as const satisfies Record<keyof TriggerState, SourceName>;
type Part = keyof typeof PARTS;

/** What one evaluation read: a part is absent when its source failed (or it was not read). */
interface Observation {
  segment?: string | null;
  cart?: { readonly abandoned: string | null; readonly open: readonly string[] };
  pAlive?: number | null;
  email?: TriggerState['email'];
}

interface Fired {
  readonly trigger: TriggerName;
  readonly segment?: string;
}

/**
 * Triggers over the person's state as the request loaders read it (docs/push-triggers.md): each
 * evaluation compares what it reads with the state last stored and stores the new one with a
 * compare-and-set, so a transition fires once however many evaluators share the store. Rejects
 * with a TriggerStateError when the store cannot answer (nothing is stored, nothing fires: the
 * next change compares against the same old state), and with any error that is not a source's.
 */
export function createTriggerEvaluator(options: TriggerEvaluatorOptions): TriggerEvaluator {
  const lapseThreshold = options.lapseThreshold ?? DEFAULT_LAPSE_THRESHOLD;
  if (!(lapseThreshold > 0 && lapseThreshold <= 1)) throw new Error(`expected lapseThreshold above 0 and at most 1, got ${lapseThreshold}`);
  const readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  if (!Number.isInteger(readTimeoutMs) || readTimeoutMs <= 0) throw new Error(`expected readTimeoutMs to be a positive integer, got ${readTimeoutMs}`);
  const { upstreams, store, logger } = options;
  const now = options.now ?? (() => new Date());

  // Evaluations started in one tick share loaders, so a burst of changes reads each family in one
  // batch. Every one of them comes after its own eviction, so none reads what was evicted; a
  // customer already in the tick's batch gets new loaders (its second change may follow a second
  // eviction that the first read predates).
  let batch: { loaders: Loaders; customers: Set<string> } | null = null;
  const loadersFor = (customerId: string): Loaders => {
    if (!batch || batch.customers.has(customerId)) {
      const current = { loaders: createLoaders(upstreams, { deadline: Date.now() + readTimeoutMs }), customers: new Set<string>() };
      batch = current;
      setImmediate(() => {
        if (batch === current) batch = null;
      });
    }
    batch.customers.add(customerId);
    return batch.loaders;
  };

  const decoded = (customerId: string, raw: string | null): TriggerState | null => {
    if (raw === null) return null;
    const state = decodeState(raw);
    if (!state) logger.warn({ customerId }, 'trigger state unreadable, taken as none');
    return state;
  };

  return {
    async evaluate(change: CustomerChange): Promise<TriggerEvent[]> {
      const { customerId } = change;
      // Taken before the first await, so that changes handed over together batch together.
      const loaders = loadersFor(customerId);
      let raw = await store.get(customerId);
      let previous = decoded(customerId, raw);
      // Only the changed sources' parts are read, and any part never seen yet (for its baseline).
      const parts = (Object.keys(PARTS) as Part[]).filter((part) => change.sources.includes(PARTS[part]) || previous?.[part] === undefined);
      if (parts.length === 0) return [];
      const observed = await observe(loaders, customerId, new Set(parts), logger);
      // A customer the shop does not know (deleted since the signal) has no state to compare.
      if (!observed) return [];
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const { next, fired } = compare(previous, observed, change.kinds, lapseThreshold);
        if (await store.compareAndSet(customerId, raw, encodeState(next))) {
          const at = now().toISOString();
          return fired.map(({ trigger, segment }) => ({
            id: eventId(trigger, change),
            trigger,
            customerId,
            ...(segment !== undefined && { segment }),
            at,
            receivedAt: change.receivedAt,
          }));
        }
        // Another evaluation stored first: compare what was read with what it stored, so a
        // transition it already fired does not fire again here.
        raw = await store.get(customerId);
        previous = decoded(customerId, raw);
      }
      throw new TriggerStateError(`trigger state of customer ${customerId}: other evaluations stored first ${MAX_ATTEMPTS} times in a row`);
    },
  };
}

/**
 * The id of an event: the same for the same trigger, customer and signals, so a retried
 * evaluation of a change (or a duplicate delivery) carries the id a receiver deduplicates by.
 */
export function eventId(trigger: TriggerName, change: Pick<CustomerChange, 'customerId' | 'signalIds'>): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([trigger, change.customerId, [...change.signalIds].sort()]))
    .digest('hex');
  return `trg_${digest.slice(0, 32)}`;
}

/**
 * Reads the parts asked for, each on its own: a part whose source fails (a SourceError) is left
 * out, the others are read. Null when the shop has no such customer.
 */
async function observe(loaders: Loaders, customerId: string, parts: ReadonlySet<Part>, logger: Logger): Promise<Observation | null> {
  const failedPart =
    (part: Part) =>
    (error: unknown): undefined => {
      if (!(error instanceof SourceError)) throw error;
      // The source's guard already reports the failure itself; this says what it cost here.
      logger.debug({ customerId, part, source: error.source, kind: error.kind }, 'trigger part not read, kept as it was');
      return undefined;
    };
  const read = <T>(part: Part, load: () => Promise<T>): Promise<T | undefined> => (parts.has(part) ? load().catch(failedPart(part)) : Promise.resolve(undefined));
  // The customer is read first: without them there is nothing to compare, and Mailchimp knows them by email.
  const customer = await loaders.customerById.load(customerId).catch((error: unknown) => {
    if (!(error instanceof SourceError)) throw error;
    return error;
  });
  if (customer === null) return null;
  const [segment, cart, pAlive, email] = await Promise.all([
    read('segment', async () => (await loaders.rfm.load(customerId))?.segment ?? null),
    read('cart', async () => {
      const carts = await loaders.carts.load(customerId);
      return { abandoned: carts.abandoned?.id ?? null, open: carts.open.map((c) => c.id) };
    }),
    read('pAlive', async () => {
      const summary = await loaders.clvSummary.load(customerId);
      if (!summary) return null;
      // The horizon and discounting do not enter the probability of being alive.
      return predictClv(await loaders.clvFit(), summary, { horizonDays: 30, lifetimeMonths: 12, annualDiscountRate: 0.1 }).probabilityAlive;
    }),
    read('email', async () => {
      if (customer instanceof Error) throw customer;
      return (await loaders.emailMember.load(customer.email))?.status ?? null;
    }),
  ]);
  return {
    ...(segment !== undefined && { segment }),
    ...(cart !== undefined && { cart }),
    ...(pAlive !== undefined && { pAlive }),
    ...(email !== undefined && { email }),
  };
}

/**
 * The state to store and the triggers that fire: pure. A part not observed keeps its stored value
 * and fires nothing; a part observed for the first time is its baseline and fires nothing (a first
 * sighting is not a transition), except where the change itself names the event (`cart.abandoned`,
 * `unsubscribe`).
 */
function compare(previous: TriggerState | null, observed: Observation, kinds: readonly string[], lapseThreshold: number): { next: TriggerState; fired: Fired[] } {
  const fired: Fired[] = [];
  const next: { -readonly [P in Part]?: TriggerState[P] } = { ...previous };

  if (observed.segment !== undefined) {
    const before = previous?.segment;
    if (before !== undefined && before !== observed.segment) {
      if (before !== null) fired.push({ trigger: 'RFM_SEGMENT_LEFT', segment: before });
      if (observed.segment !== null) fired.push({ trigger: 'RFM_SEGMENT_ENTERED', segment: observed.segment });
    }
    next.segment = observed.segment;
  }

  if (observed.cart !== undefined) {
    const before = previous?.cart;
    const { abandoned, open } = observed.cart;
    const ordered = kinds.includes('order');
    if (abandoned !== null) {
      if (before === undefined ? kinds.includes('cart.abandoned') : before !== abandoned) fired.push({ trigger: 'CART_ABANDONED' });
      next.cart = abandoned;
    } else if (typeof before === 'string' && ordered) {
      fired.push({ trigger: 'CART_RECOVERED' });
      next.cart = null;
    } else {
      // Touched again but not bought: the abandonment stands until an order or the cart's end.
      next.cart = typeof before === 'string' && open.includes(before) ? before : null;
    }
  }

  if (observed.pAlive !== undefined) {
    const before = previous?.pAlive;
    if (typeof before === 'number' && before >= lapseThreshold && observed.pAlive !== null && observed.pAlive < lapseThreshold) fired.push({ trigger: 'LIKELY_TO_LAPSE' });
    next.pAlive = observed.pAlive;
  }

  if (observed.email !== undefined) {
    const before = previous?.email;
    const unsubscribed = observed.email === 'unsubscribed';
    if (unsubscribed && (before === undefined ? kinds.includes('unsubscribe') : before !== 'unsubscribed')) fired.push({ trigger: 'UNSUBSCRIBED' });
    next.email = observed.email;
  }

  return { next, fired };
}
