import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import type { Fault } from './catalog.ts';

/** One cell of the table: a fault on a target, measured over every response of its run. */
export interface CellResult {
  readonly fault: Fault;
  readonly responses: number;
  /** Responses that started while the fault was in force. */
  readonly duringFault: number;
  /** Responses during the fault where some faulty source did not answer (0: the fault went unseen). */
  readonly affected: number;
  /** Share (0..1) of complete, error-free answers before the fault (a control: below 1, the machine or set-up is at fault). */
  readonly healthyBefore: number;
  /** Share (0..1) of responses where every field of every source not under fault answered. */
  readonly othersAnswered: number;
  /** Share (0..1) of responses whose errors are all typed and name a faulty source. */
  readonly typedErrors: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly budgetMs: number;
  /** Calls the faulty source(s) received during the fault window, and the most allowed (null: not applicable). */
  readonly calls: number | null;
  readonly batchCalls: number | null;
  readonly callBound: number | null;
  /** From the fault's removal to the first response of the final run of complete answers; null: never. */
  readonly recoveryMs: number | null;
  readonly recoveryBoundMs: number;
  readonly unhandled: number;
  /** What did not hold again after recovery (server alive, cache in use); empty when all did. */
  readonly afterRecovery: readonly string[];
  /** Heap used after GC: after recovery minus before the fault, same server. */
  readonly heapGrowthMb: number;
  /** Requests answered from a remembered answer (server/answers.ts) during the run. */
  readonly remembered: number;
  /** Responses that called some source's data fresh although it was older than the TTL (must be 0). */
  readonly freshPastTtl: number;
  /** The assertions it fails (empty: the cell passes). */
  readonly failed: readonly string[];
  /** A few examples of what went wrong, for the notes. */
  readonly examples: readonly string[];
}

const pct = (share: number) => (Number.isNaN(share) ? '-' : `${(share * 100).toFixed(share === 1 ? 0 : 1)}%`);
const ms = (value: number | null) => (value === null ? 'never' : `${Math.round(value)}`);

export function markdown(cells: readonly CellResult[], settings: Record<string, string>, notes: readonly string[]): string {
  const lines = [
    '# Fault suite: latest results',
    '',
    `Run ${new Date().toISOString()} on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), Node ${process.version}.`,
    `Written by \`test/faults/faults.test.ts\` (runs when TEST_DATABASE_URL and REDIS_URL are set).`,
    '',
    `Settings: ${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    '',
    '| target | fault | responses (during fault / affected) | complete before fault | others answered | typed errors | p99 / max / budget ms | calls to faulty source (server batches) / bound | recovery ms / bound | remembered answers (fresh past TTL) | unhandled | heap growth MB | verdict |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...cells
      .map((c) =>
        [
          c.fault.target,
          c.fault.kind,
          `${c.responses} (${c.duringFault} / ${c.affected})`,
          pct(c.healthyBefore),
          pct(c.othersAnswered),
          pct(c.typedErrors),
          `${ms(c.p99Ms)} / ${ms(c.maxMs)} / ${c.budgetMs}`,
          c.callBound === null ? '-' : `${c.calls} (${c.batchCalls}) / ${c.callBound}`,
          `${ms(c.recoveryMs)} / ${c.recoveryBoundMs}`,
          `${c.remembered} (${c.freshPastTtl})`,
          String(c.unhandled),
          c.heapGrowthMb.toFixed(1),
          c.failed.length === 0 ? 'pass' : `FAIL: ${c.failed.join('; ')}`,
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
    '',
    ...notes.map((note) => `- ${note}`),
    '',
    '## Examples of failed responses',
    '',
    ...cells.filter((c) => c.examples.length > 0).flatMap((c) => [`- ${c.fault.target} ${c.fault.kind}: ${c.examples.join(' | ')}`]),
    '',
  ];
  return lines.join('\n');
}

export async function writeResults(text: string): Promise<string> {
  const dir = new URL('../../bench/results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL('faults-latest.md', dir);
  await writeFile(file, text);
  return file.pathname;
}
