import type { CommerceCustomer } from '../sources/commerce/model.ts';
import type { EmailTagRef } from '../sources/mailchimp/model.ts';

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
}

/** `Customer.web(days)`: whose browsing, over which window; each field loads its own family. */
export interface WebWindow {
  readonly userId: string;
  readonly days: number;
}
