import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personByEmail } from '../../sandbox/demo/people.ts';
import { deadlineSignal } from '../../sources/deadline.ts';
import { SourceError } from '../../sources/errors.ts';
import { subscriberHash, type EmailMember } from '../../sources/mailchimp/index.ts';
import { MEMBER_FIELDS } from '../../sources/mailchimp/mapping.ts';
import { API_KEY, WORLD, memberEmails, resetStandIn, sourceFor, startStandIn, strangerEmails, type TestStandIn } from './helpers.ts';

let standIn: TestStandIn;
beforeAll(async () => void (standIn = await startStandIn()));
afterAll(() => standIn.close());
beforeEach(() => resetStandIn(standIn));

const emailsOf = (results: Array<EmailMember | null | Error>) => results.map((r) => (r instanceof Error || !r ? r : r.email));

async function failureOf(promise: Promise<unknown>): Promise<SourceError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return error as SourceError;
}

describe('membersByEmail', () => {
  it('reads 100 members with 100 GETs, never more than 10 in flight, and no 429', async () => {
    standIn.knobs.latencyMs = 20;
    const emails = memberEmails(100);
    const results = await sourceFor(standIn).source.membersByEmail(emails);
    expect(emailsOf(results)).toEqual(emails);
    const { byEndpoint, byStatus, peakInFlight } = standIn.stats;
    expect(byEndpoint).toEqual({ ping: 0, member: 100, members: 0, activity: 0, tags: 0, other: 0 });
    expect(peakInFlight).toBe(10);
    expect(byStatus).toEqual({ 200: 100 });
  });

  it('keeps to its in-flight limit across concurrent batches', async () => {
    standIn.knobs.latencyMs = 10;
    const { source } = sourceFor(standIn, { maxInFlight: 4 });
    const emails = memberEmails(60);
    await Promise.all([source.membersByEmail(emails.slice(0, 30)), source.membersByEmail(emails.slice(30))]);
    expect(standIn.stats.peakInFlight).toBe(4);
    expect(standIn.stats.byEndpoint.member).toBe(60);
  });

  it('reads 1 member with 1 GET and maps it into the model', async () => {
    const [email] = memberEmails(1, 'subscribed');
    const [member] = await sourceFor(standIn).source.membersByEmail([email!]);
    expect(standIn.stats.byEndpoint.member).toBe(1);
    expect(standIn.stats.requests).toBe(1);
    const traits = personByEmail(WORLD, email!)!.emailMarketing!;
    expect(member).toEqual({
      id: subscriberHash(email!),
      email,
      status: 'subscribed',
      memberRating: traits.memberRating,
      avgOpenRate: traits.avgOpenRate,
      avgClickRate: traits.avgClickRate,
      signupAt: new Date(Math.floor(traits.signupAt.getTime() / 1000) * 1000),
      optInAt: new Date(Math.floor(traits.optInAt.getTime() / 1000) * 1000),
      lastChangedAt: new Date(Math.floor(traits.lastChangedAt.getTime() / 1000) * 1000),
      tags: traits.tags.map((name) => ({ id: expect.any(Number), name })),
      location: {
        countryCode: expect.stringMatching(/^[A-Z]{2}$/),
        timezone: expect.any(String),
        latitude: expect.any(Number),
        longitude: expect.any(Number),
        region: expect.any(String),
      },
      vip: traits.vip,
      marketingPermissions: [
        { id: expect.any(String), text: 'Email', enabled: traits.permissions.email },
        { id: expect.any(String), text: 'Customized Online Advertising', enabled: traits.permissions.ads },
      ],
      canEmail: traits.status === 'subscribed' && traits.permissions.email && traits.permissions.ads,
      language: expect.stringMatching(/^[a-z]{2}$/),
      source: expect.any(String),
    });
  });

  it('asks Mailchimp only for the fields the model reads', async () => {
    await sourceFor(standIn).source.membersByEmail(memberEmails(1));
    const fields = standIn.requests[0]!.searchParams.get('fields')!.split(',');
    expect(fields).toEqual([...MEMBER_FIELDS]);
    expect(fields).not.toContain('_links');
    expect(fields).not.toContain('merge_fields');
  });

  it('returns null for people not in the audience, in key order, reading duplicates once', async () => {
    const [a, b] = memberEmails(2);
    const [stranger] = strangerEmails(1);
    const keys = [b!, stranger!, 'nobody@nowhere.example', a!, b!];
    const results = await sourceFor(standIn).source.membersByEmail(keys);
    expect(emailsOf(results)).toEqual([b, null, null, a, b]);
    expect(standIn.stats.byEndpoint.member).toBe(4);
  });

  it('returns an empty list for no keys, without calling Mailchimp', async () => {
    expect(await sourceFor(standIn).source.membersByEmail([])).toEqual([]);
    expect(standIn.stats.requests).toBe(0);
  });

  it('rides out a short 429 storm with backoff and succeeds', async () => {
    standIn.knobs.force429 = 3;
    const [email] = memberEmails(1);
    const [member] = await sourceFor(standIn).source.membersByEmail([email!]);
    expect(member).toMatchObject({ email });
    expect(standIn.stats.byStatus).toEqual({ 200: 1, 429: 3 });
  });

  it('fails with rate_limited when 429s outlast the retry budget', async () => {
    standIn.knobs.force429 = 'always';
    const error = await failureOf(sourceFor(standIn, { retryBudgetMs: 300 }).source.membersByEmail(memberEmails(3)));
    expect(error).toMatchObject({ kind: 'rate_limited', retryable: true });
    expect(standIn.stats.byEndpoint.member).toBeGreaterThan(3);
  });

  it('retries a 5xx once and succeeds', async () => {
    standIn.knobs.force500 = 1;
    const [member] = await sourceFor(standIn).source.membersByEmail(memberEmails(1));
    expect(member).toMatchObject({ status: expect.any(String) });
    expect(standIn.stats.byStatus).toEqual({ 200: 1, 500: 1 });
  });

  it('gives up after one 5xx retry with unavailable', async () => {
    standIn.knobs.errorRate = 1;
    const error = await failureOf(sourceFor(standIn).source.membersByEmail(memberEmails(1)));
    expect(error).toMatchObject({ kind: 'unavailable', retryable: true });
    expect(standIn.stats.byStatus).toEqual({ 500: 2 });
  });

  it('puts an Error at the one key that failed and returns the others', async () => {
    standIn.knobs.force500 = 1;
    const emails = memberEmails(3);
    // One request at a time and no retries: the first key alone meets the 500.
    const { source } = sourceFor(standIn, { maxInFlight: 1, retryBudgetMs: 0 });
    const [first, ...rest] = await source.membersByEmail(emails);
    expect(first).toBeInstanceOf(SourceError);
    expect(first).toMatchObject({ kind: 'unavailable' });
    expect(emailsOf(rest)).toEqual(emails.slice(1));
  });

  it('times out on a hanging Mailchimp and aborts the requests', async () => {
    standIn.knobs.hang = true;
    const error = await failureOf(sourceFor(standIn, { timeoutMs: 150 }).source.membersByEmail(memberEmails(3)));
    expect(error).toMatchObject({ kind: 'timeout' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(standIn.stats.inFlight).toBe(0);
  });

  it('reports an unreachable Mailchimp as unavailable', async () => {
    const gone = await startStandIn();
    await gone.close();
    const error = await failureOf(sourceFor(gone).source.membersByEmail(memberEmails(2)));
    expect(error).toMatchObject({ kind: 'unavailable', retryable: true });
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('reports a refused API key as unavailable, in one log line without the key', async () => {
    const wrongKey = 'fedcba9876543210fedcba9876543210-us21';
    const { source, logs } = sourceFor(standIn, { apiKey: wrongKey });
    const error = await failureOf(source.membersByEmail(memberEmails(30)));
    await failureOf(source.membersByEmail(memberEmails(5)));
    expect(error).toMatchObject({ kind: 'unavailable', retryable: false });
    expect(logs).toHaveLength(1);
    expect(logs[0]!.msg).toMatch(/API key/);
    for (const secret of [wrongKey, API_KEY, wrongKey.split('-')[0]!]) {
      expect(JSON.stringify(logs)).not.toContain(secret);
      expect(error.message).not.toContain(secret);
      expect(String(error.cause)).not.toContain(secret);
    }
    // The first refusal stops the rest of each batch from calling: about the 10 + 5 already
    // under way, not all 35 keys.
    expect(standIn.stats.byEndpoint.member).toBeLessThanOrEqual(20);
  });

  it('never starts a retry after the signal aborts', async () => {
    standIn.knobs.force429 = 'always';
    const { signal } = deadlineSignal(Date.now() + 200, () => new Error('the caller gave up'));
    const started = performance.now();
    const error = await failureOf(sourceFor(standIn, { retryBudgetMs: 5_000 }).source.membersByEmail(memberEmails(1), signal));
    expect(error).toMatchObject({ kind: 'rate_limited', retryable: true });
    // Ended by the deadline (plus a generous margin), not by the 5 s retry budget.
    expect(performance.now() - started).toBeLessThan(200 + 1_000);
    const sent = standIn.stats.requests;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(standIn.stats.requests).toBe(sent);
  });

  it('meets a persistent 429 with one request per cool-down for the whole source, not one per key', async () => {
    standIn.knobs.force429 = 'always';
    const { source } = sourceFor(standIn, { maxInFlight: 1, retryBudgetMs: 300 });
    const error = await failureOf(source.membersByEmail(memberEmails(20)));
    expect(error).toMatchObject({ kind: 'rate_limited', retryable: true });
    // Keys queued behind the first 429 find the source cooling down and send nothing.
    expect(standIn.stats.byEndpoint.member).toBeGreaterThanOrEqual(1);
    expect(standIn.stats.byEndpoint.member).toBeLessThan(10);
  });

  it('makes no request once the signal has aborted', async () => {
    const { signal } = deadlineSignal(Date.now(), () => new Error('the caller gave up'));
    const error = await failureOf(sourceFor(standIn).source.membersByEmail(memberEmails(3), signal));
    expect(error).toMatchObject({ kind: 'timeout' });
    expect(standIn.stats.requests).toBe(0);
  });
});

describe("the source's connections to Mailchimp", () => {
  it('keeps them open for the next reads: 100 members over at most 10 connections', async () => {
    standIn.knobs.latencyMs = 5;
    const { source } = sourceFor(standIn);
    try {
      const emails = memberEmails(100);
      await source.membersByEmail(emails.slice(0, 50));
      await source.membersByEmail(emails.slice(50));
      expect(standIn.stats.byStatus).toEqual({ 200: 100 });
      expect(standIn.stats.connections).toBeGreaterThan(0);
      expect(standIn.stats.connections).toBeLessThanOrEqual(10);
    } finally {
      await source.close();
    }
  });

  it('opens one per request with keepAliveMs 0, as the SDK alone does', async () => {
    const { source } = sourceFor(standIn, { keepAliveMs: 0 });
    const emails = memberEmails(20);
    for (const email of emails) await source.membersByEmail([email]);
    expect(standIn.stats.byStatus).toEqual({ 200: 20 });
    expect(standIn.stats.connections).toBe(20);
  });

  it('reads on over new ones after the API dropped those it kept', async () => {
    const { source } = sourceFor(standIn);
    try {
      const emails = memberEmails(6);
      expect(emailsOf(await source.membersByEmail(emails.slice(0, 3)))).toEqual(emails.slice(0, 3));
      const before = standIn.stats.connections;
      await standIn.stopListening();
      await standIn.listenAgain();
      expect(emailsOf(await source.membersByEmail(emails.slice(3)))).toEqual(emails.slice(3));
      expect(standIn.stats.connections).toBeGreaterThan(before);
    } finally {
      await source.close();
    }
  });
});
