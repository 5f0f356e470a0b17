import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { progress } from './environment.ts';
import { heapUsedBytes, processStats, startServerProcess } from './push-process.ts';

// Part 3 of bench/push.ts: idle cost. One server process; an idle window with no subscriptions,
// then `subscriptions` opened from a forked client process (so their cost is not the server's) and
// the same idle window again. Memory is read at the end of each window, CPU over it.

export interface IdleSettings {
  readonly subscriptions: number;
  readonly perConnection: number;
  readonly idleSeconds: number;
  readonly logDir: string;
}

export interface IdleWindow {
  readonly subscriptions: number;
  readonly rssBytes: number;
  /** The lowest of the window's scrapes, and the last. */
  readonly heapUsedBytes: number;
  readonly heapAtEndBytes: number;
  readonly cpuSeconds: number;
  readonly seconds: number;
}

export interface IdleResult {
  readonly serverEnv: Record<string, string>;
  readonly connections: number;
  readonly opened: number;
  readonly refused: number;
  readonly refusedSamples: string[];
  readonly openSeconds: number;
  /** Events the subscribers received during the loaded window (none expected: nothing changed). */
  readonly eventsWhileIdle: number;
  /** After the window: orders for `probeCustomers` customers, and the events their subscriptions received (expected: one each). */
  readonly probe: { customers: number; subscriptions: number; events: number };
  readonly before: IdleWindow;
  readonly after: IdleWindow;
}

interface ClientCounts {
  opened: number;
  errors: number;
  events: number;
  errorSamples: string[];
  failed?: string;
}

/**
 * One idle window: CPU seconds over it, RSS at its end, and the heap in use as its lowest scrape
 * (every 5 s): the heap just after a collection, without the garbage that waits for the next one.
 */
async function idleWindow(pid: number, url: string, seconds: number, subscriptions: number): Promise<IdleWindow> {
  const start = await processStats(pid);
  const started = performance.now();
  const heap: number[] = [];
  // The scrapes cost the same in both windows.
  for (let at = 5; at <= seconds; at += 5) {
    await sleep(Math.max(0, started + at * 1000 - performance.now()));
    heap.push(await heapUsedBytes(url));
  }
  await sleep(Math.max(0, started + seconds * 1000 - performance.now()));
  const end = await processStats(pid);
  const elapsed = (performance.now() - started) / 1000;
  return { subscriptions, rssBytes: end.rssBytes, heapUsedBytes: Math.min(...heap), heapAtEndBytes: heap.at(-1)!, cpuSeconds: end.cpuSeconds - start.cpuSeconds, seconds: elapsed };
}

/** Waits until the freshly started server is quiet (its background start-up work, the CLV fit, done): under 2% of a core over 5 s, for at most 2 minutes. */
async function quiet(pid: number): Promise<void> {
  for (let tries = 0; tries < 24; tries++) {
    const before = await processStats(pid);
    await sleep(5000);
    const after = await processStats(pid);
    if (after.cpuSeconds - before.cpuSeconds < 0.1) return;
  }
}

/** Part 3; always stops what it started. `customerIds`: the ids subscribed to, in turn. `emailOf` names a customer for the demo's order route. */
export async function measureIdle(settings: IdleSettings, customerIds: readonly string[], emailOf: (customerId: string) => string): Promise<IdleResult> {
  const serverEnv = {
    SUBSCRIPTION_MAX_PER_CLIENT: String(Math.max(settings.subscriptions, 20)),
    SUBSCRIPTION_MAX_PER_CONNECTION: String(settings.perConnection),
    RATE_LIMIT_COST_PER_SECOND: '0',
    LOG_LEVEL: 'warn',
  };
  progress.line('idle: starting the server');
  const server = await startServerProcess(serverEnv, `${settings.logDir}/push-idle-server.log`);
  const clients = fork(new URL('./push-clients.ts', import.meta.url).pathname, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (message: object) =>
    new Promise<ClientCounts>((resolve) => {
      clients.once('message', (answer) => resolve(answer as ClientCounts));
      clients.send(message);
    });
  try {
    await quiet(server.pid);
    progress.line(`idle: ${settings.idleSeconds} s with no subscriptions`);
    // A query first, so both windows have the GraphQL path loaded.
    await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ customer(id: "${customerIds[0]}") { id } }` }),
    });
    const before = await idleWindow(server.pid, server.url, settings.idleSeconds, 0);

    const connections = Math.ceil(settings.subscriptions / settings.perConnection);
    progress.line(`idle: opening ${settings.subscriptions} subscriptions on ${connections} WebSockets from a separate process`);
    const opening = performance.now();
    const opened = await ask({ open: { url: `${server.url.replace('http', 'ws')}/graphql`, connections, perConnection: settings.perConnection, ids: customerIds } });
    if (opened.failed) throw new Error(`idle: the subscribers failed: ${opened.failed}`);
    const openSeconds = (performance.now() - opening) / 1000;
    // Not `quiet`: the keep-alive pings of a thousand sockets are the idle work being measured.
    await sleep(10_000);
    progress.line(`idle: ${settings.idleSeconds} s with ${opened.opened - opened.errors} subscriptions`);
    const eventsBefore = (await ask({ count: true })).events;
    const after = await idleWindow(server.pid, server.url, settings.idleSeconds, opened.opened - opened.errors);
    const eventsAfter = (await ask({ count: true })).events;

    // Liveness: a change for a few subscribed customers reaches every subscription on them.
    const probeIds = customerIds.slice(0, 3);
    for (const id of probeIds) {
      const response = await fetch(`${server.url}/demo/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: emailOf(id) }) });
      if (!response.ok) throw new Error(`idle: expected the probe order placed, got HTTP ${response.status}`);
    }
    await sleep(5000);
    const probed = (await ask({ count: true })).events - eventsAfter;
    const perId = (id: string) => Array.from({ length: opened.opened }, (_, i) => customerIds[i % customerIds.length]).filter((x) => x === id).length;
    return {
      serverEnv,
      connections,
      opened: opened.opened,
      refused: opened.errors,
      refusedSamples: opened.errorSamples,
      openSeconds,
      eventsWhileIdle: eventsAfter - eventsBefore,
      probe: { customers: probeIds.length, subscriptions: probeIds.reduce((sum, id) => sum + perId(id), 0), events: probed },
      before,
      after,
    };
  } finally {
    if (clients.connected) clients.send({ close: true });
    await new Promise((resolve) => (clients.exitCode !== null ? resolve(undefined) : clients.once('exit', resolve)));
    await server.stop();
  }
}
