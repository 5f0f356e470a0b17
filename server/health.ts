import type { BreakerState } from '../cache/guard.ts';
import type { Upstreams } from '../cache/loaders.ts';
import type { ContractFinding } from '../sources/contract.ts';
import { SourceError, type SourceName } from '../sources/errors.ts';
import { observationOf, SourceHealth, type Observation } from './source-health.ts';

const DEFAULT_PROBE_INTERVAL_MS = 15_000;
const DEFAULT_PROBE_TIMEOUT_MS = 2000;

export type SourceStatus = 'up' | 'down' | 'degraded' | 'not_configured';

/** One source in the readiness report. */
export interface SourceReadiness {
  /**
   * `up`: its last call (or probe) answered. `degraded`: it answers, with less (rate limited, a
   * half-open breaker, a contract error). `down`: its breaker is open or its last call failed; its
   * fields answer SOURCE_UNAVAILABLE / SOURCE_TIMEOUT while the rest of a customer answers.
   * `not_configured`: no upstream (its fields answer SOURCE_NOT_CONFIGURED).
   */
  readonly status: SourceStatus;
  readonly breaker: BreakerState;
  /** When the last real upstream call settled (ISO 8601), null when none since start. */
  readonly lastCallAt: string | null;
  /** The SourceError kind of the failed call or probe the status rests on; never a message. */
  readonly lastError?: string;
  /** What the status rests on: a real call, this server's own probe, or the open breaker. */
  readonly basis: 'call' | 'probe' | 'breaker';
  /** Why the status is not `up`, in words an operator can act on. */
  readonly reason?: string;
}

/** The shared cache as its store reports it, e.g. `{ kind: 'redis', state: 'down', since }`. */
export interface CacheHealth {
  readonly kind: string;
  readonly state: string;
  readonly since?: number;
}

export interface ReadinessWarning {
  readonly source: SourceName | 'cache';
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** GET /readyz. */
export interface ReadinessReport {
  /**
   * `ready`: every configured source is up. `degraded` (HTTP 200): some source is down, degraded or
   * behind an open breaker, or the cache is down; the server still answers partially.
   * `not_ready` (HTTP 503): no configured source can answer at all.
   */
  readonly status: 'ready' | 'degraded' | 'not_ready';
  readonly sources: Record<SourceName, SourceReadiness>;
  readonly cache: CacheHealth;
  /** Contract findings of the sources (a missing event table...) and a down cache. */
  readonly warnings: readonly ReadinessWarning[];
}

export interface ReadinessOptions {
  readonly upstreams: Pick<Upstreams, 'sources' | 'guards' | 'store'>;
  /**
   * The last real call of each source. Without one (or when the upstreams were built without its
   * observer), readiness rests on its probes alone.
   */
  readonly sourceHealth?: SourceHealth;
  /** A source whose last call or probe is older than this is probed, at most once per interval. */
  readonly probeIntervalMs?: number;
  readonly probeTimeoutMs?: number;
  /** The sources' contract findings (start-up checks); shown in `warnings`. */
  readonly findings?: () => readonly ContractFinding[];
  /** The shared cache's health; by default the store's own `health()`, when it has one. */
  readonly cacheHealth?: () => CacheHealth;
}

/**
 * Readiness that costs the upstreams nothing on a busy server: each source's status comes from its
 * breaker and its last real call. Only a source with no call (and no probe) within the interval is
 * probed, once per interval however many /readyz requests come in: concurrent requests share the
 * probe in flight, later ones its cached result. An open breaker is never probed. /readyz is
 * unauthenticated, so its cost to a quota-limited upstream (HubSpot's rate limiter) must not grow
 * with its request rate.
 */
export class Readiness {
  private readonly sourceHealth: SourceHealth;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly probes = new Map<SourceName, Observation>();
  private readonly probing = new Map<SourceName, Promise<Observation>>();

  constructor(private readonly options: ReadinessOptions) {
    this.sourceHealth = options.sourceHealth ?? new SourceHealth();
    this.intervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.timeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  }

  /** The report; waits only for a probe a source needs (at most the probe timeout). Never throws. */
  async report(): Promise<ReadinessReport> {
    const names = Object.keys(this.options.upstreams.sources) as SourceName[];
    const findings = this.findings();
    const statuses = await Promise.all(names.map((name) => this.source(name, findings)));
    const sources = Object.fromEntries(names.map((name, i) => [name, statuses[i]!])) as Record<SourceName, SourceReadiness>;
    const cache = this.cache();
    const warnings: ReadinessWarning[] = findings.map(({ source, severity, message }) => ({ source, severity, message }));
    if (cache.state === 'down') {
      warnings.push({ source: 'cache', severity: 'warning', message: `the shared cache (${cache.kind}) is down: entries come from this process's copy or the sources` });
    }
    const configured = statuses.filter((s) => s.status !== 'not_configured');
    const answering = configured.filter((s) => s.status === 'up' || s.status === 'degraded');
    const status = answering.length === 0 ? 'not_ready' : configured.some((s) => s.status !== 'up') || cache.state === 'down' ? 'degraded' : 'ready';
    return { status, sources, cache, warnings };
  }

  private async source(name: SourceName, findings: readonly ContractFinding[]): Promise<SourceReadiness> {
    const breaker: BreakerState = this.options.upstreams.guards[name]?.state ?? 'closed';
    const call = this.sourceHealth.lastCall(name);
    const lastCallAt = call ? new Date(call.at).toISOString() : null;
    if (breaker === 'open') {
      return {
        status: 'down',
        breaker,
        lastCallAt,
        ...(call?.error && { lastError: call.error }),
        basis: 'breaker',
        reason: 'circuit breaker open after repeated failures: calls fail fast until a trial call succeeds',
      };
    }
    const probe = this.probes.get(name);
    const latest = call && (!probe || call.at >= probe.at) ? { ...call, basis: 'call' as const } : probe && { ...probe, basis: 'probe' as const };
    const fresh = latest && Date.now() - latest.at < this.intervalMs ? latest : { ...(await this.probe(name)), basis: 'probe' as const };
    const contractError = findings.find((f) => f.source === name && f.severity === 'error');
    return judge(fresh, { breaker, lastCallAt, contractError: contractError?.message });
  }

  /** One probe of `name` at a time; its result stands for the interval. */
  private probe(name: SourceName): Promise<Observation> {
    const running = this.probing.get(name);
    if (running) return running;
    const source = this.options.upstreams.sources[name];
    const started = withTimeout(
      Promise.resolve().then(() => source.ping()),
      this.timeoutMs,
      name,
    )
      .then(
        () => observationOf({}, Date.now()),
        (error: unknown) => observationOf({ error }, Date.now()),
      )
      .then((observation) => {
        this.probes.set(name, observation);
        this.probing.delete(name);
        return observation;
      });
    this.probing.set(name, started);
    return started;
  }

  private findings(): readonly ContractFinding[] {
    try {
      return this.options.findings?.() ?? [];
    } catch {
      return [];
    }
  }

  private cache(): CacheHealth {
    const store = this.options.upstreams.store as { health?: () => CacheHealth } | null;
    try {
      return this.options.cacheHealth?.() ?? store?.health?.() ?? (store ? { kind: 'unknown', state: 'up' } : { kind: 'off', state: 'off' });
    } catch {
      return { kind: 'unknown', state: 'unknown' };
    }
  }
}

function judge(
  observation: Observation & { basis: 'call' | 'probe' },
  { breaker, lastCallAt, contractError }: { breaker: BreakerState; lastCallAt: string | null; contractError: string | undefined },
): SourceReadiness {
  const base = { breaker, lastCallAt, basis: observation.basis };
  const { error } = observation;
  if (error === 'not_configured') return { status: 'not_configured', ...base, lastError: error, reason: 'no upstream configured' };
  if (error === 'rate_limited') {
    return { status: 'degraded', ...base, lastError: error, reason: `the last ${observation.basis} was rate limited: calls wait or fail until the limit resets` };
  }
  if (error) return { status: 'down', ...base, lastError: error, reason: `the last ${observation.basis} failed (${error})` };
  if (breaker === 'half-open') return { status: 'degraded', ...base, reason: 'circuit breaker half-open: the next call is a trial' };
  if (contractError) return { status: 'degraded', ...base, reason: contractError };
  return { status: 'up', ...base };
}

function withTimeout(call: Promise<void>, timeoutMs: number, source: SourceName): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SourceError(source, 'timeout', 'readiness probe did not answer in time')), timeoutMs);
  });
  // A late failure of the probe itself is no one's now.
  call.catch(() => undefined);
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}
