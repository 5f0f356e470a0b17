import type { LoadResult } from './load-worker.ts';
import type { TopItem } from './profile.ts';
/** One measured run: a scenario against one server at one concurrency. */
export interface Row extends Pick<LoadResult, 'requests' | 'seconds' | 'rps' | 'p50' | 'p95' | 'p99' | 'max'> {
  /** Scenario id, e.g. `single-cold`; rows of one series share it and `server`. */
  readonly scenario: string;
  readonly title: string;
  /** `c360` (this server), `c360 CACHE=off`, or `naive` (the baseline in bench/lib/naive.ts). */
  readonly server: string;
  readonly shopCustomers: number;
  readonly concurrency: number;
  /** Upstream calls per request: shop SQL statements, HubSpot requests, Mailchimp requests, warehouse SQL statements. */
  readonly perRequest: { readonly commerce: number; readonly crm: number; readonly email: number; readonly web: number };
  readonly totals: { readonly commerce: number; readonly crm: number; readonly email: number; readonly web: number };
  /** The slowest source's own latency for one request of this scenario, and p50 over it. */
  readonly idealMs: number;
  readonly ratio: number;
  /** Responses carrying GraphQL errors (by code), non-2xx answers and timeouts. */
  readonly errorResponses: number;
  readonly errorCodes: Record<string, number>;
  readonly non2xx: number;
  readonly note?: string;
  /** With BENCH_CPU_PROF=1: the server thread's CPU per request, its profile's file and top self-time items. */
  readonly cpu?: { readonly msPerRequest: number; readonly profile: string; readonly top: readonly TopItem[] };
}

export interface Results {
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string; readonly platform: string; readonly memoryGb: number };
  readonly settings: Record<string, unknown>;
  readonly rows: readonly Row[];
  readonly notes: readonly string[];
}

const ms = (value: number) => (Number.isFinite(value) ? (value >= 100 ? Math.round(value).toString() : value.toFixed(1)) : '-');
const per = (value: number) => (value === 0 ? '0' : value >= 10 ? value.toFixed(0) : value >= 0.1 ? value.toFixed(2) : value.toFixed(3));

/** The results as a Markdown table, one line per row, with the notes under it. */
export function markdown(results: Results): string {
  const header =
    '| scenario | server | shop | conc. | requests | p50 ms | p95 ms | p99 ms | req/s | shop SQL / req | HubSpot / req | Mailchimp / req | warehouse SQL / req | ideal ms | p50 / ideal | errors |\n' +
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  const lines = results.rows.map((row) => {
    const errors = row.errorResponses === 0 && row.non2xx === 0 ? '' : [`${row.errorResponses}`, codes(row.errorCodes)].filter(Boolean).join(' ');
    return `| ${row.title} | ${row.server} | ${shop(row.shopCustomers)} | ${row.concurrency} | ${row.requests} | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${row.rps.toFixed(row.rps >= 100 ? 0 : 1)} | ${per(row.perRequest.commerce)} | ${per(row.perRequest.crm)} | ${per(row.perRequest.email)} | ${per(row.perRequest.web)} | ${row.idealMs} | ${row.ratio.toFixed(2)} | ${errors} |`;
  });
  const m = results.machine;
  return [
    `Run ${results.startedAt}, ${Math.round(results.durationSeconds)} s in all, on ${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}.`,
    '',
    header,
    ...lines,
    '',
    ...results.notes.map((note) => `- ${note}`),
    '',
    ...profiles(results.rows),
  ].join('\n');
}

/** Per profiled row: the server's CPU per request and the functions with the most self time. */
function profiles(rows: readonly Row[]): string[] {
  return rows.flatMap((row) =>
    row.cpu
      ? [
          `CPU profile, ${row.title} [${row.server}] c=${row.concurrency}: server thread ${row.cpu.msPerRequest.toFixed(3)} ms CPU per request (\`${row.cpu.profile}\`)`,
          '',
          '| self ms | % of busy | function |',
          '|---:|---:|---|',
          ...row.cpu.top.map((item) => `| ${item.selfMs} | ${item.percent} | \`${item.frame}\` |`),
          '',
        ]
      : [],
  );
}

/** A shop's size as the report writes it (10k, 1M). */
export function shop(customers: number): string {
  return customers >= 1_000_000 ? `${customers / 1_000_000}M` : customers >= 1000 ? `${customers / 1000}k` : String(customers);
}

function codes(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? '' : `(${entries.map(([code, n]) => `${code} ${n}`).join(', ')})`;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/**
 * A line chart of latency by concurrency (both axes logarithmic): p50 solid and p99 dashed, one
 * color per series (a scenario on one server with two or more concurrencies), and the ideal as a
 * dotted line. Plain SVG, no library.
 */
export function svgChart(results: Results): string {
  const series = new Map<string, Row[]>();
  for (const row of results.rows) {
    const key = `${row.title} · ${row.server} · ${shop(row.shopCustomers)}`;
    series.set(key, [...(series.get(key) ?? []), row]);
  }
  const lines = [...series].filter(([, rows]) => new Set(rows.map((r) => r.concurrency)).size >= 2);
  const width = 820;
  const height = 500;
  const margin = { left: 70, right: 250, top: 40, bottom: 60 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = lines.flatMap(([, rows]) => rows);
  const concurrencies = [...new Set(all.map((r) => r.concurrency))].sort((a, b) => a - b);
  const values = all.flatMap((r) => [r.p50, r.p99]).filter((v) => v > 0 && Number.isFinite(v));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
  const cMin = Math.min(...concurrencies, 1);
  const cMax = Math.max(...concurrencies, 2);
  const x = (c: number) => margin.left + (Math.log(c / cMin) / Math.log(cMax / cMin)) * plotW;
  const y = (v: number) => margin.top + plotH - (Math.log(Math.max(v, yMin) / yMin) / Math.log(yMax / yMin)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${margin.left}" y="22" font-size="15" font-weight="bold">Latency by concurrency (p50 solid, p99 dashed, ideal dotted grey; log scales)</text>`);
  for (let v = yMin; v <= yMax; v *= 10) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${margin.left - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toFixed(1)} ms</text>`);
  }
  for (const c of concurrencies) {
    out.push(`<line x1="${x(c)}" x2="${x(c)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${x(c)}" y="${margin.top + plotH + 18}" text-anchor="middle">${c}</text>`);
  }
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 18}" text-anchor="middle">concurrent connections</text>`);
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  // Each series' ideal (what its slowest source allows at that concurrency), once per distinct curve.
  const idealCurves = new Map<string, Array<[number, number]>>();
  for (const [, rows] of lines) {
    const curve = [...rows].sort((a, b) => a.concurrency - b.concurrency).map((r) => [r.concurrency, r.idealMs] as [number, number]);
    idealCurves.set(JSON.stringify(curve), curve);
  }
  const labelled = new Set<string>();
  for (const curve of idealCurves.values()) {
    const points = curve.map(([c, v]) => `${x(c).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="#999" stroke-width="1.5" stroke-dasharray="2,3"/>`);
    const [c, v] = curve.at(-1)!;
    const at = `${(x(c) + 4).toFixed(1)},${(y(v) + 12).toFixed(1)}`;
    if (labelled.has(at)) continue;
    labelled.add(at);
    out.push(`<text x="${(x(c) + 4).toFixed(1)}" y="${(y(v) + 12).toFixed(1)}" fill="#777" font-size="11">ideal</text>`);
  }
  lines.forEach(([name, rows], i) => {
    const color = COLORS[i % COLORS.length]!;
    const sorted = [...rows].sort((a, b) => a.concurrency - b.concurrency);
    for (const [key, dash] of [
      ['p50', ''],
      ['p99', ' stroke-dasharray="6,4"'],
    ] as const) {
      const points = sorted.map((r) => `${x(r.concurrency).toFixed(1)},${y(r[key]).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const r of sorted) out.push(`<circle cx="${x(r.concurrency).toFixed(1)}" cy="${y(r[key]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = margin.top + 10 + i * 20;
    out.push(`<line x1="${width - margin.right + 15}" x2="${width - margin.right + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${width - margin.right + 46}" y="${ly + 4}">${escape(name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
