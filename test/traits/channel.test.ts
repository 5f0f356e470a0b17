import { describe, expect, it } from 'vitest';
import { bestSendHour, consentReach, emailReach, preferredChannel, webVisits, type ChannelEvidence } from '../../traits/channel.ts';
import { compare, emailPeriods } from '../../traits/trend.ts';

const at = (iso: string) => new Date(iso);
const member = (status: 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending', canEmail: boolean) =>
  ({ status, canEmail, optInAt: at('2026-01-02T00:00:00Z'), lastChangedAt: at('2026-03-04T00:00:00Z') }) as const;

describe('reachability', () => {
  it('reaches a subscribed member only, and says why not otherwise', () => {
    expect(emailReach(member('subscribed', true))).toEqual({ reachable: true, reason: 'SUBSCRIBED', since: at('2026-01-02T00:00:00Z') });
    expect(emailReach(member('subscribed', false))).toMatchObject({ reachable: false, reason: 'PERMISSION_WITHDRAWN' });
    expect(emailReach(member('cleaned', false))).toEqual({ reachable: false, reason: 'CLEANED', since: at('2026-03-04T00:00:00Z') });
    expect(emailReach(null)).toEqual({ reachable: false, reason: 'NOT_IN_AUDIENCE', since: null });
  });

  it('reads no consent answer as no refusal for personalization but as no consent for advertising', () => {
    expect(consentReach(null, false)).toMatchObject({ reachable: true, reason: 'NO_CONSENT_ANSWER' });
    expect(consentReach(null, true)).toMatchObject({ reachable: false, reason: 'NO_CONSENT_ANSWER' });
    expect(consentReach({ granted: false, at: at('2026-05-01T00:00:00Z') }, false)).toMatchObject({ reachable: false, reason: 'CONSENT_REFUSED' });
  });
});

describe('bestSendHour', () => {
  const opens = ['2026-10-01T07:10:00Z', '2026-10-08T07:50:00Z', '2026-10-15T18:00:00Z', '2026-10-22T18:30:00Z', '2026-10-29T07:05:00Z'].map(at);

  it('gives the hour most opens fell in, in the shop time zone', () => {
    expect(bestSendHour(opens, 'UTC')).toEqual({ hour: 7, opensAtHour: 3, opens: 5, timeZone: 'UTC' });
    // Paris is UTC+2 until 25 October, UTC+1 after: the opens fall at 09, 09, 20, 20 and 08 there, and
    // of the tied 09 and 20 the newest open (22 October) was at 20.
    expect(bestSendHour(opens, 'Europe/Paris')).toEqual({ hour: 20, opensAtHour: 2, opens: 5, timeZone: 'Europe/Paris' });
  });

  it('breaks a tie towards the hour of the newest open, and gives none below five opens', () => {
    expect(bestSendHour([...opens.slice(0, 4), at('2026-10-30T18:00:00Z')], 'UTC')).toMatchObject({ hour: 18, opensAtHour: 3 });
    expect(bestSendHour(opens.slice(0, 4), 'UTC')).toBeNull();
  });
});

describe('webVisits', () => {
  it('groups sessions by UTM medium and source, else referral or direct, and lists campaigns by sessions', () => {
    const last = at('2026-10-30T00:00:00Z');
    const visits = webVisits([
      { medium: 'email', source: 'mailchimp', campaign: 'c1', referrerHost: null, sessions: 3, lastAt: last },
      { medium: 'email', source: 'mailchimp', campaign: 'c2', referrerHost: 'mail.example.com', sessions: 1, lastAt: at('2026-10-01T00:00:00Z') },
      { medium: null, source: null, campaign: null, referrerHost: 'www.google.com', sessions: 2, lastAt: last },
      { medium: null, source: null, campaign: null, referrerHost: null, sessions: 2, lastAt: last },
    ]);
    expect(visits).toEqual({
      sessions: 8,
      lastSessionAt: last,
      byChannel: [
        { medium: 'email', source: 'mailchimp', sessions: 4, share: 0.5 },
        { medium: 'direct', source: null, sessions: 2, share: 0.25 },
        { medium: 'referral', source: 'www.google.com', sessions: 2, share: 0.25 },
      ],
      byCampaign: [
        { campaign: 'c1', sessions: 3, lastAt: last },
        { campaign: 'c2', sessions: 1, lastAt: at('2026-10-01T00:00:00Z') },
      ],
    });
    expect(webVisits([])).toEqual({ sessions: 0, lastSessionAt: null, byChannel: [], byCampaign: [] });
  });
});

describe('preferredChannel', () => {
  const email = (e: Partial<ChannelEvidence>): ChannelEvidence => ({ channel: 'EMAIL', reachable: true, responses: 0, lastResponseAt: null, openRate: 0.1, ...e });
  const web = (e: Partial<ChannelEvidence>): ChannelEvidence => ({ channel: 'WEB_PERSONALIZATION', reachable: true, responses: 0, lastResponseAt: null, openRate: null, ...e });

  it('prefers the reachable channel with the more recent response, and says so from the evidence', () => {
    const chosen = preferredChannel(
      [email({ responses: 2, lastResponseAt: at('2026-10-20T00:00:00Z'), openRate: 0.41 }), web({ responses: 3, lastResponseAt: at('2026-10-25T00:00:00Z') })],
      90,
    );
    expect(chosen.channel).toBe('WEB');
    expect(chosen.reason).toBe(
      'Web, the most recent response: 2 email opens in the last 90 days (latest 2026-10-20), open rate 41%; 3 web sessions in the last 90 days (latest 2026-10-25).',
    );
  });

  it('counts an open rate at the threshold as a response, but never a channel that cannot reach them', () => {
    expect(preferredChannel([email({ openRate: 0.2 }), web({ reachable: false, responses: 5 })], 30)).toMatchObject({
      channel: 'EMAIL',
      reason: 'Email, the only reachable channel they respond to: 0 email opens in the last 30 days, open rate 20%; web cannot reach them.',
    });
    expect(preferredChannel([email({ reachable: false, responses: 4 }), web({})], 30).channel).toBe('NONE');
  });
});

describe('trend', () => {
  it('compares periods with a 20% threshold', () => {
    expect(compare(0, 0)).toEqual({ change: null, direction: 'NONE' });
    expect(compare(3, 0)).toEqual({ change: null, direction: 'NEW' });
    expect(compare(6, 5)).toEqual({ change: 0.2, direction: 'UP' });
    expect(compare(9, 10)).toMatchObject({ direction: 'FLAT' });
    expect(compare(0, 2)).toEqual({ change: -1, direction: 'DOWN' });
  });

  it('counts opens and clicks per period, and flags a full read that may have cut older ones off', () => {
    const until = at('2026-11-01T00:00:00Z');
    const feed = [
      { type: 'click', at: at('2026-10-31T00:00:00Z') },
      { type: 'open', at: at('2026-10-30T00:00:00Z') },
      { type: 'open', at: at('2026-10-02T00:00:00Z') }, // exactly 30 days before: current
      { type: 'open', at: at('2026-09-20T00:00:00Z') },
      { type: 'open', at: at('2026-08-01T00:00:00Z') }, // before both periods
    ];
    expect(emailPeriods(feed, { days: 30, until }, 100)).toEqual({ opens: { current: 2, previous: 1 }, clicks: { current: 1, previous: 0 }, lowerBounds: false });
    expect(emailPeriods(feed.slice(0, 4), { days: 30, until }, 4).lowerBounds).toBe(true);
  });
});
