import type { EmailTagRef } from '../sources/mailchimp/model.ts';

/** A member's tag with whose it is, so `addedAt` can read that member's tag dates when selected. */
export interface EmailTagOnMember extends EmailTagRef {
  readonly memberEmail: string;
}

/** What `Customer.identities` hands its fields: the ids the shop database knows (the email is always there). */
export interface IdentitiesOfCustomer {
  readonly commerceCustomerId: string;
  readonly email: string;
}

/** `Customer.web(days)`: whose browsing, over which window; each field loads its own family. */
export interface WebWindow {
  readonly userId: string;
  readonly days: number;
}
