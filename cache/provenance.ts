import type { SourceName } from '../sources/errors.ts';
import type { PlanReport } from '../audiences/planner.ts';
import type { CallReport } from './family.ts';

/**
 * Per source, what one response's data is made of: the CallReport counts summed over the request's
 * calls (ages and upstream waits: the largest), with an overall status.
 */
export type SourceProvenance = Omit<CallReport, 'source'> & {
  /**
   * `failed`: some keys could not be read (their fields carry errors); `stale`: some values are past
   * their TTL (served while refreshing, or because the source failed); `mixed`: live and cached;
   * `live`: every key read from the source now; `cached`: every key from the cache, within its TTL.
   */
  readonly status: 'live' | 'cached' | 'stale' | 'mixed' | 'failed';
  /** Batch calls made through this source's loaders. */
  readonly calls: number;
};

/** Collects the reports of one request's calls; read when the response goes out. */
export class Provenance {
  private readonly bySource = new Map<SourceName, Omit<SourceProvenance, 'status'>>();
  /** The summary since the last report: the response's extensions, its Server-Timing header and its log line read the same one. */
  private summarized: Readonly<Record<string, SourceProvenance>> | undefined;
  /** The audience plans the request ran (audiences/planner.ts), in the order they finished. */
  readonly plans: PlanReport[] = [];

  readonly recordPlan = (plan: PlanReport): void => {
    this.plans.push(plan);
  };

  readonly record = (report: CallReport): void => {
    this.summarized = undefined;
    const seen = this.bySource.get(report.source) ?? { keys: 0, live: 0, cached: 0, stale: 0, failed: 0, maxAgeMs: 0, upstreamMs: 0, calls: 0 };
    this.bySource.set(report.source, {
      keys: seen.keys + report.keys,
      live: seen.live + report.live,
      cached: seen.cached + report.cached,
      stale: seen.stale + report.stale,
      failed: seen.failed + report.failed,
      maxAgeMs: Math.max(seen.maxAgeMs, Math.round(report.maxAgeMs)),
      upstreamMs: Math.max(seen.upstreamMs, Math.round(report.upstreamMs * 10) / 10),
      calls: seen.calls + 1,
    });
  };

  /**
   * Takes a remembered answer's summary as this request's (cache/answers.ts): the same sources and
   * counts, every age grown by the time since it was made.
   */
  replay(summary: Readonly<Record<string, SourceProvenance>>, agedByMs: number): void {
    const aged = Math.round(agedByMs);
    const replayed: Record<string, SourceProvenance> = {};
    for (const source in summary) {
      const p = { ...summary[source]!, maxAgeMs: summary[source]!.maxAgeMs + aged };
      replayed[source] = p;
      this.bySource.set(source as SourceName, p);
    }
    this.summarized = replayed;
  }

  get empty(): boolean {
    return this.bySource.size === 0;
  }

  /** Per source, what the reports so far add up to: the same object until the next report. */
  summary(): Readonly<Record<string, SourceProvenance>> {
    this.summarized ??= Object.fromEntries(
      [...this.bySource].map(([source, p]) => {
        const status = p.failed > 0 ? 'failed' : p.stale > 0 ? 'stale' : p.live > 0 && p.cached > 0 ? 'mixed' : p.live > 0 ? 'live' : 'cached';
        return [source, { status, ...p }];
      }),
    );
    return this.summarized;
  }

  /** A `Server-Timing` header value: one metric per source, with its upstream wait and freshness. */
  serverTiming(): string {
    return Object.entries(this.summary())
      .map(([source, p]) => `${source};dur=${p.upstreamMs};desc="${p.status}"`)
      .join(', ');
  }
}
