import type { FamilyObserver, UpstreamResult } from '../cache/family.ts';
import { SourceError, type SourceErrorKind, type SourceName } from '../sources/errors.ts';

/** What one upstream call (a real one, or a readiness probe) came to, and when it settled. */
export interface Observation {
  /** Epoch ms when the call settled. */
  readonly at: number;
  /**
   * Absent when the call answered (some of its keys may have failed alone: that is the key's
   * business, not the source's health); otherwise why the whole call failed.
   */
  readonly error?: SourceErrorKind | 'error';
}

/**
 * The outcome and time of the last real upstream call of each source, as the cache layer reports
 * them through `FamilyObserver.upstream`. Calls the breaker or the bulkhead turned away never reach
 * the upstream and are not recorded (the breaker's state says that already). Readiness reads this
 * instead of calling the upstreams itself, so a busy server is checked for free.
 */
export class SourceHealth {
  private readonly last = new Map<SourceName, Observation>();

  /**
   * `inner` (the server's metrics and tracing) with this tracker listening as well: pass the result
   * to createUpstreams in place of `inner`. Every hook of `inner` still runs, in the same order.
   */
  watch(inner?: FamilyObserver): FamilyObserver {
    return {
      ...(inner?.call && { call: inner.call.bind(inner) }),
      upstream: (call) => {
        const end = inner?.upstream?.(call);
        return (result) => {
          end?.(result);
          this.record(call.source, result);
        };
      },
    };
  }

  /** Records a settled upstream call of `source` (the latest settled call wins). */
  record(source: SourceName, result: Pick<UpstreamResult, 'error'>, at = Date.now()): void {
    this.last.set(source, observationOf(result, at));
  }

  /** The last real upstream call of `source`, or undefined when it has made none since start. */
  lastCall(source: SourceName): Observation | undefined {
    return this.last.get(source);
  }
}

/** A settled call as an observation: the SourceError kind when the whole call failed. */
export function observationOf(result: Pick<UpstreamResult, 'error'>, at: number): Observation {
  if (result.error === undefined) return { at };
  return { at, error: result.error instanceof SourceError ? result.error.kind : 'error' };
}
