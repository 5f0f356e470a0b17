import { ConstantBackoff, handleWhen, retry, wrap } from 'cockatiel';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type { Logger } from 'pino';
import type { SignalProducer, SignalSink } from '../signals.ts';
import { connectInBackground, DEFAULT_RECONNECT, reconnectPolicy, type ReconnectOptions } from './reconnect.ts';
import { CHANGES, changeSignal, isWatchedTable, WATCHED_TABLES, type RowChange, type RowOperation } from './tables.ts';

export interface LogicalProducerOptions {
  /** The shop database (DATABASE_URL); the role needs REPLICATION (or superuser) and SELECT on the watched tables. */
  readonly connectionString: string;
  readonly logger: Logger;
  /** The replication slot (pgoutput), `c360_changes` by default: `npm run push:setup -- logical` creates it. */
  readonly slot?: string;
  /** The publication, `c360_changes` by default. */
  readonly publication?: string;
  readonly reconnect?: ReconnectOptions;
  /** How often a replica standing by (another one holds the slot) tries to take it over, ms (5000 by default). */
  readonly standbyRetryMs?: number;
}

/**
 * Signals from the shop database's write-ahead log: logical decoding of the publication's tables
 * through a replication slot (pgoutput, pg-logical-replication). One signal per changed row of a
 * committed transaction, all handed over at its commit, id `commerce:<table>:<id>:<op>:<lsn>`.
 *
 * Nothing is lost across a restart or a dropped connection: the slot keeps every change until we
 * acknowledge it, and we acknowledge a transaction only once its signals are handed over; a
 * transaction sent again (its acknowledgement had not reached disk) is recognised by its LSN and
 * skipped. Only one connection may stream from a slot: the other replicas stand by, trying every
 * `standbyRetryMs`, and one of them takes over when the holder stops (the hub fans signals out to
 * every replica, so one decoder serves the fleet). DELETEs of orders and carts carry only the key
 * unless the table has REPLICA IDENTITY FULL, so they are signalled only then.
 */
export function logicalProducer(options: LogicalProducerOptions): SignalProducer {
  return new LogicalProducer(options);
}

const OPERATIONS = { insert: 'INSERT', update: 'UPDATE', delete: 'DELETE' } as const satisfies Record<string, RowOperation>;

interface OpenTransaction {
  /** The commit's time, ISO 8601. */
  readonly at: string;
  readonly changes: RowChange[];
}

class LogicalProducer implements SignalProducer {
  readonly name = 'commerce-logical';
  private readonly slot: string;
  private readonly publication: string;
  private readonly log: Logger;
  private emit: SignalSink | null = null;
  private stopping = new AbortController();
  private service: LogicalReplicationService | null = null;
  /** The transaction being received; null between transactions and for one already handed over. */
  private transaction: OpenTransaction | null = null;
  /** The end LSN of the last transaction handed over: one the server sends again, committed before it, is skipped. */
  private handledUpTo = 0n;
  /** The LSN last acknowledged on the current connection. */
  private confirmed = 0n;
  private standingBy = false;
  private readonly warned = new Set<string>();

  constructor(private readonly options: LogicalProducerOptions) {
    this.slot = options.slot ?? CHANGES;
    this.publication = options.publication ?? CHANGES;
    this.log = options.logger.child({ producer: this.name, slot: this.slot });
  }

  async start(emit: SignalSink): Promise<void> {
    if (this.emit) throw new Error(`${this.name} is already started`);
    this.emit = emit;
    this.stopping = new AbortController();
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.emit = null;
    const service = this.service;
    this.service = null;
    this.transaction = null;
    await service?.destroy().catch(() => undefined);
  }

  private connect(): Promise<void> {
    const reconnect = reconnectPolicy(
      this.options.reconnect ?? DEFAULT_RECONNECT,
      handleWhen((error) => !isSlotInUse(error)),
    );
    reconnect.onRetry(({ delay, ...failure }) => {
      const error = 'error' in failure ? failure.error : undefined;
      this.log.warn({ err: error, hint: hintFor(error), retryInMs: Math.round(delay) }, 'cannot decode the shop database: retrying');
    });
    const standbyRetryMs = this.options.standbyRetryMs ?? 5000;
    const standby = retry(
      handleWhen((error) => isSlotInUse(error)),
      { maxAttempts: Infinity, backoff: new ConstantBackoff(standbyRetryMs) },
    ).dangerouslyUnref();
    standby.onRetry(() => {
      if (this.standingBy) return;
      this.standingBy = true;
      this.log.info({ retryEveryMs: standbyRetryMs }, 'another replica holds the replication slot: standing by to take over');
    });
    return connectInBackground(wrap(standby, reconnect), (signal) => this.replicate(signal), this.stopping.signal);
  }

  /** One connection: checks the set-up, streams until the connection ends (then `lost` reconnects). */
  private async replicate(stopped: AbortSignal): Promise<void> {
    await this.checkSetup();
    const service = new LogicalReplicationService(
      { connectionString: this.options.connectionString, connectionTimeoutMillis: 10_000 },
      // Acknowledged by hand, after hand-over (auto:false); timeoutSeconds:0, since any other value
      // has the library acknowledge the last LSN received, handled or not. Flow control pauses the
      // socket while a message is handled.
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    // Every failure also settles `ended` below, which is where it is handled.
    service.on('error', () => undefined);
    service.on('data', (lsn: string, message: Pgoutput.Message) => this.handle(service, lsn, message));
    service.on('heartbeat', (lsn: string, _time: number, shouldRespond: boolean) => this.heartbeat(service, lsn, shouldRespond));
    // Before subscribing: the first messages may be handled before the code after `started` runs.
    this.transaction = null;
    this.confirmed = 0n;
    const started = new Promise<void>((resolve) => service.once('start', () => resolve()));
    const ended = service.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.publication] }), this.slot);
    try {
      await Promise.race([started, ended]);
    } catch (error) {
      await service.destroy().catch(() => undefined);
      throw error;
    }
    if (stopped.aborted) {
      await service.destroy().catch(() => undefined);
      return;
    }
    this.service = service;
    this.log.info({ publication: this.publication }, this.standingBy ? 'took over the replication slot: decoding the shop database' : 'decoding the shop database');
    this.standingBy = false;
    ended.then(
      () => this.lost(service, new Error('the replication stream ended')),
      (error: unknown) => this.lost(service, error),
    );
  }

  /** The slot and the publication exist, with a clear message when not (the walsender's own errors come later, or never). */
  private async checkSetup(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString, connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ plugin: string | null; publication: boolean }>(
        `SELECT (SELECT plugin FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()) AS plugin,
                EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2) AS publication`,
        [this.slot, this.publication],
      );
      const { plugin, publication } = rows[0]!;
      const setup = 'run `npm run push:setup -- logical` (docs/push-shop.md)';
      if (plugin === null) throw new Error(`expected the replication slot "${this.slot}" in this database, found none: ${setup}`);
      if (plugin !== 'pgoutput') throw new Error(`expected the replication slot "${this.slot}" to use pgoutput, it uses ${plugin}: drop it and ${setup}`);
      if (!publication) throw new Error(`expected the publication "${this.publication}", found none: ${setup}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The stream of `service` failed or ended: reconnect, once. The slot kept what was not acknowledged. */
  private lost(service: LogicalReplicationService, error: unknown): void {
    if (service !== this.service) return;
    this.service = null;
    this.transaction = null;
    this.log.warn({ err: error }, 'lost the replication connection: reconnecting (the slot keeps what was not acknowledged)');
    service.destroy().catch(() => undefined);
    void this.connect();
  }

  /**
   * Synchronous on purpose: the library's flow-control queue then drains within the turn of the
   * event loop that received the messages, which `heartbeat` relies on.
   */
  private handle(service: LogicalReplicationService, lsn: string, message: Pgoutput.Message): void {
    switch (message.tag) {
      case 'begin': {
        const commit = parseLsn(message.commitLsn);
        const seen = commit !== null && commit < this.handledUpTo;
        this.transaction = seen ? null : { at: new Date(Number(BigInt(message.commitTime as bigint) / 1000n)).toISOString(), changes: [] };
        return;
      }
      case 'insert':
      case 'update':
      case 'delete': {
        const change = this.transaction && this.rowChange(message, lsn, this.transaction.at);
        if (change) this.transaction!.changes.push(change);
        return;
      }
      case 'commit': {
        const transaction = this.transaction;
        this.transaction = null;
        const end = parseLsn(message.commitEndLsn) ?? parseLsn(lsn)!;
        if (transaction) {
          const receivedAt = Date.now();
          for (const change of transaction.changes) this.emit?.(changeSignal(change, receivedAt));
          if (end > this.handledUpTo) this.handledUpTo = end;
        }
        this.confirm(service, end);
        return;
      }
      case 'truncate':
        this.warnOnce('truncate', { tables: message.relations.map((relation) => relation.name) }, 'a TRUNCATE of a watched table is not signalled');
        return;
      default:
        // relation, type, origin, message: metadata the library keeps for decoding rows.
        return;
    }
  }

  private rowChange(message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete, lsn: string, at: string): RowChange | null {
    const table = message.relation.name;
    if (!isWatchedTable(table)) return null;
    const row: Record<string, unknown> | null = message.tag === 'delete' ? (message.old ?? message.key) : message.new;
    const id = row?.id;
    const customerId = row?.[WATCHED_TABLES[table].customerColumn];
    if (id == null || customerId == null) {
      this.warnOnce(`${table}:${message.tag}`, { table }, `a ${message.tag} without the customer column is not signalled: set REPLICA IDENTITY FULL on the table to signal it`);
      return null;
    }
    return { table, op: OPERATIONS[message.tag], id: String(id), customerId: String(customerId), version: formatLsn(parseLsn(lsn)!), at };
  }

  /**
   * A keepalive says how far the server has sent (`lsn`) and may ask for a reply. Once every
   * message received before it is handled (by the next turn of the event loop: see `handle`), every
   * transaction committed before that point has been handed over, so it is acknowledged: the slot
   * then moves on while the watched tables are quiet instead of holding the WAL others write.
   */
  private heartbeat(service: LogicalReplicationService, lsn: string, shouldRespond: boolean): void {
    const position = parseLsn(lsn);
    setImmediate(() => {
      if (service !== this.service || position === null) return;
      if (position > this.confirmed) this.confirm(service, position);
      else if (shouldRespond) this.send(service, this.confirmed);
    });
  }

  private confirm(service: LogicalReplicationService, position: bigint): void {
    if (position <= this.confirmed) return;
    this.confirmed = position;
    this.send(service, position);
  }

  /**
   * pg-logical-replication reports the LSN it is given plus one (a "last byte + 1"); PostgreSQL's
   * own subscriber reports a commit's end LSN exactly, and one byte past it would skip, after a
   * reconnect, a transaction whose commit record starts right there. So it is given one less.
   */
  private send(service: LogicalReplicationService, position: bigint): void {
    void service.acknowledge(formatLsn(position - 1n));
  }

  private warnOnce(key: string, fields: object, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(fields, message);
  }
}

/** PostgreSQL's 55006 (object_in_use): "replication slot ... is active for PID ...". */
const isSlotInUse = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === '55006';

/** What to do about a failure to decode, for the log. */
function hintFor(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '42501' || code === '28000') return 'the role needs the REPLICATION attribute (or superuser) and SELECT on the watched tables';
  if (code === '55000') return 'logical decoding needs wal_level=logical (a server restart): see docs/push-shop.md';
  return undefined;
}

/** An LSN as a number: "16/B374D848" (or zero-padded) to 0x16B374D848. Null for none. */
export function parseLsn(lsn: string | null): bigint | null {
  const match = lsn === null ? null : /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  if (!match) return null;
  const position = (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
  return position === 0n ? null : position;
}

/** An LSN as PostgreSQL writes it: 0x16B374D848 to "16/B374D848". */
export function formatLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}
