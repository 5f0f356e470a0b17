import { createHash } from 'node:crypto';

/** A member's standing in the audience, as Mailchimp names it. */
export const EMAIL_STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional', 'archived'] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];

/** A tag as the member body carries it. */
export interface EmailTagRef {
  /** Account-wide: the same tag name has the same id on every member. */
  readonly id: number;
  readonly name: string;
}

/** A tag as the member's tags endpoint carries it: with when it was added. */
export interface EmailTag extends EmailTagRef {
  readonly addedAt: Date | null;
}

/** Where Mailchimp places the member (from opens and clicks); each part null when unknown. */
export interface EmailLocation {
  readonly countryCode: string | null;
  readonly timezone: string | null;
  readonly latitude: number | null;
  readonly longitude: number | null;
  readonly region: string | null;
}

/** A GDPR marketing permission of the audience and whether this member granted it. */
export interface MarketingPermission {
  readonly id: string;
  readonly text: string;
  readonly enabled: boolean;
}

/**
 * One audience member, in our words. Timestamps are null when Mailchimp has none (imported
 * members have no signup time). Last open and last click are not in the member body: read them
 * from the activity feed (`activityByEmail({ count: 1, types: ['open'] })`), one extra call each.
 */
export interface EmailMember {
  /** The subscriber hash: MD5 of the lower-cased email. */
  readonly id: string;
  readonly email: string;
  readonly status: EmailStatus;
  /** 1 to 5 stars of engagement. */
  readonly memberRating: number | null;
  /** Share of campaigns opened, 0 to 1. */
  readonly avgOpenRate: number | null;
  /** Share of campaigns clicked, 0 to 1. */
  readonly avgClickRate: number | null;
  readonly signupAt: Date | null;
  readonly optInAt: Date | null;
  readonly lastChangedAt: Date | null;
  readonly tags: readonly EmailTagRef[];
  readonly location: EmailLocation | null;
  readonly vip: boolean;
  readonly marketingPermissions: readonly MarketingPermission[];
  /** Derived: see canEmail. */
  readonly canEmail: boolean;
  /** Language code Mailchimp detected or was given ("en", "de"), or null. */
  readonly language: string | null;
  /** How the member joined ("API - Generic", "Hosted Signup Form", "Import"), or null. */
  readonly source: string | null;
}

/** One entry of a member's activity feed, newest first in a list. */
export interface EmailActivity {
  /** Mailchimp's activity_type: sent, open, click, bounce, unsub, order, event, ... */
  readonly type: string;
  readonly at: Date;
  readonly campaignId: string | null;
  readonly campaignTitle: string | null;
  /** The link clicked, for clicks. */
  readonly url: string | null;
  /** hard or soft, for bounces. */
  readonly bounceType: string | null;
}

/**
 * Mailchimp's key for a member: MD5 hex of the lower-cased (and here trimmed) email. Pure; the
 * identities field shows it, and it is safe to log where an email is not.
 */
export function subscriberHash(email: string): string {
  return createHash('md5').update(email.trim().toLowerCase()).digest('hex');
}

/**
 * Whether marketing email may go to this member: subscribed, and no marketing permission
 * withdrawn (a permission the audience does not use is absent, not withdrawn). Pure.
 */
export function canEmail(member: Pick<EmailMember, 'status' | 'marketingPermissions'>): boolean {
  return member.status === 'subscribed' && member.marketingPermissions.every((permission) => permission.enabled);
}
