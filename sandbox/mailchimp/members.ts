import type { DemoPerson, DemoWorld, EmailTraits } from '../demo/people.ts';
import { Rng, Stream } from '../demo/random.ts';
import type { Json, JsonObject } from './fields.ts';
import { md5Hex } from './subscriber-index.ts';

/** A person who is in the audience: their email traits are known. */
export type Member = DemoPerson & { readonly emailMarketing: EmailTraits };

export const isMember = (person: DemoPerson | null): person is Member => person?.emailMarketing != null;

/** Where the stand-in's own links point: its base URL and the audience it serves. */
export interface Audience {
  readonly world: DemoWorld;
  readonly listId: string;
  readonly apiBase: string;
}

/** Mailchimp writes timestamps as `2026-10-31T12:00:00+00:00`, without milliseconds. */
export const mailchimpTime = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, '+00:00');

/** Extra per-member facts the demo world does not hold, from a stream of their own. */
const EXTRAS_STREAM = Stream.email + 200;
const rng = new Rng();

const UNSUBSCRIBE_REASONS = [
  'N/A (Unsubscribed by admin)',
  'I no longer want to receive these emails',
  'I receive too many emails',
  'The emails are inappropriate',
  'I never signed up for this mailing list',
];

/** Rough bounding boxes (lat, lon) so coordinates land in the person's country. */
const COUNTRY_BOXES: Record<string, readonly [number, number, number, number]> = {
  US: [25, 49, -124, -67],
  CA: [43, 60, -123, -64],
  GB: [50, 58, -6, 1.7],
  DE: [47.3, 55, 6, 15],
  FR: [43, 51, -4.5, 7.5],
  AU: [-38, -12, 115, 153],
};

const LANGUAGES: Record<string, string> = { DE: 'de', FR: 'fr' };

interface Extras {
  readonly latitude: number;
  readonly longitude: number;
  readonly unsubscribeReason: string;
  /** When each of the member's tags was added, in traits.tags order. */
  readonly tagDates: readonly Date[];
}

/** Deterministic facts beyond the traits; the activity feed reuses the unsubscribe reason. */
export function extrasOf(world: DemoWorld, member: Member): Extras {
  const f = rng.reset(world.seed, EXTRAS_STREAM, member.index);
  const [latMin, latMax, lonMin, lonMax] = COUNTRY_BOXES[member.countryCode] ?? [-60, 70, -180, 180];
  const traits = member.emailMarketing;
  const span = traits.lastChangedAt.getTime() - traits.optInAt.getTime();
  return {
    latitude: f.number.float({ min: latMin, max: latMax, fractionDigits: 4 }),
    longitude: f.number.float({ min: lonMin, max: lonMax, fractionDigits: 4 }),
    unsubscribeReason: f.helpers.arrayElement(UNSUBSCRIBE_REASONS),
    tagDates: traits.tags.map(() => new Date(traits.optInAt.getTime() + Math.floor(f.number.float() * span))),
  };
}

/** Tag ids are account-wide in Mailchimp: the same name has the same id for everyone. */
export const tagIdOf = (name: string): number => Number.parseInt(md5Hex(`tag:${name}`).slice(0, 5), 16);

const PERMISSIONS = [
  { key: 'email', id: '8a25ff1d98', text: 'Email' },
  { key: 'ads', id: 'd0a1b2c3e4', text: 'Customized Online Advertising' },
] as const;

/** A member as `GET /lists/{list_id}/members/{subscriber_hash}` returns it, every field present. */
export function memberBody(audience: Audience, member: Member, hash: string): JsonObject {
  const traits = member.emailMarketing;
  const extras = extrasOf(audience.world, member);
  return {
    id: hash,
    email_address: member.email,
    unique_email_id: md5Hex(`unique:${hash}`).slice(0, 10),
    contact_id: md5Hex(`contact:${hash}`),
    full_name: `${member.firstName} ${member.lastName}`,
    web_id: 100_000_000 + member.index,
    email_type: 'html',
    status: traits.status,
    ...(traits.status === 'unsubscribed' ? { unsubscribe_reason: extras.unsubscribeReason } : {}),
    consents_to_one_to_one_messaging: true,
    merge_fields: { FNAME: member.firstName, LNAME: member.lastName, PHONE: member.phone },
    interests: {},
    stats: { avg_open_rate: traits.avgOpenRate, avg_click_rate: traits.avgClickRate },
    ip_signup: '',
    timestamp_signup: mailchimpTime(traits.signupAt),
    ip_opt: '',
    timestamp_opt: mailchimpTime(traits.optInAt),
    member_rating: traits.memberRating,
    last_changed: mailchimpTime(traits.lastChangedAt),
    language: LANGUAGES[member.countryCode] ?? 'en',
    email_client: '',
    vip: traits.vip,
    location: locationOf(member, extras),
    marketing_permissions: PERMISSIONS.map((p) => ({
      marketing_permission_id: p.id,
      text: p.text,
      enabled: traits.permissions[p.key],
    })),
    source: member.customerId === null ? 'Hosted Signup Form' : 'API - Generic',
    tags_count: traits.tags.length,
    tags: traits.tags.map((name) => ({ id: tagIdOf(name), name })),
    list_id: audience.listId,
    _links: [selfLink(`${audience.apiBase}/lists/${audience.listId}/members/${hash}`, 'Lists/Members/Response.json')],
  };
}

/** `GET .../members/{subscriber_hash}/tags`: the only place Mailchimp says when a tag was added. */
export function tagsBody(audience: Audience, member: Member, hash: string, count: number, offset: number): JsonObject {
  const { tags } = member.emailMarketing;
  const { tagDates } = extrasOf(audience.world, member);
  const all = tags.map((name, i) => ({ id: tagIdOf(name), name, date_added: mailchimpTime(tagDates[i]!) }));
  return {
    tags: all.slice(offset, offset + count),
    total_items: all.length,
    _links: [selfLink(`${audience.apiBase}/lists/${audience.listId}/members/${hash}/tags`, 'Lists/Members/Tags/Collection.json')],
  };
}

export function selfLink(href: string, schema: string): JsonObject {
  return {
    rel: 'self',
    href,
    method: 'GET',
    targetSchema: `https://us1.api.mailchimp.com/schema/3.0/Definitions/${schema}`,
  };
}

function locationOf(member: Member, extras: Extras): Json {
  const [gmtoff, dstoff] = offsetsOf(member.timezone);
  return {
    latitude: extras.latitude,
    longitude: extras.longitude,
    gmtoff,
    dstoff,
    country_code: member.countryCode,
    timezone: member.timezone,
    region: member.region,
  };
}

const offsetCache = new Map<string, readonly [number, number]>();

/** Mailchimp's gmtoff/dstoff: whole hours from UTC, standard and daylight time. */
function offsetsOf(timeZone: string): readonly [number, number] {
  let offsets = offsetCache.get(timeZone);
  if (!offsets) {
    const january = hoursFromUtc(timeZone, Date.UTC(2026, 0, 15));
    const july = hoursFromUtc(timeZone, Date.UTC(2026, 6, 15));
    offsets = [Math.min(january, july), Math.max(january, july)];
    offsetCache.set(timeZone, offsets);
  }
  return offsets;
}

function hoursFromUtc(timeZone: string, at: number): number {
  try {
    const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(at).find((part) => part.type === 'timeZoneName')?.value;
    const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
    return match ? Math.trunc((match[1] === '-' ? -1 : 1) * (Number(match[2]) + Number(match[3]) / 60)) : 0;
  } catch {
    return 0; // a zone this Node build does not know
  }
}
