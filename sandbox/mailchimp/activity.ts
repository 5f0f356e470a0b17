import type { DemoWorld } from '../demo/people.ts';
import { Rng, Stream } from '../demo/random.ts';
import type { JsonObject } from './fields.ts';
import { extrasOf, mailchimpTime, selfLink, type Audience, type Member } from './members.ts';
import { md5Hex } from './subscriber-index.ts';

/** Its own stream, so a person's activity never shifts their email traits (Stream.email). */
const ACTIVITY_STREAM = Stream.email + 100;
const rng = new Rng();

const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;
/** The shop mails everyone weekly, Tuesdays 15:00 UTC; 2020-01-07 was a Tuesday. */
const FIRST_SEND = Date.UTC(2020, 0, 7, 15);
/** How far back the feed goes from its last send: half a year of campaigns, ~80 events at most. */
const FEED_WEEKS = 26;
const SOFT_BOUNCE_RATE = 0.01;
/** Only these statuses were ever mailed campaigns; pending never confirmed, transactional opted out. */
const MAILED = new Set(['subscribed', 'unsubscribed', 'cleaned']);

interface Campaign {
  readonly id: string;
  readonly title: string;
}

export type ActivityType = 'sent' | 'open' | 'click' | 'bounce' | 'unsub';

/** One entry of a member's activity feed. */
export interface ActivityEvent {
  readonly type: ActivityType;
  readonly at: number;
  readonly campaign: Campaign | null;
  readonly link?: string;
  readonly bounceType?: 'hard' | 'soft';
  readonly unsubscribeReason?: string;
}

/** Everyone who got week `week`'s mailing got the same campaign. */
function campaignOf(world: DemoWorld, week: number): Campaign {
  const sentAt = new Date(FIRST_SEND + week * WEEK_MS);
  return {
    id: md5Hex(`campaign:${world.seed}:${week}`).slice(0, 10),
    title: `Weekly picks ${sentAt.toISOString().slice(0, 10)}`,
  };
}

/**
 * A member's activity, newest first, regenerated from (seed, index): a `sent` per weekly campaign
 * since opt-in (while subscribed), an `open` with probability avg_open_rate, a `click` on an opened
 * mail with probability avg_click_rate / avg_open_rate (so clicks per send match avg_click_rate),
 * now and then a soft bounce, and the event that ended it: `unsub` for unsubscribed members, a hard
 * `bounce` for cleaned ones. Every timestamp is before world.asOf.
 */
export function activityOf(world: DemoWorld, member: Member): ActivityEvent[] {
  const traits = member.emailMarketing;
  if (!MAILED.has(traits.status)) return [];
  const f = rng.reset(world.seed, ACTIVITY_STREAM, member.index);
  // The story ends at the as-of time, or when the member left (lastChangedAt, before as-of).
  const until = traits.status === 'subscribed' ? world.asOf.getTime() : traits.lastChangedAt.getTime();
  const from = Math.max(traits.optInAt.getTime(), until - FEED_WEEKS * WEEK_MS);
  const clickGivenOpen = traits.avgOpenRate > 0 ? Math.min(1, traits.avgClickRate / traits.avgOpenRate) : 0;
  const categories = member.web.favouriteCategories;
  const events: ActivityEvent[] = [];
  let last: Campaign | null = null;
  for (let week = Math.ceil((from - FIRST_SEND) / WEEK_MS); FIRST_SEND + week * WEEK_MS < until; week++) {
    const sentAt = FIRST_SEND + week * WEEK_MS;
    const campaign = (last = campaignOf(world, week));
    events.push({ type: 'sent', at: sentAt, campaign });
    if (f.number.float() < SOFT_BOUNCE_RATE) {
      events.push({ type: 'bounce', at: sentAt + 60_000, campaign, bounceType: 'soft' });
      continue;
    }
    if (f.number.float() >= traits.avgOpenRate) continue;
    const openedAt = sentAt + f.number.int({ min: 60_000, max: 48 * HOUR_MS });
    events.push({ type: 'open', at: openedAt, campaign });
    if (f.number.float() >= clickGivenOpen) continue;
    const category = f.helpers.arrayElement([...categories]).toLowerCase();
    const link = `https://shop.example.com/c/${category}?utm_source=mailchimp&utm_medium=email&utm_campaign=${campaign.id}`;
    events.push({ type: 'click', at: openedAt + f.number.int({ min: 5_000, max: HOUR_MS / 2 }), campaign, link });
  }
  // Opens and clicks trail their send by up to two days; none may follow the end of the story.
  const feed = events.filter((event) => event.at < until);
  if (traits.status === 'unsubscribed') {
    const unsubscribeReason = extrasOf(world, member).unsubscribeReason;
    feed.push({ type: 'unsub', at: until, campaign: last, unsubscribeReason });
  }
  if (traits.status === 'cleaned') feed.push({ type: 'bounce', at: until, campaign: last, bounceType: 'hard' });
  return feed.sort((a, b) => b.at - a.at);
}

function itemOf(event: ActivityEvent): JsonObject {
  const base = {
    activity_type: event.type,
    created_at_timestamp: mailchimpTime(new Date(event.at)),
    ...(event.campaign ? { campaign_id: event.campaign.id, campaign_title: event.campaign.title } : {}),
  };
  switch (event.type) {
    case 'click':
      return { ...base, link_clicked: event.link ?? '' };
    case 'bounce':
      return { ...base, bounce_type: event.bounceType ?? 'soft', bounce_has_open_activity: false };
    case 'unsub':
      return { ...base, is_admin_unsubscribed: false, unsubscribe_reason: event.unsubscribeReason ?? '' };
    default:
      return base;
  }
}

export interface FeedQuery {
  readonly count: number;
  readonly offset: number;
  /** Activity types to keep; empty keeps all. */
  readonly filters: readonly string[];
}

/** `GET .../members/{subscriber_hash}/activity-feed`: filter, then page. */
export function activityFeedBody(audience: Audience, member: Member, hash: string, query: FeedQuery): JsonObject {
  const events = activityOf(audience.world, member).filter((event) => query.filters.length === 0 || query.filters.includes(event.type));
  return {
    email_id: hash,
    list_id: audience.listId,
    activity: events.slice(query.offset, query.offset + query.count).map(itemOf),
    _links: [selfLink(`${audience.apiBase}/lists/${audience.listId}/members/${hash}/activity-feed`, 'Lists/Members/ActivityFeed/Collection.json')],
  };
}
