import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { endpointOf } from '../../sandbox/mailchimp/api.ts';
import { isMember, type Member } from '../../sandbox/mailchimp/members.ts';
import { API_KEY, LIST_ID, memberEmails, peopleWhere, resetStandIn, startStandIn, strangerEmails, type TestStandIn } from './helpers.ts';
import { responseValidator } from './openapi.ts';

const MEMBER = '/lists/{listId}/members/{subscriberHash}';
const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
const basic = (password: string): string => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

let standIn: TestStandIn;
beforeAll(async () => void (standIn = await startStandIn()));
afterAll(() => standIn.close());
beforeEach(() => resetStandIn(standIn));

async function get(path: string, authorization = basic(API_KEY)) {
  const response = await fetch(`${standIn.url}/3.0${path}`, { headers: { authorization } });
  return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
}

const memberPath = (email: string, rest = ''): string => `/lists/${LIST_ID}/members/${md5(email)}${rest}`;

describe('the Mailchimp stand-in, against the Marketing API spec', () => {
  it('serves member bodies of every status that match the spec', async () => {
    const validate = responseValidator(MEMBER, '200');
    for (const status of ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional']) {
      const [email] = memberEmails(1, status);
      const { status: code, type, body } = await get(memberPath(email!));
      expect(code).toBe(200);
      expect(type).toMatch(/^application\/json/);
      expect(validate(body)).toEqual([]);
      expect(body).toMatchObject({ id: md5(email!), email_address: email, status, list_id: LIST_ID });
    }
  });

  it('serves activity feeds that match the spec, for every kind of member', async () => {
    const validate = responseValidator(`${MEMBER}/activity-feed`, '200');
    for (const status of ['subscribed', 'unsubscribed', 'cleaned', 'pending']) {
      for (const email of memberEmails(2, status)) {
        const { status: code, body } = await get(memberPath(email, '/activity-feed?count=1000'));
        expect(code).toBe(200);
        expect(validate(body)).toEqual([]);
      }
    }
  });

  it('serves member tags that match the spec', async () => {
    const validate = responseValidator(`${MEMBER}/tags`, '200');
    for (const email of memberEmails(10)) {
      const { status, body } = await get(memberPath(email, '/tags'));
      expect(status).toBe(200);
      expect(validate(body)).toEqual([]);
    }
  });

  it('has a validator that notices a field the spec does not have, or a wrong type', async () => {
    const validate = responseValidator(MEMBER, '200');
    const { body } = await get(memberPath(memberEmails(1)[0]!));
    expect(validate({ ...body, favourite_colour: 'teal' })).not.toEqual([]);
    expect(validate({ ...body, member_rating: '5' })).not.toEqual([]);
    const feed = responseValidator(`${MEMBER}/activity-feed`, '200');
    expect(feed({ activity: [{ activity_type: 'open', link_clicked: 'https://x' }] })).not.toEqual([]);
  });

  it('answers ping as the spec says', async () => {
    const { status, body } = await get('/ping');
    expect(status).toBe(200);
    expect(responseValidator('/ping', '200')(body)).toEqual([]);
    expect(body).toEqual({ health_status: "Everything's Chimpy!" });
  });

  it('answers an unknown member, a stranger and an unknown list with a 404 problem document', async () => {
    const validate = responseValidator(MEMBER, 'default');
    const paths = [`/lists/${LIST_ID}/members/${md5('nobody@example.com')}`, memberPath(strangerEmails(1)[0]!), `/lists/other-list/members/${md5(memberEmails(1)[0]!)}`];
    for (const path of paths) {
      const { status, type, body } = await get(path);
      expect(status).toBe(404);
      expect(type).toMatch(/^application\/problem\+json/);
      expect(validate(body)).toEqual([]);
      expect(body).toMatchObject({ status: 404, title: 'Resource Not Found' });
    }
  });

  it('answers a missing or wrong API key with a 401 problem document', async () => {
    const validate = responseValidator(MEMBER, 'default');
    for (const authorization of ['', basic('not-the-key-us21')]) {
      const { status, type, body } = await get(memberPath(memberEmails(1)[0]!), authorization);
      expect(status).toBe(401);
      expect(type).toMatch(/^application\/problem\+json/);
      expect(validate(body)).toEqual([]);
    }
  });

  it('answers the request beyond the connection limit with a 429 problem document', async () => {
    standIn.knobs.latencyMs = 100;
    const responses = await Promise.all(memberEmails(11).map((email) => get(memberPath(email))));
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(1);
    expect(responseValidator(MEMBER, 'default')(refused[0]!.body)).toEqual([]);
    expect(standIn.stats.peakInFlight).toBe(11);
  });
});

describe('the Mailchimp stand-in, as the live API behaves', () => {
  it('keeps only the `fields` asked for, through arrays too', async () => {
    const email = memberEmails(1)[0]!;
    const { body } = await get(memberPath(email, '?fields=id,stats.avg_open_rate,tags.name,location.country_code'));
    expect(Object.keys(body).sort()).toEqual(['id', 'location', 'stats', 'tags']);
    expect(Object.keys(body.stats as object)).toEqual(['avg_open_rate']);
    expect(Object.keys(body.location as object)).toEqual(['country_code']);
    for (const tag of body.tags as object[]) expect(Object.keys(tag)).toEqual(['name']);
  });

  it('drops the `exclude_fields`', async () => {
    const { body } = await get(memberPath(memberEmails(1)[0]!, '?exclude_fields=_links,stats.avg_click_rate,merge_fields'));
    expect(body).not.toHaveProperty('_links');
    expect(body).not.toHaveProperty('merge_fields');
    expect(body.stats).toEqual({ avg_open_rate: expect.any(Number) });
  });

  it('takes the email address in place of the subscriber hash', async () => {
    const email = memberEmails(1)[0]!;
    const { status, body } = await get(`/lists/${LIST_ID}/members/${encodeURIComponent(email.toUpperCase())}`);
    expect(status).toBe(200);
    expect(body.id).toBe(md5(email));
  });

  it('pages and filters the activity feed', async () => {
    const email = memberEmails(1, 'subscribed')[0]!;
    const all = (await get(memberPath(email, '/activity-feed?count=1000'))).body.activity as Array<Record<string, string>>;
    const page = (await get(memberPath(email, '/activity-feed?count=3&offset=2'))).body.activity;
    expect(page).toEqual(all.slice(2, 5));
    const sends = (await get(memberPath(email, '/activity-feed?count=1000&activity_filters=sent'))).body.activity;
    expect(sends).toEqual(all.filter((item) => item.activity_type === 'sent'));
    expect((await get(memberPath(email, '/activity-feed'))).body.activity).toHaveLength(Math.min(10, all.length));
    expect((await get(memberPath(email, '/activity-feed?count=1001'))).status).toBe(400);
  });
});

describe('the Mailchimp stand-in member listing (GET /lists/{list_id}/members)', () => {
  const members = peopleWhere(isMember) as Member[];
  const listing = (query = '') => get(`/lists/${LIST_ID}/members${query}`);
  const emailsOf = (body: Record<string, unknown>) => (body.members as Array<{ email_address: string }>).map((m) => m.email_address);

  it('lists members whose bodies match the spec, with total_items counting every match', async () => {
    const validate = responseValidator(MEMBER, '200');
    const { status, type, body } = await listing('?count=1000');
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(body).toMatchObject({ list_id: LIST_ID, total_items: members.length });
    expect(emailsOf(body)).toEqual(members.map((m) => m.email));
    for (const member of body.members as object[]) expect(validate(member)).toEqual([]);
    // The same body as the single-member GET gives.
    const one = await get(memberPath(members[3]!.email));
    expect((body.members as object[])[3]).toEqual(one.body);
  });

  it('pages by count (default 10, at most 1000) and offset', async () => {
    expect(emailsOf((await listing()).body)).toEqual(members.slice(0, 10).map((m) => m.email));
    const page = await listing('?count=7&offset=20');
    expect(emailsOf(page.body)).toEqual(members.slice(20, 27).map((m) => m.email));
    expect(page.body.total_items).toBe(members.length);
    expect((await listing(`?count=10&offset=${members.length}`)).body).toMatchObject({ members: [], total_items: members.length });
    for (const bad of ['?count=1001', '?count=0', '?offset=-1']) expect((await listing(bad)).status).toBe(400);
  });

  it('filters by status and by opt-in time, seconds as Mailchimp keeps them', async () => {
    const since = new Date('2025-06-01T00:00:00Z');
    const before = new Date('2026-06-01T00:00:00Z');
    const opt = (m: Member) => Math.floor(m.emailMarketing.optInAt.getTime() / 1000) * 1000;
    for (const status of ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional', 'archived']) {
      const expected = members.filter((m) => m.emailMarketing.status === status && opt(m) >= since.getTime() && opt(m) < before.getTime());
      const query = `?count=1000&status=${status}&since_timestamp_opt=${encodeURIComponent('2025-06-01T00:00:00+00:00')}&before_timestamp_opt=${encodeURIComponent(before.toISOString())}`;
      const { body } = await listing(query);
      expect(emailsOf(body)).toEqual(expected.map((m) => m.email));
      expect(body.total_items).toBe(expected.length);
    }
    expect((await listing('?status=gone')).status).toBe(400);
    expect((await listing('?since_timestamp_opt=yesterday')).status).toBe(400);
  });

  it('keeps only the `fields` asked for, and drops the `exclude_fields`', async () => {
    const { body } = await listing('?count=3&fields=members.email_address,total_items');
    expect(body).toEqual({ members: members.slice(0, 3).map((m) => ({ email_address: m.email })), total_items: members.length });
    const excluded = await listing('?count=2&exclude_fields=members._links,members.merge_fields,_links');
    expect(excluded.body).not.toHaveProperty('_links');
    for (const member of excluded.body.members as object[]) expect(member).not.toHaveProperty('merge_fields');
  });

  it('reflects a status changed since start, in the listing as in the member', async () => {
    const member = members.find((m) => m.emailMarketing.status === 'subscribed')!;
    const count = async (status: string) => (await listing(`?status=${status}&count=1`)).body.total_items as number;
    const [subscribed, cleaned] = [await count('subscribed'), await count('cleaned')];
    standIn.setMemberStatus(member.email, 'cleaned');
    try {
      expect([await count('subscribed'), await count('cleaned')]).toEqual([subscribed - 1, cleaned + 1]);
      const { body } = await listing('?status=cleaned&count=1000');
      expect((body.members as Array<{ email_address: string; status: string }>).find((m) => m.email_address === member.email)?.status).toBe('cleaned');
      expect(emailsOf(body)).toEqual(members.filter((m) => m === member || m.emailMarketing.status === 'cleaned').map((m) => m.email));
    } finally {
      standIn.setMemberStatus(member.email, 'subscribed');
    }
  });

  it('answers an unknown list with 404 and counts listings as their own endpoint', async () => {
    expect((await get('/lists/other-list/members')).status).toBe(404);
    expect(endpointOf(`/3.0/lists/${LIST_ID}/members`)).toBe('members');
    expect(endpointOf(`/3.0/lists/${LIST_ID}/members/`)).toBe('members');
    expect(endpointOf(`/3.0/lists/${LIST_ID}/members/${md5('a@b.c')}`)).toBe('member');
    expect(standIn.stats.requests).toBe(1);
  });
});
