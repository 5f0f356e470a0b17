/**
 * Counts and audiences across sources (issue 15), on a 10,000- and a 1,000,000-customer shop: five
 * questions (bench/lib/audiences-questions.ts), each asked once unmeasured and then BENCH_REPEATS
 * times in sequence, with p50/p99 latency, the upstream calls and rows per source from the plan the
 * server reports (`extensions.plans`), cross-checked with the stand-ins' request counts and the
 * statements counted at the database pool, and the answer. A question the planner refuses is
 * recorded with its message instead of timings. Writes bench/results/audiences-latest.md and .json;
 * progress goes to stderr.
 *
 *   BENCH_LARGE_CUSTOMERS=0 npm run bench:audiences                                      10,000 customers, embedded PGlite
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:audiences
 *
 * Settings (environment): BENCH_CUSTOMERS (10000), BENCH_LARGE_CUSTOMERS (1000000; 0 skips it; the
 * PostgreSQL server only), BENCH_WEB_DAYS (30), BENCH_LARGE_WEB_DAYS (1), BENCH_REPEATS (15),
 * BENCH_HUBSPOT_MS (40), BENCH_MAILCHIMP_MS (60), BENCH_OUT (bench/results). The server runs as
 * the other benchmarks run it (startBenchServer; the settings it changes are listed in the notes).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { DemoWorld } from '../sandbox/demo/people.ts';
import { QUESTIONS, warmStandIns, type Question } from './lib/audiences-questions.ts';
import { CountingPool, createDatabase, progress, seed, StandIns, type Database } from './lib/environment.ts';
import { intSetting, machineFacts, ms, runtimeText, shownSettings, withServer } from './lib/harness.ts';

const env = process.env;
const settings = {
  customers: intSetting(env.BENCH_CUSTOMERS, 10_000),
  largeCustomers: intSetting(env.BENCH_LARGE_CUSTOMERS, 1_000_000),
  databaseUrl: env.BENCH_DATABASE_URL || undefined,
  webDays: intSetting(env.BENCH_WEB_DAYS, 30),
  largeWebDays: intSetting(env.BENCH_LARGE_WEB_DAYS, 1),
  repeats: intSetting(env.BENCH_REPEATS, 15),
  largeRepeats: intSetting(env.BENCH_LARGE_REPEATS, intSetting(env.BENCH_REPEATS, 15)),
  hubspotMs: intSetting(env.BENCH_HUBSPOT_MS, 40),
  mailchimpMs: intSetting(env.BENCH_MAILCHIMP_MS, 60),
  out: env.BENCH_OUT ?? new URL('./results/', import.meta.url).pathname,
};

const SOURCES = ['commerce', 'web', 'crm', 'email'] as const;
type Source = (typeof SOURCES)[number];
type PerSource = Record<Source, number>;
const zero = (): PerSource => ({ commerce: 0, web: 0, crm: 0, email: 0 });

interface PlanStep {
  source: Source;
  action: string;
  condition: string;
  calls: number;
  rows: number;
  ms: number;
  estimate?: { count: number; exact: boolean };
  candidates?: number;
  matched?: number;
}
interface Plan {
  field: string;
  filter: string;
  steps: PlanStep[];
  calls: Partial<PerSource>;
  rows: Partial<PerSource>;
}
interface Answer {
  ms: number;
  status: number;
  data: Record<string, any> | null;
  errors: Array<{ message: string; extensions?: { code?: string; refused?: unknown } }>;
  plans: Plan[];
}

/** One request, timed from the first byte sent to the parsed body. */
async function ask(url: string, question: Question, variables: object): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: question.query, variables }) });
  const text = await response.text();
  const elapsed = performance.now() - started;
  if (!text.startsWith('{')) throw new Error(`expected a GraphQL response, got HTTP ${response.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { data?: Record<string, any> | null; errors?: Answer['errors']; extensions?: { plans?: Plan[] } };
  return { ms: elapsed, status: response.status, data: body.data ?? null, errors: body.errors ?? [], plans: body.extensions?.plans ?? [] };
}

/** One run's upstream work: the plan's calls and rows per source, and what the stand-ins and the pool counted. */
interface Work {
  readonly plan: { calls: PerSource; rows: PerSource };
  readonly standIns: { hubspot: number; mailchimp: number };
  readonly pool: { commerce: number; web: number };
}

function planTotals(plans: readonly Plan[]): Work['plan'] {
  const calls = zero();
  const rows = zero();
  for (const plan of plans) {
    for (const source of SOURCES) {
      calls[source] += plan.calls[source] ?? 0;
      rows[source] += plan.rows[source] ?? 0;
    }
  }
  return { calls, rows };
}

interface QuestionResult {
  readonly question: string;
  readonly title: string;
  readonly customers: number;
  /** The server's configuration: the default, or the default with a longer statement timeout. */
  readonly setting: string;
  readonly variables: Record<string, unknown>;
  readonly outcome: 'answered' | 'refused' | 'failed';
  /** The total (findCustomers' totalCount, customerCounts' total) and the groups of a breakdown. */
  readonly count: number | null;
  readonly exact: boolean | null;
  readonly groups?: Array<{ key: string | null; count: number; exact: boolean }>;
  readonly pageSize?: number;
  /** The refusal or failure (of the first run, or of the measured runs that failed): each error's code and message. */
  readonly errors: Array<{ code: string | undefined; message: string; refused?: unknown }>;
  /** Measured runs that failed (timed all the same). */
  readonly failedRuns: number;
  readonly firstRunMs: number;
  readonly runs: number;
  readonly latencyMs: { p50: number; p99: number; min: number; max: number } | null;
  /** Per run (median over the runs; min and max show whether it varied). */
  readonly work: { median: Work; varies: string[] };
  /** The plan of the last run, as the server reported it. */
  readonly plan: Plan[];
  readonly explanation: string;
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
const median = (values: readonly number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

/** The same counter over the runs: its median, and its name when it was not the same in every run. */
function summarize(works: readonly Work[]): QuestionResult['work'] {
  const varies: string[] = [];
  const pick = (name: string, of: (w: Work) => number) => {
    const values = works.map(of);
    if (Math.min(...values) !== Math.max(...values)) varies.push(`${name} ${Math.min(...values)}-${Math.max(...values)}`);
    return median(values);
  };
  const perSource = (kind: 'calls' | 'rows') => Object.fromEntries(SOURCES.map((source) => [source, pick(`plan ${kind} ${source}`, (w) => w.plan[kind][source])])) as PerSource;
  return {
    median: {
      plan: { calls: perSource('calls'), rows: perSource('rows') },
      standIns: { hubspot: pick('HubSpot requests', (w) => w.standIns.hubspot), mailchimp: pick('Mailchimp requests', (w) => w.standIns.mailchimp) },
      pool: { commerce: pick('shop statements', (w) => w.pool.commerce), web: pick('warehouse statements', (w) => w.pool.web) },
    },
    varies,
  };
}

const SYSTEM: Record<Source, string> = { commerce: 'the shop', web: 'the warehouse', crm: 'HubSpot', email: 'Mailchimp' };

/** One sentence per external condition of the plan: listed or checked, for how many, in how many calls. */
function explain(plans: readonly Plan[]): string {
  const parts: string[] = [];
  for (const plan of plans) {
    const seen = new Set<string>();
    for (const step of plan.steps) {
      if (step.source === 'commerce' || seen.has(`${step.action}:${step.condition}`)) continue;
      seen.add(`${step.action}:${step.condition}`);
      const same = plan.steps.filter((s) => s.source === step.source && s.action === step.action && s.condition === step.condition);
      const calls = same.reduce((sum, s) => sum + s.calls, 0);
      if (step.action === 'enumerate') parts.push(`${SYSTEM[step.source]} listed the ${step.matched} people meeting ${step.condition} (${calls} calls)`);
      else if (step.action === 'check') {
        const candidates = same.reduce((sum, s) => sum + (s.candidates ?? 0), 0);
        parts.push(`${SYSTEM[step.source]} checked ${candidates} candidates for ${step.condition} in ${calls} calls${same.length > 1 ? ` over ${same.length} checks` : ''}`);
      }
    }
  }
  return parts.length > 0 ? `${parts.join('; ')}.` : 'Estimates only.';
}

const errorsOf = (answer: Answer) =>
  answer.errors.map((e) => ({ code: e.extensions?.code, message: e.message, ...(e.extensions?.refused !== undefined && { refused: e.extensions.refused }) }));
const totalOf = (answer: Answer) => (answer.data?.findCustomers?.totalCount ?? answer.data?.customerCounts?.total ?? null) as { value: number; exact: boolean } | null;
const answered = (answer: Answer) => answer.errors.length === 0 && totalOf(answer) !== null;

async function measure(url: string, world: DemoWorld, pool: CountingPool, standIns: StandIns, question: Question, setting: string, repeats: number): Promise<QuestionResult> {
  const variables = question.variables(world);
  const once = async (): Promise<{ answer: Answer; work: Work }> => {
    await standIns.reset();
    pool.reset();
    const answer = await ask(url, question, variables);
    const counted = await standIns.counts();
    return {
      answer,
      work: {
        plan: planTotals(answer.plans),
        standIns: { hubspot: counted.hubspot, mailchimp: counted.mailchimp },
        pool: { commerce: pool.statements.commerce, web: pool.statements.web },
      },
    };
  };
  const label = `${world.customers.toLocaleString('en')} customers (${setting}), ${question.id}`;
  const first = await once();
  const errors = errorsOf(first.answer);
  const refused = errors.some((e) => e.refused !== undefined);
  const base = { question: question.id, title: question.title, customers: world.customers, setting, variables, firstRunMs: first.answer.ms };
  if (!answered(first.answer)) {
    progress.line(`${label}: ${refused ? 'refused' : 'failed'} in ${ms(first.answer.ms)} ms: ${errors.map((e) => `${e.code}: ${e.message}`).join(' | ')}`);
    return {
      ...base,
      errors,
      failedRuns: 0,
      outcome: refused ? 'refused' : 'failed',
      count: null,
      exact: null,
      runs: 0,
      latencyMs: null,
      work: summarize([first.work]),
      plan: first.answer.plans,
      explanation: explain(first.answer.plans),
    };
  }
  progress.line(`${label}: first run ${ms(first.answer.ms)} ms, then ${repeats} measured`);
  const runs: Array<{ answer: Answer; work: Work }> = [];
  for (let i = 0; i < repeats; i++) {
    runs.push(await once());
    progress.status(`${label}: ${i + 1} / ${repeats}`);
  }
  // Every run is timed; a run that failed is counted and its errors kept, and the answer and the
  // calls come from the runs that answered.
  const failed = runs.filter((run) => !answered(run.answer));
  const good = runs.filter((run) => answered(run.answer));
  const latencies = runs.map((run) => run.answer.ms).sort((a, b) => a - b);
  const last = (good.at(-1) ?? first).answer;
  const total = totalOf(last)!;
  const result: QuestionResult = {
    ...base,
    errors: failed.flatMap((run) => errorsOf(run.answer)),
    failedRuns: failed.length,
    outcome: 'answered',
    count: total.value,
    exact: total.exact,
    ...(last.data?.customerCounts && { groups: last.data.customerCounts.groups }),
    ...(last.data?.findCustomers && { pageSize: last.data.findCustomers.edges.length }),
    runs: runs.length,
    latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), min: latencies[0]!, max: latencies.at(-1)! },
    work: summarize((good.length > 0 ? good : [first]).map((run) => run.work)),
    plan: last.plans,
    explanation: explain(last.plans),
  };
  const w = result.work.median;
  progress.line(
    `${label}: ${total.value}${total.exact ? '' : ' (estimate)'}, p50 ${ms(result.latencyMs!.p50)} ms, p99 ${ms(result.latencyMs!.p99)} ms` +
      `${failed.length > 0 ? `, ${failed.length} runs failed (${[...new Set(result.errors.map((e) => e.code))].join(', ')})` : ''}; ` +
      `HubSpot ${w.plan.calls.crm} (stand-in ${w.standIns.hubspot}), Mailchimp ${w.plan.calls.email} (stand-in ${w.standIns.mailchimp}), ` +
      `shop SQL ${w.plan.calls.commerce} (pool ${w.pool.commerce}), warehouse SQL ${w.plan.calls.web} (pool ${w.pool.web})`,
  );
  return result;
}

interface ShopResult {
  readonly customers: number;
  readonly webDays: number;
  readonly seedSeconds: number;
  readonly warmUp: Awaited<ReturnType<typeof warmStandIns>>;
  readonly questions: QuestionResult[];
}

async function shop(customers: number, webDays: number): Promise<ShopResult> {
  const world: DemoWorld = { seed: 360, customers, asOf: new Date() };
  progress.line(`shop of ${customers.toLocaleString('en')} customers, ${webDays} day(s) of events`);
  let db: Database | undefined;
  let standIns: StandIns | undefined;
  let pool: CountingPool | undefined;
  try {
    [db, standIns] = await Promise.all([createDatabase(settings.databaseUrl, `audiences_${customers}`), StandIns.start(world, settings)]);
    const seeding = performance.now();
    await seed(db, world, webDays);
    const seedSeconds = (performance.now() - seeding) / 1000;
    progress.line('building the stand-ins’ indexes (HubSpot search, Mailchimp listing and members)');
    const warmUp = await warmStandIns(standIns, standIns.warm);
    progress.line(
      `stand-ins indexed: HubSpot search ${warmUp.hubspotSearchIndexSeconds.toFixed(1)} s, Mailchimp listing ${warmUp.mailchimpListingIndexSeconds.toFixed(1)} s, members ${warmUp.mailchimpMemberIndexSeconds.toFixed(1)} s (at once)`,
    );
    pool = new CountingPool(db.url);
    const questions: QuestionResult[] = [];
    const [live, ready] = [pool, standIns];
    const repeats = customers === settings.customers ? settings.repeats : settings.largeRepeats;
    await withServer(live, ready, async (url) => {
      for (const question of QUESTIONS) questions.push(await measure(url, world, live, ready, question, 'default', repeats));
    });
    return { customers, webDays, seedSeconds, warmUp, questions };
  } finally {
    await pool?.end();
    await standIns?.close();
    await db?.close();
  }
}

/** What startBenchServer changes from the defaults, and why it does not touch what is measured. */
const SERVER_NOTES = [
  "Server: startBenchServer (bench/lib/environment.ts), i.e. main.ts's configuration with these differences: HUBSPOT_RATE_LIMIT_REQUESTS 10000 per HUBSPOT_RATE_LIMIT_INTERVAL_MS 100 (default 100 per 10 s; that limiter paces batch reads, not the CRM search, which has its own limiter: HUBSPOT_SEARCH_REQUESTS_PER_SECOND 4, left on); REQUEST_BUDGET_MS 5000 (default 800; an audience request gets AUDIENCE_BUDGET_MS, 30 s, either way); the per-client rate limit off (RATE_LIMIT_COST_PER_SECOND 1000 by default), so the plans' costs (AUDIENCE_COST_PER_CALL 10 per HubSpot/Mailchimp call, 2 per statement) are not spent; anonymous development scopes (segments:read among them); the audience store in process (the default without REDIS_URL); no subscriptions, webhooks or readiness probe. Planner limits at their defaults (AUDIENCE_MAX_CRM_CALLS 50, AUDIENCE_MAX_EMAIL_CALLS 500, AUDIENCE_MAX_CANDIDATES 100,000).",
  `Stand-ins: HubSpot ${settings.hubspotMs} ms, Mailchimp ${settings.mailchimpMs} ms per request, no vendor rate limits (HubSpot's search limit of 5/s is not enforced by the stand-in; the server's own 4/s limiter paces it), in a worker thread; everything on 127.0.0.1.`,
  "Calls and rows: from the plan in `extensions.plans` (HubSpot and Mailchimp requests, SQL statements of the shop and the warehouse, and the records or rows they returned), checked against the stand-ins' own request counters and the statements counted at the database pool. The pool counts every statement of the request (the page and count included); the stand-ins every request.",
];

const fmt = (n: number) => n.toLocaleString('en');

interface Facts {
  readonly startedAt: Date;
  readonly durationSeconds: number;
  readonly machine: ReturnType<typeof machineFacts>;
}

function table(shops: readonly ShopResult[], { startedAt, durationSeconds, machine: m }: Facts): string {
  const lines: string[] = [];
  lines.push('# Audiences across sources', '');
  lines.push(
    `Run ${startedAt.toISOString()}, ${durationSeconds} s in all (seeding included), on ${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node} (${runtimeText(m)}); database: ${m.database}; ` +
      `1-minute load average ${m.loadAverage.map((l) => l.toFixed(1)).join(' at the start, ')} at the end. ` +
      `Each question asked once unmeasured, then ${settings.repeats} times (${settings.largeRepeats} on the large shop); ${settings.webDays} day(s) of events (${settings.largeWebDays} on the large shop).`,
    '',
  );
  lines.push(
    '| question | shop | answer | p50 ms | p99 ms | HubSpot calls (stand-in) | Mailchimp calls (stand-in) | shop SQL (pool) | warehouse SQL (pool) | rows read: HubSpot / Mailchimp / shop / warehouse |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const question of QUESTIONS) {
    for (const r of shops.flatMap((s) => s.questions.filter((q) => q.question === question.id))) {
      const w = r.work.median;
      const answer =
        r.outcome === 'answered'
          ? `${fmt(r.count!)}${r.exact ? '' : ' (estimate)'}${r.groups ? `: ${r.groups.map((g) => `${g.key ?? 'none'} ${fmt(g.count)}`).join(', ')}` : ''}` +
            (r.failedRuns > 0 ? ` (${r.failedRuns} of ${r.runs} runs failed: ${[...new Set(r.errors.map((e) => e.code))].join(', ')})` : '')
          : `**${r.outcome}**${r.errors[0] ? ` (${r.errors[0].code})` : ''}`;
      const latency = r.latencyMs ? [ms(r.latencyMs.p50), ms(r.latencyMs.p99)] : [`(${ms(r.firstRunMs)})`, '-'];
      lines.push(
        `| ${question.id} | ${where(r)} | ${answer} | ${latency[0]} | ${latency[1]} | ${w.plan.calls.crm} (${w.standIns.hubspot}) | ${w.plan.calls.email} (${w.standIns.mailchimp}) | ${w.plan.calls.commerce} (${w.pool.commerce}) | ${w.plan.calls.web} (${w.pool.web}) | ${fmt(w.plan.rows.crm)} / ${fmt(w.plan.rows.email)} / ${fmt(w.plan.rows.commerce)} / ${fmt(w.plan.rows.web)} |`,
      );
    }
  }
  lines.push('', '## The questions and their plans', '');
  for (const question of QUESTIONS) {
    lines.push(`- **${question.id}**: ${question.title} (${question.sources.join(', ')}; ${question.exercises}).`);
    for (const r of shops.flatMap((s) => s.questions.filter((q) => q.question === question.id))) {
      const steps = r.plan.flatMap((plan) => plan.steps).map(stepText);
      lines.push(`  - ${where(r)}: ${r.explanation} Steps: ${compress(steps).join(' → ')}.`);
      if (r.outcome !== 'answered') for (const e of r.errors) lines.push(`    ${r.outcome} (${e.code}): "${e.message}"`);
      else if (r.failedRuns > 0) lines.push(`    ${r.failedRuns} of ${r.runs} measured runs failed: ${[...new Set(r.errors.map((e) => `${e.code}: ${e.message}`))].join(' | ')}`);
      if (r.work.varies.length > 0) lines.push(`    Varied between runs: ${r.work.varies.join(', ')}.`);
    }
  }
  lines.push('', '## Notes', '');
  for (const s of shops) {
    lines.push(
      `- ${shortSize(s.customers)} shop: seeded in ${s.seedSeconds.toFixed(0)} s (${s.webDays} day(s) of events); the stand-ins' indexes, built before measuring, at once: HubSpot search ${s.warmUp.hubspotSearchIndexSeconds.toFixed(1)} s, Mailchimp listing ${s.warmUp.mailchimpListingIndexSeconds.toFixed(1)} s, Mailchimp members ${s.warmUp.mailchimpMemberIndexSeconds.toFixed(1)} s.`,
    );
  }
  lines.push(
    `- Each question: one unmeasured run, then ${settings.repeats} in sequence (${settings.largeRepeats} on the large shop) (p50, p99 over them; a refused or failed question shows its first run's time in parentheses). Counts are each run's median.`,
  );
  for (const note of SERVER_NOTES) lines.push(`- ${note}`);
  return `${lines.join('\n')}\n`;
}

const shortSize = (customers: number) =>
  customers >= 1_000_000 && customers % 1_000_000 === 0 ? `${customers / 1_000_000}M` : customers >= 1000 && customers % 1000 === 0 ? `${customers / 1000}k` : fmt(customers);

const where = (r: QuestionResult) => `${shortSize(r.customers)}${r.setting === 'default' ? '' : `, ${r.setting}`}`;

function stepText(step: PlanStep): string {
  const what = step.source === 'commerce' ? `shop ${step.action} (${step.condition})` : `${step.condition} ${step.action}`;
  const extra = step.estimate
    ? ` ≈${fmt(step.estimate.count)}`
    : step.candidates !== undefined
      ? ` ${fmt(step.candidates)}→${fmt(step.matched ?? 0)}`
      : step.matched !== undefined
        ? ` →${fmt(step.matched)}`
        : '';
  return `${what}${extra} [${step.calls}]`;
}

/** Runs of identical step texts as one, with a count. */
function compress(steps: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < steps.length;) {
    let j = i;
    while (j < steps.length && steps[j] === steps[i]) j++;
    out.push(j - i > 1 ? `${j - i} x ${steps[i]}` : steps[i]!);
    i = j;
  }
  return out;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg()[0]!;
  const databaseKind = settings.databaseUrl ? 'the PostgreSQL server' : 'embedded PGlite (in this process, one query at a time)';
  progress.line(`audiences benchmark on ${databaseKind}: ${settings.repeats} runs per question, HubSpot ${settings.hubspotMs} ms, Mailchimp ${settings.mailchimpMs} ms`);
  const shops: ShopResult[] = [];
  const notes: string[] = [];
  shops.push(await shop(settings.customers, settings.webDays));
  if (settings.largeCustomers > 0) {
    if (settings.databaseUrl) shops.push(await shop(settings.largeCustomers, settings.largeWebDays));
    else notes.push(`The ${fmt(settings.largeCustomers)}-customer shop runs only on a PostgreSQL server (set BENCH_DATABASE_URL).`);
  }
  const facts: Facts = {
    startedAt,
    durationSeconds: Math.round((performance.now() - progress.started) / 1000),
    machine: machineFacts(databaseKind, loadBefore),
  };
  let text = table(shops, facts);
  if (notes.length > 0) text += notes.map((note) => `- ${note}\n`).join('');
  await mkdir(settings.out, { recursive: true });
  const base = `${settings.out.replace(/\/?$/, '/')}audiences-latest`;
  await writeFile(
    `${base}.json`,
    `${JSON.stringify({ ...facts, settings: shownSettings(settings), questions: QUESTIONS.map(({ id, title, sources, exercises, query }) => ({ id, title, sources, exercises, query })), shops, notes }, null, 2)}\n`,
  );
  await writeFile(`${base}.md`, text);
  process.stdout.write(`\n${text}\n`);
  progress.line(`done in ${facts.durationSeconds} s: ${base}.md, .json`);
}

await main();
