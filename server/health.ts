import type { Upstreams } from '../cache/loaders.ts';
import { SourceError } from '../sources/errors.ts';

const PING_TIMEOUT_MS = 2000;

export interface SourceStatus {
  /** `not_configured`: the source has no upstream (its fields answer SOURCE_NOT_CONFIGURED). */
  readonly status: 'up' | 'down' | 'not_configured';
  readonly latencyMs: number;
  /** SourceError kind when down (timeout, unavailable, ...), never a message. */
  readonly error?: string;
  /** The source's circuit breaker: `open` means calls fail fast until a probe succeeds. */
  readonly breaker?: 'closed' | 'open' | 'half-open';
}

export interface Readiness {
  /** False only when the shop database is down: it resolves every customer, so nothing answers without it. */
  readonly ready: boolean;
  readonly sources: Record<string, SourceStatus>;
}

/** Pings every source at once, each within a short timeout, and reports its breaker. */
export async function readiness({ sources, guards }: Upstreams): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(sources).map(async ([name, source]) => {
      const status = await ping(() => source.ping());
      const guard = guards[name as keyof typeof guards];
      return [name, guard ? { ...status, breaker: guard.state } : status] as const;
    }),
  );
  const statuses = Object.fromEntries(entries);
  return { ready: statuses.commerce?.status === 'up', sources: statuses };
}

async function ping(call: () => Promise<void>): Promise<SourceStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      call(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), PING_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started);
    if (error instanceof SourceError && error.kind === 'not_configured') return { status: 'not_configured', latencyMs };
    const kind = error instanceof SourceError ? error.kind : error instanceof Error && error.message === 'timeout' ? 'timeout' : 'unavailable';
    return { status: 'down', latencyMs, error: kind };
  } finally {
    clearTimeout(timer);
  }
}
