import { randomUUID } from 'node:crypto';
import { hubspotDeliveryHeaders } from '../../sandbox/hubspot/signing.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { Invalidator } from '../../cache/invalidation.ts';
import type { Upstreams } from '../../cache/loaders.ts';
import { PushHub, type SignalOutcome } from '../../push/hub.ts';
import { notifyProducer } from '../../push/shop/notify.ts';
import type { SignalSource } from '../../push/signals.ts';
import { createTriggerEvaluator, redisTriggerStateStore } from '../../push/triggers.ts';
import type { ServerOptions } from '../../server/app.ts';
import type { Config } from '../../server/config.ts';
import type { SourceName } from '../../sources/errors.ts';
import { TYPED_CODES } from './load.ts';

/** The push settings the fault world's server runs with (secrets of the intake and the two webhooks). */
export const PUSH_SETTINGS = {
  EVENT_INTAKE_SECRET: 'faults-intake-secret-0000',
  HUBSPOT_CLIENT_SECRET: 'faults-hubspot-secret',
  MAILCHIMP_WEBHOOK_SECRET: 'faults-mailchimp-secret',
} as const;

/** How many of each signal outcome the hub reported, per source, so far (monotonic). */
export type SignalCounts = Record<SignalSource, Record<SignalOutcome, number>>;

export interface FaultPush {
  readonly counts: SignalCounts;
  /** What startServer is given for push, as main.ts gives it. */
  readonly serverOptions: Pick<ServerOptions, 'push' | 'intake' | 'webhooks'>;
  stop(): Promise<void>;
}

/**
 * Push as server/main.ts's startPush composes it, for the fault world: the hub (fleet over the
 * suite's Redis) with the trigger evaluator, the shop's NOTIFY producer (on DATABASE_URL, so
 * through the shop's fault proxy), the event intake and the HubSpot/Mailchimp webhooks' signals.
 * The warehouse poll and the abandoned-cart sweep are left out: their statements would count as
 * calls to the faulty source in the cells' call bounds, and the probe causes its changes itself.
 */
export async function startFaultPush(config: Config, upstreams: Upstreams, logger: Logger): Promise<FaultPush> {
  const log = logger.child({ component: 'push' });
  const counts = Object.fromEntries(
    (['commerce', 'crm', 'email', 'web'] as const).map((source) => [source, { changed: 0, duplicate: 0, unresolved: 0, failed: 0 }]),
  ) as SignalCounts;
  const triggerRedis = new Redis(config.REDIS_URL!, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500 });
  triggerRedis.on('error', () => undefined);
  const store = redisTriggerStateStore({ redis: triggerRedis, keyPrefix: 'c360:trigger-state:', ttlMs: config.TRIGGER_STATE_TTL_DAYS * 86_400_000 });
  const hub = new PushHub({
    upstreams,
    invalidator: new Invalidator(upstreams, log),
    logger: log,
    evaluator: createTriggerEvaluator({ upstreams, store, logger: log, lapseThreshold: config.TRIGGER_LAPSE_THRESHOLD, readTimeoutMs: config.TRIGGER_READ_TIMEOUT_MS }),
    redis: { url: config.REDIS_URL! },
    coalesceMs: config.PUSH_COALESCE_MS,
    onSignal: (source, outcome) => void counts[source][outcome]++,
  });
  await hub.start();
  const producer = notifyProducer({ connectionString: config.DATABASE_URL!, logger: log });
  await producer.start(hub.emit);
  return {
    counts,
    serverOptions: {
      push: {
        feed: hub,
        perClient: config.SUBSCRIPTION_MAX_PER_CLIENT,
        perConnection: config.SUBSCRIPTION_MAX_PER_CONNECTION,
        maxPending: config.SUBSCRIPTION_MAX_PENDING,
        maxBufferedBytes: config.SUBSCRIPTION_MAX_BUFFERED_BYTES,
        keepAliveMs: config.SUBSCRIPTION_KEEPALIVE_MS,
      },
      intake: { secret: config.EVENT_INTAKE_SECRET, emit: hub.emit, analyticsCategory: config.WEB_CONSENT_ANALYTICS_CATEGORY },
      webhooks: { hubspotClientSecret: config.HUBSPOT_CLIENT_SECRET, mailchimpSecret: config.MAILCHIMP_WEBHOOK_SECRET, onSignal: hub.emit },
    },
    async stop() {
      await producer.stop();
      await hub.stop();
      triggerRedis.disconnect();
    },
  };
}

/**
 * The push probe's subscription: one customer's changes, with a part from every source. Each part
 * below needs the shop (the customer is found there by id) and its own source.
 */
export const PUSH_PROBE = `subscription PushProbe($id: ID!) {
  customerChanged(id: $id) {
    customerId kinds
    customer {
      id
      commerce { purchases { orderCount } }
      crm { lifecycleStage }
      emailMarketing { status }
      web { sessionCount }
    }
  }
}`;

const NEEDS: Record<string, readonly SourceName[]> = {
  customer: ['commerce'],
  'customer.commerce.purchases': ['commerce'],
  'customer.crm.lifecycleStage': ['commerce', 'crm'],
  'customer.emailMarketing.status': ['commerce', 'email'],
  'customer.web.sessionCount': ['commerce', 'web'],
};

/** Every part of the push probe's event. */
export const PUSH_PARTS: readonly string[] = Object.keys(NEEDS);

/** Whom the probe subscribes to, and the ids each path names them by. */
export interface PushSubject {
  readonly customerId: string;
  readonly contactId: string;
  /** A browser identified as this customer (resolving it needs the warehouse). */
  readonly anonymousId: string;
}

export interface PushTarget {
  readonly url: string;
  readonly counts: SignalCounts;
  /** Changes the customer's shop row (and back) in one transaction, on a connection that bypasses the fault proxy. */
  touchShop(customerId: string): Promise<void>;
}

interface PushEvent {
  readonly at: number;
  readonly data?: { customerChanged?: { kinds?: string[] | null } & Record<string, unknown> } | null;
  readonly errors?: ReadonlyArray<{ path?: ReadonlyArray<string | number>; extensions?: { code?: string; source?: string } }>;
}

/** What one step of the probe found: problems (empty when all held), and what happened, for the report. */
export interface PushStep {
  readonly problems: string[];
  readonly detail: string[];
  /** The parts of the last event received (the healthy run's are the baseline). */
  readonly present: Set<string>;
}

/**
 * The push probe: a graphql-ws subscriber on `customerChanged` for the subject, opened at a fault's
 * start. `during` causes changes through every path that does not need a faulty source (an intake
 * event by user id, a change of the shop row, both needing only the shop) and checks that each
 * reaches the subscriber within `boundMs`, with every part that needs no faulty source answered and
 * errors typed and naming a faulty source; then it sends a signal whose resolution needs the faulty
 * source (the shop: an intake event by user id; the warehouse: by anonymous id alone; HubSpot: a
 * contact webhook) and checks the hub counted it as failed, or delivered it (answered from the
 * cache), within `signalBoundMs`: never dropped as unresolved or not at all. `after`, once the
 * fault is removed and the load recovered, checks the same subscription still delivers a change in
 * full. Throughout, the subscription must neither error nor complete.
 */
export class PushProbe {
  private readonly events: PushEvent[] = [];
  private ended: string | null = null;
  private dispose: () => void = () => undefined;
  private constructor(
    private readonly target: PushTarget,
    private readonly subject: PushSubject,
    private readonly client: Client,
  ) {}

  static async open(target: PushTarget, subject: PushSubject): Promise<PushProbe> {
    const client = createClient({ url: `${target.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
    const connected = new Promise<void>((resolve) => {
      const off = client.on('connected', () => {
        off();
        resolve();
      });
      setTimeout(resolve, 5000).unref();
    });
    const probe = new PushProbe(target, subject, client);
    probe.dispose = client.subscribe(
      { query: PUSH_PROBE, variables: { id: subject.customerId } },
      {
        next: (value) => void probe.events.push({ at: performance.now(), ...(value as Omit<PushEvent, 'at'>) }),
        error: (error) => void (probe.ended ??= `errored: ${describe(error)}`),
        complete: () => void (probe.ended ??= 'completed'),
      },
    );
    await connected;
    return probe;
  }

  /** Under a fault of `faulty` (empty: healthy): the paths that need no faulty source, then a signal that does. */
  async during(faulty: readonly SourceName[], healthy: ReadonlySet<string>, boundMs: number, signalBoundMs: number): Promise<PushStep> {
    const step: PushStep = { problems: [], detail: [], present: new Set() };
    const commerceFaulty = faulty.includes('commerce');
    if (commerceFaulty) step.detail.push('no path without the shop');
    else {
      await this.expectEvent(step, 'intake', 'track', () => this.intake('track', { userId: this.subject.customerId }), faulty, healthy, boundMs);
      await this.expectEvent(step, 'shop', 'customer', () => this.target.touchShop(this.subject.customerId), faulty, healthy, boundMs);
    }
    const needing: Array<{ path: string; source: SignalSource; send: () => Promise<void> }> = [];
    if (commerceFaulty) needing.push({ path: 'intake by user id', source: 'web', send: () => this.intake('track', { userId: this.subject.customerId }) });
    else if (faulty.includes('web')) needing.push({ path: 'intake by anonymous id', source: 'web', send: () => this.intake('screen', { anonymousId: this.subject.anonymousId }) });
    if (faulty.includes('crm') && !commerceFaulty) needing.push({ path: 'HubSpot webhook', source: 'crm', send: () => this.hubspot() });
    for (const signal of needing) await this.expectCounted(step, signal, faulty, healthy, signalBoundMs);
    if (this.ended) step.problems.push(`the subscription ${this.ended}`);
    return step;
  }

  /** After the fault: a change still reaches the same subscription, in full. */
  async after(healthy: ReadonlySet<string>, boundMs: number): Promise<PushStep> {
    const step: PushStep = { problems: [], detail: [], present: new Set() };
    await this.expectEvent(step, 'after', 'page', () => this.intake('page', { userId: this.subject.customerId }), [], healthy, boundMs);
    if (this.ended) step.problems.push(`the subscription ${this.ended}`);
    return step;
  }

  async close(): Promise<void> {
    this.dispose();
    await this.client.dispose();
  }

  /**
   * Causes a change (again every second while none arrives: the first may come before the server
   * listens) and waits for the event naming `kind`.
   */
  private async expectEvent(step: PushStep, path: string, kind: string, cause: () => Promise<void>, faulty: readonly SourceName[], healthy: ReadonlySet<string>, boundMs: number) {
    const started = performance.now();
    const seen = this.events.length;
    let sent = 0;
    try {
      while (performance.now() - started < boundMs) {
        if (performance.now() - started >= sent * 1000) {
          sent++;
          await cause();
        }
        const event = this.events.slice(seen).find((e) => e.data?.customerChanged?.kinds?.includes(kind));
        if (event) {
          step.detail.push(`${path} ${Math.round(event.at - started)} ms`);
          step.problems.push(...this.check(event, step, faulty, healthy).map((problem) => `${path}: ${problem}`));
          return;
        }
        await sleep(20);
      }
      step.problems.push(`${path}: no event within ${boundMs} ms (${sent} sent)`);
    } catch (error) {
      step.problems.push(`${path}: could not cause the change (${describe(error)})`);
    }
  }

  /** Sends one signal whose resolution needs a faulty source and waits for the hub's verdict on it. */
  private async expectCounted(
    step: PushStep,
    signal: { path: string; source: SignalSource; send: () => Promise<void> },
    faulty: readonly SourceName[],
    healthy: ReadonlySet<string>,
    boundMs: number,
  ) {
    const counts = this.target.counts[signal.source];
    const before = { ...counts };
    const seen = this.events.length;
    const started = performance.now();
    try {
      await signal.send();
    } catch (error) {
      step.problems.push(`${signal.path}: could not send (${describe(error)})`);
      return;
    }
    while (performance.now() - started < boundMs) {
      const moved = (['failed', 'changed', 'unresolved', 'duplicate'] as const).find((outcome) => counts[outcome] > before[outcome]);
      if (moved === 'failed') return void step.detail.push(`${signal.path} counted failed`);
      if (moved === 'changed') {
        // Resolved after all (from the cache, or a partial fault that spares it): then it is delivered.
        while (this.events.length === seen && performance.now() - started < boundMs) await sleep(20);
        const event = this.events[seen];
        if (!event) return void step.problems.push(`${signal.path}: resolved but no event within ${boundMs} ms`);
        step.detail.push(`${signal.path} resolved and delivered`);
        step.problems.push(...this.check(event, step, faulty, healthy).map((problem) => `${signal.path}: ${problem}`));
        return;
      }
      if (moved) return void step.problems.push(`${signal.path}: counted ${moved}, not failed`);
      await sleep(20);
    }
    step.problems.push(`${signal.path}: no outcome counted within ${boundMs} ms (lost silently)`);
  }

  private check(event: PushEvent, step: PushStep, faulty: readonly SourceName[], healthy: ReadonlySet<string>): string[] {
    const problems: string[] = [];
    for (const error of event.errors ?? []) {
      const { code = '-', source = '-' } = error.extensions ?? {};
      if (!TYPED_CODES.has(code) || !faulty.includes(source as SourceName)) problems.push(`error ${code} from ${source} at ${(error.path ?? ['-']).join('.')}`);
    }
    const present = presentParts(event.data?.customerChanged);
    step.present.clear();
    for (const part of present) step.present.add(part);
    for (const part of healthy) {
      if (!present.has(part) && !NEEDS[part]!.some((source) => faulty.includes(source))) problems.push(`${part} missing, though it needs only healthy sources`);
    }
    return problems;
  }

  private async intake(type: string, person: { userId?: string; anonymousId?: string }): Promise<void> {
    const body = { type, messageId: `push-probe-${randomUUID()}`, timestamp: new Date().toISOString(), ...(type === 'track' && { event: 'Push Probe' }), ...person };
    const response = await fetch(`${this.target.url}/intake/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PUSH_SETTINGS.EVENT_INTAKE_SECRET}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    if (response.status !== 200) throw new Error(`intake answered ${response.status}`);
  }

  /** A signed HubSpot v3 delivery of one property change of the subject's contact. */
  private async hubspot(): Promise<void> {
    const url = `${this.target.url}/webhooks/hubspot`;
    const now = Date.now();
    const body = JSON.stringify([
      {
        eventId: now,
        subscriptionId: 1,
        portalId: 1,
        appId: 1,
        occurredAt: now,
        subscriptionType: 'contact.propertyChange',
        attemptNumber: 0,
        objectId: Number(this.subject.contactId),
        changeSource: 'CRM',
        propertyName: 'lifecyclestage',
        propertyValue: 'customer',
      },
    ]);
    const response = await fetch(url, {
      method: 'POST',
      headers: hubspotDeliveryHeaders(PUSH_SETTINGS.HUBSPOT_CLIENT_SECRET, url, body, now),
      body,
      signal: AbortSignal.timeout(5000),
    });
    if (response.status !== 200 && response.status !== 204) throw new Error(`the HubSpot webhook answered ${response.status}`);
  }
}

function presentParts(change: Record<string, unknown> | null | undefined): Set<string> {
  const present = new Set<string>();
  for (const part of PUSH_PARTS) {
    let value: unknown = change;
    for (const key of part.split('.')) value = value === null || value === undefined ? undefined : (value as Record<string, unknown>)[key];
    if (value !== null && value !== undefined) present.add(part);
  }
  return present;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 100);
  if (Array.isArray(error))
    return error
      .map((e: { message?: string }) => e.message ?? String(e))
      .join('; ')
      .slice(0, 100);
  if (error && typeof error === 'object' && 'code' in error) return `close ${(error as { code: number }).code} ${(error as { reason?: string }).reason ?? ''}`;
  return String(error).slice(0, 100);
}
