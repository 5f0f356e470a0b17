import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { personAt, populationSize } from '../../sandbox/demo/people.ts';
import { activityOf, type ActivityEvent } from '../../sandbox/mailchimp/activity.ts';
import { isMember, type Member } from '../../sandbox/mailchimp/members.ts';
import { SubscriberIndex } from '../../sandbox/mailchimp/subscriber-index.ts';
import { WORLD, peopleWhere } from './helpers.ts';

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
const members = peopleWhere(isMember) as Member[];
const asOf = WORLD.asOf.getTime();

describe('the stand-in subscriber index', () => {
  it('finds every person of the world by subscriber hash, and no one else', async () => {
    const index = new SubscriberIndex(WORLD);
    for (let i = 0; i < populationSize(WORLD); i++) expect(await index.indexOf(md5(personAt(WORLD, i).email))).toBe(i);
    expect(await index.indexOf(md5('nobody@example.com'))).toBeNull();
    expect(await index.indexOf('not-a-hash')).toBeNull();
  });

  it('finds an early person of a 1,000,000-customer world without indexing everyone', async () => {
    const world = { ...WORLD, customers: 1_000_000 };
    const index = new SubscriberIndex(world);
    expect(await index.indexOf(md5(personAt(world, 5_000).email))).toBe(5_000);
    expect(index.chunksBuilt).toBe(2); // people 0-8191, of 1,100,000
  });
});

describe('the stand-in activity feed', () => {
  const feeds = members.map((member) => ({ member, events: activityOf(WORLD, member) }));
  const traits = (member: Member) => member.emailMarketing;

  it('is regenerated identically on demand', () => {
    for (const { member, events } of feeds.slice(0, 20)) expect(activityOf(WORLD, member)).toEqual(events);
  });

  it('lists events newest first, all after opt-in and before the world as-of time', () => {
    for (const { member, events } of feeds) {
      const times = events.map((event) => event.at);
      expect(times).toEqual([...times].sort((a, b) => b - a));
      for (const at of times) {
        expect(at).toBeLessThan(asOf);
        expect(at).toBeGreaterThanOrEqual(traits(member).optInAt.getTime());
      }
    }
  });

  it('ends an unsubscribed member with an unsub and a cleaned one with a hard bounce, when they changed', () => {
    for (const { member, events } of feeds) {
      const { status, lastChangedAt } = traits(member);
      if (status === 'unsubscribed') expect(events[0]).toMatchObject({ type: 'unsub', at: lastChangedAt.getTime() });
      if (status === 'cleaned') expect(events[0]).toMatchObject({ type: 'bounce', bounceType: 'hard' });
      if (status === 'pending' || status === 'transactional') expect(events).toEqual([]);
      if (status === 'subscribed') expect(events.some((e) => e.type === 'unsub')).toBe(false);
    }
  });

  it('clicks only mails it opened, opens only mails it was sent, with campaign ids and links', () => {
    for (const { events } of feeds) {
      const of = (type: string) => new Set(events.filter((e) => e.type === type).map((e) => e.campaign?.id));
      const [sent, opened] = [of('sent'), of('open')];
      for (const event of events) {
        if (event.type === 'open') expect(sent.has(event.campaign?.id)).toBe(true);
        if (event.type === 'click') {
          expect(opened.has(event.campaign?.id)).toBe(true);
          expect(event.link).toMatch(/^https:\/\/shop\.example\.com\/c\/[a-z]+\?utm_source=mailchimp/);
        }
      }
    }
  });

  it('opens and clicks about as often as the member rates say', () => {
    const mailed = feeds.filter(({ member }) => traits(member).status === 'subscribed');
    const count = (events: ActivityEvent[], type: string) => events.filter((e) => e.type === type).length;
    let sends = 0,
      opens = 0,
      clicks = 0,
      expectedOpens = 0,
      expectedClicks = 0;
    for (const { member, events } of mailed) {
      const sent = count(events, 'sent');
      sends += sent;
      opens += count(events, 'open');
      clicks += count(events, 'click');
      expectedOpens += sent * traits(member).avgOpenRate;
      expectedClicks += sent * traits(member).avgClickRate;
    }
    expect(sends).toBeGreaterThan(1_000);
    expect(Math.abs(opens - expectedOpens) / sends).toBeLessThan(0.03);
    expect(Math.abs(clicks - expectedClicks) / sends).toBeLessThan(0.01);
  });
});
