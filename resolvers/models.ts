import type { ClvFit, ClvPrediction, ClvSummary } from '../sources/commerce/index.ts';
import type { Cart, CommerceCustomer, CustomerCarts, OrderPage, SegmentPage } from '../sources/commerce/model.ts';
import type { EmailTagRef } from '../sources/mailchimp/model.ts';
import type { AnonymousVisitorRecord } from '../sources/web/model.ts';
import type { IdentifiedBy } from './generated/types.ts';

/** A member's tag with whose it is, so `addedAt` can read that member's tag dates when selected. */
export interface EmailTagOnMember extends EmailTagRef {
  readonly memberEmail: string;
}

/**
 * What `Customer` (and `Customer.identities`) hands its fields: the person's email, which every
 * lookup ends with and which the CRM and the email platform are read by, and the shop database's
 * record, or the error that kept it from being read. A customer found by email keeps its CRM and
 * email fields when the shop database fails: only the fields that need the record carry its error.
 */
export interface CustomerOfRecord {
  /** Lower-cased. */
  readonly email: string;
  /** The shop's customer: an Error only when the customer was found by email and the read failed. */
  readonly commerce: CommerceCustomer | Error;
  /**
   * `customers.id`, null when the shop database failed. server/auth reads `id` on every Customer
   * parent (a self token's binding, the audit line).
   */
  readonly id: string | null;
  /** The kind of key the customer was found by (`identification.by`). */
  readonly identifiedBy: IdentifiedBy;
  /**
   * For `me`: the browser of the session the customer signed in on (the token's `anonymous_id`),
   * whose browsing before sign-in is theirs even before the warehouse has loaded the identify
   * call that links it. Null otherwise.
   */
  readonly sessionAnonymousId: string | null;
}

/** What `AnonymousVisitor` hands its fields: the warehouse's record of the browser. */
export interface AnonymousVisitorOfRecord {
  readonly record: AnonymousVisitorRecord;
  /** ANONYMOUS_ID, or TOKEN when a visitor token asked for its own browser. */
  readonly identifiedBy: IdentifiedBy;
}

/** A `Visitor` of either kind, as the interface's resolveType tells them apart. */
export type VisitorOfRecord = CustomerOfRecord | AnonymousVisitorOfRecord;

/**
 * `web(days)` (and `location(days)`): whose browsing, over which window. A customer is read by
 * their shop id (`userId`, the warehouse's user_id) plus `anonymousId` when the session's browser
 * is added (`me`); an anonymous visitor by its `anonymousId` alone (see sources/web WebKey).
 */
export interface WebWindow {
  readonly userId: string | null;
  readonly anonymousId: string | null;
  readonly days: number;
}

/** `Traits.predictedValue`: one customer's prediction, the purchase history and the fit it used. */
export interface PredictedValueOfRecord {
  readonly prediction: ClvPrediction;
  readonly summary: ClvSummary;
  readonly fit: ClvFit;
}

/** `Traits.cartRecovery`: the abandoned cart, when the carts were read, and whose it is (for the email feed). */
export interface CartRecoveryOfRecord {
  readonly cart: Cart;
  /** The carts as the loader answered them (their read time is the trait's freshness). */
  readonly carts: CustomerCarts;
  readonly asOf: Date;
  /** Lower-cased: the Mailchimp member's key. */
  readonly email: string;
}

/**
 * A page of a forward-only connection, with whether it was asked for `after` a cursor: the items
 * before it that `pageInfo.hasPreviousPage` reports (the cursor came from a page of them).
 */
export type OrderPageOfRecord = OrderPage & { readonly hasPreviousPage: boolean };
/** As `OrderPageOfRecord`. */
export type SegmentPageOfRecord = SegmentPage & { readonly hasPreviousPage: boolean };
