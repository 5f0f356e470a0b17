import { SourceError } from '../errors.ts';
import {
  EMAIL_STATUSES,
  canEmail,
  type EmailActivity,
  type EmailLocation,
  type EmailMember,
  type EmailStatus,
  type EmailTag,
  type EmailTagRef,
  type MarketingPermission,
} from './model.ts';

/** What each read asks for (`fields`): only what the mapping below uses, so bodies stay small. */
export const MEMBER_FIELDS = [
  'id',
  'email_address',
  'status',
  'member_rating',
  'stats.avg_open_rate',
  'stats.avg_click_rate',
  'timestamp_signup',
  'timestamp_opt',
  'last_changed',
  'tags.id',
  'tags.name',
  'location.country_code',
  'location.timezone',
  'location.latitude',
  'location.longitude',
  'location.region',
  'vip',
  'marketing_permissions.marketing_permission_id',
  'marketing_permissions.text',
  'marketing_permissions.enabled',
  'language',
  'source',
] as const;

export const ACTIVITY_FIELDS = [
  'activity.activity_type',
  'activity.created_at_timestamp',
  'activity.campaign_id',
  'activity.campaign_title',
  'activity.link_clicked',
  'activity.bounce_type',
] as const;

export const TAG_FIELDS = ['tags.id', 'tags.name', 'tags.date_added'] as const;

type Wire = { readonly [key: string]: unknown };

const isWire = (value: unknown): value is Wire => typeof value === 'object' && value !== null && !Array.isArray(value);
const wires = (value: unknown): Wire[] => (Array.isArray(value) ? value.filter(isWire) : []);
/** Mailchimp writes "" for an unknown string; we write null. */
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

function date(value: unknown): Date | null {
  const source = text(value);
  const parsed = source === null ? null : new Date(source);
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed : null;
}

const badResponse = (expected: string): SourceError => new SourceError('email', 'bad_response', `expected ${expected} from Mailchimp, got something else`);

const isStatus = (value: unknown): value is EmailStatus => EMAIL_STATUSES.includes(value as EmailStatus);

function location(value: unknown): EmailLocation | null {
  if (!isWire(value)) return null;
  const found: EmailLocation = {
    countryCode: text(value.country_code),
    timezone: text(value.timezone),
    // Mailchimp reports 0, 0 when it has no idea.
    latitude: num(value.latitude) || null,
    longitude: num(value.longitude) || null,
    region: text(value.region),
  };
  return Object.values(found).some((part) => part !== null) ? found : null;
}

const isTag = (tag: Wire): tag is Wire & { readonly id: number; readonly name: string } => typeof tag.id === 'number' && typeof tag.name === 'string';

const tagRefs = (value: unknown): EmailTagRef[] =>
  wires(value)
    .filter(isTag)
    .map(({ id, name }) => ({ id, name }));

const permissions = (value: unknown): MarketingPermission[] =>
  wires(value).map((p) => ({
    id: String(p.marketing_permission_id ?? ''),
    text: String(p.text ?? ''),
    // Withdrawn only when Mailchimp says so.
    enabled: p.enabled !== false,
  }));

/** A member body (the MEMBER_FIELDS of it) in our model. Throws bad_response when it is not a member. */
export function toMember(body: unknown): EmailMember {
  if (!isWire(body) || typeof body.id !== 'string' || typeof body.email_address !== 'string' || !isStatus(body.status)) {
    throw badResponse('a member with id, email_address and a known status');
  }
  const stats = isWire(body.stats) ? body.stats : {};
  const marketingPermissions = permissions(body.marketing_permissions);
  return {
    id: body.id,
    email: body.email_address,
    status: body.status,
    memberRating: num(body.member_rating),
    avgOpenRate: num(stats.avg_open_rate),
    avgClickRate: num(stats.avg_click_rate),
    signupAt: date(body.timestamp_signup),
    optInAt: date(body.timestamp_opt),
    lastChangedAt: date(body.last_changed),
    tags: tagRefs(body.tags),
    location: location(body.location),
    vip: body.vip === true,
    marketingPermissions,
    canEmail: canEmail({ status: body.status, marketingPermissions }),
    language: text(body.language),
    source: text(body.source),
  };
}

/** An activity-feed body in our model, newest first as Mailchimp sends it. Throws bad_response. */
export function toActivity(body: unknown): EmailActivity[] {
  if (!isWire(body) || !Array.isArray(body.activity)) throw badResponse('an activity feed');
  return wires(body.activity).map((item) => {
    const at = date(item.created_at_timestamp);
    if (typeof item.activity_type !== 'string' || !at) throw badResponse('activities with a type and a timestamp');
    return {
      type: item.activity_type,
      at,
      campaignId: text(item.campaign_id),
      campaignTitle: text(item.campaign_title),
      url: text(item.link_clicked),
      bounceType: text(item.bounce_type),
    };
  });
}

/** A member-tags body in our model. Throws bad_response. */
export function toTags(body: unknown): EmailTag[] {
  if (!isWire(body) || !Array.isArray(body.tags)) throw badResponse('a collection of tags');
  return wires(body.tags)
    .filter(isTag)
    .map((tag) => ({ id: tag.id, name: tag.name, addedAt: date(tag.date_added) }));
}
