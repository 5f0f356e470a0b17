import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_KEY, LIST_ID, memberEmails, resetStandIn, startStandIn, strangerEmails, type TestStandIn } from './helpers.ts';
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
