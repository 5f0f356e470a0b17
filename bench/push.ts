/**
 * Push (issue 14), in one run, against the real server process (`node --experimental-transform-types server/main.ts`,
 * the embedded demo, default configuration plus the settings each part names):
 *   1. change to notification: a graphql-ws subscriber on `customerChanged(id)` and one change per
 *      customer through a real path: a shop order (`POST /demo/orders`, committed in the demo's
 *      PGlite; timed from before the POST, so the figure includes that HTTP round trip), a signed
 *      HubSpot v3 webhook (`contact.propertyChange` for the customer's contact) and a forwarded web
 *      event (`POST /intake/events`, a `track` with the customer's user id);
 *   2. delivery under faults: two replicas on a private redis-server (AOF, appendfsync always), an
 *      endpoint for CART_ABANDONED, trigger events published as another replica's hub publishes
 *      them; one replica killed (-9) and replaced, Redis shut down and started again on its AOF;
 *      deliveries counted by webhook-id at a local receiver that verifies signatures;
 *   3. idle cost: RSS, heap and CPU seconds of a server over an idle window, with no subscriptions
 *      and with BENCH_PUSH_SUBSCRIPTIONS open (from a separate process).
 * Writes bench/results/push-latest.md and .json; progress goes to stderr; server logs to
 * BENCH_PUSH_LOGS (a temporary directory, kept).
 *
 *   npm run bench:push
 *
 * Settings (environment): BENCH_PUSH_PARTS (latency,faults,idle), BENCH_PUSH_CHANGES (200 per
 * source), BENCH_PUSH_EVENTS (10000), BENCH_PUSH_RATE (250 events published per second),
 * BENCH_PUSH_REPLICA_CUSTOMERS (300: the replicas' demo shop), BENCH_PUSH_CLAIM_IDLE_MS (5000: the
 * replicas' OUTGOING_WEBHOOK_CLAIM_IDLE_MS, 60000 by default), BENCH_PUSH_REDIS_DOWN_MS (2000),
 * BENCH_PUSH_SUBSCRIPTIONS (10000), BENCH_PUSH_PER_CONNECTION (10), BENCH_PUSH_IDLE_SECONDS (60),
 * BENCH_OUT (bench/results), BENCH_DATABASE_URL (unset: part 1 skips the PostgreSQL path; set: a
 * bench database is created there, seeded, given the NOTIFY triggers and dropped afterwards).
 * Needs redis-server and redis-cli on the PATH for part 2.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { setupNotify } from '../push/shop/setup.ts';
import { personAt, populationSize, type DemoWorld } from '../sandbox/demo/people.ts';
import { placeOrder } from '../sandbox/demo/place-order.ts';
import { loadConfig } from '../server/config.ts';
import { createDatabase, progress, seed } from './lib/environment.ts';
import { intSetting, loadBenchSettings, machineFacts, ms, shownSettings } from './lib/harness.ts';
import { measureFaults, type FaultResult } from './lib/push-faults.ts';
import { measureIdle, type IdleResult } from './lib/push-idle.ts';
import { measureLatency, peopleFor, type LatencyResult, type LatencySource } from './lib/push-latency.ts';
import { startServerProcess, type ServerProcess } from './lib/push-process.ts';

const env = process.env;
const settings = {
  out: loadBenchSettings(env).out,
  databaseUrl: loadBenchSettings(env).databaseUrl,
  parts: new Set((env.BENCH_PUSH_PARTS ?? 'latency,faults,idle').split(',').map((part) => part.trim())),
  changes: intSetting(env.BENCH_PUSH_CHANGES, 200),
  events: intSetting(env.BENCH_PUSH_EVENTS, 10_000),
  rate: intSetting(env.BENCH_PUSH_RATE, 250),
  replicaCustomers: intSetting(env.BENCH_PUSH_REPLICA_CUSTOMERS, 300),
  claimIdleMs: intSetting(env.BENCH_PUSH_CLAIM_IDLE_MS, 5000),
  redisDownMs: intSetting(env.BENCH_PUSH_REDIS_DOWN_MS, 2000),
  subscriptions: intSetting(env.BENCH_PUSH_SUBSCRIPTIONS, 10_000),
  perConnection: intSetting(env.BENCH_PUSH_PER_CONNECTION, 10),
  idleSeconds: intSetting(env.BENCH_PUSH_IDLE_SECONDS, 60),
};
for (const part of settings.parts) if (!['latency', 'faults', 'idle'].includes(part)) throw new Error(`BENCH_PUSH_PARTS: expected latency, faults or idle, got "${part}"`);

/** The embedded demo's world as the server builds it at its defaults (same seed and size: same people). */
const defaults = loadConfig({});
const world: DemoWorld = { seed: defaults.DEMO_SEED, customers: defaults.DEMO_CUSTOMERS, asOf: new Date() };

interface LatencyPart {
  readonly serverEnv: Record<string, string>;
  readonly startupSeconds: number;
  readonly rows: LatencyResult[];
  /** With BENCH_DATABASE_URL: the shop on PostgreSQL, PUSH_SHOP_CHANGES=notify. */
  postgres: { serverEnv: Record<string, string>; startupSeconds: number; row: LatencyResult } | null;
}

async function latencyPart(logDir: string): Promise<LatencyPart> {
  const secrets = { hubspotSecret: randomBytes(24).toString('hex'), intakeSecret: randomBytes(24).toString('hex') };
  progress.line('latency: starting the server (embedded demo)');
  const server = await startServerProcess(
    (url) => ({ HUBSPOT_CLIENT_SECRET: secrets.hubspotSecret, PUBLIC_URL: url, EVENT_INTAKE_SECRET: secrets.intakeSecret, LOG_LEVEL: 'warn' }),
    `${logDir}/push-latency-server.log`,
  );
  try {
    const people = peopleFor(world, settings.changes);
    const rows: LatencyResult[] = [];
    for (const source of ['shop', 'hubspot', 'web'] as const satisfies readonly LatencySource[]) {
      progress.line(`latency: ${settings.changes} changes from ${source}`);
      rows.push(await measureLatency(server, source, people[source], { changes: settings.changes, ...secrets }));
    }
    const serverEnv = { ...server.env, HUBSPOT_CLIENT_SECRET: '<random>', EVENT_INTAKE_SECRET: '<random>', PORT: '<free port>', PUBLIC_URL: 'http://127.0.0.1:<port>' };
    return { serverEnv, startupSeconds: server.startupSeconds, rows, postgres: null };
  } finally {
    await server.stop();
  }
}

/**
 * The PostgreSQL path: a bench database on the server at BENCH_DATABASE_URL (created, seeded with
 * the same demo world, dropped afterwards), the NOTIFY triggers installed (`setupNotify`), the server
 * with DATABASE_URL and PUSH_SHOP_CHANGES=notify; orders committed by the benchmark's own connection.
 */
async function postgresPart(logDir: string, serverUrl: string): Promise<NonNullable<LatencyPart['postgres']>> {
  const db = await createDatabase(serverUrl, 'push');
  let server: ServerProcess | undefined;
  const client = new pg.Client({ connectionString: db.url });
  try {
    progress.line('latency, PostgreSQL: seeding the bench database');
    await seed(db, world, 1);
    await client.connect();
    await setupNotify(client);
    const env = { DATABASE_URL: db.url, PUSH_SHOP_CHANGES: 'notify', LOG_LEVEL: 'warn' };
    server = await startServerProcess(env, `${logDir}/push-latency-postgres-server.log`);
    const commitOrder = async (customerId: string) => {
      let committedAt = 0;
      const tx = {
        async transaction<T>(body: (q: { query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }> }) => Promise<T>): Promise<T> {
          await client.query('BEGIN');
          try {
            const result = await body({ query: async <R>(text: string, values?: unknown[]) => ({ rows: (await client.query(text, values)).rows as R[] }) });
            await client.query('COMMIT');
            committedAt = performance.now();
            return result;
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
        },
      };
      if (!(await placeOrder(tx, { customerId }))) throw new Error(`postgres: expected customer ${customerId} in the bench database`);
      return committedAt;
    };
    progress.line(`latency: ${settings.changes} changes from PostgreSQL (NOTIFY)`);
    const people = peopleFor(world, settings.changes).shop;
    const row = await measureLatency(server, 'postgres', people, { changes: settings.changes, hubspotSecret: '', intakeSecret: '', commitOrder });
    return { serverEnv: { ...env, DATABASE_URL: '<bench database on BENCH_DATABASE_URL>' }, startupSeconds: server.startupSeconds, row };
  } finally {
    await server?.stop();
    await client.end().catch(() => undefined);
    await db.close();
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg()[0]!;
  const logDir = env.BENCH_PUSH_LOGS ?? (await mkdtemp(`${tmpdir()}/c360-bench-push-logs-`));
  await mkdir(logDir, { recursive: true });
  progress.line(`push benchmark: parts ${[...settings.parts].join(', ')}; server logs in ${logDir}`);
  const latency = settings.parts.has('latency') ? await latencyPart(logDir) : null;
  if (latency && settings.databaseUrl) latency.postgres = await postgresPart(logDir, settings.databaseUrl);
  const faults = settings.parts.has('faults')
    ? await measureFaults({
        events: settings.events,
        rate: settings.rate,
        replicaCustomers: settings.replicaCustomers,
        claimIdleMs: settings.claimIdleMs,
        redisDownMs: settings.redisDownMs,
        killAt: 0.3,
        restartAt: 0.6,
        logDir,
      })
    : null;
  let idle: IdleResult | null = null;
  if (settings.parts.has('idle')) {
    const ids = Array.from({ length: populationSize(world) }, (_, index) => personAt(world, index)).filter((person) => person.customerId !== null);
    const emails = new Map(ids.map((person) => [String(person.customerId), person.email]));
    idle = await measureIdle(
      { subscriptions: settings.subscriptions, perConnection: settings.perConnection, idleSeconds: settings.idleSeconds, logDir },
      [...emails.keys()],
      (id) => emails.get(id)!,
    );
  }
  const facts = {
    startedAt,
    durationSeconds: (performance.now() - progress.started) / 1000,
    machine: machineFacts('embedded PGlite (the demo, in the server process)', loadBefore),
  };
  const results = {
    ...facts,
    settings: { ...shownSettings(settings), parts: [...settings.parts] },
    world: { seed: world.seed, customers: world.customers },
    latency,
    faults,
    idle,
  };
  const table = report(facts, latency, faults, idle);
  await mkdir(settings.out, { recursive: true });
  const base = `${settings.out.replace(/\/?$/, '/')}push-latest`;
  await writeFile(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`${base}.md`, table);
  process.stdout.write(`\n${table}\n`);
  progress.line(`done in ${Math.round(facts.durationSeconds)} s: ${base}.md, .json`);
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const settingsList = (given: Record<string, string>) =>
  Object.entries(given)
    .map(([name, value]) => `\`${name}=${value}\``)
    .join(', ');

function report(
  facts: { startedAt: Date; durationSeconds: number; machine: ReturnType<typeof machineFacts> },
  latency: LatencyPart | null,
  faults: FaultResult | null,
  idle: IdleResult | null,
): string {
  const m = facts.machine;
  const out = [
    '# Push: change to notification, delivery under faults, idle cost',
    '',
    `Run ${facts.startedAt.toISOString()}, ${Math.round(facts.durationSeconds)} s in all, on ${m.cpus} x ${m.cpuModel.split(' ').slice(0, 2).join(' ')}, ${m.memoryGb} GB, Node ${m.node}; 1-minute load average ${m.loadAverage[0]!.toFixed(1)} at the start, ${m.loadAverage[1]!.toFixed(1)} at the end (other work on the machine shows there).`,
    'Every server is the real process (`node --experimental-transform-types server/main.ts`: types removed as the build removes them), the embedded demo (PGlite in the server process, the HubSpot and Mailchimp stand-ins), default configuration plus the settings listed per part.',
    '',
  ];
  if (latency) {
    out.push(
      '## 1. Change to notification',
      '',
      `Server settings: ${settingsList(latency.serverEnv)} (start-up ${latency.startupSeconds.toFixed(1)} s, demo of ${world.customers.toLocaleString('en')} customers). A graphql-ws subscriber (in the benchmark process) holds \`customerChanged(id)\` with \`sources kinds customer { commerce { purchases { orderCount } } }\` for ${10} customers at a time; each change is made on a customer of its own, one after the other, and timed from just before its HTTP request until the subscriber receives an event with the change's kind and the re-resolved profile.`,
      '',
      '| source | path | changes | notified | p50 ms | p99 ms | max ms | request answered, p50 ms | profile re-read |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
      ...[...latency.rows, ...(latency.postgres ? [latency.postgres.row] : [])].map(
        (row) =>
          `| ${row.source} | ${PATH[row.source]} | ${row.changes} | ${row.notified} | ${ms(row.p50)} | ${ms(row.p99)} | ${ms(row.max)} | ${ms(row.requestP50)} | ${row.fresh === null ? 'read (not checked: the change does not alter it)' : `orderCount one up in ${row.fresh} of ${row.notified}`} |`,
      ),
      '',
      '- shop: `POST /demo/orders` commits the order in the demo database, inside the server process; the PGlite producer sees the commit and signals the hub. The figure includes that HTTP round trip (an upper bound on commit to notification); "request answered" is the POST alone.',
      "- hubspot: a v3-signed `contact.propertyChange` for the customer's contact to `POST /webhooks/hubspot`; the hub resolves the contact to the shop customer through the CRM (the stand-in) and the shop. That is one HubSpot read per change, and the changes come one after the other, faster than HubSpot's quota allows reads (HUBSPOT_RATE_LIMIT_REQUESTS 100 per 10 s by default, paced: a burst of 5, then one slot every 112 ms): past the first few, each change waits for its slot, so the figure is the quota's pace rather than the path's own time. Concurrent changes share a slot (their contact reads leave in one batch).",
      '- web: a Segment `track` with `userId` = the customer id to `POST /intake/events` (Bearer secret).',
      `- Each includes the hub's coalescing window (PUSH_COALESCE_MS, ${defaults.PUSH_COALESCE_MS} ms by default), the cache eviction and the subscriber's selection resolved again. Target (issue 14): under one second.`,
      ...(latency.postgres
        ? [
            `- postgres: the shop on the PostgreSQL server (a bench database seeded with the same world, dropped afterwards), \`setupNotify\` run, server settings ${settingsList(latency.postgres.serverEnv)} (start-up ${latency.postgres.startupSeconds.toFixed(1)} s); the benchmark commits each order on its own connection (sandbox/demo/place-order.ts's statements) and times from COMMIT returning; "request answered" is the whole transaction.`,
          ]
        : ['- Not measured in this run: the PostgreSQL path (set BENCH_DATABASE_URL: PUSH_SHOP_CHANGES=notify, timed from COMMIT). PUSH_SHOP_CHANGES=logical is not measured.']),
      '',
    );
  }
  if (faults) {
    const f = faults;
    out.push(
      '## 2. Delivery under faults',
      '',
      `Replicas: two server processes, each ${settingsList(f.replicaEnv)} (start-up ${f.replicaStartupSeconds.map((s) => `${s.toFixed(1)} s`).join(', ')}). \`OUTGOING_WEBHOOK_CLAIM_IDLE_MS\` is lowered from 60 s so a job the killed replica held is claimed within the run, the timeout to 2 s to allow it (the claim bound must exceed timeout plus request budget), and the retry schedule shortened; the abandoned-cart sweep is off so only the benchmark's events reach the endpoint. Redis: a private \`redis-server --appendonly yes --appendfsync always --save ''\` in a temporary directory; durability of the queue across a Redis restart needs the AOF (without persistence a restart empties the stream, the retries and the endpoints).`,
      `Driver: ${f.events.toLocaleString('en')} CART_ABANDONED trigger events, published on \`c360:push\` as another replica's hub publishes them (\`{ origin, trigger }\`), at about ${settings.rate} per second; one endpoint (registered through RedisEndpointStore) with selection \`{ id commerce { purchases { orderCount } } }\`; the receiver verifies each signature (standardwebhooks) and counts deliveries by \`webhook-id\`. At 30% published replica 1 is killed with SIGKILL and a replacement started; at 60% Redis gets SHUTDOWN, stays down ${settings.redisDownMs} ms and starts again on the same AOF.`,
      '',
      '| events | delivered (unique webhook-id) | lost | duplicates | deliveries in all | bad signatures | published again | publish s | drain s (last publish to last new delivery) | pending / retries / dead letters at the end |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      `| ${f.events} | ${f.deliveredUnique} | ${f.lost} | ${f.duplicates} | ${f.deliveries} | ${f.badSignatures} | ${f.republished} | ${f.publishSeconds.toFixed(1)} | ${f.drainSeconds.toFixed(1)} | ${f.pending} / ${f.retries} / ${f.deadLetters} |`,
      '',
      'Timeline:',
      '',
      ...f.timeline.map((t) => `- ${t.atSeconds.toFixed(1)} s: ${t.what} (${t.published} published, ${t.delivered} delivered)`),
      '',
      `- "published again": publishes Redis refused (down) or that no replica was subscribed to hear (PUBLISH answered 0), sent again by the driver. A real replica's hub hands its own trigger events to its own OutgoingWebhooks directly, whose fan-out keeps a bounded backlog while Redis is down; pub/sub itself keeps nothing.`,
      ...(f.lost > 0 ? [`- Lost webhook-ids (first ${f.lostIds.length}): ${f.lostIds.join(', ')}`] : []),
      ...(f.foreign > 0 ? [`- ${f.foreign} deliveries of ids this run did not publish.`] : []),
      '',
    );
  }
  if (idle) {
    const i = idle;
    const delta = (pick: (w: IdleResult['before']) => number) => pick(i.after) - pick(i.before);
    const per10k = (value: number) => (value * 10_000) / Math.max(1, i.after.subscriptions);
    out.push(
      '## 3. Idle cost',
      '',
      `One server process, settings ${settingsList(i.serverEnv)} (all ${i.opened.toLocaleString('en')} subscriptions come from one client address, so the per-client limit is raised and the per-client rate limit off). ${i.connections.toLocaleString('en')} WebSockets x ${settings.perConnection} \`customerChanged\` subscriptions (the ${world.customers.toLocaleString('en')} customers in turn) from a forked client process, opened in ${i.openSeconds.toFixed(1)} s; refused: ${i.refused}${i.refusedSamples.length ? ` (${i.refusedSamples.join('; ')})` : ''}. Each window is ${settings.idleSeconds} s of nothing happening (keep-alive pings every ${defaults.SUBSCRIPTION_KEEPALIVE_MS / 1000} s are the subscriptions' idle work); RSS from /proc/<pid>/status, CPU from /proc/<pid>/stat (utime + stime), heap used from /metrics (\`nodejs_heap_size_used_bytes\`), the lowest of a scrape every 5 s (just after a collection).`,
      '',
      '| subscriptions | RSS MB | heap used MB | CPU s over the window | CPU % of one core |',
      '|---:|---:|---:|---:|---:|',
      ...[i.before, i.after].map(
        (w) =>
          `| ${w.subscriptions.toLocaleString('en')} | ${mb(w.rssBytes)} | ${mb(w.heapUsedBytes)} | ${w.cpuSeconds.toFixed(2)} | ${((100 * w.cpuSeconds) / w.seconds).toFixed(2)} |`,
      ),
      `| per 10,000 subscriptions | ${mb(per10k(delta((w) => w.rssBytes)))} | ${mb(per10k(delta((w) => w.heapUsedBytes)))} | ${per10k(delta((w) => w.cpuSeconds)).toFixed(2)} | ${((100 * per10k(delta((w) => w.cpuSeconds))) / i.after.seconds).toFixed(2)} |`,
      '',
      `- Events the subscribers received during the loaded window: ${i.eventsWhileIdle}. After it, an order for each of ${i.probe.customers} subscribed customers reached ${i.probe.events} of their ${i.probe.subscriptions} subscriptions (every subscription was live).`,
      `- RSS is at the end of the window and includes memory V8 keeps after collections; heap used at the last scrape was ${mb(i.before.heapAtEndBytes)} and ${mb(i.after.heapAtEndBytes)} MB.`,
      '',
    );
  }
  return out.join('\n');
}

const PATH: Record<LatencySource, string> = {
  shop: '`POST /demo/orders` (commit in the demo DB)',
  hubspot: 'signed `POST /webhooks/hubspot`',
  web: '`POST /intake/events` (track)',
  postgres: 'COMMIT on PostgreSQL, NOTIFY',
};

await main();
