import { AudienceRefused, type AudienceSource, type EmailCondition, type EmailStatus, type Estimate, type Tally } from '../audience.ts';
import { SourceError } from '../errors.ts';
import type { SdkClient } from './client.ts';
import { ACTIVITY_FIELDS, toActivity, toMember } from './mapping.ts';
import { subscriberHash, type EmailActivity, type EmailMember } from './model.ts';
import type { BatchState, Upstream } from './upstream.ts';

/** Mailchimp's largest page of `GET /lists/{list_id}/members`. */
export const MEMBERS_PAGE_SIZE = 1000;

/** What `check` reads of a member: what the candidate-only fields and the pushable ones test. */
const CHECK_FIELDS = ['id', 'email_address', 'status', 'timestamp_opt', 'member_rating', 'tags.id', 'tags.name'] as const;
const LIST_FIELDS = ['members.email_address', 'total_items'] as const;
/** An activity page when both opens and clicks are asked: the newest of each is almost always in it. */
const FEED_PAGE = 1000;

/** The listing, which SdkClient (client.ts) does not declare: the SDK has it (ListsApi.getListMembersInfo). */
interface ListingOptions {
  readonly fields: readonly string[];
  readonly count: number;
  readonly offset: number;
  readonly status?: EmailStatus;
  readonly sinceTimestampOpt?: string;
}
type ListingClient = SdkClient & { readonly lists: { getListMembersInfo(listId: string, opts: ListingOptions): Promise<unknown> } };

export interface EmailAudienceOptions {
  /** Reads `check` keeps in flight at once; the upstream's own limit still applies. Default 10. */
  readonly checkConcurrency?: number;
}

/** Which parts of a condition /members can filter by, and which need a read per candidate. */
const hasCandidateOnly = (c: EmailCondition): boolean => c.openedSince !== undefined || c.clickedSince !== undefined || c.minRating !== undefined || c.tags !== undefined;
const needsActivity = (c: EmailCondition): boolean => c.openedSince !== undefined || c.clickedSince !== undefined;

/** The listings to make: one per distinct status, or one over every member; none for `statuses: []`. */
const listingsOf = (c: EmailCondition): Array<EmailStatus | undefined> => (c.statuses ? [...new Set(c.statuses)] : [undefined]);

/** Mailchimp keeps whole seconds: "at or after 12:00:00.5" is "at or after 12:00:01". */
const sinceParam = (date: Date): string => new Date(Math.ceil(date.getTime() / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, '+00:00');

const badResponse = (expected: string): SourceError => new SourceError('email', 'bad_response', `expected ${expected} from Mailchimp, got something else`);

/** A listing body: its members' emails (when `fields` asked for them) and total_items. Throws bad_response. */
function listingPage(body: unknown, withMembers: boolean): { emails: string[]; total: number } {
  const wire = (body ?? {}) as { members?: unknown; total_items?: unknown };
  if (typeof wire.total_items !== 'number') throw badResponse('a member listing with total_items');
  if (!withMembers) return { emails: [], total: wire.total_items };
  if (!Array.isArray(wire.members)) throw badResponse('a page of members');
  const emails = wire.members.map((m: { email_address?: unknown } | null) => {
    if (typeof m?.email_address !== 'string') throw badResponse('members with an email_address');
    return m.email_address.toLowerCase();
  });
  return { emails, total: wire.total_items };
}

/**
 * The Mailchimp audience as an AudienceSource (sources/audience.ts), keyed by lower-cased email.
 * Pushed down to `GET /lists/{list_id}/members`: `statuses` (one listing per status) and
 * `optedInSince` (`since_timestamp_opt`). `openedSince`, `clickedSince`, `minRating` and `tags`
 * cannot be filtered there, so a condition with any of them is only checked, candidate by
 * candidate: the member read (status, opt-in, rating, tags) and, for opens and clicks, one
 * activity-feed read. Every request goes through `upstream` (its in-flight limit, retries, the
 * caller's deadline) and is tallied once, retries included.
 */
export function createEmailAudience(upstream: Upstream, sdk: SdkClient, listId: string, options: EmailAudienceOptions = {}): AudienceSource<EmailCondition> {
  const client = sdk as ListingClient;
  const checkConcurrency = options.checkConcurrency ?? 10;

  /** One request through the upstream, tallied per attempt with the rows it returned. */
  const call = <T>(request: () => Promise<T>, rows: (body: T) => number, tally: Tally, signal: AbortSignal, batch?: BatchState): Promise<unknown> =>
    upstream.call(
      () =>
        request().then(
          (body) => {
            tally.call(rows(body));
            return body;
          },
          (error: unknown) => {
            tally.call(0);
            throw error;
          },
        ),
      batch,
      signal,
    );

  const list = async (
    condition: EmailCondition,
    status: EmailStatus | undefined,
    page: { fields: readonly string[]; count: number; offset: number },
    tally: Tally,
    signal: AbortSignal,
    batch: BatchState,
  ) => {
    const opts: ListingOptions = {
      ...page,
      ...(status && { status }),
      ...(condition.optedInSince && { sinceTimestampOpt: sinceParam(condition.optedInSince) }),
    };
    const rows = (body: unknown) => (Array.isArray((body as { members?: unknown })?.members) ? (body as { members: unknown[] }).members.length : 0);
    const body = await call(() => client.lists.getListMembersInfo(listId, opts), rows, tally, signal, batch);
    // The audience itself is gone (404): a configuration error, not "no members".
    if (body === null) throw new SourceError('email', 'not_configured', `audience ${listId} not found in this Mailchimp account`, { retryable: false });
    return listingPage(body, page.fields.includes('members.email_address'));
  };

  /** Every member of one listing: the first page says how many there are, the rest go in parallel (the upstream queues them). */
  const enumerateListing = async (condition: EmailCondition, status: EmailStatus | undefined, tally: Tally, signal: AbortSignal, batch: BatchState): Promise<string[]> => {
    const page = (offset: number) => list(condition, status, { fields: LIST_FIELDS, count: MEMBERS_PAGE_SIZE, offset }, tally, signal, batch);
    const first = await page(0);
    const offsets: number[] = [];
    for (let offset = MEMBERS_PAGE_SIZE; offset < first.total; offset += MEMBERS_PAGE_SIZE) offsets.push(offset);
    const rest = await allOrFail(
      offsets.map((offset) => () => page(offset)),
      batch,
    );
    return [first.emails, ...rest.map((p) => p.emails)].flat();
  };

  const readMember = async (email: string, tally: Tally, signal: AbortSignal, batch: BatchState): Promise<EmailMember | null> => {
    const body = await call(
      () => client.lists.getListMember(listId, subscriberHash(email), { fields: CHECK_FIELDS }),
      () => 1,
      tally,
      signal,
      batch,
    );
    return body === null ? null : toMember(body);
  };

  const readActivity = async (email: string, types: readonly string[], count: number, tally: Tally, signal: AbortSignal, batch: BatchState): Promise<EmailActivity[] | null> => {
    const opts = { fields: ACTIVITY_FIELDS, count, activityFilters: types };
    const rows = (body: unknown) => (Array.isArray((body as { activity?: unknown })?.activity) ? (body as { activity: unknown[] }).activity.length : 0);
    const body = await call(() => client.lists.getListMemberActivityFeed(listId, subscriberHash(email), opts), rows, tally, signal, batch);
    return body === null ? null : toActivity(body);
  };

  /** Whether the member has an event of `type` at or after `since`, from a newest-first page (null: the page cannot tell). */
  const seen = (feed: readonly EmailActivity[], full: boolean, type: string, since: Date): boolean | null => {
    const newest = feed.find((event) => event.type === type);
    if (newest) return newest.at >= since;
    // Not in the page: when the page is whole, or already older than `since`, there is none since.
    if (!full || feed.length === 0 || feed[feed.length - 1]!.at < since) return false;
    return null;
  };

  const activityMatches = async (condition: EmailCondition, email: string, tally: Tally, signal: AbortSignal, batch: BatchState): Promise<boolean> => {
    const wanted = [...(condition.openedSince ? [['open', condition.openedSince] as const] : []), ...(condition.clickedSince ? [['click', condition.clickedSince] as const] : [])];
    // One type: its newest event decides. Both: one page of both, newest first.
    const count = wanted.length === 1 ? 1 : FEED_PAGE;
    const feed = await readActivity(
      email,
      wanted.map(([type]) => type),
      count,
      tally,
      signal,
      batch,
    );
    if (feed === null) return false;
    for (const [type, since] of wanted) {
      let found = seen(feed, feed.length === count, type, since);
      // A thousand of one type since the date and none of the other in them: ask for the other alone.
      if (found === null) found = seen((await readActivity(email, [type], 1, tally, signal, batch)) ?? [], false, type, since);
      if (!found) return false;
    }
    return true;
  };

  const memberMatches = (condition: EmailCondition, member: EmailMember): boolean =>
    (condition.statuses === undefined || condition.statuses.includes(member.status)) &&
    (condition.optedInSince === undefined || (member.optInAt !== null && member.optInAt >= condition.optedInSince)) &&
    (condition.minRating === undefined || (member.memberRating !== null && member.memberRating >= condition.minRating)) &&
    (condition.tags === undefined || member.tags.some((tag) => condition.tags!.includes(tag.name)));

  return {
    key: 'email',

    async estimate(condition, tally, signal): Promise<Estimate> {
      const batch: BatchState = {};
      const counts = await allOrFail(
        listingsOf(condition).map((status) => () => list(condition, status, { fields: ['total_items'], count: 1, offset: 0 }, tally, signal, batch)),
        batch,
      );
      return { count: counts.reduce((sum, page) => sum + page.total, 0), exact: !hasCandidateOnly(condition) };
    },

    enumerationCalls(condition, estimated) {
      if (hasCandidateOnly(condition)) return null;
      const listings = listingsOf(condition).length;
      if (listings === 0) return 0;
      // Each listing is at least one call; pages of several listings split `estimated` unevenly.
      return Math.max(listings, Math.ceil(estimated / MEMBERS_PAGE_SIZE) + listings - 1);
    },

    async enumerate(condition, tally, signal) {
      if (hasCandidateOnly(condition)) {
        throw new AudienceRefused(
          'email: opened/clicked since, minimum rating and tags cannot be listed by Mailchimp (GET /lists/{list_id}/members has no such filter); narrow the audience with another condition so these are checked per candidate',
        );
      }
      const batch: BatchState = {};
      const listings = await allOrFail(
        listingsOf(condition).map((status) => () => enumerateListing(condition, status, tally, signal, batch)),
        batch,
      );
      return new Set(listings.flat());
    },

    checkCalls(condition, candidates) {
      if (condition.statuses?.length === 0) return 0;
      return candidates * (needsActivity(condition) ? 2 : 1);
    },

    async check(condition, candidates, tally, signal) {
      const matched = new Set<string>();
      if (condition.statuses?.length === 0) return matched;
      const batch: BatchState = {};
      const emails = [...new Set(candidates.map((email) => email.trim().toLowerCase()))];
      await pool(emails, checkConcurrency, batch, async (email) => {
        const member = await readMember(email, tally, signal, batch);
        if (!member || !memberMatches(condition, member)) return;
        if (needsActivity(condition) && !(await activityMatches(condition, email, tally, signal, batch))) return;
        matched.add(email);
      });
      return matched;
    },
  };
}

/**
 * Marks the batch failed: the upstream then starts none of its calls still queued (they reject with
 * this error), so one failed page does not leave hundreds more to run for nothing.
 */
function stopBatch(batch: BatchState, error: unknown): SourceError {
  const failure = asSourceError(error);
  batch.keyRejected ??= failure;
  return failure;
}

/** Runs every task at once (the upstream queues them); rejects with the first failure, after which no queued call starts. */
async function allOrFail<T>(tasks: ReadonlyArray<() => Promise<T>>, batch: BatchState): Promise<T[]> {
  let first: SourceError | undefined;
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      task().catch((error: unknown) => {
        first ??= stopBatch(batch, error);
        throw error;
      }),
    ),
  );
  if (first) throw first;
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
}

/** `work` over `items`, at most `size` at a time; after the first failure no item starts, and it rejects with that failure. */
async function pool<T>(items: readonly T[], size: number, batch: BatchState, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error: stopBatch(batch, error) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  if (failure) throw asSourceError(failure.error);
}

function asSourceError(error: unknown): SourceError {
  return error instanceof SourceError ? error : new SourceError('email', 'bad_response', 'unexpected failure reading the Mailchimp audience', { cause: error, retryable: false });
}

/** The audience of a source with no Mailchimp configured: every call fails with `not_configured`, nothing is pretended. */
export function emailAudienceNotConfigured(setting = 'MAILCHIMP_API_KEY'): AudienceSource<EmailCondition> {
  const fail = (): Promise<never> => Promise.reject(new SourceError('email', 'not_configured', `not configured (set ${setting})`, { retryable: false }));
  return {
    key: 'email',
    estimate: fail,
    enumerationCalls: () => null,
    enumerate: fail,
    checkCalls: () => 0,
    check: fail,
  };
}
