import { personAt, personByEmail, type MemberStatus } from '../demo/people.ts';
import { activityFeedBody } from './activity.ts';
import { projectFields, type JsonObject } from './fields.ts';
import { isMember, mailchimpTime, memberBody, tagsBody, type Audience, type Member } from './members.ts';
import { problems, type Problem } from './problem.ts';
import { LIST_STATUSES, MemberListing, type ListStatus } from './member-listing.ts';
import { SubscriberIndex, md5Hex } from './subscriber-index.ts';

/** The endpoints the stand-in counts requests by: `members` is the listing, `member` one member. */
export const ENDPOINTS = ['ping', 'member', 'members', 'activity', 'tags', 'other'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

const MEMBERS_PATH = /^\/3\.0\/lists\/([^/]+)\/members\/?$/;
const MEMBER_PATH = /^\/3\.0\/lists\/([^/]+)\/members\/([^/]+)(?:\/(activity-feed|tags))?\/?$/;
const LIST_PATH = /^\/3\.0\/lists\/([^/]+)\/?$/;

export function endpointOf(pathname: string): Endpoint {
  if (pathname === '/3.0/ping') return 'ping';
  if (MEMBERS_PATH.test(pathname)) return 'members';
  const match = MEMBER_PATH.exec(pathname);
  if (!match) return 'other';
  return match[3] === 'activity-feed' ? 'activity' : match[3] === 'tags' ? 'tags' : 'member';
}

export interface ApiResponse {
  readonly status: number;
  readonly body: JsonObject | Problem;
}

const ok = (body: JsonObject): ApiResponse => ({ status: 200, body });
const fail = (problem: Problem): ApiResponse => ({ status: problem.status, body: problem });

/** Reads `count` / `offset` as the live API bounds them (count 1..1000, default 10), or null. */
function paging(query: URLSearchParams): { count: number; offset: number } | null {
  const count = Number(query.get('count') ?? 10);
  const offset = Number(query.get('offset') ?? 0);
  const valid = Number.isInteger(count) && count >= 1 && count <= 1000 && Number.isInteger(offset) && offset >= 0;
  return valid ? { count, offset } : null;
}

/** The read-only part of the Marketing API the email source uses, over the demo world. */
export class MailchimpApi {
  private readonly index: SubscriberIndex;
  /** Statuses changed since start (setStatus), by subscriber hash: the world itself never changes. */
  private readonly statuses = new Map<string, MemberStatus>();
  /** The same changes by person index, for the listing (people who are not members are left out). */
  private readonly statusesByIndex = new Map<number, MemberStatus>();
  private readonly listing: MemberListing;

  constructor(private readonly audience: Audience) {
    this.index = new SubscriberIndex(audience.world);
    this.listing = new MemberListing(audience.world);
  }

  /** From now on the member of `email` has `status`, as after an unsubscribe or a resubscribe in Mailchimp. */
  setStatus(email: string, status: MemberStatus): void {
    const lower = email.trim().toLowerCase();
    this.statuses.set(md5Hex(lower), status);
    const person = personByEmail(this.audience.world, lower);
    if (isMember(person)) this.statusesByIndex.set(person.index, status);
  }

  /** Answers an authenticated GET; `url` is relative to the stand-in's origin. */
  async handle(url: URL): Promise<ApiResponse> {
    if (url.pathname === '/3.0/ping') return ok({ health_status: "Everything's Chimpy!" });
    const list = LIST_PATH.exec(url.pathname);
    if (list) {
      if (decodeURIComponent(list[1]!) !== this.audience.listId) return fail(problems.notFound());
      return ok(projectFields(this.listBody(), url.searchParams.get('fields'), url.searchParams.get('exclude_fields')));
    }
    const members = MEMBERS_PATH.exec(url.pathname);
    if (members) {
      if (decodeURIComponent(members[1]!) !== this.audience.listId) return fail(problems.notFound());
      return this.list(url.searchParams);
    }
    const match = MEMBER_PATH.exec(url.pathname);
    if (!match || decodeURIComponent(match[1]!) !== this.audience.listId) return fail(problems.notFound());
    const found = await this.memberOf(decodeURIComponent(match[2]!));
    if (!found) return fail(problems.notFound());
    const query = url.searchParams;
    const body = this.read(match[3], found.member, found.hash, query);
    if (!body) return fail(problems.invalid('count must be an integer from 1 to 1000, offset a non-negative integer.'));
    return ok(projectFields(body, query.get('fields'), query.get('exclude_fields')));
  }

  /**
   * The audience as `GET /lists/{list_id}` describes it: the fields a client checks it by. The
   * live body has more (contact, campaign defaults, stats), which counting members here would
   * make expensive; nothing this project reads needs them.
   */
  private listBody(): JsonObject {
    const { listId, apiBase } = this.audience;
    return {
      id: listId,
      web_id: 100001,
      name: 'Demo shop newsletter',
      date_created: mailchimpTime(new Date(Date.UTC(2020, 0, 1))),
      visibility: 'prv',
      double_optin: false,
      email_type_option: false,
      _links: [{ rel: 'self', href: `${apiBase}/lists/${listId}`, method: 'GET' }],
    };
  }

  /**
   * `GET /lists/{list_id}/members`: filtered by `status` and opt-in time, paged by count/offset;
   * `total_items` counts every match. Members come in a stable order (person index: the order
   * they were added); the live API's default order is not documented.
   */
  private async list(query: URLSearchParams): Promise<ApiResponse> {
    const page = paging(query);
    if (!page) return fail(problems.invalid('count must be an integer from 1 to 1000, offset a non-negative integer.'));
    const status = query.get('status');
    if (status !== null && !(LIST_STATUSES as readonly string[]).includes(status)) {
      return fail(problems.invalid(`status must be one of ${LIST_STATUSES.join(', ')}.`));
    }
    const since = secondsOf(query.get('since_timestamp_opt'));
    const before = secondsOf(query.get('before_timestamp_opt'));
    if (Number.isNaN(since) || Number.isNaN(before)) return fail(problems.invalid('since_timestamp_opt and before_timestamp_opt must be ISO 8601 times.'));
    const found = await this.listing.page(
      {
        ...page,
        ...(status !== null && { status: status as ListStatus }),
        ...(since !== undefined && { sinceOptIn: since }),
        ...(before !== undefined && { beforeOptIn: before }),
      },
      this.statusesByIndex,
    );
    const { listId, apiBase } = this.audience;
    const body: JsonObject = {
      members: found.indices.map((index) => {
        const person = personAt(this.audience.world, index) as Member;
        const hash = md5Hex(person.email);
        const changed = this.statusesByIndex.get(index);
        const member = changed ? { ...person, emailMarketing: { ...person.emailMarketing, status: changed } } : person;
        return memberBody(this.audience, member, hash);
      }),
      list_id: listId,
      total_items: found.total,
      _links: [{ rel: 'self', href: `${apiBase}/lists/${listId}/members`, method: 'GET' }],
    };
    return ok(projectFields(body, query.get('fields'), query.get('exclude_fields')));
  }

  /** The resource's full body, or null when its paging parameters are out of bounds. */
  private read(resource: string | undefined, member: Member, hash: string, query: URLSearchParams): JsonObject | null {
    if (resource === undefined) return memberBody(this.audience, member, hash);
    const page = paging(query);
    if (!page) return null;
    if (resource === 'tags') return tagsBody(this.audience, member, hash, page.count, page.offset);
    const filters = (query.get('activity_filters') ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean);
    return activityFeedBody(this.audience, member, hash, { ...page, filters });
  }

  /** Like the live API, the path takes the subscriber hash or the email address itself. */
  private async memberOf(param: string): Promise<{ member: Member; hash: string } | null> {
    const lower = param.toLowerCase();
    const person = lower.includes('@') ? personByEmail(this.audience.world, lower) : await this.personOfHash(lower);
    if (!isMember(person)) return null;
    const hash = md5Hex(person.email);
    const status = this.statuses.get(hash);
    return { member: status ? { ...person, emailMarketing: { ...person.emailMarketing, status } } : person, hash };
  }

  private async personOfHash(hash: string) {
    const index = await this.index.indexOf(hash);
    return index === null ? null : personAt(this.audience.world, index);
  }
}

/** An ISO 8601 query parameter as epoch seconds; undefined when absent, NaN when unreadable. */
function secondsOf(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? Number.NaN : ms / 1000;
}
