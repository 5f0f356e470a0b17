/**
 * The audience contract: how the planner (audiences/planner.ts) asks a source other than the shop
 * database which people meet a condition, with the condition evaluated by the source itself (pushed
 * down), never by reading every record here. A condition is the conjunction of the fields given in
 * one source's part of a filter (CrmCondition, EmailCondition, WebCondition below): the planner
 * hands each source one condition at a time and combines the answers by identity.
 *
 * Each source names people by the key it shares with the shop: HubSpot and Mailchimp by lower-cased
 * email address, the warehouse by user id (the shop customer's id as a decimal string).
 */
export interface AudienceSource<C> {
  /** Which key the answers are in. */
  readonly key: 'email' | 'customerId';
  /**
   * How many people the source holds that meet `condition`, from one cheap call where the source
   * can count (a search's `total`, a list's `total_items`, a COUNT): the planner orders conditions
   * by it. `exact` is false where the source can only estimate.
   */
  estimate(condition: C, tally: Tally, signal: AbortSignal): Promise<Estimate>;
  /**
   * What enumerating would cost, in upstream calls, for `estimated` matches (a page size's worth
   * per call), or null when the source cannot list the people meeting `condition` without one call
   * per person (then only `check` can answer it).
   */
  enumerationCalls(condition: C, estimated: number): number | null;
  /**
   * Every person meeting `condition`, each key once, pushed down (paged as the source requires).
   * Rejects with AudienceRefused when `enumerationCalls` is null, and with SourceError when the
   * source fails.
   */
  enumerate(condition: C, tally: Tally, signal: AbortSignal): Promise<ReadonlySet<string>>;
  /** What checking `candidates` people would cost, in upstream calls. */
  checkCalls(condition: C, candidates: number): number;
  /** Which of `candidates` (keys as `key` says, unique) meet `condition`. Rejects with SourceError when the source fails. */
  check(condition: C, candidates: readonly string[], tally: Tally, signal: AbortSignal): Promise<ReadonlySet<string>>;
}

/** A count from a source, and whether the source could say it exactly. */
export interface Estimate {
  readonly count: number;
  readonly exact: boolean;
}

/**
 * What a plan's steps cost, counted as they run: each upstream call (an HTTP request, a SQL
 * statement) and the rows or records it returned. The plan in `extensions` and the benchmarks
 * report these; nothing about a person is recorded.
 */
export interface Tally {
  call(rows: number): void;
}

/** A plan the server will not run: it names the condition and why, and what would make it runnable. */
export class AudienceRefused extends Error {
  override readonly name = 'AudienceRefused';
}

/** HubSpot contacts: each field given narrows; list fields match any of their values. */
export interface CrmCondition {
  /** `lifecyclestage` is one of these internal values (e.g. `customer`, `lead`). */
  readonly lifecycleStages?: readonly string[];
  /** `hs_lead_status` is one of these. */
  readonly leadStatuses?: readonly string[];
  /** `hubspot_owner_id` is one of these. */
  readonly ownerIds?: readonly string[];
  /** The contact's `company` property equals one of these (case-insensitive). */
  readonly companies?: readonly string[];
  /** Conditions on allow-listed properties (CRM_PROPERTIES); the planner checks the allow-list before a source sees them. */
  readonly properties?: readonly PropertyCondition[];
}

export type PropertyOperator = 'EQ' | 'NEQ' | 'IN' | 'NOT_IN' | 'GT' | 'GTE' | 'LT' | 'LTE' | 'HAS_PROPERTY' | 'NOT_HAS_PROPERTY';

export interface PropertyCondition {
  readonly property: string;
  readonly operator: PropertyOperator;
  /** For EQ, NEQ, GT, GTE, LT, LTE. */
  readonly value?: string;
  /** For IN and NOT_IN. */
  readonly values?: readonly string[];
}

export type EmailStatus = 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending' | 'transactional' | 'archived';

/** Mailchimp audience members (the configured list). */
export interface EmailCondition {
  /** The member's status is one of these. */
  readonly statuses?: readonly EmailStatus[];
  /** Opted in at or after this time (`timestamp_opt`). */
  readonly optedInSince?: Date;
  /** Opened a campaign email at or after this time. */
  readonly openedSince?: Date;
  /** Clicked a link in a campaign email at or after this time. */
  readonly clickedSince?: Date;
  /** `member_rating` (1-5) at least this. */
  readonly minRating?: number;
  /** Has at least one of these tags (by name). */
  readonly tags?: readonly string[];
}

/** The event warehouse, for identified people (user id = shop customer id), consent respected. */
export interface WebCondition {
  /** Viewed a product of one of these categories (`product_viewed.category`) at or after `since`. */
  readonly viewedCategories?: { readonly categories: readonly string[]; readonly since: Date };
  /** Viewed one of these products (`product_viewed.product_id`) at or after `since`. */
  readonly viewedProducts?: { readonly productIds: readonly string[]; readonly since: Date };
  /** At least `min` sessions (30 minutes of inactivity ends one) at or after `since`. */
  readonly sessions?: { readonly min: number; readonly since: Date };
  /** The last page or track event is at or after this time. */
  readonly lastSeenAfter?: Date;
  /** The last page or track event is before this time (people never seen do not match). */
  readonly lastSeenBefore?: Date;
  /** The first touch (earliest event's campaign) had one of these campaign names, mediums or channels. */
  readonly firstTouch?: Touch;
  /** The latest touch with a campaign had one of these. */
  readonly lastTouch?: Touch;
}

export interface Touch {
  /** `context_campaign_name` is one of these (case-insensitive). */
  readonly campaigns?: readonly string[];
  /** `context_campaign_medium` is one of these (case-insensitive). */
  readonly mediums?: readonly string[];
  /** The channel (sources/web/channels.ts) is one of these. */
  readonly channels?: readonly string[];
}

/** The warehouse's audience source, with the one breakdown only it can make. */
export interface WebAudienceSource extends AudienceSource<WebCondition> {
  /**
   * How many of `customerIds` had each utm_medium (trimmed, lower-cased) on their first session;
   * null counts those with no medium on it. Those never seen, or who refused analytics, are not
   * counted. One statement.
   */
  firstTouchMediums(customerIds: readonly string[], tally: Tally, signal: AbortSignal): Promise<Map<string | null, number>>;
}
