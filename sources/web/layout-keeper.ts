import type { ContractFinding } from '../contract.ts';
import type { Queryable } from './db.ts';
import { findingsOf } from './contract.ts';
import { isEmpty, readLayout, type Layout } from './layout.ts';
import type { Expected } from './tables.ts';

/** Where the source reports drift an operator should know about. Matches pino's `(obj, msg)`. */
export interface WebLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LayoutKeeperOptions {
  readonly db: Queryable;
  readonly schema: string;
  /** What the source reads (tables.ts, with the configured consent columns). */
  readonly expected: Expected;
  /** How old a layout may get before a call starts reading the catalog again (in the background). */
  readonly refreshMs: number;
  readonly logger: WebLogger;
  /** Milliseconds, for the layout's age (tests may fix it). */
  readonly clock?: () => number;
}

/** The warehouse layout the statements are built from, kept current. */
export interface LayoutKeeper {
  /**
   * The layout to build statements from. The first call reads the catalog; later calls answer at
   * once and, when the layout is older than refreshMs, start a read in the background. While the
   * schema shows none of the tables every call reads again (a schema being created or renamed
   * back should be seen at once). Rejects with the read's SourceError only when no layout is known.
   */
  current(): Promise<Layout>;
  /** Reads the catalog now; concurrent callers share one read. Rejects with SourceError('web'). */
  refresh(): Promise<Layout>;
  /** What the last layout read differs in from tables.ts; empty before the first read. */
  findings(): readonly ContractFinding[];
}

/** Logs each finding once while it lasts: drift is a state of the warehouse, not an event per request. */
export function createLayoutKeeper(options: LayoutKeeperOptions): LayoutKeeper {
  const clock = options.clock ?? (() => performance.now());
  let known: { layout: Layout; findings: readonly ContractFinding[] } | null = null;
  let reading: Promise<Layout> | null = null;
  let readStartedAt = Number.NEGATIVE_INFINITY;
  const logged = new Set<string>();

  function report(findings: readonly ContractFinding[]): void {
    const messages = new Set(findings.map((finding) => finding.message));
    // A finding that went away (the table was created) is logged again should it come back.
    for (const message of logged) if (!messages.has(message)) logged.delete(message);
    for (const finding of findings) {
      if (logged.has(finding.message)) continue;
      logged.add(finding.message);
      const log = finding.severity === 'error' ? options.logger.error : options.logger.warn;
      log.call(options.logger, { source: 'web', drift: true }, finding.message);
    }
  }

  function refresh(): Promise<Layout> {
    if (reading) return reading;
    readStartedAt = clock();
    reading = readLayout(options.db, options.schema, options.expected)
      .then((layout) => {
        const findings = findingsOf(layout);
        known = { layout, findings };
        report(findings);
        return layout;
      })
      .finally(() => {
        reading = null;
      });
    return reading;
  }

  return {
    async current() {
      if (!known || isEmpty(known.layout)) return refresh();
      if (clock() - readStartedAt >= options.refreshMs) {
        // The statements keep the layout they have; a failed read is retried after refreshMs.
        refresh().catch(() => {});
      }
      return known.layout;
    },
    refresh,
    findings: () => known?.findings ?? [],
  };
}
