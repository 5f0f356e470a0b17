import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, populationSize, type DemoWorld } from '../../sandbox/demo/people.ts';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { activityOf } from '../../sandbox/mailchimp/activity.ts';
import { isMember, type Member } from '../../sandbox/mailchimp/members.ts';
import { AudienceRefused, type EmailCondition, type EmailStatus, type Tally } from '../../sources/audience.ts';
import { deadlineSignal } from '../../sources/deadline.ts';
import { SourceError } from '../../sources/errors.ts';
import { createMailchimpSource, emailAudienceNotConfigured } from '../../sources/mailchimp/index.ts';
import { API_KEY, LIST_ID } from './helpers.ts';

// Big enough for listings of more than one page (about 2,400 members, 1,700 subscribed).
const WORLD: DemoWorld = { seed: 360, customers: 3_000, asOf: new Date('2026-11-01T00:00:00Z') };
const second = (ms: number): number => Math.floor(ms / 1000) * 1000;

/** What Mailchimp would say of each member: the brute-force truth the answers are checked against. */
interface Truth {
  readonly email: string;
  status: EmailStatus;
  readonly optIn: number;
  readonly rating: number;
  readonly tags: readonly string[];
  readonly lastOpen: number;
  readonly lastClick: number;
}
const newest = (member: Member, type: string): number =>
  Math.max(
    -Infinity,
    ...activityOf(WORLD, member)
      .filter((e) => e.type === type)
      .map((e) => second(e.at)),
  );
const truth: Truth[] = Array.from({ length: populationSize(WORLD) }, (_, i) => personAt(WORLD, i))
  .filter(isMember)
  .map((m) => ({
    email: m.email,
    status: m.emailMarketing.status,
    optIn: second(m.emailMarketing.optInAt.getTime()),
    rating: m.emailMarketing.memberRating,
    tags: m.emailMarketing.tags,
    lastOpen: newest(m, 'open'),
    lastClick: newest(m, 'click'),
  }));
const strangers = Array.from({ length: populationSize(WORLD) }, (_, i) => personAt(WORLD, i))
  .filter((p) => !isMember(p))
  .map((p) => p.email);

function matches(c: EmailCondition, t: Truth): boolean {
  return (
    (!c.statuses || c.statuses.includes(t.status)) &&
    (!c.optedInSince || t.optIn >= c.optedInSince.getTime()) &&
    (!c.openedSince || t.lastOpen >= c.openedSince.getTime()) &&
    (!c.clickedSince || t.lastClick >= c.clickedSince.getTime()) &&
    (c.minRating === undefined || t.rating >= c.minRating) &&
    (!c.tags || t.tags.some((tag) => c.tags!.includes(tag)))
  );
}
const bruteForce = (c: EmailCondition, among: readonly Truth[] = truth): Set<string> => new Set(among.filter((t) => matches(c, t)).map((t) => t.email));
const countOf = (status: EmailStatus): number => truth.filter((t) => t.status === status).length;

function tally() {
  const counted = { calls: 0, rows: 0 };
  const t: Tally = { call: (rows) => void ((counted.calls += 1), (counted.rows += rows)) };
  return Object.assign(t, { counted });
}
const never = (): AbortSignal => new AbortController().signal;

let standIn: MailchimpStandIn;
const requests: URL[] = [];
const source = (overrides: { maxInFlight?: number; retryBudgetMs?: number } = {}) =>
  createMailchimpSource({ apiKey: API_KEY, baseUrl: standIn.url, listId: LIST_ID, timeoutMs: 2_000, retryBudgetMs: 2_000, ...overrides }).audience;
const listings = () => requests.filter((url) => url.pathname.endsWith('/members'));

beforeAll(async () => {
  standIn = await startMailchimpStandIn({ world: WORLD, apiKey: API_KEY, listId: LIST_ID, onRequest: ({ url }) => void requests.push(url) });
  // The stand-in builds its listing index on the first listing; pay for it here, not in a test.
  await source().estimate({}, tally(), never());
});
afterAll(() => standIn.close());
beforeEach(() => {
  Object.assign(standIn.knobs, { latencyMs: 0, jitterMs: 0, errorRate: 0, force429: 0, force500: 0, hang: false, connectionLimit: 10 });
  standIn.resetStats();
  requests.length = 0;
});

async function failureOf(promise: Promise<unknown>): Promise<SourceError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  expect((error as Error).message).not.toMatch(/@|0123456789abcdef/);
  return error as SourceError;
}

describe('enumerate', () => {
  const cases: Array<[string, EmailCondition]> = [
    ['every member', {}],
    ['one status', { statuses: ['subscribed'] }],
    ['several statuses', { statuses: ['unsubscribed', 'cleaned', 'archived'] }],
    ['opted in since a time (pushed down)', { optedInSince: new Date('2026-01-15T00:00:00Z') }],
    ['a status and an opt-in time', { statuses: ['subscribed', 'pending'], optedInSince: new Date('2025-06-01T12:00:00Z') }],
  ];
  it.each(cases)('lists %s as the world holds them, one call per page of 1000', async (_name, condition) => {
    const audience = source();
    const counted = tally();
    const expected = bruteForce(condition);
    const found = await audience.enumerate(condition, counted, never());
    expect(found).toEqual(expected);
    // Calls = pages: each listing is ceil(matches / 1000) pages, and at least one.
    const perListing = (condition.statuses ?? [undefined]).map((s) => bruteForce({ ...condition, ...(s && { statuses: [s] }) }).size);
    const pages = perListing.reduce((sum, n) => sum + Math.max(1, Math.ceil(n / 1000)), 0);
    expect(counted.counted).toEqual({ calls: pages, rows: expected.size });
    expect(standIn.stats.requests).toBe(pages);
    expect(audience.enumerationCalls(condition, expected.size)).toBeGreaterThanOrEqual(pages);
    for (const url of listings()) {
      expect(url.searchParams.get('count')).toBe('1000');
      expect(url.searchParams.get('fields')).toBe('members.email_address,total_items');
    }
  });

  it('needs more than one page for the subscribed members, and says so', () => {
    expect(countOf('subscribed')).toBeGreaterThan(1000);
    expect(source().enumerationCalls({ statuses: ['subscribed'] }, countOf('subscribed'))).toBe(2);
    expect(source().enumerationCalls({ statuses: ['pending'] }, 0)).toBe(1);
  });

  it('treats opt-in as whole seconds, as Mailchimp keeps it: "since 12:00:00.5" leaves out 12:00:00', async () => {
    const pick = truth[7]!;
    const atSecond = await source().enumerate({ optedInSince: new Date(pick.optIn) }, tally(), never());
    const justAfter = await source().enumerate({ optedInSince: new Date(pick.optIn + 500) }, tally(), never());
    expect(atSecond.has(pick.email)).toBe(true);
    expect(justAfter.has(pick.email)).toBe(false);
    expect(justAfter).toEqual(bruteForce({ optedInSince: new Date(pick.optIn + 500) }));
  });

  it.each<[string, EmailCondition]>([
    ['opened since', { openedSince: new Date('2026-10-01T00:00:00Z') }],
    ['clicked since', { statuses: ['subscribed'], clickedSince: new Date('2026-10-01T00:00:00Z') }],
    ['minimum rating', { minRating: 4 }],
    ['tags', { tags: ['wholesale'] }],
  ])('refuses %s without a request: Mailchimp cannot list by it', async (_name, condition) => {
    const audience = source();
    expect(audience.enumerationCalls(condition, 10)).toBeNull();
    await expect(audience.enumerate(condition, tally(), never())).rejects.toBeInstanceOf(AudienceRefused);
    expect(standIn.stats.requests).toBe(0);
  });
});

describe('estimate', () => {
  it('counts each status with one count=1 listing, exactly when only pushable fields are given', async () => {
    const condition: EmailCondition = { statuses: ['subscribed', 'cleaned'], optedInSince: new Date('2025-01-01T00:00:00Z') };
    const counted = tally();
    expect(await source().estimate(condition, counted, never())).toEqual({ count: bruteForce(condition).size, exact: true });
    expect(counted.counted.calls).toBe(2);
    expect(listings().map((url) => [url.searchParams.get('status'), url.searchParams.get('count')])).toEqual(
      expect.arrayContaining([
        ['subscribed', '1'],
        ['cleaned', '1'],
      ]),
    );
  });

  it('counts every member with one call when no status is given', async () => {
    const counted = tally();
    expect(await source().estimate({}, counted, never())).toEqual({ count: truth.length, exact: true });
    expect(counted.counted.calls).toBe(1);
  });

  it("gives the pushable part's count, not exact, when candidate-only fields are present", async () => {
    const condition: EmailCondition = { statuses: ['subscribed'], minRating: 4, tags: ['newsletter'] };
    const estimate = await source().estimate(condition, tally(), never());
    expect(estimate).toEqual({ count: countOf('subscribed'), exact: false });
    expect(estimate.count).toBeGreaterThan(bruteForce(condition).size);
  });
});

describe('check', () => {
  // Members of every status, people who are not members, and an address no one has.
  const members = truth.filter((_, i) => i % 37 === 0);
  const candidates = [...members.map((t) => t.email), ...strangers.slice(0, 5), 'nobody@example.com'];
  const since = new Date('2026-09-01T00:00:00Z');
  const cases: Array<[string, EmailCondition]> = [
    ['statuses', { statuses: ['subscribed', 'pending'] }],
    ['opted in since', { optedInSince: new Date('2026-03-01T00:00:00Z') }],
    ['minimum rating', { minRating: 3 }],
    ['tags', { tags: ['loyalty-club', 'wholesale'] }],
    ['opened since', { openedSince: since }],
    ['clicked since', { clickedSince: since }],
    ['opened and clicked since, rating and status', { statuses: ['subscribed'], openedSince: since, clickedSince: new Date('2026-06-01T00:00:00Z'), minRating: 2 }],
  ];

  it.each(cases)('answers %s as the world holds it, reading each candidate once (and its activity when needed)', async (_name, condition) => {
    const audience = source();
    const counted = tally();
    const found = await audience.check(condition, candidates, counted, never());
    expect(found).toEqual(bruteForce(condition, members));
    // The activity is read only for members that pass the rest of the condition.
    const needsFeed = condition.openedSince || condition.clickedSince;
    const fed = needsFeed ? bruteForce({ ...condition, openedSince: undefined, clickedSince: undefined }, members).size : 0;
    expect(counted.counted.calls).toBe(candidates.length + fed);
    expect(standIn.stats.byEndpoint.member).toBe(candidates.length);
    expect(standIn.stats.byEndpoint.activity).toBe(fed);
    expect(audience.checkCalls(condition, candidates.length)).toBe(candidates.length * (needsFeed ? 2 : 1));
    expect(audience.checkCalls(condition, candidates.length)).toBeGreaterThanOrEqual(counted.counted.calls);
  });

  it('has candidates of each kind the cases need', () => {
    expect(bruteForce({ openedSince: since }, members).size).toBeGreaterThan(3);
    expect(bruteForce({ clickedSince: since }, members).size).toBeGreaterThan(0);
    expect(new Set(members.map((t) => t.status)).size).toBe(5);
  });

  it('keeps to ten requests in flight for a hundred candidates', async () => {
    standIn.knobs.latencyMs = 15;
    const many = truth.slice(0, 100).map((t) => t.email);
    await source().check({ openedSince: since }, many, tally(), never());
    expect(standIn.stats.peakInFlight).toBe(10);
    expect(standIn.stats.byStatus[429]).toBeUndefined();
  });
});

describe('failures', () => {
  it('rides out a storm of 429s, tallying every request it made', async () => {
    standIn.knobs.force429 = 4;
    const counted = tally();
    const found = await source({ retryBudgetMs: 5_000 }).enumerate({ statuses: ['subscribed'] }, counted, never());
    expect(found).toEqual(bruteForce({ statuses: ['subscribed'] }));
    expect(standIn.stats.byStatus[429]).toBe(4);
    expect(counted.counted.calls).toBe(standIn.stats.requests);
    expect(counted.counted.calls).toBe(2 + 4);
  });

  it('rejects with SourceError("email") when Mailchimp answers 500', async () => {
    standIn.knobs.force500 = 'always';
    const error = await failureOf(source().enumerate({}, tally(), never()));
    expect(error).toMatchObject({ source: 'email', kind: 'unavailable' });
    const checked = await failureOf(
      source().check(
        { minRating: 2 },
        truth.slice(0, 30).map((t) => t.email),
        tally(),
        never(),
      ),
    );
    expect(checked).toMatchObject({ source: 'email', kind: 'unavailable' });
    // One read failed twice (a 500 is retried once); the others queued behind it did not start.
    expect(standIn.stats.requests).toBeLessThan(2 + 2 * 10 + 1);
  });

  it('rejects with SourceError("email") when Mailchimp is down', async () => {
    await standIn.stopListening();
    try {
      const error = await failureOf(source().estimate({ statuses: ['subscribed'] }, tally(), never()));
      expect(error).toMatchObject({ source: 'email', kind: 'unavailable' });
      expect(error.message).toMatch(/could not reach Mailchimp/);
    } finally {
      await standIn.listenAgain();
    }
  });

  it('makes no request once the signal has aborted', async () => {
    const { signal } = deadlineSignal(Date.now(), () => new Error('the caller gave up'));
    const counted = tally();
    const error = await failureOf(
      source().check(
        { minRating: 1 },
        truth.slice(0, 20).map((t) => t.email),
        counted,
        signal,
      ),
    );
    expect(error).toMatchObject({ source: 'email', kind: 'timeout' });
    await failureOf(source().enumerate({}, counted, signal));
    expect(standIn.stats.requests).toBe(0);
    expect(counted.counted.calls).toBe(0);
  });

  it('stops calling when the signal aborts part-way', async () => {
    standIn.knobs.latencyMs = 20;
    const deadline = deadlineSignal(Date.now() + 70, () => new Error('the caller gave up'));
    await failureOf(
      source().check(
        { minRating: 1 },
        truth.slice(0, 200).map((t) => t.email),
        tally(),
        deadline.signal,
      ),
    );
    deadline.dispose();
    expect(standIn.stats.requests).toBeGreaterThan(0);
    expect(standIn.stats.requests).toBeLessThan(100);
  });
});

describe('a status changed in Mailchimp', () => {
  it('is seen by enumerate, estimate and check from the next call on', async () => {
    const target = truth.find((t) => t.status === 'subscribed' && t.optIn >= Date.parse('2026-01-01T00:00:00Z'))!;
    const audience = source();
    expect((await audience.enumerate({ statuses: ['subscribed'] }, tally(), never())).has(target.email)).toBe(true);
    const before = await audience.estimate({ statuses: ['unsubscribed'] }, tally(), never());
    standIn.setMemberStatus(target.email, 'unsubscribed');
    target.status = 'unsubscribed';
    try {
      expect(await audience.enumerate({ statuses: ['subscribed'] }, tally(), never())).toEqual(bruteForce({ statuses: ['subscribed'] }));
      const unsubscribed = await audience.enumerate({ statuses: ['unsubscribed'], optedInSince: new Date('2026-01-01T00:00:00Z') }, tally(), never());
      expect(unsubscribed.has(target.email)).toBe(true);
      expect(unsubscribed).toEqual(bruteForce({ statuses: ['unsubscribed'], optedInSince: new Date('2026-01-01T00:00:00Z') }));
      expect(await audience.estimate({ statuses: ['unsubscribed'] }, tally(), never())).toEqual({ count: before.count + 1, exact: true });
      expect(await audience.check({ statuses: ['subscribed'] }, [target.email], tally(), never())).toEqual(new Set());
    } finally {
      standIn.setMemberStatus(target.email, 'subscribed');
      target.status = 'subscribed';
    }
  });
});

describe('without Mailchimp configured', () => {
  it('fails every call with not_configured, without pretending nobody matches', async () => {
    const audience = emailAudienceNotConfigured();
    expect(audience.key).toBe('email');
    for (const call of [audience.estimate({}, tally(), never()), audience.enumerate({}, tally(), never()), audience.check({}, ['a@example.com'], tally(), never())]) {
      expect(await failureOf(call)).toMatchObject({ source: 'email', kind: 'not_configured', retryable: false });
    }
  });
});
