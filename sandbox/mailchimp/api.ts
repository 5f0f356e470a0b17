import { personAt, personByEmail, type MemberStatus } from '../demo/people.ts';
import { activityFeedBody } from './activity.ts';
import { projectFields, type JsonObject } from './fields.ts';
import { isMember, mailchimpTime, memberBody, tagsBody, type Audience, type Member } from './members.ts';
import { problems, type Problem } from './problem.ts';
import { SubscriberIndex, md5Hex } from './subscriber-index.ts';

/** The endpoints the stand-in counts requests by. */
export type Endpoint = 'ping' | 'member' | 'activity' | 'tags' | 'other';

const MEMBER_PATH = /^\/3\.0\/lists\/([^/]+)\/members\/([^/]+)(?:\/(activity-feed|tags))?\/?$/;
const LIST_PATH = /^\/3\.0\/lists\/([^/]+)\/?$/;

export function endpointOf(pathname: string): Endpoint {
  if (pathname === '/3.0/ping') return 'ping';
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

  constructor(private readonly audience: Audience) {
    this.index = new SubscriberIndex(audience.world);
  }

  /** From now on the member of `email` has `status`, as after an unsubscribe or a resubscribe in Mailchimp. */
  setStatus(email: string, status: MemberStatus): void {
    this.statuses.set(md5Hex(email.trim().toLowerCase()), status);
  }

  /** Answers an authenticated GET; `url` is relative to the stand-in's origin. */
  async handle(url: URL): Promise<ApiResponse> {
    if (url.pathname === '/3.0/ping') return ok({ health_status: "Everything's Chimpy!" });
    const list = LIST_PATH.exec(url.pathname);
    if (list) {
      if (decodeURIComponent(list[1]!) !== this.audience.listId) return fail(problems.notFound());
      return ok(projectFields(this.listBody(), url.searchParams.get('fields'), url.searchParams.get('exclude_fields')));
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
