import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { TriggerName } from '../signals.ts';
import type { Endpoint, EndpointStore } from './endpoints.ts';
import type { DeliveryQueue, Leased } from './queue.ts';
import type { SelectionResult } from './selection.ts';
import { signatureHeaders } from './signing.ts';

/** What became of one attempt, for metrics. */
export interface DeliveryOutcome {
  readonly endpointId: string;
  readonly trigger: TriggerName;
  /**
   * `delivered`: answered 2xx; `retrying`: failed, another attempt is scheduled; `dead_lettered`:
   * failed its last attempt; `disabled`: answered 410, the endpoint is off; `dropped`: the endpoint
   * was removed or disabled before the attempt, nothing was sent.
   */
  readonly result: 'delivered' | 'retrying' | 'dead_lettered' | 'disabled' | 'dropped';
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  /** From taking the job to settling it. */
  readonly durationMs: number;
}

export interface DelivererOptions {
  readonly queue: DeliveryQueue;
  readonly endpoints: EndpointStore;
  readonly select: (endpoint: Endpoint, customerId: string, requestId: string) => Promise<SelectionResult>;
  readonly logger: Logger;
  /** The wait before each retry (ms): its length is the number of retries after the first attempt. */
  readonly retryScheduleMs: readonly number[];
  /** How long one POST may take, answer included. */
  readonly attemptTimeoutMs: number;
  /** The longest `Retry-After` honoured (a receiver cannot park a job for longer). */
  readonly maxRetryAfterMs: number;
  /** Deliveries in flight at once in this process. */
  readonly concurrency: number;
  /** How long an idle take waits for work (a bound on how late a due retry is noticed with Redis). */
  readonly pollMs: number;
  readonly onDelivery?: (outcome: DeliveryOutcome) => void;
}

const QUEUE_BACKOFF_MS = [100, 500, 1000, 2000, 5000];

/**
 * Takes jobs from the queue and delivers them: resolves the endpoint's selection, POSTs it signed,
 * and settles the job by the answer (2xx done, 410 disables the endpoint, anything else retried
 * per the schedule, `Retry-After` honoured, then dead-lettered). While the queue fails (Redis
 * down), it backs off and tries again; it never throws.
 */
export class Deliverer {
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(private readonly options: DelivererOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops taking jobs and waits for those in flight to settle (each within its attempt timeout). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    const { queue, logger, concurrency, pollMs } = this.options;
    let failures = 0;
    while (this.running) {
      if (this.inFlight.size >= concurrency) {
        await Promise.race(this.inFlight);
        continue;
      }
      let taken: Leased[];
      try {
        taken = await queue.take(concurrency - this.inFlight.size, pollMs);
        if (failures > 0) logger.info({ failures }, 'outgoing webhooks: the queue answers again');
        failures = 0;
      } catch (error) {
        if (failures === 0) logger.warn({ err: error }, 'outgoing webhooks: the queue failed; retrying with backoff');
        failures++;
        await sleep(QUEUE_BACKOFF_MS[Math.min(failures, QUEUE_BACKOFF_MS.length) - 1], undefined, { signal: this.stopping.signal }).catch(() => undefined);
        continue;
      }
      for (const entry of taken) {
        const delivery = this.deliver(entry).finally(() => this.inFlight.delete(delivery));
        this.inFlight.add(delivery);
      }
    }
  }

  /** One attempt for one job, settled whatever happens (a settle Redis refuses is left to be claimed again). */
  private async deliver(entry: Leased): Promise<void> {
    const { queue, endpoints, logger, retryScheduleMs, onDelivery } = this.options;
    const started = Date.now();
    const { job } = entry;
    const attempt = entry.attempts + 1;
    const log = logger.child({ webhookId: job.webhookId, endpointId: job.endpointId, attempt });
    const report = (result: DeliveryOutcome['result'], status?: number) =>
      onDelivery?.({ endpointId: job.endpointId, trigger: job.event.trigger, result, attempt, ...(status !== undefined && { status }), durationMs: Date.now() - started });
    try {
      const endpoint = await endpoints.get(job.endpointId);
      if (!endpoint || endpoint.disabledAt !== null) {
        await queue.done(entry);
        report('dropped');
        return;
      }
      const answer = await this.attempt(endpoint, entry);
      if (answer.status !== undefined && answer.status >= 200 && answer.status < 300) {
        await queue.done(entry);
        report('delivered', answer.status);
        return;
      }
      if (answer.status === 410) {
        await endpoints.put({ ...endpoint, disabledAt: Date.now() });
        await queue.done(entry);
        log.warn('outgoing webhook answered 410 Gone: endpoint disabled');
        report('disabled', 410);
        return;
      }
      const delay = retryScheduleMs[entry.attempts];
      if (delay === undefined) {
        await queue.deadLetter(entry, attempt, answer.reason);
        log.warn({ reason: answer.reason }, 'outgoing webhook failed its last attempt: dead-lettered');
        report('dead_lettered', answer.status);
        return;
      }
      const wait = Math.max(delay, Math.min(answer.retryAfterMs ?? 0, this.options.maxRetryAfterMs));
      await queue.retry(entry, attempt, Date.now() + wait);
      log.info({ reason: answer.reason, retryInMs: wait }, 'outgoing webhook failed: retrying');
      report('retrying', answer.status);
    } catch (error) {
      // The queue or the endpoint store failed (Redis down): the job stays held, and another
      // take claims it once it has been idle for the claim bound.
      log.warn({ err: error }, 'outgoing webhook could not be settled; it will be taken again');
    }
  }

  /** Resolves the selection and POSTs it; never throws for the receiver or the selection. */
  private async attempt(endpoint: Endpoint, entry: Leased): Promise<{ status?: number; retryAfterMs?: number; reason: string }> {
    const { job } = entry;
    let result: SelectionResult;
    try {
      result = await this.options.select(endpoint, job.event.customerId, job.webhookId);
    } catch (error) {
      this.options.logger.error({ err: error, webhookId: job.webhookId, endpointId: endpoint.id }, 'outgoing webhook: the selection failed');
      return { reason: 'selection failed' };
    }
    const { event } = job;
    const body = JSON.stringify({
      type: event.trigger,
      id: event.id,
      customerId: event.customerId,
      at: event.at,
      ...(event.segment !== undefined && { segment: event.segment }),
      data: result.data?.customer ?? null,
      ...(result.errors && { errors: result.errors }),
    });
    const headers = signatureHeaders(endpoint.secret, job.webhookId, Math.floor(Date.now() / 1000), body);
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'customer-360-webhooks', ...headers },
        body,
        // A redirect could send the signed body somewhere the admin never registered.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.attemptTimeoutMs),
      });
      // The body is not read: only the status counts, and an endless body must not hold the attempt.
      await response.body?.cancel();
      return { status: response.status, retryAfterMs: retryAfterMs(response.headers.get('retry-after')), reason: `HTTP ${response.status}` };
    } catch (error) {
      return { reason: (error as Error).name === 'TimeoutError' ? 'timeout' : 'network error' };
    }
  }
}

/** `Retry-After` as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
