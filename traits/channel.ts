/**
 * The channel trait's computations (schema/traits-channel.graphql): who may be reached where, how
 * they respond, and which channel to prefer. Pure: the resolver hands in what the sources answered.
 */
import type { EmailMember } from '../sources/mailchimp/model.ts';
import type { SessionSourceGroup, WebConsentAnswer } from '../sources/web/index.ts';

/** Why a channel can or cannot reach the person (ReachReason in the schema). */
export type ReachReason =
  | 'SUBSCRIBED'
  | 'PERMISSION_WITHDRAWN'
  | 'UNSUBSCRIBED'
  | 'CLEANED'
  | 'PENDING'
  | 'TRANSACTIONAL'
  | 'ARCHIVED'
  | 'NOT_IN_AUDIENCE'
  | 'CONSENT_GRANTED'
  | 'CONSENT_REFUSED'
  | 'NO_CONSENT_ANSWER';

export interface Reachability {
  readonly reachable: boolean;
  readonly reason: ReachReason;
  /** When the answer was given (opt-in, last change, consent event); null when unknown. */
  readonly since: Date | null;
}

/** The member fields reachability reads. */
export type MemberReach = Pick<EmailMember, 'status' | 'canEmail' | 'optInAt' | 'lastChangedAt'>;

/**
 * Email reaches a subscribed member with no marketing permission withdrawn (Mailchimp's own rule,
 * EmailMember.canEmail); every other status, or no member at all, is not reachable, with why.
 */
export function emailReach(member: MemberReach | null): Reachability {
  if (member === null) return { reachable: false, reason: 'NOT_IN_AUDIENCE', since: null };
  if (member.canEmail) return { reachable: true, reason: 'SUBSCRIBED', since: member.optInAt ?? member.lastChangedAt };
  const reason = member.status === 'subscribed' ? 'PERMISSION_WITHDRAWN' : (member.status.toUpperCase() as ReachReason);
  return { reachable: false, reason, since: member.lastChangedAt };
}

/**
 * Web personalization follows the analytics purpose as `Customer.web` does: reachable unless the
 * newest answer refused it (no answer is no refusal, as the pipelines read it). Advertising is an
 * opt-in purpose: reachable only with a granted answer.
 */
export function consentReach(answer: WebConsentAnswer | null, optIn: boolean): Reachability {
  if (answer === null) return { reachable: !optIn, reason: 'NO_CONSENT_ANSWER', since: null };
  return { reachable: answer.granted, reason: answer.granted ? 'CONSENT_GRANTED' : 'CONSENT_REFUSED', since: answer.at };
}

/** Fewest opens a best send hour rests on: below it the hour is noise, so none is given. */
export const MIN_OPENS_FOR_SEND_HOUR = 5;

export interface SendHour {
  /** Hour of day, 0-23, in `timeZone`. */
  readonly hour: number;
  /** Opens that fell in that hour. */
  readonly opensAtHour: number;
  /** All the opens the hour was chosen from. */
  readonly opens: number;
  readonly timeZone: string;
}

// A formatter is costly to build (tens of microseconds) and a shop has one time zone: keep them.
const hourFormats = new Map<string, Intl.DateTimeFormat>();
function hourFormat(timeZone: string): Intl.DateTimeFormat {
  let format = hourFormats.get(timeZone);
  if (!format) hourFormats.set(timeZone, (format = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' })));
  return format;
}

/**
 * The hour of day (in `timeZone`) in which most of the opens fell; ties go to the hour of the
 * newest open among them, so a changed habit wins. Null with fewer than MIN_OPENS_FOR_SEND_HOUR opens.
 */
export function bestSendHour(opens: readonly Date[], timeZone: string): SendHour | null {
  if (opens.length < MIN_OPENS_FOR_SEND_HOUR) return null;
  const hourOf = hourFormat(timeZone);
  const byHour = new Map<number, { count: number; newest: number }>();
  for (const at of opens) {
    const hour = Number(hourOf.format(at));
    const seen = byHour.get(hour) ?? { count: 0, newest: -Infinity };
    byHour.set(hour, { count: seen.count + 1, newest: Math.max(seen.newest, at.getTime()) });
  }
  const [hour, best] = [...byHour].reduce((a, b) => (b[1].count > a[1].count || (b[1].count === a[1].count && b[1].newest > a[1].newest) ? b : a));
  return { hour, opensAtHour: best.count, opens: opens.length, timeZone };
}

export interface ChannelVisits {
  /** The UTM medium; `referral` for a session from another site without UTM, `direct` for one with neither. */
  readonly medium: string;
  /** The UTM source, or the referring host for `referral`; null for `direct`. */
  readonly source: string | null;
  readonly sessions: number;
  /** Of all sessions in the window, 0 to 1. */
  readonly share: number;
}

export interface CampaignVisits {
  readonly campaign: string;
  readonly sessions: number;
  readonly lastAt: Date;
}

export interface WebVisits {
  readonly sessions: number;
  readonly lastSessionAt: Date | null;
  readonly byChannel: readonly ChannelVisits[];
  readonly byCampaign: readonly CampaignVisits[];
}

/** Campaigns listed in `byCampaign`: the most visited. */
export const TOP_CAMPAIGNS = 10;
/** A UTM source without a medium: Google Analytics' label for it. */
const NOT_SET = '(not set)';

/** Where a session came from: its UTM tags, else its referring site, else direct. */
function channelOf(group: SessionSourceGroup): { medium: string; source: string | null } {
  if (group.medium !== null || group.source !== null) return { medium: group.medium ?? NOT_SET, source: group.source };
  if (group.referrerHost !== null) return { medium: 'referral', source: group.referrerHost };
  return { medium: 'direct', source: null };
}

/**
 * Sessions by channel (most first, then by name) and by UTM campaign (the TOP_CAMPAIGNS most
 * visited, ties to the most recent), from the window's session starts grouped by their tags.
 */
export function webVisits(groups: readonly SessionSourceGroup[]): WebVisits {
  const sessions = groups.reduce((sum, g) => sum + g.sessions, 0);
  const channels = new Map<string, { medium: string; source: string | null; sessions: number }>();
  const campaigns = new Map<string, { campaign: string; sessions: number; lastAt: Date }>();
  for (const group of groups) {
    const channel = channelOf(group);
    const key = JSON.stringify([channel.medium, channel.source]);
    channels.set(key, { ...channel, sessions: (channels.get(key)?.sessions ?? 0) + group.sessions });
    if (group.campaign === null) continue;
    const seen = campaigns.get(group.campaign);
    campaigns.set(group.campaign, {
      campaign: group.campaign,
      sessions: (seen?.sessions ?? 0) + group.sessions,
      lastAt: seen && seen.lastAt > group.lastAt ? seen.lastAt : group.lastAt,
    });
  }
  const byName = (a: string | null, b: string | null) => (a ?? '').localeCompare(b ?? '');
  return {
    sessions,
    lastSessionAt: groups.length ? new Date(Math.max(...groups.map((g) => g.lastAt.getTime()))) : null,
    byChannel: [...channels.values()]
      .sort((a, b) => b.sessions - a.sessions || byName(a.medium, b.medium) || byName(a.source, b.source))
      .map((c) => ({ ...c, share: c.sessions / sessions })),
    byCampaign: [...campaigns.values()]
      .sort((a, b) => b.sessions - a.sessions || b.lastAt.getTime() - a.lastAt.getTime() || byName(a.campaign, b.campaign))
      .slice(0, TOP_CAMPAIGNS),
  };
}

/** An open rate (share of campaigns opened) at or above which email counts as a responding channel. */
export const RESPONSIVE_OPEN_RATE = 0.2;

/** What the preferred channel is chosen from, per channel. */
export interface ChannelEvidence {
  readonly channel: 'EMAIL' | 'WEB_PERSONALIZATION';
  readonly reachable: boolean;
  /** Opens (email) or sessions (web) in the window. */
  readonly responses: number;
  /** The newest of those responses; null without any. */
  readonly lastResponseAt: Date | null;
  /** Email only: the member's share of campaigns opened (Mailchimp), null when unknown. */
  readonly openRate: number | null;
}

export interface PreferredChannel {
  readonly channel: 'EMAIL' | 'WEB' | 'NONE';
  readonly reason: string;
  readonly evidence: readonly ChannelEvidence[];
}

const day = (at: Date) => at.toISOString().slice(0, 10);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Whether a reachable channel shows a response: any in the window, or email's open rate at the threshold. */
const responds = (e: ChannelEvidence) => e.reachable && (e.responses > 0 || (e.channel === 'EMAIL' && (e.openRate ?? 0) >= RESPONSIVE_OPEN_RATE));

function describe(e: ChannelEvidence, days: number): string {
  const name = e.channel === 'EMAIL' ? 'email' : 'web';
  if (!e.reachable) return `${name} cannot reach them`;
  const what = e.channel === 'EMAIL' ? plural(e.responses, 'email open') : plural(e.responses, 'web session');
  const latest = e.lastResponseAt ? ` (latest ${day(e.lastResponseAt)})` : '';
  const rate = e.channel === 'EMAIL' && e.openRate !== null ? `, open rate ${Math.round(e.openRate * 100)}%` : '';
  return `${what} in the last ${days} days${latest}${rate}`;
}

/**
 * The preferred channel among those that may reach the person and that they respond to: email when
 * reachable and they opened an email in the window or open at least RESPONSIVE_OPEN_RATE of
 * campaigns; web personalization when reachable and they had a session in the window. When both
 * qualify, the one with the more recent response wins (email on a tie; a response in the window
 * beats an open rate alone); NONE when neither qualifies. The reason is built from the evidence.
 */
export function preferredChannel(evidence: readonly ChannelEvidence[], days: number): PreferredChannel {
  const candidates = evidence.filter(responds);
  const recency = (e: ChannelEvidence) => e.lastResponseAt?.getTime() ?? -Infinity;
  const best = candidates.reduce<ChannelEvidence | null>((a, b) => (a === null || recency(b) > recency(a) ? b : a), null);
  const details = evidence.map((e) => describe(e, days)).join('; ');
  if (best === null) return { channel: 'NONE', reason: `No reachable channel they respond to: ${details}.`, evidence };
  const channel = best.channel === 'EMAIL' ? 'EMAIL' : 'WEB';
  const why = candidates.length > 1 ? ', the most recent response' : ', the only reachable channel they respond to';
  return { channel, reason: `${channel === 'EMAIL' ? 'Email' : 'Web'}${why}: ${details}.`, evidence };
}
