import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIVITY_READS, ACTIVITY_SHAPES, RequestLimitError, activityShape } from '../../cache/activity.ts';
import { emailActivityArgs } from '../../resolvers/arguments.ts';
import { Invalidator } from '../../cache/invalidation.ts';
import { createLoaders, createUpstreams, personCacheKeys } from '../../cache/loaders.ts';
import { MemoryStore } from '../../cache/store.ts';
import { crmNotConfigured } from '../../server/sources.ts';
import { createCommerceSource, type Queryable } from '../../sources/commerce/index.ts';
import { createWebSource } from '../../sources/web/index.ts';
import { TEST_FRESHNESS } from '../support/server.ts';
import { personByEmail } from '../../sandbox/demo/people.ts';
import { activityOf } from '../../sandbox/mailchimp/activity.ts';
import type { Member } from '../../sandbox/mailchimp/members.ts';
import { SourceError } from '../../sources/errors.ts';
import type { EmailActivity, MailchimpSource } from '../../sources/mailchimp/index.ts';
import { WORLD, memberEmails, resetStandIn, sourceFor, startStandIn, strangerEmails, type TestStandIn } from './helpers.ts';

let standIn: TestStandIn;
beforeAll(async () => void (standIn = await startStandIn()));
afterAll(() => standIn.close());
beforeEach(() => resetStandIn(standIn));

const memberOf = (email: string) => personByEmail(WORLD, email) as Member;
/** Whole seconds: Mailchimp timestamps carry no milliseconds. */
const seconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

describe('activityByEmail', () => {
  it('reads each member feed newest first, as the stand-in generated it', async () => {
    const emails = memberEmails(3, 'subscribed');
    const feeds = await sourceFor(standIn).source.activityByEmail({ count: 1000 })(emails);
    expect(standIn.stats.byEndpoint).toMatchObject({ activity: 3, member: 0 });
    feeds.forEach((feed, i) => {
      const expected = activityOf(WORLD, memberOf(emails[i]!)).map((event) => ({
        type: event.type,
        at: seconds(event.at),
        campaignId: event.campaign?.id ?? null,
        campaignTitle: event.campaign?.title ?? null,
        url: event.link ?? null,
        bounceType: event.bounceType ?? null,
      }));
      expect(feed).toEqual(expected);
    });
  });

  it('keeps to the count and the types asked for', async () => {
    const [email] = memberEmails(1, 'subscribed');
    const [feed] = (await sourceFor(standIn).source.activityByEmail({ count: 2, types: ['sent'] })([email!])) as EmailActivity[][];
    expect(feed!.map((a) => a.type)).toEqual(['sent', 'sent']);
    expect(Object.fromEntries(standIn.requests[0]!.searchParams)).toMatchObject({ count: '2', activity_filters: 'sent' });
    expect(feed![0]!.at.getTime()).toBeGreaterThan(feed![1]!.at.getTime());
  });

  it('returns null for someone not in the audience', async () => {
    expect(await sourceFor(standIn).source.activityByEmail({ count: 10 })(strangerEmails(1))).toEqual([null]);
  });

  it('refuses a count or type Mailchimp would refuse, before any call', () => {
    const { source } = sourceFor(standIn);
    expect(() => source.activityByEmail({ count: 0 })).toThrow(RangeError);
    expect(() => source.activityByEmail({ count: 1001 })).toThrow(RangeError);
    expect(() => source.activityByEmail({ count: 10, types: ['open', 'telepathy'] })).toThrow(/telepathy/);
    expect(standIn.stats.requests).toBe(0);
  });
});

describe('activity through the shared cache, bounded per request', () => {
  const nowhere: Queryable = { query: () => Promise.reject(new Error('no database in this test')) };
  const upstreamsFor = (email: MailchimpSource, activityReadsPerRequest: number) =>
    createUpstreams(
      {
        commerce: createCommerceSource(nowhere, { currency: 'USD', abandonedAfterMs: 3600_000, rfmBoundariesTtlMs: 600_000 }),
        crm: crmNotConfigured(),
        email,
        web: createWebSource(nowhere, { schema: 'web' }),
      },
      {
        store: new MemoryStore({ maxEntries: 1000, maxBytes: 1 << 22 }),
        freshness: TEST_FRESHNESS,
        guard: { breakerFailures: 5, breakerCooldownMs: 10_000, maxConcurrent: 64, queue: 100 },
        logger: pino({ level: 'silent' }),
        activityReadsPerRequest,
      },
    );

  it('reads at most the bound of uncached feeds per request; cached ones do not count', async () => {
    const upstreams = upstreamsFor(sourceFor(standIn).source, 3);
    const emails = memberEmails(5);
    const lastOpens = () => createLoaders(upstreams, {}).emailActivity(ACTIVITY_READS.lastOpen).loadMany(emails);

    const first = await lastOpens();
    expect(standIn.stats.byEndpoint.activity).toBe(3);
    expect(first.slice(0, 3).every((feed) => Array.isArray(feed))).toBe(true);
    expect(first.slice(3)).toEqual([expect.any(RequestLimitError), expect.any(RequestLimitError)]);
    expect(first[3]).toMatchObject({ source: 'email', limit: 3, message: expect.stringContaining('at most 3 members per request') });

    const second = await lastOpens();
    expect(standIn.stats.byEndpoint.activity).toBe(5);
    expect(second.slice(0, 3)).toEqual(first.slice(0, 3));
    expect(second.every((feed) => Array.isArray(feed))).toBe(true);

    await lastOpens();
    expect(standIn.stats.byEndpoint.activity).toBe(5);
  });

  it('shares the bound across the fields of a request and reads other arguments live', async () => {
    const upstreams = upstreamsFor(sourceFor(standIn).source, 4);
    const emails = memberEmails(3);
    const read = () => {
      const loaders = createLoaders(upstreams, {});
      return Promise.all([loaders.emailActivity(ACTIVITY_READS.lastOpen).loadMany(emails), loaders.emailActivity({ count: 5, types: ['sent'] }).loadMany(emails)]);
    };
    const [opens, sends] = await read();
    expect(standIn.stats.byEndpoint.activity).toBe(4);
    expect([...opens, ...sends].filter((feed) => feed instanceof RequestLimitError)).toHaveLength(2);
    const [, again] = await read();
    // The opens are cached now; the sends are not (not a declared shape), so they use the bound.
    expect(standIn.stats.byEndpoint.activity).toBe(8);
    expect(again.filter((feed) => feed instanceof RequestLimitError)).toHaveLength(0);
  });

  it('caches the feeds the email fields read by default, so their keys are the ones evicted', () => {
    expect(activityShape(emailActivityArgs(10, null))).toBe(activityShape(ACTIVITY_READS.recent));
    expect(ACTIVITY_SHAPES.isCached(emailActivityArgs(10, ['OPEN', 'CLICK']))).toBe(false);
  });

  it('forgets the cached feeds with the member when Mailchimp says it changed, and with the person', async () => {
    const upstreams = upstreamsFor(sourceFor(standIn).source, 20);
    const [email] = memberEmails(1);
    const lastOpen = () => createLoaders(upstreams, {}).emailActivity(ACTIVITY_READS.lastOpen).load(email!);
    await lastOpen();
    await lastOpen();
    expect(standIn.stats.byEndpoint.activity).toBe(1);
    await new Invalidator(upstreams, pino({ level: 'silent' })).membersChanged([email!.toUpperCase()]);
    await lastOpen();
    expect(standIn.stats.byEndpoint.activity).toBe(2);
    expect(personCacheKeys({ email: ' A@Example.com' })).toEqual(
      expect.arrayContaining([
        'email:member:a@example.com',
        'email:activity:1:open:a@example.com',
        'email:activity:1:click:a@example.com',
        'email:activity:10:bounce,click,open,sent,unsub:a@example.com',
      ]),
    );
  });
});

describe('tagsByEmail', () => {
  it('reads each member tags with when they were added', async () => {
    const emails = memberEmails(20);
    const results = await sourceFor(standIn).source.tagsByEmail(emails);
    expect(standIn.stats.byEndpoint).toMatchObject({ tags: 20, member: 0 });
    results.forEach((tags, i) => {
      const traits = memberOf(emails[i]!).emailMarketing;
      expect((tags as Array<{ name: string }>).map((t) => t.name)).toEqual(traits.tags);
      for (const tag of tags as Array<{ addedAt: Date | null; id: number }>) {
        expect(tag.addedAt!.getTime()).toBeGreaterThanOrEqual(seconds(traits.optInAt.getTime()).getTime());
        expect(tag.id).toEqual(expect.any(Number));
      }
    });
  });

  it('returns the same tag ids as the member body', async () => {
    const emails = memberEmails(30);
    const { source } = sourceFor(standIn);
    const [members, tags] = await Promise.all([source.membersByEmail(emails), source.tagsByEmail(emails)]);
    members.forEach((member, i) => {
      const fromTags = (tags[i] as Array<{ id: number; name: string }>).map(({ id, name }) => ({ id, name }));
      expect((member as { tags: unknown }).tags).toEqual(fromTags);
    });
  });
});

describe('ping', () => {
  it('resolves when Mailchimp answers with this key', async () => {
    await expect(sourceFor(standIn).source.ping()).resolves.toBeUndefined();
    expect(standIn.stats.byEndpoint.ping).toBe(1);
  });

  it('rejects with unavailable for a refused key', async () => {
    const error = await sourceFor(standIn, { apiKey: 'wrong-us21' })
      .source.ping()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ kind: 'unavailable' });
  });

  it('rejects with timeout when Mailchimp hangs', async () => {
    standIn.knobs.hang = true;
    const error = await sourceFor(standIn, { timeoutMs: 100 })
      .source.ping()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'timeout' });
  });
});
