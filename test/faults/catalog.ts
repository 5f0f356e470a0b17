import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Config } from '../../server/config.ts';
import type { SourceName } from '../../sources/errors.ts';
import type { FaultWorld } from './world.ts';

/** What a fault breaks: a source, the cluster both SQL sources share, or the shared cache. */
export type Target = SourceName | 'cluster' | 'redis';

/**
 * One fault of the suite. Declared here once; the test, the bounds and the results table are
 * derived from these entries.
 */
export interface Fault {
  readonly target: Target;
  /** Short id for the table: hang, refuse, 500, 429, malformed, lose-table, ... */
  readonly kind: string;
  /** What happens, for the test's name: "HubSpot hangs". */
  readonly title: string;
  /** Sources whose calls fail while it lasts (their fields may carry typed errors naming them). */
  readonly faulty: readonly SourceName[];
  /**
   * Whether every call of a faulty source fails (then the breaker must bound the calls) or only
   * some of its families (then each request may still make its own calls, without retries).
   */
  readonly scope: 'whole' | 'partial' | 'none';
  /** Recovery allowed beyond the breaker cool-down (e.g. a Retry-After the source must honour). */
  readonly extraRecoveryMs?: number;
  /** Ends by itself when `inject` resolves (a restart): the fault window is `inject`'s duration. */
  readonly transient?: boolean;
  inject(world: FaultWorld): Promise<void>;
  /** Undoes `inject`; safe to call when it is not in force. */
  remove(world: FaultWorld): Promise<void>;
  /** After recovery, what else must hold again (a failure's description, or null). */
  recovered?(world: FaultWorld): Promise<string | null>;
}

/**
 * Sources that read through another: the warehouse is keyed by the shop's customer id, so a
 * customer found by email has no `web` (nor `id`) while the shop database fails; those fields are
 * excused, provided their errors name the shop database.
 */
export const READS_THROUGH: Partial<Record<SourceName, readonly SourceName[]>> = { web: ['commerce'] };

/** Families the personalization query calls per source (for the calls bound). */
export const FAMILIES_PER_REQUEST: Record<SourceName, number> = { commerce: 4, crm: 1, email: 1, web: 2 };

/** Upstream attempts one call may make (its retries); SQL statements are never retried. */
export const ATTEMPTS_PER_CALL: Record<SourceName, number> = { commerce: 1, web: 1, crm: 5, email: 5 };

/** The longest one call may take by configuration (its timeouts and retry budget). */
export function callMs(source: SourceName, config: Config): number {
  switch (source) {
    case 'crm':
      return config.HUBSPOT_TIMEOUT_MS + config.HUBSPOT_RETRY_BUDGET_MS;
    case 'email':
      return config.MAILCHIMP_TIMEOUT_MS + config.MAILCHIMP_RETRY_BUDGET_MS;
    default:
      // Waiting for a connection, then the statement.
      return 2 * config.DATABASE_STATEMENT_TIMEOUT_MS;
  }
}

/**
 * The most upstream calls a source may receive during a fault window, if it is not being hammered:
 * for a whole-source fault, the calls in flight before the breaker can know (each client's
 * requests for as long as a call may last), the failures that open it, and one probe per
 * cool-down, each times the attempts of one call; for a partial fault (or one the source absorbed),
 * two calls per family per request started in the window or in flight when it began (no retries
 * multiplying it).
 */
export function callBound(scope: Fault['scope'], source: SourceName, config: Config, window: { ms: number; requests: number; clients: number }): number {
  // Requests already in flight when the fault began make their calls inside the window too; a
  // failed call may cost one more (a catalog check after a missing table), never retries.
  if (scope !== 'whole') return 2 * (window.requests + window.clients) * FAMILIES_PER_REQUEST[source];
  const inFlight = window.clients * FAMILIES_PER_REQUEST[source] * Math.ceil(callMs(source, config) / config.REQUEST_BUDGET_MS);
  const probes = Math.ceil(window.ms / config.BREAKER_COOLDOWN_MS) + 1;
  return ATTEMPTS_PER_CALL[source] * (config.BREAKER_FAILURES + inFlight + probes);
}

async function ddl(world: FaultWorld, database: 'shop' | 'warehouse', statement: string, ignore?: RegExp): Promise<void> {
  const client: pg.Client = await world.admin(database);
  try {
    // Under load a rename waits for the statements holding the table; never for long.
    await client.query(`SET lock_timeout = '5s'`);
    await client.query(statement);
  } catch (error) {
    if (!ignore?.test((error as Error).message)) throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A rename that `remove` can undo even when `inject` never ran (the object is then just not there). */
const notThere = /does not exist/;

const sql = (target: 'commerce' | 'web'): Fault[] => {
  const proxy = (world: FaultWorld) => world.proxies[target];
  const database = target === 'commerce' ? 'shop' : 'warehouse';
  const name = target === 'commerce' ? 'the shop database' : 'the event warehouse';
  const lost =
    target === 'commerce'
      ? {
          table: { from: 'orders', to: 'orders_lost', scope: 'partial' as const, what: 'loses its orders table (purchases, RFM, carts)' },
          column: { table: 'customers', column: 'signup_channel', scope: 'whole' as const, what: 'loses a column of customers (every lookup)' },
        }
      : {
          table: { from: 'web.pages', to: 'pages_lost', scope: 'whole' as const, what: 'loses its pages table (every session)' },
          column: { table: 'web.product_viewed', column: 'category', scope: 'partial' as const, what: 'loses product_viewed.category (top categories)' },
        };
  const schemaOf = (table: string) => (table.includes('.') ? `${table.split('.')[0]}.` : '');
  return [
    {
      target,
      kind: 'hang',
      title: `${name} stops answering (a network partition)`,
      faulty: [target],
      scope: 'whole',
      inject: async (world) => proxy(world).hang(),
      remove: (world) => proxy(world).restore(),
    },
    {
      target,
      kind: 'refuse',
      title: `${name} refuses connections`,
      faulty: [target],
      scope: 'whole',
      inject: (world) => proxy(world).refuse(),
      remove: (world) => proxy(world).restore(),
    },
    {
      target,
      kind: 'lose-table',
      title: `${name} ${lost.table.what}`,
      faulty: [target],
      scope: lost.table.scope,
      inject: (world) => ddl(world, database, `ALTER TABLE ${lost.table.from} RENAME TO ${lost.table.to}`),
      remove: (world) => ddl(world, database, `ALTER TABLE ${schemaOf(lost.table.from)}${lost.table.to} RENAME TO ${lost.table.from.split('.').pop()}`, notThere),
    },
    {
      target,
      kind: 'lose-column',
      title: `${name} ${lost.column.what}`,
      faulty: [target],
      scope: lost.column.scope,
      inject: (world) => ddl(world, database, `ALTER TABLE ${lost.column.table} RENAME COLUMN ${lost.column.column} TO ${lost.column.column}_lost`),
      remove: (world) => ddl(world, database, `ALTER TABLE ${lost.column.table} RENAME COLUMN ${lost.column.column}_lost TO ${lost.column.column}`, notThere),
    },
  ];
};

/** How long after Redis is back (and the load recovered) the server may take to write to it again. */
const REDIS_BACK_WITHIN_MS = 5000;

/** Garbage on the evictions channel: not JSON, JSON of the wrong shape, huge, empty. */
const MALFORMED_EVICTIONS = [
  'not json',
  'null',
  '[]',
  '42',
  '{"from":"elsewhere"}',
  '{"from":"elsewhere","keys":"crm:contact-by-email:x"}',
  '{"keys":[1,{},null]}',
  '',
  '{'.repeat(10_000),
];

export const FAULTS: readonly Fault[] = [
  ...sql('commerce'),
  ...sql('web'),
  {
    target: 'crm',
    kind: 'hang',
    title: 'HubSpot accepts requests and never answers',
    faulty: ['crm'],
    scope: 'whole',
    inject: async ({ hubspot }) => void (hubspot.hang = true),
    remove: async ({ hubspot }) => void (hubspot.hang = false),
  },
  {
    target: 'crm',
    kind: 'refuse',
    title: 'HubSpot refuses connections',
    faulty: ['crm'],
    scope: 'whole',
    inject: ({ hubspot }) => hubspot.stopListening(),
    remove: ({ hubspot }) => hubspot.listenAgain(),
  },
  {
    target: 'crm',
    kind: '500',
    title: 'HubSpot answers 500',
    faulty: ['crm'],
    scope: 'whole',
    inject: async ({ hubspot }) => void (hubspot.errorRate = 1),
    remove: async ({ hubspot }) => void (hubspot.errorRate = 0),
  },
  {
    target: 'crm',
    kind: '429',
    title: 'HubSpot answers 429 with Retry-After: 1',
    faulty: ['crm'],
    scope: 'whole',
    extraRecoveryMs: 1000,
    inject: async ({ hubspot }) => void (hubspot.force429 = { times: 'always', policy: 'TEN_SECONDLY_ROLLING', retryAfterSeconds: 1 }),
    remove: async ({ hubspot }) => void (hubspot.force429 = null),
  },
  {
    target: 'crm',
    kind: 'malformed',
    title: 'HubSpot answers truncated JSON',
    faulty: ['crm'],
    scope: 'whole',
    inject: async ({ hubspot }) => void (hubspot.corruptResponses = Number.POSITIVE_INFINITY),
    remove: async ({ hubspot }) => void (hubspot.corruptResponses = 0),
  },
  {
    target: 'email',
    kind: 'hang',
    title: 'Mailchimp accepts requests and never answers',
    faulty: ['email'],
    scope: 'whole',
    inject: async ({ mailchimp }) => void (mailchimp.knobs.hang = true),
    remove: async ({ mailchimp }) => void (mailchimp.knobs.hang = false),
  },
  {
    target: 'email',
    kind: 'refuse',
    title: 'Mailchimp refuses connections',
    faulty: ['email'],
    scope: 'whole',
    inject: ({ mailchimp }) => mailchimp.stopListening(),
    remove: ({ mailchimp }) => mailchimp.listenAgain(),
  },
  {
    target: 'email',
    kind: '500',
    title: 'Mailchimp answers 500',
    faulty: ['email'],
    scope: 'whole',
    inject: async ({ mailchimp }) => void (mailchimp.knobs.force500 = 'always'),
    remove: async ({ mailchimp }) => void (mailchimp.knobs.force500 = 0),
  },
  {
    target: 'email',
    kind: '429',
    title: 'Mailchimp answers 429 with Retry-After: 1',
    faulty: ['email'],
    scope: 'whole',
    extraRecoveryMs: 1000,
    inject: async ({ mailchimp }) => void Object.assign(mailchimp.knobs, { force429: 'always', retryAfterSeconds: 1 }),
    remove: async ({ mailchimp }) => void Object.assign(mailchimp.knobs, { force429: 0, retryAfterSeconds: undefined }),
  },
  {
    target: 'email',
    kind: 'malformed',
    title: 'Mailchimp answers truncated JSON',
    faulty: ['email'],
    scope: 'whole',
    inject: async ({ mailchimp }) => void (mailchimp.knobs.corruptResponses = Number.POSITIVE_INFINITY),
    remove: async ({ mailchimp }) => void (mailchimp.knobs.corruptResponses = 0),
  },
  {
    target: 'cluster',
    kind: 'restart',
    title: 'the PostgreSQL cluster restarts (pg_ctl restart -m fast)',
    faulty: ['commerce', 'web'],
    scope: 'whole',
    transient: true,
    inject: ({ cluster }) => cluster.restart(),
    remove: async () => undefined,
  },
  {
    target: 'cluster',
    kind: 'stop',
    title: 'the PostgreSQL cluster is stopped (pg_ctl stop -m fast) and started again',
    faulty: ['commerce', 'web'],
    scope: 'whole',
    inject: ({ cluster }) => cluster.stop(),
    remove: ({ cluster }) => cluster.start(),
  },
  {
    target: 'redis',
    kind: 'kill',
    title: 'Redis is killed (SIGKILL) and comes back empty',
    faulty: [],
    scope: 'none',
    inject: ({ redis }) => redis.kill(),
    remove: async ({ redis }) => {
      if (redis.pid === undefined) await redis.start();
    },
    // Degrading to the in-process copy is half of it: the server must write to Redis again, once
    // its reconnection (backing off up to 2 s) finds it back.
    recovered: async ({ redis }) => {
      let reply = '';
      for (let waited = 0; waited <= REDIS_BACK_WITHIN_MS; waited += 250) {
        reply = await redis.command('DBSIZE').catch((error: Error) => `error ${error.message}`);
        if (/^:[1-9]/.test(reply)) return null;
        await sleep(250);
      }
      return `Redis unused ${REDIS_BACK_WITHIN_MS} ms after it came back (DBSIZE ${reply.trim()})`;
    },
  },
  {
    target: 'redis',
    kind: 'hang',
    title: 'Redis stops answering (SIGSTOP: its connections open, no replies)',
    faulty: [],
    scope: 'none',
    inject: async ({ redis }) => redis.freeze(),
    remove: async ({ redis }) => redis.thaw(),
  },
  (() => {
    let timer: NodeJS.Timeout | undefined;
    return {
      target: 'redis',
      kind: 'malformed-evictions',
      title: 'malformed messages arrive on the Redis evictions channel',
      faulty: [],
      scope: 'none',
      inject: async ({ redis }) => {
        let next = 0;
        const publish = () => {
          const message = MALFORMED_EVICTIONS[next++ % MALFORMED_EVICTIONS.length]!;
          redis.command('PUBLISH', 'c360:evictions', message).catch(() => undefined);
        };
        publish();
        timer = setInterval(publish, 50);
      },
      remove: async () => {
        clearInterval(timer);
        timer = undefined;
      },
    } satisfies Fault;
  })(),
];
