import { bulkhead } from 'cockatiel';
import { SourceError } from '../errors.ts';
import { classify, type Failure } from './failure.ts';

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
   * Runs one SDK call within the source's in-flight limit, retrying as the failure allows.
   * Resolves to the body, or null on 404; rejects with a SourceError.
   */
  call(request: () => Promise<unknown>, batch?: BatchState): Promise<unknown>;
}

export interface UpstreamOptions {
  /** Most SDK calls in flight at once across everything this upstream runs. */
  readonly maxInFlight: number;
  /** How long a call may keep retrying after its first failure, in ms. */
  readonly retryBudgetMs: number;
  readonly logger: MailchimpLogger;
}

const BACKOFF_BASE_MS = 50;
const BACKOFF_CAP_MS = 1_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with equal jitter: never zero, and spread so queued keys do not retry in step. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/**
 * The one door to Mailchimp. Mailchimp allows 10 simultaneous connections per account and answers
 * 429 beyond them, so every call waits for a slot of one bulkhead (unbounded queue) shared by all
 * the batch functions of a source. A retry gives its slot back while it sleeps.
 */
export function createUpstream(options: UpstreamOptions): Upstream {
  const slots = bulkhead(options.maxInFlight, Number.POSITIVE_INFINITY);
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

  function retryDelay(failure: Failure, attempt: number, retriedOnce: boolean, deadline: number): number | null {
    if (failure.retry === 'never' || (failure.retry === 'once' && retriedOnce)) return null;
    const delay = failure.retry === 'once' ? backoffMs(1) : backoffMs(attempt);
    return Date.now() + delay <= deadline ? delay : null;
  }

  /** One attempt; a 404 is an answer (null), and any answer proves the key works. */
  async function attempt(request: () => Promise<unknown>, batch?: BatchState): Promise<{ body: unknown } | Failure> {
    try {
      const body = await slots.execute(async () => {
        // Checked once a slot is free, so the keys queued behind a refused key never call.
        if (batch?.keyRejected) throw batch.keyRejected;
        return request();
      });
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

  async function call(request: () => Promise<unknown>, batch?: BatchState): Promise<unknown> {
    let deadline = Number.POSITIVE_INFINITY;
    let retriedOnce = false;
    for (let n = 0; ; n++) {
      const outcome = await attempt(request, batch);
      if ('body' in outcome) return outcome.body;
      if (outcome.keyRejected) refused(outcome, batch);
      if (n === 0) deadline = Date.now() + options.retryBudgetMs;
      const delay = retryDelay(outcome, n, retriedOnce, deadline);
      if (delay === null) throw outcome.error;
      retriedOnce ||= outcome.retry === 'once';
      await sleep(delay);
    }
  }

  return { call };
}
