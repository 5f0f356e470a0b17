import type { Context } from '../server/context.ts';
import type { AnonymousVisitorRecord, WebConsentAnswer, WebIdentity, WebSubject } from '../sources/web/model.ts';
import type { AnonymousVisitorResolvers, ChannelConsent, ConsentResolvers, IdentificationResolvers, VisitorResolvers } from './generated/types.ts';
import { webDays } from './arguments.ts';
import { customerWithId, shopRecord } from './lookup.ts';
import type { CustomerOfRecord, VisitorOfRecord, WebWindow } from './models.ts';

// Profiles for every visitor. Identity is stitched here, per request, from the warehouse's
// identify calls as they are now: nothing is copied, so a link the warehouse loads (or drops)
// shows in the next answer.

type Loaders = Context['loaders'];

const isCustomer = (visitor: VisitorOfRecord): visitor is CustomerOfRecord => 'commerce' in visitor;

/**
 * Whose events a visitor's browsing is: a customer by the shop's id (which only the shop record
 * gives: its error otherwise) plus the signed-in session's browser, an anonymous visitor by its id.
 */
export function subjectOf(visitor: VisitorOfRecord): WebSubject {
  return isCustomer(visitor) ? { userId: shopRecord(visitor).id, anonymousId: visitor.sessionAnonymousId } : { userId: null, anonymousId: visitor.record.anonymousId };
}

/**
 * The visitor's window, or null when their newest analytics consent answer withholds it: a
 * profile is not built from browsing the person did not allow. No answer at all (no consent
 * object on their events) is no refusal, as the pipelines treat it.
 */
export async function consentedWindow(loaders: Loaders, visitor: VisitorOfRecord, days: number | null | undefined): Promise<WebWindow | null> {
  const subject = subjectOf(visitor);
  const consent = await loaders.webConsent.load(subject);
  return consent.analytics?.granted === false ? null : { ...subject, days: webDays(days) };
}

/** The browser's own profile when the warehouse has never seen it (a visitor token's new browser). */
const unseen = (anonymousId: string): AnonymousVisitorRecord => ({ anonymousId, link: 'unlinked', userId: null });

/**
 * `visitor(anonymousId:)`. With the caller's own visitor token, always the browser's own
 * anonymous profile (even before the warehouse has any of its events): reading the customer it is
 * linked to needs that customer's token. Otherwise the customer the id is linked to, or the
 * browser's own profile when it is linked to nobody or to several people; null when the warehouse
 * knows nothing of it.
 */
export async function visitorWithAnonymousId(loaders: Loaders, anonymousId: string, ownToken: boolean): Promise<VisitorOfRecord | null> {
  const record = await loaders.webVisitor.load(anonymousId);
  if (ownToken) return { record: record ?? unseen(anonymousId), identifiedBy: 'TOKEN' };
  if (!record) return null;
  if (record.link === 'linked' && record.userId !== null && SHOP_ID.test(record.userId)) {
    const customer = await customerWithId(loaders, record.userId, 'ANONYMOUS_ID');
    if (customer) return customer;
  }
  // Linked to a user id the shop does not know: still a browser with a history.
  return { record, identifiedBy: 'ANONYMOUS_ID' };
}

/** The warehouse's user_id is the shop's customer id; anything else cannot be one of ours. */
export const SHOP_ID = /^[1-9]\d{0,17}$/;

export const Visitor: VisitorResolvers = {
  __resolveType: (visitor) => (isCustomer(visitor) ? 'Customer' : 'AnonymousVisitor'),
};

export const AnonymousVisitor: AnonymousVisitorResolvers = {
  anonymousId: (visitor) => visitor.record.anonymousId,
  identification: (visitor) => visitor,
  web: (visitor, { days }, { loaders }) => consentedWindow(loaders, visitor, days),
  location: async (visitor, { days }, { loaders }) => {
    const window = await consentedWindow(loaders, visitor, days);
    return window && loaders.webLocation.load(window);
  },
  consent: (visitor) => visitor,
};

const LINK = { linked: 'LINKED', ambiguous: 'AMBIGUOUS', unlinked: 'UNLINKED' } as const;

export const Identification: IdentificationResolvers = {
  by: (visitor) => visitor.identifiedBy,
  link: (visitor) => {
    if (!isCustomer(visitor)) return LINK[visitor.record.link];
    return visitor.identifiedBy === 'ANONYMOUS_ID' ? 'LINKED' : null;
  },
  mergedAnonymousIds: async (visitor, _, { loaders }) => {
    if (!isCustomer(visitor)) return [visitor.record.anonymousId];
    const [linked, session] = await customerLinks(loaders, visitor);
    return session?.merged ? [...linked.anonymousIds, session.anonymousId] : linked.anonymousIds;
  },
  ambiguousAnonymousIds: async (visitor, _, { loaders }) => {
    if (!isCustomer(visitor)) return [];
    const [linked, session] = await customerLinks(loaders, visitor);
    return session && !session.merged ? [...linked.ambiguousAnonymousIds, session.anonymousId] : linked.ambiguousAnonymousIds;
  },
};

/**
 * A customer's browsers: those linked to them in the warehouse, and the signed-in session's,
 * which is merged unless the warehouse links it to someone else (the same rule the web source
 * applies when it reads the session's events).
 */
async function customerLinks(loaders: Loaders, customer: CustomerOfRecord) {
  const id = shopRecord(customer).id;
  const session = customer.sessionAnonymousId;
  const [identity, record] = await Promise.all([loaders.webIdentity.load(id), session ? loaders.webVisitor.load(session) : null]);
  const linked: Pick<WebIdentity, 'anonymousIds' | 'ambiguousAnonymousIds'> = identity ?? { anonymousIds: [], ambiguousAnonymousIds: [] };
  if (!session || linked.anonymousIds.includes(session) || linked.ambiguousAnonymousIds.includes(session)) return [linked, null] as const;
  const merged = !record || record.link === 'unlinked' || (record.link === 'linked' && record.userId === id);
  return [linked, { anonymousId: session, merged }] as const;
}

const fromWarehouse = (answer: WebConsentAnswer | null): ChannelConsent | null => answer && { granted: answer.granted, source: 'WAREHOUSE', at: answer.at };

export const Consent: ConsentResolvers = {
  email: async (visitor, _, { loaders }) => {
    if (!isCustomer(visitor)) return null;
    const member = await loaders.emailMember.load(visitor.email);
    if (!member) return null;
    // Opting in is when a subscription was granted; any later change (unsubscribing, a permission
    // withdrawn) is the member's last change.
    const at = member.canEmail ? (member.optInAt ?? member.lastChangedAt) : member.lastChangedAt;
    return { granted: member.canEmail, source: 'MAILCHIMP', at };
  },
  analytics: async (visitor, _, { loaders }) => fromWarehouse((await loaders.webConsent.load(subjectOf(visitor))).analytics),
  advertising: async (visitor, _, { loaders }) => fromWarehouse((await loaders.webConsent.load(subjectOf(visitor))).advertising),
};
