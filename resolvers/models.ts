import type { EmailTagRef } from '../sources/mailchimp/model.ts';

/** A member's tag with whose it is, so `addedAt` can read that member's tag dates when selected. */
export interface EmailTagOnMember extends EmailTagRef {
  readonly memberEmail: string;
}
