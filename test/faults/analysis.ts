import type { Config } from '../../server/config.ts';
import type { SourceName } from '../../sources/errors.ts';
import { callBound, READS_THROUGH, type Fault } from './catalog.ts';
import { percentile, SOURCES, TYPED_CODES, type Sample } from './load.ts';
import type { CellResult } from './report.ts';
import type { Counts } from './world.ts';

/** What one cell's run recorded, for `analyze`. Times are ms on the load's clock. */
export interface Run {
  readonly fault: Fault;
  readonly samples: readonly Sample[];
  readonly injectedAt: number;
  readonly removedAt: number;
  /** Upstream requests received, and server batch calls made, at injection and at removal. */
  readonly received: { readonly before: Counts; readonly after: Counts };
  readonly batches: { readonly before: Counts; readonly after: Counts };
  readonly config: Config;
  readonly clients: number;
  /** What did not hold again after recovery (server alive, cache in use). */
  readonly afterRecovery: readonly string[];
  readonly unhandled: number;
  /** Heap used after GC, after recovery minus before the fault, with the same server running. */
  readonly heapGrowthMb: number;
  readonly lastLog: string | undefined;
  /** Requests the server answered from a remembered answer during the run (its c360_answers_total hits). */
  readonly remembered: number;
}

export interface Criteria {
  /** A response may end this long after the budget. */
  readonly latencyMarginMs: number;
  /** Recovery may take the cool-down, any Retry-After, the budget and this. */
  readonly recoverySlackMs: number;
  /** Complete answers in a row that count as recovered. */
  readonly recoveredStreak: number;
  readonly maxRecoveryMs: number;
  readonly maxHeapGrowthMb: number;
}

/** Every source answered every field, without a single error. */
export const complete = (s: Sample): boolean => !s.failure && s.errors.length === 0 && SOURCES.every((source) => s.answered.has(source));

/**
 * From `removedAt`, when the final run of complete answers began (0: no incomplete answer after
 * removal); null while that run is shorter than `streak` answers.
 */
export function recovery(samples: readonly Sample[], removedAt: number, streak: number): number | null {
  const after = samples.filter((s) => s.startedAt >= removedAt).sort((a, b) => a.startedAt - b.startedAt);
  let start = 0;
  after.forEach((s, i) => {
    if (!complete(s)) start = i + 1;
  });
  if (after.length - start < streak) return null;
  return start === 0 ? 0 : after[start]!.startedAt - removedAt;
}

/** A response in a line: what is missing, and its errors, those naming a source not under fault first. */
function describe(s: Sample, faulty: ReadonlySet<string>): string {
  if (s.failure) return `${s.failure} after ${Math.round(s.ms)} ms`;
  const missing = SOURCES.filter((source) => !s.answered.has(source));
  const ordered = [...s.errors].sort((a, b) => Number(faulty.has(a.source)) - Number(faulty.has(b.source)));
  const errors = [...new Set(ordered.map((e) => `${e.code}/${e.source}@${e.path}`))];
  return `missing ${missing.join(',') || 'none'}; ${errors.length} errors: ${errors.slice(0, 3).join(', ') || 'none'} (after ${Math.round(s.ms)} ms)`;
}

/** One cell of the table from its run: the shares, latencies, calls and recovery, and what fails. */
export function analyze(run: Run, criteria: Criteria): CellResult {
  const { fault, samples, injectedAt, removedAt, config } = run;
  const budgetMs = config.REQUEST_BUDGET_MS;
  const faulty = new Set<SourceName>(fault.faulty);
  const excused = new Set(SOURCES.filter((s) => faulty.has(s) || (READS_THROUGH[s] ?? []).some((t) => faulty.has(t))));
  const others = SOURCES.filter((s) => !excused.has(s));
  const othersOk = (s: Sample) => !s.failure && others.every((source) => s.answered.has(source));
  const typedOk = (s: Sample) => !s.failure && s.errors.every((e) => TYPED_CODES.has(e.code) && faulty.has(e.source as SourceName));
  const inFault = samples.filter((s) => s.startedAt >= injectedAt && s.startedAt < removedAt);
  // Answered before the fault began: a request in flight at that moment may see it.
  const before = samples.filter((s) => s.startedAt + s.ms < injectedAt);
  const affected = inFault.filter((s) => [...faulty].some((source) => !s.answered.has(source))).length;
  const sum = (counts: Counts) => [...faulty].reduce((n, source) => n + counts[source], 0);
  const calls = sum(run.received.after) - sum(run.received.before);
  const batchCalls = sum(run.batches.after) - sum(run.batches.before);
  // A fault the source absorbed (no response saw it) is ordinary traffic: held to the per-request bound.
  const scope = affected === 0 ? 'partial' : fault.scope;
  const window = { ms: removedAt - injectedAt, requests: inFault.length, clients: run.clients };
  const bound = faulty.size === 0 ? null : [...faulty].reduce((n, source) => n + callBound(scope, source, config, window), 0);
  const recoveredIn = recovery(samples, removedAt, criteria.recoveredStreak);
  const recoveryBoundMs = config.BREAKER_COOLDOWN_MS + (fault.extraRecoveryMs ?? 0) + budgetMs + criteria.recoverySlackMs;
  const share = (ok: (s: Sample) => boolean) => (samples.length === 0 ? NaN : samples.filter(ok).length / samples.length);
  const latencies = samples.map((s) => s.ms);
  const cell = {
    fault,
    responses: samples.length,
    duringFault: inFault.length,
    affected,
    healthyBefore: before.length === 0 ? NaN : before.filter(complete).length / before.length,
    othersAnswered: share(othersOk),
    typedErrors: share(typedOk),
    p99Ms: percentile(latencies, 99),
    maxMs: Math.max(0, ...latencies),
    budgetMs,
    calls: bound === null ? null : calls,
    batchCalls: bound === null ? null : batchCalls,
    callBound: bound,
    recoveryMs: recoveredIn,
    recoveryBoundMs,
    unhandled: run.unhandled,
    afterRecovery: run.afterRecovery,
    heapGrowthMb: run.heapGrowthMb,
    remembered: run.remembered,
    freshPastTtl: samples.filter((s) => s.freshPastTtl.length > 0).length,
  };
  const failed = [
    cell.othersAnswered < 1 && `others answered in ${(cell.othersAnswered * 100).toFixed(1)}%`,
    cell.typedErrors < 1 && `untyped or misattributed errors in ${(100 - cell.typedErrors * 100).toFixed(1)}%`,
    cell.maxMs > budgetMs + criteria.latencyMarginMs && `slowest ${Math.round(cell.maxMs)} ms`,
    bound !== null && Math.max(calls, batchCalls) > bound && `${Math.max(calls, batchCalls)} calls > ${bound}`,
    recoveredIn === null ? `not recovered within ${criteria.maxRecoveryMs} ms` : recoveredIn > recoveryBoundMs && `recovered in ${Math.round(recoveredIn)} ms`,
    run.unhandled > 0 && `${run.unhandled} unhandled`,
    !(run.heapGrowthMb < criteria.maxHeapGrowthMb) && `heap grew ${run.heapGrowthMb.toFixed(1)} MB`,
    cell.freshPastTtl > 0 && `${cell.freshPastTtl} responses called data fresh past its TTL`,
    ...run.afterRecovery,
  ].filter((f): f is string => typeof f === 'string');
  const examples = [
    ...[...new Set(samples.filter((s) => !othersOk(s) || !typedOk(s)).map((s) => describe(s, faulty)))].slice(0, 3),
    ...samples
      .filter((s) => s.freshPastTtl.length > 0)
      .slice(0, 2)
      .map((s) => `${s.freshPastTtl.join(', ')} called fresh past the TTL at ${Math.round(s.startedAt)} ms`),
    ...[...new Set(before.filter((s) => !complete(s)).map((s) => `before the fault: ${describe(s, faulty)}`))].slice(0, 2),
    ...(recoveredIn === null
      ? samples
          .filter((s) => s.startedAt >= removedAt && !complete(s))
          .slice(-2)
          .map((s) => `${Math.round(s.startedAt - removedAt)} ms after removal: ${describe(s, faulty)}`)
      : []),
    ...(failed.length > 0 && run.lastLog ? [`last log: ${run.lastLog.slice(0, 200)}`] : []),
  ];
  return { ...cell, failed, examples };
}
