import type { ContractCheck, ContractFinding } from '../sources/contract.ts';
import { SourceError, type SourceName } from '../sources/errors.ts';

/** Where findings go: pino's `(obj, msg)` signature. */
export interface ContractLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ContractCheckOptions {
  /** Longest one source's check may take before it counts as "could not be checked: timeout". */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Runs every source's contract check at once, each bounded by `timeoutMs`, and logs each finding
 * once (warn or error, by severity). A source whose check rejects or runs out of time is one
 * warning, "could not be checked: <kind>": an upstream down at start-up says nothing about its
 * contract, and readiness reports it. Resolves with all findings, errors first, then by source
 * (in the order of `sources`); never rejects.
 */
export async function checkContracts(
  sources: Readonly<Partial<Record<SourceName, ContractCheck>>>,
  logger: ContractLogger,
  options: ContractCheckOptions = {},
): Promise<ContractFinding[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const entries = Object.entries(sources).filter((entry): entry is [SourceName, ContractCheck] => entry[1] !== undefined);
  const perSource = await Promise.all(entries.map(([name, source]) => checkOne(name, source, timeoutMs)));
  const findings = perSource.flat().sort((a, b) => rank(a) - rank(b));
  for (const finding of findings) {
    const log = finding.severity === 'error' ? logger.error : logger.warn;
    log.call(logger, { source: finding.source, contract: finding.severity }, finding.message);
  }
  return findings;
}

async function checkOne(name: SourceName, source: ContractCheck, timeoutMs: number): Promise<ContractFinding[]> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SourceError(name, 'timeout', `no contract answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(() => source.checkContract()), timedOut]);
  } catch (error) {
    // A SourceError's kind is safe to show; anything else is a bug of ours, named only by its class.
    const kind = error instanceof SourceError ? error.kind : 'unexpected error';
    return [{ source: name, severity: 'warning', message: `could not be checked: ${kind}` }];
  } finally {
    clearTimeout(timer);
  }
}

const rank = (finding: ContractFinding) => (finding.severity === 'error' ? 0 : 1);

const LABEL = { error: 'error  ', warning: 'warning' } as const;

/**
 * The findings as a block for the console: a headline with the counts, then one line per finding
 * (severity, source, message), in the order given.
 */
export function formatFindings(findings: readonly ContractFinding[]): string {
  if (findings.length === 0) return 'Contract check: every source meets its contract.';
  const count = (severity: ContractFinding['severity'], noun: string) => {
    const n = findings.filter((f) => f.severity === severity).length;
    return `${n} ${noun}${n === 1 ? '' : 's'}`;
  };
  const width = Math.max(...findings.map((f) => f.source.length));
  const lines = findings.map((f) => `  ${LABEL[f.severity]}  ${f.source.padEnd(width)}  ${f.message}`);
  return [`Contract check: ${count('error', 'error')}, ${count('warning', 'warning')}`, ...lines].join('\n');
}
