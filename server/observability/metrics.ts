import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AnswerCache } from '../../cache/answers.ts';
import type { CallReport, FamilyObserver } from '../../cache/family.ts';
import type { BreakerState, SourceGuard } from '../../cache/guard.ts';
import { SourceError } from '../../sources/errors.ts';

/**
 * The Prometheus metrics of the process, on a registry of its own (never prom-client's global one,
 * so two servers in one process, as in the tests, do not collide). Labels are bounded by
 * construction: source and family names come from the code, outcomes from a closed list, and
 * operation names go through `OperationNames`. No label ever carries a customer id or an email.
 */
export interface MetricsOptions {
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  /** Distinct operation names labelled before the rest count as `(other)`. */
  readonly maxOperations?: number;
  /** Node.js process metrics (CPU, memory, event loop, GC); on by default. */
  readonly processMetrics?: boolean;
}

/**
 * Node.js process metrics (CPU, memory, event loop, GC) on a registry of their own, collected once
 * per process however many servers it runs: prom-client's collectors are never stopped (its GC
 * observer and event-loop histogram stay registered with Node), so collecting them per server
 * kept every stopped server's metrics alive.
 */
let processMetrics: Registry | undefined;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** What an upstream batch call came to: `ok`, `partial` (some keys failed) or why it failed. */
export type CallOutcome = 'ok' | 'partial' | SourceError['kind'] | 'error';

/** What an operation came to: `rejected` is the client's fault (4xx: parse, validation, bad input). */
export type OperationOutcome = 'ok' | 'partial' | 'rejected' | 'error';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1, 2.5, 5, 10];
const BATCH_SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Operation names come from clients: only GraphQL-looking names of at most 64 characters become
 * labels, and only the first `max` distinct ones; the rest share `(other)`, so a client inventing
 * names cannot grow the series without bound.
 */
export class OperationNames {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  label(name: string | null | undefined): string {
    if (!name) return '(anonymous)';
    if (!NAME.test(name)) return '(other)';
    if (this.seen.has(name)) return name;
    if (this.seen.size >= this.max) return '(other)';
    this.seen.add(name);
    return name;
  }
}

export class Metrics {
  readonly registry = new Registry();
  /** The process's own metrics (processRegistry), exposed after the server's; null when off. */
  private readonly processWide: Registry | null;
  readonly operationNames: OperationNames;
  private guards: Readonly<Record<string, SourceGuard>> = {};
  private answers: AnswerCache | null = null;

  private readonly calls = new Counter({
    name: 'c360_source_calls_total',
    help: 'Upstream batch calls, by source, family and outcome (ok, partial, timeout, unavailable, rate_limited, bad_response, not_configured, error). Calls the breaker or bulkhead turned away never reach the upstream and are not counted here.',
    labelNames: ['source', 'family', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly callSeconds = new Histogram({
    name: 'c360_source_call_duration_seconds',
    help: 'Duration of upstream batch calls, by source and family.',
    labelNames: ['source', 'family'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'c360_source_batch_size',
    help: 'Keys per upstream batch call, by source and family.',
    labelNames: ['source', 'family'] as const,
    buckets: BATCH_SIZES,
    registers: [this.registry],
  });
  private readonly inFlight = new Gauge({
    name: 'c360_source_in_flight',
    help: 'Upstream batch calls in flight, by source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly failedKeys = new Counter({
    name: 'c360_source_failed_keys_total',
    help: 'Keys a request could not get from a source (its error, a timeout, an open breaker), after stale-if-error; by source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly cacheLookups = new Counter({
    name: 'c360_cache_lookups_total',
    help: 'Keys looked up in the shared entity cache, by source, family and result (hit: fresh, stale: past its TTL and served, miss: read upstream).',
    labelNames: ['source', 'family', 'result'] as const,
    registers: [this.registry],
  });
  private readonly operations = new Counter({
    name: 'c360_graphql_operations_total',
    help: 'GraphQL operations, by operation name (bounded), type and outcome (ok, partial, rejected, error).',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly operationSeconds = new Histogram({
    name: 'c360_graphql_operation_duration_seconds',
    help: 'Time from the start of a GraphQL request to its response, by operation name (bounded) and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly webhooks = new Counter({
    name: 'c360_webhook_deliveries_total',
    help: 'Webhook deliveries, by webhook (hubspot, mailchimp) and outcome (applied, ignored, duplicate, unauthorized, invalid, too_large, failed).',
    labelNames: ['webhook', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly pushSignals = new Counter({
    name: 'c360_push_signals_total',
    help: 'Change signals the push hub received, by source and outcome (changed: resolved to a customer; duplicate: seen before; unresolved: about no customer; failed: the lookup failed).',
    labelNames: ['source', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly pushChangeSeconds = new Histogram({
    name: 'c360_push_change_age_seconds',
    help: "Time from a change's first signal reaching a replica to that replica's subscribers being told (re-resolution comes after).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly pushDeliveries = new Counter({
    name: 'c360_push_webhook_deliveries_total',
    help: 'Outgoing webhook delivery attempts, by outcome (delivered, retrying, dead_lettered, disabled, dropped).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  // Named and labelled as OpenTelemetry's `http.server.request.duration` comes out in Prometheus,
  // with the semantic conventions' buckets, so dashboards made for it work here.
  private readonly httpSeconds = new Histogram({
    name: 'http_server_request_duration_seconds',
    help: 'Duration of HTTP responses, every one (refused ones included), by method, route (a closed list, `(unmatched)` beyond it) and status code.',
    labelNames: ['http_request_method', 'http_route', 'http_response_status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    registers: [this.registry],
  });
  private readonly budget = new Gauge({
    name: 'c360_request_budget_seconds',
    help: 'The configured request time budget (REQUEST_BUDGET_MS), for alerts that compare latency with it.',
    registers: [this.registry],
  });

  constructor(private readonly options: MetricsOptions = {}) {
    this.operationNames = new OperationNames(options.maxOperations ?? 100);
    const guards = () => this.guards;
    new Gauge({
      name: 'c360_breaker_state',
      help: "Each source's circuit breaker: 0 closed, 1 half-open (a probe is allowed), 2 open (failing fast).",
      labelNames: ['source'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [source, guard] of Object.entries(guards())) this.set({ source }, BREAKER_VALUE[guard.state]);
      },
    });
    const answers = () => this.answers;
    new Counter({
      name: 'c360_answers_total',
      help: 'Remembered answers of repeated queries (server/answers.ts), by result (hit: a request answered from one; stored: one remembered; invalid: one found no longer holding and dropped).',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        const counts = answers()?.counts();
        this.reset();
        if (counts)
          for (const [result, count] of [
            ['hit', counts.hits],
            ['stored', counts.stored],
            ['invalid', counts.invalid],
          ] as const)
            this.inc({ result }, count);
      },
    });
    this.processWide = (options.processMetrics ?? true) ? processRegistry() : null;
  }

  /** The guards whose breaker states /metrics reports, the request budget, and the answer cache whose counts it reports (when on). */
  attach(target: { guards: Readonly<Record<string, SourceGuard>>; budgetMs: number; answers?: AnswerCache | null }): void {
    this.guards = target.guards;
    this.budget.set(target.budgetMs / 1000);
    this.answers = target.answers ?? null;
  }

  /** The cache layer's hooks: upstream calls (count, latency, batch size, in flight) and cache results. */
  readonly observer: FamilyObserver = {
    call: (call, run) =>
      run((report) => {
        if (report.failed > 0) this.failedKeys.inc({ source: call.source }, report.failed);
        if (call.cached) this.countLookups(call.family, report);
      }),
    upstream: ({ source, family, batchSize }) => {
      const labels = { source, family };
      this.inFlight.inc({ source });
      this.batchSize.observe(labels, batchSize);
      const stop = this.callSeconds.startTimer(labels);
      return (result) => {
        stop();
        this.inFlight.dec({ source });
        const outcome: CallOutcome = result.error !== undefined ? (result.error instanceof SourceError ? result.error.kind : 'error') : result.failedKeys > 0 ? 'partial' : 'ok';
        this.calls.inc({ ...labels, outcome });
      };
    },
  };

  /** One GraphQL operation answered. */
  operation(name: string, type: string, outcome: OperationOutcome, seconds: number): void {
    this.operations.inc({ operation: name, type, outcome });
    this.operationSeconds.observe({ operation: name, outcome }, seconds);
  }

  /** One HTTP response sent (labels bounded by server/observability/http.ts). */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpSeconds.observe({ http_request_method: method, http_route: route, http_response_status_code: status }, seconds);
  }

  /** One webhook delivery handled (labels from closed lists in server/webhooks.ts). */
  readonly webhook = (webhook: string, outcome: string): void => {
    this.webhooks.inc({ webhook, outcome });
  };

  /** The push hub's hooks (push/hub.ts): signals by outcome, changes by age. */
  readonly push = {
    signal: (source: string, outcome: string): void => void this.pushSignals.inc({ source, outcome }),
    change: (_change: unknown, ageMs: number): void => this.pushChangeSeconds.observe(ageMs / 1000),
    delivery: (outcome: string): void => void this.pushDeliveries.inc({ outcome }),
  };

  /** GET /metrics: the text exposition format, behind the bearer token when one is configured. */
  readonly handler: RequestHandler = async (req, res) => {
    if (this.options.token && !bearerMatches(req.get('authorization'), this.options.token)) {
      res.status(401).set('www-authenticate', 'Bearer realm="metrics"').json({ error: 'send METRICS_TOKEN as a bearer token' });
      return;
    }
    res.set('content-type', this.registry.contentType).set('cache-control', 'no-store');
    const own = await this.registry.metrics();
    res.end(this.processWide ? own + (await this.processWide.metrics()) : own);
  };

  private countLookups(family: string, report: CallReport): void {
    // Misses are the keys that went upstream: live ones, and the failed ones not rescued by stale-if-error.
    const misses = report.keys - report.cached - report.stale;
    if (report.cached > 0) this.cacheLookups.inc({ source: report.source, family, result: 'hit' }, report.cached);
    if (report.stale > 0) this.cacheLookups.inc({ source: report.source, family, result: 'stale' }, report.stale);
    if (misses > 0) this.cacheLookups.inc({ source: report.source, family, result: 'miss' }, misses);
  }
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
