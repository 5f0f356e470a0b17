import { bulkhead } from 'cockatiel';
import { Cooldown } from '../cooldown.ts';
import { deadlinePassed, pause, timeLeft } from '../deadline.ts';
import { SourceError } from '../errors.ts';
import { retrying } from '../retry.ts';
import { classify, type Failure } from './failure.ts';
import type { FleetConnections } from './fleet.ts';

export interface MailchimpLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Shared by the reads of one batch: the first key refusal, so the rest of the batch stops calling. */
export interface BatchState {
  keyRejected?: SourceError;
}

export interface Upstream {
  /**
   * Runs one SDK call within the source's in-flight limit, retrying as the failure allows while
   * the retry budget lasts: the configured one, cut to the time `signal` leaves. No attempt starts
   * once `signal` has aborted (nor once it has, after waiting for a slot); an attempt under way
   * runs to the SDK's own timeout. After a 429 the whole source cools down (see Cooldown): a call
   * that cannot wait out the cool-down fails at once with `rate_limited`, without a request.
   * Resolves to the body, or null on 404; rejects with a SourceError (the last attempt's when the
   * deadline cut the retries, `deadlinePassed` when no attempt was made).
   */
  call(request: () => Promise<unknown>, batch?: BatchState, signal?: AbortSignal): Promise<unknown>;
}

export interface UpstreamOptions {
  /** Most SDK calls in flight at once across everything this upstream runs (and across the fleet, with `fleet`). */
  readonly maxInFlight: number;
  /** Counts the account's connections with the other replicas (fleet.ts): every call also takes a permit there. */
  readonly fleet?: FleetConnections;
  /** How long a call may keep retrying after its first failure, in ms. */
  readonly retryBudgetMs: number;
  readonly logger: MailchimpLogger;
}

const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 1_000;

/** Exponential backoff with equal jitter: never zero, and spread so queued keys do not retry in step. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/**
 * The one door to Mailchimp. Mailchimp allows 10 simultaneous connections per account and answers
 * 429 beyond them, so every call waits for a slot of one bulkhead (unbounded queue) shared by all
 * the batch functions of a source, and, with `fleet`, for a permit of the account's connections
 * counted in Redis with the other replicas. A retry gives its slot back while it sleeps.
 */
export function createUpstream(options: UpstreamOptions): Upstream {
  const slots = bulkhead(options.maxInFlight, Number.POSITIVE_INFINITY);
  // A 429 means the account is over its connections (or its rate): every call would meet it, so
  // the source pauses as a whole, for Retry-After when Mailchimp sends one, else a growing backoff.
  const cooldown = new Cooldown({ baseMs: BACKOFF_BASE_MS * 2, maxMs: BACKOFF_CAP_MS });
  // One log line per episode of a refused key, not one per key or per batch.
  let keyRefusalLogged = false;

  function refused(failure: Failure, batch: BatchState | undefined): void {
    if (batch) batch.keyRejected ??= failure.error;
    if (keyRefusalLogged) return;
    keyRefusalLogged = true;
    options.logger.error(
      { source: 'email', kind: failure.error.kind, reason: failure.error.message },
      'Mailchimp rejected the API key: check the configured key and its datacenter suffix; email data is unavailable until then',
    );
  }

  /** The wait before the next attempt, or null when there is none (no retry, or no time for it). */
  function retryDelay(failure: Failure, retriedOnce: boolean, endsAt: number): number | null {
    if (failure.retry === 'never' || (failure.retry === 'once' && retriedOnce)) return null;
    const delay = failure.retry === 'once' ? backoffMs(1) : cooldown.trip(failure.retryAfterMs);
    return Date.now() + delay <= endsAt ? delay : null;
  }

  /** One attempt; a 404 is an answer (null), and any answer proves the key works. */
  async function attempt(
    request: () => Promise<unknown>,
    batch: BatchState | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ body: unknown } | Failure | typeof ABORTED | typeof COOLING | typeof FLEET_BUSY> {
    try {
      const body = await slots.execute(async () => {
        // Checked once a slot is free, so the keys queued behind a refused key never call, nor
        // those whose caller gave up while they queued, nor those that a 429 met while they queued.
        if (batch?.keyRejected) throw batch.keyRejected;
        if (signal?.aborted) return ABORTED;
        if (cooldown.remaining() > 0) return COOLING;
        if (!options.fleet) return request();
        // The account's connections are the fleet's: a permit from Redis too, waiting at most as
        // long as a retry could.
        const release = await options.fleet.acquire(Math.min(options.retryBudgetMs, timeLeft(signal)), signal);
        if (!release) return signal?.aborted ? ABORTED : FLEET_BUSY;
        try {
          // A 429 may have come while this call waited for its permit.
          return cooldown.remaining() > 0 ? COOLING : await request();
        } finally {
          release();
        }
      });
      if (body === ABORTED || body === COOLING || body === FLEET_BUSY) return body;
      keyRefusalLogged = false;
      return { body };
    } catch (raw) {
      if (raw instanceof SourceError) return { error: raw, retry: 'never', keyRejected: false };
      const outcome = classify(raw);
      if (outcome !== 'not_found') return outcome;
      keyRefusalLogged = false;
      return { body: null };
    }
  }

  async function call(request: () => Promise<unknown>, batch?: BatchState, signal?: AbortSignal): Promise<unknown> {
    // The retry budget runs from the first failure or the first cool-down this call meets.
    let budgetEnds = Number.POSITIVE_INFINITY;
    const endsAt = () => {
      if (budgetEnds === Number.POSITIVE_INFINITY) budgetEnds = Date.now() + options.retryBudgetMs;
      return Math.min(budgetEnds, Date.now() + timeLeft(signal));
    };
    let retriedOnce = false;
    let last: Failure | undefined;
    const stop = (): never => {
      throw last ? last.error : deadlinePassed(signal!, 'email', 'Mailchimp read');
    };
    /** One attempt, once the shared cool-down allows it; its SourceErrors end the call, a `Failed` may be retried. */
    const once = async (): Promise<unknown> => {
      for (;;) {
        const cooling = cooldown.remaining();
        if (cooling > 0) {
          if (Date.now() + cooling > endsAt()) {
            throw new SourceError('email', 'rate_limited', `Mailchimp rate limit: the source is cooling down for ${cooling} ms, longer than this call can wait`, {
              retryable: true,
              retryAfterMs: cooling,
              ...(last && { cause: last.error }),
            });
          }
          await pause(cooling, signal);
          continue;
        }
        if (signal?.aborted) stop();
        const outcome = await attempt(request, batch, signal);
        if (outcome === ABORTED) stop();
        else if (outcome === COOLING) continue;
        else if (outcome === FLEET_BUSY) {
          const reason = `Mailchimp connections: all ${options.maxInFlight} of the account were in use across the fleet for longer than this call could wait`;
          throw new SourceError('email', 'rate_limited', reason, { retryable: true });
        } else if ('body' in outcome) {
          cooldown.settle();
          return outcome.body;
        } else {
          if (outcome.error.kind !== 'rate_limited') cooldown.settle();
          if (outcome.keyRejected) refused(outcome, batch);
          last = outcome;
          throw new Failed(outcome);
        }
      }
    };
    const waitAfter = (error: unknown): number | null => {
      if (!(error instanceof Failed)) return null;
      const delay = retryDelay(error.failure, retriedOnce, endsAt());
      if (delay === null) return null;
      retriedOnce ||= error.failure.retry === 'once';
      // A 429 waits in `once`, on the cool-down every call shares.
      return error.failure.retry === 'backoff' ? 0 : delay;
    };
    try {
      return await retrying(once, waitAfter, signal);
    } catch (error) {
      throw error instanceof Failed ? error.failure.error : error;
    }
  }

  return { call };
}

/** A failed attempt, classified: retried as its rule allows while time remains. */
class Failed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.error.message);
  }
}

const ABORTED = Symbol('aborted');
const COOLING = Symbol('cooling');
const FLEET_BUSY = Symbol('fleet busy');
