import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { deadlineSignal } from '../../sources/deadline.ts';
import { SourceError } from '../../sources/errors.ts';
import type { CrmContact } from '../../sources/hubspot/index.ts';
import { TOKEN, capturingLogger, crmPeople, source, standIn, timed } from './support.ts';

const READ = ENDPOINTS.contactsBatchRead;
const emails = () => crmPeople(3).map((p) => p.email);

function expectSourceError(error: unknown, kind: SourceError['kind']): SourceError {
  expect(error).toBeInstanceOf(SourceError);
  expect((error as SourceError).kind).toBe(kind);
  expect((error as SourceError).source).toBe('crm');
  return error as SourceError;
}

function expectNoKeysIn(error: SourceError, keys: readonly string[]): void {
  for (const key of keys) expect(error.message).not.toContain(key);
}

describe('rate limits', () => {
  it('retries a TEN_SECONDLY_ROLLING 429 and succeeds within the retry budget', async () => {
    const stand = await standIn();
    stand.force429 = { times: 2, policy: 'TEN_SECONDLY_ROLLING', retryAfterSeconds: 0 };
    const results = await source(stand).contactsByEmail(emails());
    expect(results.every((r) => (r as CrmContact).id)).toBe(true);
    expect(stand.stats.byEndpoint[READ]).toBe(3);
    expect(stand.stats.byStatus).toEqual({ 429: 2, 200: 1 });
  });

  it('waits as long as Retry-After says before retrying', async () => {
    const stand = await standIn();
    stand.force429 = { times: 1, policy: 'TEN_SECONDLY_ROLLING', retryAfterSeconds: 1 };
    const outcome = await timed(() => source(stand, { retryBudgetMs: 2000 }).contactsByEmail(emails()));
    expect(outcome.error).toBeUndefined();
    expect(outcome.ms).toBeGreaterThanOrEqual(950);
    expect(stand.stats.byEndpoint[READ]).toBe(2);
  });

  it('fails with rate_limited, without waiting, when Retry-After is beyond the retry budget', async () => {
    const stand = await standIn();
    stand.force429 = { times: 'always', policy: 'TEN_SECONDLY_ROLLING', retryAfterSeconds: 1 };
    const keys = emails();
    const outcome = await timed(() => source(stand, { retryBudgetMs: 300 }).contactsByEmail(keys));
    const error = expectSourceError(outcome.error, 'rate_limited');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(1000);
    expect(stand.stats.byEndpoint[READ]).toBe(1);
    expectNoKeysIn(error, keys);
  });

  it('backs off and retries 429s without Retry-After until the retry budget is spent', async () => {
    const stand = await standIn();
    stand.force429 = { times: 'always', policy: 'TEN_SECONDLY_ROLLING' };
    const outcome = await timed(() => source(stand, { retryBudgetMs: 400 }).contactsByEmail(emails()));
    expectSourceError(outcome.error, 'rate_limited');
    expect(stand.stats.byEndpoint[READ]).toBeGreaterThanOrEqual(2);
  });

  it('stops calling HubSpot after a DAILY 429, until the daily reset', async () => {
    const stand = await standIn();
    const logger = capturingLogger();
    const crm = source(stand, { logger });
    stand.force429 = { times: 1, policy: 'DAILY' };
    const first = expectSourceError(await crm.contactsByEmail(emails()).catch((e: unknown) => e), 'rate_limited');
    expect(first.retryable).toBe(false);
    expect(first.retryAfterMs).toBeGreaterThan(0);
    expect(first.retryAfterMs).toBeLessThanOrEqual(86_400_000);
    expect(stand.stats.total).toBe(1);

    const second = await timed(() => crm.contactsByEmail(emails()));
    expectSourceError(second.error, 'rate_limited');
    await expect(crm.ping()).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(stand.stats.total).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(1);
  });

  it('keeps its requests within the configured rate limit', async () => {
    const stand = await standIn();
    stand.rateLimit = { max: 4, intervalMs: 500 };
    const crm = source(stand, { rateLimit: { requests: 4, intervalMs: 500 }, retryBudgetMs: 3000 });
    const outcome = await timed(() => Promise.all(Array.from({ length: 6 }, () => crm.ping())));
    expect(outcome.error).toBeUndefined();
    expect(stand.stats.byStatus).toEqual({ 200: 6 });
    // 6 requests at no more than 4 per rolling 500 ms cannot all go out in under 500 ms.
    expect(outcome.ms).toBeGreaterThanOrEqual(500);
  });

  it("rides out HubSpot's own rolling limit by backing off", async () => {
    const stand = await standIn();
    stand.rateLimit = { max: 2, intervalMs: 200 };
    const crm = source(stand, { retryBudgetMs: 4000 });
    const outcome = await timed(() => Promise.all(Array.from({ length: 4 }, () => crm.ping())));
    expect(outcome.error).toBeUndefined();
    expect(stand.stats.byStatus[200]).toBe(4);
    expect(stand.stats.byStatus[429]).toBeGreaterThan(0);
  });
});

describe("the caller's deadline and the shared cool-down", () => {
  /** A signal that aborts `ms` from now, as the guard makes them. */
  const within = (ms: number) => deadlineSignal(Date.now() + ms, () => new Error('the caller gave up')).signal;

  it('never starts a retry after the signal aborts, and fails with what HubSpot last answered', async () => {
    const stand = await standIn();
    stand.errorRate = 1;
    const outcome = await timed(() => source(stand, { retryBudgetMs: 5000 }).contactsByEmail(emails(), within(150)));
    expectSourceError(outcome.error, 'unavailable');
    // Ended by the deadline (plus a generous margin), not by the 5 s retry budget.
    expect(outcome.ms).toBeLessThan(150 + 1000);
    const sent = stand.stats.total;
    expect(sent).toBeGreaterThanOrEqual(1);
    await sleep(600);
    expect(stand.stats.total).toBe(sent);
  });

  it('does not back off from 429s past the deadline', async () => {
    const stand = await standIn();
    stand.force429 = { times: 'always', policy: 'TEN_SECONDLY_ROLLING' };
    const outcome = await timed(() => source(stand, { retryBudgetMs: 5000 }).contactsByEmail(emails(), within(200)));
    expect(expectSourceError(outcome.error, 'rate_limited').retryable).toBe(true);
    expect(outcome.ms).toBeLessThan(200 + 1000);
    const sent = stand.stats.total;
    await sleep(600);
    expect(stand.stats.total).toBe(sent);
  });

  it('makes no request before the deadline has left any time', async () => {
    const stand = await standIn();
    const error = await source(stand)
      .contactsByEmail(emails(), within(0))
      .catch((e: unknown) => e);
    expectSourceError(error, 'timeout');
    expect(stand.stats.total).toBe(0);
  });

  it('sends one request during a Retry-After cool-down, however many calls come, and fails them fast', async () => {
    const stand = await standIn();
    stand.force429 = { times: 'always', policy: 'TEN_SECONDLY_ROLLING', retryAfterSeconds: 2 };
    const crm = source(stand, { retryBudgetMs: 1000 });
    const first = await timed(() => crm.contactsByEmail(emails(), within(800)));
    // Retry-After outlasts the deadline: not retried, not waited for.
    expect(expectSourceError(first.error, 'rate_limited').retryAfterMs).toBe(2000);
    expect(first.ms).toBeLessThan(800);
    const rest = await Promise.all(Array.from({ length: 10 }, () => crm.contactsByEmail(emails(), within(800)).catch((e: unknown) => e)));
    for (const error of rest) {
      const limited = expectSourceError(error, 'rate_limited');
      expect(limited.retryable).toBe(true);
      expect(limited.retryAfterMs).toBeGreaterThan(0);
      expect(limited.retryAfterMs).toBeLessThanOrEqual(2000);
    }
    expect(stand.stats.total).toBe(1);
  });
});

describe('server errors, timeouts and bad answers', () => {
  it('retries 500s and then fails with unavailable', async () => {
    const stand = await standIn();
    stand.errorRate = 1;
    const keys = emails();
    const outcome = await timed(() => source(stand, { retryBudgetMs: 300 }).contactsByEmail(keys));
    const error = expectSourceError(outcome.error, 'unavailable');
    expect(error.retryable).toBe(true);
    expect(stand.stats.byEndpoint[READ]).toBeGreaterThanOrEqual(2);
    expect(stand.stats.byStatus[500]).toBe(stand.stats.total);
    expectNoKeysIn(error, keys);
  });

  it('fails with timeout against a HubSpot that never answers, and aborts the request', async () => {
    const stand = await standIn();
    stand.hang = true;
    const outcome = await timed(() => source(stand, { timeoutMs: 200 }).contactsByEmail(emails()));
    const error = expectSourceError(outcome.error, 'timeout');
    expect(error.retryable).toBe(true);
    expect(outcome.ms).toBeGreaterThanOrEqual(190);
    // The stand-in sees the connection go away: the request was destroyed, not left open.
    await vi.waitFor(() => expect(stand.stats.aborted).toBe(1), { timeout: 1000 });
    expect(stand.stats.total).toBe(1);
  });

  it('reports an unreadable answer as bad_response without retrying', async () => {
    const stand = await standIn();
    stand.corruptResponses = 1;
    await expect(source(stand).contactsByEmail(emails())).rejects.toMatchObject({ kind: 'bad_response' });
    expect(stand.stats.total).toBe(1);
  });

  it('fails with unavailable when HubSpot cannot be reached', async () => {
    const stand = await standIn();
    const url = stand.url;
    await stand.close();
    const outcome = await timed(() => source(stand, { baseUrl: url, retryBudgetMs: 300 }).contactsByEmail(emails()));
    expectSourceError(outcome.error, 'unavailable');
  });
});

describe('credentials', () => {
  const wrongToken = 'pat-na1-99999999-WRONG-TOKEN-do-not-log';

  it('fails with unavailable on a bad token and logs one line that does not contain the token', async () => {
    const stand = await standIn();
    const logger = capturingLogger();
    const crm = source(stand, { accessToken: wrongToken, logger });
    const errors = await Promise.all([
      crm.contactsByEmail(emails()).catch((e: unknown) => e),
      crm.contactsByEmail(emails()).catch((e: unknown) => e),
      crm.ping().catch((e: unknown) => e),
    ]);
    for (const error of errors) {
      const sourceError = expectSourceError(error, 'unavailable');
      expect(sourceError.retryable).toBe(false);
      expect(sourceError.message).not.toContain(wrongToken);
    }
    expect(stand.stats.byStatus).toEqual({ 401: 3 });
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.msg).toMatch(/token/);
    const logged = JSON.stringify(logger.lines);
    expect(logged).not.toContain(wrongToken);
    expect(logged).not.toContain(TOKEN);
  });

  it('refuses to start without a token', async () => {
    const stand = await standIn();
    expect(() => source(stand, { accessToken: '' })).toThrow(expect.objectContaining({ kind: 'not_configured' }) as Error);
  });

  it('resolves ping against a healthy HubSpot', async () => {
    const stand = await standIn();
    await source(stand).ping();
    expect(stand.stats.byEndpoint[ENDPOINTS.contactPropertyGet]).toBe(1);
  });
});
