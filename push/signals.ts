/**
 * The contracts of push (docs/push.md): a source says that something about a person changed (a
 * `Signal`), the hub resolves the person, evicts what the cache holds about them and tells every
 * replica (a `CustomerChange`); subscriptions re-resolve their selection on it, and triggers compare
 * the person's state before and after (a `TriggerEvent`), which subscribers and outgoing webhooks
 * receive. A signal is only a notice: it carries no profile data, and nothing is stored from it.
 */

/** The systems a change can come from (the `SourceName`s the cache keeps). */
export type SignalSource = 'commerce' | 'crm' | 'email' | 'web';

/**
 * Whom a signal is about, as the source names them: at least one of these. The hub resolves it to
 * the shop's customer id by the same identity rules as queries (email to the shop's customer, a
 * HubSpot contact's email, the warehouse's user id, an anonymous id's identify link).
 */
export interface Subject {
  /** The shop's `customers.id` (also the warehouse's user id), as a decimal string. */
  readonly customerId?: string;
  readonly email?: string;
  /** A HubSpot contact id. */
  readonly contactId?: string;
  /** A browser's anonymous id (warehouse, Segment, RudderStack). */
  readonly anonymousId?: string;
}

export interface Signal {
  /**
   * Stable per underlying change, the same on every replica that sees it (a NOTIFY reaches them all,
   * a warehouse poll runs on each): the key the fleet deduplicates by. E.g. `commerce:orders:42:INSERT:<xid or lsn>`.
   */
  readonly id: string;
  readonly source: SignalSource;
  /**
   * What changed, in the source's words: `order`, `cart`, `customer`, `cart.abandoned` (commerce);
   * a HubSpot subscription type such as `contact.propertyChange`; a Mailchimp event type such as
   * `unsubscribe`; `page`, `track`, `identify` or `warehouse.load` (web).
   */
  readonly kind: string;
  readonly subject: Subject;
  /** When the change happened at the source, ISO 8601 (the commit, the event's time), when it says. */
  readonly at?: string;
  /** Epoch ms when this server first received it: change-to-notification latency starts here. */
  readonly receivedAt: number;
}

/** Where a signal source hands its signals; never throws, never blocks. */
export type SignalSink = (signal: Signal) => void;

/**
 * One producer of signals (the shop's logical decoding or NOTIFY, the warehouse poll, ...). `start`
 * resolves once it listens (or has given up for now and keeps retrying in the background: it must
 * never reject after start because a source went down); `stop` releases its connections.
 */
export interface SignalProducer {
  readonly name: string;
  start(emit: SignalSink): Promise<void>;
  stop(): Promise<void>;
}

/** A person changed: the hub's answer to one or more signals about them (coalesced over a few ms). */
export interface CustomerChange {
  /** The shop's customer id. */
  readonly customerId: string;
  /** The sources whose signals this covers, without repeats. */
  readonly sources: readonly SignalSource[];
  /** The signals' kinds, without repeats. */
  readonly kinds: readonly string[];
  /** The signal ids covered (for idempotency keys). */
  readonly signalIds: readonly string[];
  /** The earliest `receivedAt` of the signals covered (latency is measured from it). */
  readonly receivedAt: number;
}

/** The named conditions triggers watch; each fires on a transition, not on a state. */
export const TRIGGERS = ['RFM_SEGMENT_ENTERED', 'RFM_SEGMENT_LEFT', 'CART_ABANDONED', 'CART_RECOVERED', 'LIKELY_TO_LAPSE', 'UNSUBSCRIBED'] as const;
export type TriggerName = (typeof TRIGGERS)[number];

export interface TriggerEvent {
  /** Stable for the transition (trigger, customer, the change's signal ids): the idempotency key of deliveries. */
  readonly id: string;
  readonly trigger: TriggerName;
  readonly customerId: string;
  /** The RFM segment entered or left (`CHAMPIONS`, ...), for the RFM triggers. */
  readonly segment?: string;
  /** ISO 8601: when the transition was observed. */
  readonly at: string;
  /** Epoch ms of the earliest signal that led to it. */
  readonly receivedAt: number;
}

/** What subscriptions and webhooks listen to: changes and trigger events, from every replica. */
export interface ChangeFeed {
  /** Every customer's changes when `customerId` is null. Returns the unsubscribe. */
  onChange(customerId: string | null, listener: (change: CustomerChange) => void): () => void;
  onTrigger(listener: (event: TriggerEvent) => void): () => void;
}

/**
 * Compares a person's state after a change with the state last seen (kept where every replica
 * reads it: Redis when configured) and says which triggers fired. Called once per change across
 * the fleet (by the replica that claimed its signals).
 */
export interface TriggerEvaluator {
  evaluate(change: CustomerChange): Promise<TriggerEvent[]>;
}
