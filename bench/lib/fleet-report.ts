import type { FleetStandInCounts } from './fleet-standins.ts';
import type { ServerStat } from './fleet-haproxy.ts';
import type { OpenLoopResult } from './fleet-load.ts';
import { ms, pct, type machineFacts } from './harness.ts';
import type { LoadResult } from './load-worker.ts';

/** One cold-rate run: the open loop's result and what HubSpot's stand-in saw meanwhile. */
export interface ColdRateRow extends OpenLoopResult {
  readonly hubspot: FleetStandInCounts;
}

/** One closed-loop run through HAProxy and the stand-ins' counts over it. */
export interface ClosedLoopRow {
  readonly result: LoadResult;
  readonly hubspot: FleetStandInCounts;
}

/** Everything bench/fleet.ts writes to fleet-latest.json. */
export interface FleetResults {
  /** The run's settings (bench/fleet.ts), its URLs left out. */
  readonly settings: { readonly customers: number; readonly webDays: number; readonly hubspotMs: number; readonly mailchimpMs: number } & Record<string, unknown>;
  hubspotLimit?: { max: number; intervalMs: number } | null;
  facts?: { startedAt: Date; durationSeconds: number; machine: ReturnType<typeof machineFacts> };
  coldRate?: ColdRateRow[];
  throughput?: Array<{ replicas: number; cold: ClosedLoopRow; warm: ClosedLoopRow; perServer: ServerStat[] }>;
  invalidation?: {
    sentTo: string;
    cleared: string[];
    errors: string[];
    before: Record<string, number>;
    afterOrderCached: Record<string, number>;
    afterEviction: Record<string, number>;
    afterEvictionMs: number;
    oneSecondLater: Record<string, number>;
  };
  kill?: OpenLoopResult & { victim: string; inFlightOnVictim: number; failedStartedMsAfterKill: number[]; perServer: ServerStat[] };
}

const codes = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ') || '-';
const average = (values: readonly number[]) => (values.length === 0 ? '-' : (values.reduce((a, b) => a + b, 0) / values.length).toFixed(1));

/** The report: configuration, then a table per scenario that ran. */
export function fleetReport(results: FleetResults): string {
  const machine = results.facts?.machine;
  const limit = results.hubspotLimit ? `${results.hubspotLimit.max} per ${results.hubspotLimit.intervalMs / 1000} s (rolling)` : 'none';
  const lines = [
    `# Fleet benchmark (${results.facts?.startedAt.toISOString() ?? ''})`,
    '',
    `Machine: ${machine?.cpus} x ${machine?.cpuModel}, ${machine?.memoryGb} GB, Node ${machine?.node}; load average ${machine?.loadAverage.map((l) => l.toFixed(2)).join(' -> ')} ` +
      `(other work on the machine shows there); ${machine?.database}. Run took ${Math.round(results.facts?.durationSeconds ?? 0)} s.`,
    `Servers: server/main.ts (Node's own type stripping, --experimental-transform-types), one Node process each, NODE_ENV=production as the image sets it, every setting at its default except DATABASE_URL, ` +
      'HUBSPOT_ACCESS_TOKEN/BASE_URL and MAILCHIMP_API_KEY/LIST_ID/BASE_URL (the stand-ins) and API_KEYS (an admin key, and a load key whose cost budget is raised); the fleet scenarios add REDIS_URL.',
    `Stand-ins: HubSpot limit ${limit}, ${results.settings.hubspotMs} ms latency; Mailchimp 10 connections, ${results.settings.mailchimpMs} ms. ` +
      `Shop: ${results.settings.customers.toLocaleString('en')} customers, ${results.settings.webDays} days of web events.`,
    '',
  ];
  if (results.coldRate?.length) {
    lines.push(
      '## New customers at a fixed rate (one replica, no Redis, open loop)',
      '',
      '| new customers/s | s | requests | with CRM errors | CRM error codes | other errors | no answer | HubSpot calls | peak calls / 10 s | HubSpot 429s | contacts per call (mean, max) | p50 ms | p95 ms | p99 ms |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...results.coldRate.map(
        (row) =>
          `| ${row.rate} | ${row.seconds} | ${row.requests} | ${row.crmFailures} (${pct(row.crmFailures, row.requests)}) | ${codes(row.crmCodes)} | ${codes(row.otherCodes)} | ${row.failed} | ` +
          `${row.hubspot.hubspot} | ${row.hubspot.peakPerWindow} | ${row.hubspot.hubspot429} | ${average(row.hubspot.contactsPerCall)}, ${Math.max(0, ...row.hubspot.contactsPerCall)} | ` +
          `${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} |`,
      ),
      '',
    );
  }
  if (results.throughput?.length) {
    const one = results.throughput.find((row) => row.replicas === 1);
    lines.push(
      '## Replicas behind HAProxy (one Redis, closed loop, 20 connections)',
      '',
      '| replicas | run | requests | req/s | x one replica | p50 ms | p99 ms | non-2xx or no answer | responses with errors | HubSpot calls | peak calls / 10 s | HubSpot 429s | Mailchimp 429s |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of results.throughput) {
      for (const [run, { result, hubspot }] of [
        ['cold', row.cold],
        ['warm', row.warm],
      ] as const) {
        const base = one?.[run].result.rps;
        lines.push(
          `| ${row.replicas} | ${run} | ${result.requests} | ${result.rps.toFixed(0)} | ${base ? (result.rps / base).toFixed(2) : '-'} | ${ms(result.p50)} | ${ms(result.p99)} | ${result.non2xx + result.timeouts} | ` +
            `${result.withErrors} ${result.withErrors ? `(${codes(result.errorCodes)})` : ''} | ${hubspot.hubspot} | ${hubspot.peakPerWindow} | ${hubspot.hubspot429} | ${hubspot.mailchimp429} |`,
        );
      }
    }
    lines.push(
      '',
      `Requests per replica (HAProxy's count, cold and warm): ${results.throughput.map((row) => `${row.replicas} replica(s): ${row.perServer.map((s) => `${s.name} ${s.total}`).join(', ')}`).join('; ')}.`,
      '',
    );
  }
  if (results.invalidation) {
    const inv = results.invalidation;
    const replicas = Object.keys(inv.before);
    lines.push(
      `## Invalidation (forgetCustomer sent to replica ${inv.sentTo}; orderCount read from each replica directly)`,
      '',
      `| step | ${replicas.join(' | ')} |`,
      `|---|${replicas.map(() => '---').join('|')}|`,
      `| cached | ${replicas.map((r) => inv.before[r]).join(' | ')} |`,
      `| after an order placed in the shop | ${replicas.map((r) => inv.afterOrderCached[r]).join(' | ')} |`,
      `| right after forgetCustomer (all read within ${inv.afterEvictionMs} ms) | ${replicas.map((r) => inv.afterEviction[r]).join(' | ')} |`,
      `| 1 s later | ${replicas.map((r) => inv.oneSecondLater[r]).join(' | ')} |`,
      '',
      `forgetCustomer cleared: ${inv.cleared.join(', ') || '-'}${inv.errors.length ? `; errors: ${inv.errors.join(', ')}` : ''}.`,
      '',
    );
  }
  if (results.kill) {
    const k = results.kill;
    const stat = k.perServer.find((s) => s.name === k.victim);
    lines.push(
      `## One replica killed under load (SIGKILL to ${k.victim}, three replicas, ${k.rate} warm requests/s for ${k.seconds} s)`,
      '',
      '| requests | failed (no answer) | in flight on the killed replica | HAProxy retries / redispatches for it | errors | p50 ms | p99 ms | max ms |',
      '|---|---|---|---|---|---|---|---|',
      `| ${k.requests} | ${k.failed} | ${k.inFlightOnVictim} | ${stat?.retries ?? '-'} / ${stat?.redispatches ?? '-'} | ${codes({ ...k.crmCodes, ...k.otherCodes })} | ${ms(k.p50)} | ${ms(k.p99)} | ${ms(k.max)} |`,
      '',
      k.failed ? `Failed requests started at (ms from the kill): ${k.failedStartedMsAfterKill.join(', ')}.` : '',
      '',
    );
  }
  return lines.join('\n');
}
