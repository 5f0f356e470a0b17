import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personByEmail } from '../../sandbox/demo/people.ts';
import { activityOf } from '../../sandbox/mailchimp/activity.ts';
import type { Member } from '../../sandbox/mailchimp/members.ts';
import { SourceError } from '../../sources/errors.ts';
import type { EmailActivity } from '../../sources/mailchimp/index.ts';
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
    const error = await sourceFor(standIn, { apiKey: 'wrong-us21' }).source.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ kind: 'unavailable' });
  });

  it('rejects with timeout when Mailchimp hangs', async () => {
    standIn.knobs.hang = true;
    const error = await sourceFor(standIn, { timeoutMs: 100 }).source.ping().catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'timeout' });
  });
});
