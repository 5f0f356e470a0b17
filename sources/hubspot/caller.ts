import { Cooldown, parseRetryAfter } from '../cooldown.ts';
import { deadlinePassed, deadlineSignal, pause, timeLeft } from '../deadline.ts';
import { SourceError, type SourceErrorKind } from '../errors.ts';
import { retrying } from '../retry.ts';
import { NEEDED_SCOPES } from './contract.ts';
import { createLimiter, type SharedQuota } from './limiter.ts';
import type { HubSpotLogger } from './model.ts';
import { attempt, AttemptTimedOut, type AttemptTrace } from './transport.ts';

/**
 * The one way the source talks to HubSpot: every SDK call goes through `call`, which applies the
 * source's rate limit, per-request timeout, retries and daily-limit circuit, and turns every
 * failure into a SourceError whose message names the operation and the HTTP outcome only.
 */
export interface Caller {
  /**
   * Runs `send` (one SDK call) and returns its value. Retries 5xx and connection failures with
   * jittered exponential backoff (or the Retry-After HubSpot sent), and 429 TEN_SECONDLY_ROLLING
   * after the source's shared cool-down, while the retry budget lasts: the configured one, cut to
   * the time `signal` leaves (sources/deadline.ts). No attempt starts once `signal` has aborted; an
   * attempt under way runs to its own timeout. Throws SourceError: timeout, unavailable (also for
   * 401/403), rate_limited (cooling down longer than the call can wait, budget spent, or the daily
   * limit reached) or bad_response; the last attempt's error when the deadline cut its retries,
   * `deadlinePassed` when it came before any attempt.
   */
  call<T>(what: string, send: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Takes a request slot for a call about to be made, before its keys are chosen (cache/family.ts
   * coalescing: the keys that come while the slot is awaited leave in that call). Waits as `call`
   * waits for its first attempt, until `deadline` (epoch ms; the retry budget when undefined), and
   * rejects with the SourceError `call` would throw. The next attempt of any call uses the slot
   * instead of taking one; a slot no call used within PREPAID_MS lapses, so the pace holds.
   */
  reserve(what: string, deadline: number | undefined): Promise<void>;
}

export interface CallerOptions {
  readonly timeoutMs: number;
  readonly retryBudgetMs: number;
  readonly rateLimit: { readonly requests: number; readonly intervalMs: number };
  /** Counts the rate limit in Redis with the fleet's other replicas (limiter.ts); in process when absent. */
  readonly sharedQuota?: SharedQuota;
  readonly logger: HubSpotLogger;
}

/** What a failed attempt means; `call` turns it into the SourceError it throws. */
interface Verdict {
  readonly kind: SourceErrorKind;
  /** What happened, without the operation's name; never a key, a value or a secret. */
  readonly reason: string;
  /** Whether another attempt may succeed. */
  readonly retry: boolean;
  /** Whether the caller may try again later (SourceError.retryable). */
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  /** For a 429: the rolling window HubSpot reported (X-HubSpot-RateLimit-Interval-Milliseconds). */
  readonly windowMs?: number;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2000;
/** How long a reserved slot waits for its call: the call follows at once, unless its breaker refuses it. */
const PREPAID_MS = 250;

export function createCaller(options: CallerOptions): Caller {
  const takeSlot = createLimiter(options.rateLimit, options.sharedQuota);
  const daily = new DailyCircuit(options.logger);
  // One pause for the whole source after a TEN_SECONDLY 429: the rolling window belongs to the
  // app, so every call would meet the same 429 (and each would count against the window).
  const cooldown = new Cooldown({ baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS });
  const alerted = new Set<number>();
  /** When each reserved slot not yet used was taken (reserve), oldest first. */
  const prepaid: number[] = [];
  const usePrepaid = (): boolean => {
    while (prepaid.length > 0 && prepaid[0]! < Date.now() - PREPAID_MS) prepaid.shift();
    return prepaid.shift() !== undefined;
  };

  function judge(error: unknown, trace: AttemptTrace): Verdict {
    if (error instanceof AttemptTimedOut) {
      // Not retried: a slow HubSpot gets slower with more load, and the caller has a latency budget.
      return { kind: 'timeout', reason: `no answer within ${options.timeoutMs} ms`, retry: false, retryable: true };
    }
    const http = httpFailure(error, trace);
    if (!http || (http.status >= 200 && http.status < 300)) return networkOrParse(error);
    const { status, category } = http;
    const label = category ? `${status} ${category}` : String(status);
    if (status === 401 || status === 403) {
      alertOnce(status, category);
      return { kind: 'unavailable', reason: `HubSpot refused the credentials (${label})`, retry: false, retryable: false };
    }
    if (status === 429) {
      const policy = trace.rateLimitPolicy ?? (/daily/i.test(http.message ?? '') ? 'DAILY' : 'TEN_SECONDLY_ROLLING');
      if (policy === 'DAILY') {
        const left = daily.trip(http.retryAfterMs);
        return { kind: 'rate_limited', reason: DAILY_REASON, retry: false, retryable: false, retryAfterMs: left };
      }
      const reason = `HubSpot rate limit (${policy})`;
      return { kind: 'rate_limited', reason, retry: true, retryable: true, retryAfterMs: http.retryAfterMs, windowMs: http.windowMs };
    }
    if (status >= 500) {
      const reason = `HubSpot answered ${label}`;
      return { kind: 'unavailable', reason, retry: true, retryable: true, retryAfterMs: http.retryAfterMs };
    }
    return { kind: 'bad_response', reason: `HubSpot rejected the request (${label})`, retry: false, retryable: false };
  }

  function alertOnce(status: number, category: string | undefined): void {
    if (alerted.has(status)) return;
    alerted.add(status);
    const message =
      status === 401
        ? 'HubSpot rejected the access token (401): check the configured private-app token; CRM data stays unavailable until it is replaced'
        : `HubSpot refused access (403): the private app lacks a scope this source needs (${Object.keys(NEEDED_SCOPES).join(', ')})`;
    options.logger.error({ source: 'crm', status, category }, message);
  }

  /**
   * Waits until a request may go out: not while the daily circuit is open or the source cools down
   * after a 429 (longer than the call can wait: fails at once, without a request), and only with a
   * slot of the rate limit. Throws `stop`'s error once `signal` has aborted. Its SourceErrors end the call: `retrying` retries only `Failed`.
   */
  async function admit(what: string, endsAt: () => number, stop: (reason: string) => never, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const closedFor = daily.remaining();
      if (closedFor > 0) throw sourceError(what, { kind: 'rate_limited', reason: DAILY_REASON, retry: false, retryable: false, retryAfterMs: closedFor });
      const cooling = cooldown.remaining();
      if (cooling > 0) {
        if (Date.now() + cooling > endsAt()) {
          const reason = `HubSpot rate limit: the source is cooling down for ${cooling} ms, longer than this call can wait`;
          throw sourceError(what, { kind: 'rate_limited', reason, retry: false, retryable: true, retryAfterMs: cooling });
        }
        await pause(cooling, signal);
        continue;
      }
      if (signal?.aborted) stop('the deadline passed before the next attempt');
      if (usePrepaid()) return;
      await takeSlot(what, endsAt(), signal);
      if (signal?.aborted) stop('the deadline passed before the next attempt');
      // A 429 may have come while this call waited for its slot.
      if (cooldown.remaining() === 0) return;
    }
  }

  return {
    async reserve(what, deadline) {
      const budgetEnds = Date.now() + options.retryBudgetMs;
      const endsAt = () => Math.min(budgetEnds, deadline ?? budgetEnds);
      const gone = (): never => {
        throw new SourceError('crm', 'timeout', `${what}: the deadline passed before a request slot`, { retryable: true });
      };
      // The caller's deadline stops the wait, as a call's signal does; the retry budget only
      // bounds how long a slot may be waited for (0: only a slot free now).
      const deadlineReached = deadline === undefined ? null : deadlineSignal(deadline, () => new Error('the reservation ran out of time'));
      try {
        await admit(what, endsAt, gone, deadlineReached?.signal);
      } finally {
        deadlineReached?.dispose();
      }
      prepaid.push(Date.now());
    },

    async call<T>(what: string, send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      const budgetEnds = Date.now() + options.retryBudgetMs;
      // The retry budget never outlasts the caller's deadline.
      const endsAt = () => Math.min(budgetEnds, Date.now() + timeLeft(signal));
      // The failure of the last attempt, thrown when the deadline stops the retries: it says what
      // HubSpot did (and counts against it in the breaker), where "deadline passed" would not.
      let last: Verdict | undefined;
      const stop = (reason: string): never => {
        if (last) throw sourceError(what, { ...last, reason: `${last.reason}; ${reason}` });
        throw deadlinePassed(signal!, 'crm', what);
      };
      let attempts = 0;
      const once = async (): Promise<T> => {
        await admit(what, endsAt, stop, signal);
        attempts++;
        const result = await attempt(send, options.timeoutMs);
        const verdict = result.ok || result.error instanceof SourceError ? null : judge(result.error, result.trace);
        if (verdict?.kind !== 'rate_limited') cooldown.settle();
        if (result.ok) return result.value;
        // Our own checks of an answer's shape throw SourceErrors already.
        if (!verdict) throw result.error;
        last = verdict;
        throw new Failed(verdict);
      };
      /** The wait before the next attempt: null when the failure is final or no time is left for it. */
      const waitAfter = (error: unknown): number | null => {
        if (!(error instanceof Failed) || !error.verdict.retry) return null;
        const { verdict } = error;
        const delay = verdict.kind === 'rate_limited' ? cooldown.trip(verdict.retryAfterMs, verdict.windowMs) : (verdict.retryAfterMs ?? backoff(attempts));
        if (Date.now() + delay > endsAt()) {
          const left = budgetEnds <= Date.now() + timeLeft(signal) ? `the ${options.retryBudgetMs} ms retry budget` : "the caller's deadline";
          const retryAfterMs = verdict.retryAfterMs ?? (verdict.kind === 'rate_limited' ? delay : undefined);
          error.verdict = { ...verdict, retryAfterMs, reason: `${verdict.reason}; gave up after ${attempts} attempt(s), ${left} allows no further wait` };
          return null;
        }
        // A 429 waits in `admit`, on the cool-down every call shares.
        return verdict.kind === 'rate_limited' ? 0 : delay;
      };
      try {
        return await retrying(once, waitAfter, signal);
      } catch (error) {
        if (error instanceof Failed) throw sourceError(what, error.verdict);
        throw error;
      }
    },
  };
}

/** A failed attempt, judged: retried while its verdict allows and time remains. */
class Failed extends Error {
  constructor(public verdict: Verdict) {
    super(verdict.reason);
  }
}

const DAILY_REASON = 'HubSpot daily API limit reached';

function sourceError(what: string, verdict: Verdict): SourceError {
  return new SourceError('crm', verdict.kind, `${what}: ${verdict.reason}`, {
    retryable: verdict.retryable,
    retryAfterMs: verdict.retryAfterMs,
  });
}

/** Equal jitter: half of the exponential step fixed, half random, so concurrent retries spread out. */
function backoff(attempts: number): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
  return step / 2 + Math.random() * (step / 2);
}

interface HttpFailure {
  readonly status: number;
  /** HubSpot's error category (e.g. VALIDATION_ERROR), only when it looks like one. */
  readonly category: string | undefined;
  /** HubSpot's message; read for the rate-limit policy, never copied into our errors. */
  readonly message: string | undefined;
  readonly retryAfterMs: number | undefined;
  /** HubSpot's rate-limit window (X-HubSpot-RateLimit-Interval-Milliseconds), when sent. */
  readonly windowMs: number | undefined;
}

/** The HTTP outcome of a failed attempt: from the SDK's ApiException, or from the trace. */
function httpFailure(error: unknown, trace: AttemptTrace): HttpFailure | null {
  const api = error as { code?: unknown; body?: unknown; headers?: unknown } | null;
  const isApiException = typeof api?.code === 'number' && typeof api.headers === 'object' && api.headers !== null;
  const status = isApiException ? (api.code as number) : trace.status;
  if (status === undefined) return null;
  const body = (isApiException ? api.body : undefined) as { category?: unknown; message?: unknown } | undefined;
  const category = typeof body?.category === 'string' && /^[A-Z_]{1,64}$/.test(body.category) ? body.category : undefined;
  const headers = (isApiException ? api.headers : {}) as Record<string, string | undefined>;
  return {
    status,
    category,
    message: typeof body?.message === 'string' ? body.message : undefined,
    retryAfterMs: parseRetryAfter(headers['retry-after']),
    windowMs: positive(headers['x-hubspot-ratelimit-interval-milliseconds']),
  };
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** No HTTP error status: either the connection failed (worth a retry) or the answer was unreadable. */
function networkOrParse(error: unknown): Verdict {
  const code = connectionErrorCode(error);
  if (code) return { kind: 'unavailable', reason: `could not reach HubSpot (${code})`, retry: true, retryable: true };
  const name = error instanceof Error ? error.name : typeof error;
  // Not retried within the call, but retryable: a healthy HubSpot does not send an unreadable body,
  // so it counts towards the breaker (cache/guard.ts) instead of costing a call per request.
  return { kind: 'bad_response', reason: `HubSpot's answer could not be read (${name})`, retry: false, retryable: true };
}

/**
 * The system error code (ECONNREFUSED, ECONNRESET, ENOTFOUND…) of a failed connection: node:http
 * rejects with the socket's error, fetch (the SDK's path without an agent) with a TypeError whose
 * cause is that error.
 */
function connectionErrorCode(error: unknown): string | undefined {
  const codeOf = (value: unknown): string | undefined => {
    const code = (value as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : undefined;
  };
  if (error instanceof TypeError && error.message === 'fetch failed') return codeOf(error.cause) ?? 'fetch failed';
  return codeOf(error);
}

/**
 * After a DAILY 429 every call fails fast, without a request, until the daily reset. HubSpot
 * resets at midnight in the account's time zone, which the API does not tell us: next UTC
 * midnight is the approximation, unless HubSpot sent a Retry-After.
 */
class DailyCircuit {
  private openUntil = 0;

  constructor(private readonly logger: HubSpotLogger) {}

  /** Ms left until calls may go out again; 0 or less when they may. */
  remaining(): number {
    return this.openUntil - Date.now();
  }

  /** Opens the circuit (logging once per opening) and returns the ms it stays open. */
  trip(retryAfterMs: number | undefined): number {
    const now = Date.now();
    const wasOpen = this.openUntil > now;
    this.openUntil = now + (retryAfterMs ?? nextUtcMidnight(now) - now);
    if (!wasOpen) {
      const until = new Date(this.openUntil).toISOString();
      this.logger.error({ source: 'crm', policy: 'DAILY', until }, `HubSpot daily API limit reached: CRM calls fail without a request until ${until}`);
    }
    return this.openUntil - now;
  }
}

function nextUtcMidnight(now: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
}
