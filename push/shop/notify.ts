import pg from 'pg';
import type { Logger } from 'pino';
import type { SignalProducer, SignalSink } from '../signals.ts';
import { connectInBackground, DEFAULT_RECONNECT, reconnectPolicy, type ReconnectOptions } from './reconnect.ts';
import { CHANGES, changeSignal } from './tables.ts';
import { parseNotification } from './triggers.ts';

export interface NotifyProducerOptions {
  /** The shop database (DATABASE_URL), with the triggers installed (`npm run push:setup -- notify`). */
  readonly connectionString: string;
  readonly logger: Logger;
  readonly reconnect?: ReconnectOptions;
  /**
   * How often the listening connection, idle otherwise, runs `SELECT 1`, ms (30 000 by default): a
   * connection a firewall dropped without a word is found by this, not by waiting for a NOTIFY.
   */
  readonly pingIntervalMs?: number;
}

/**
 * Signals from the shop database's triggers (LISTEN/NOTIFY, see triggers.ts): one signal per
 * notification, id `commerce:<table>:<id>:<op>:<txid>`, the same on every replica. It listens on
 * a connection of its own (a pool hands out any client and closes idle ones, and LISTEN belongs
 * to one session) and reconnects with backoff when it drops. NOTIFY reaches only those listening
 * at commit: changes committed while the connection was down are not signalled (logged when it
 * is back, with how long it was down); the cache's TTLs cover them.
 */
export function notifyProducer(options: NotifyProducerOptions): SignalProducer {
  return new NotifyProducer(options);
}

class NotifyProducer implements SignalProducer {
  readonly name = 'commerce-notify';
  private emit: SignalSink | null = null;
  private stopping = new AbortController();
  private client: pg.Client | null = null;
  private ping: NodeJS.Timeout | undefined;
  /** When the connection was lost, while it is down. */
  private lostAt: number | null = null;
  private readonly log: Logger;

  constructor(private readonly options: NotifyProducerOptions) {
    this.log = options.logger.child({ producer: this.name });
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
    clearInterval(this.ping);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<void> {
    const policy = reconnectPolicy(this.options.reconnect ?? DEFAULT_RECONNECT);
    policy.onRetry(({ delay, ...failure }) => {
      this.log.warn({ err: 'error' in failure ? failure.error : undefined, retryInMs: Math.round(delay) }, 'cannot listen to the shop database: retrying');
    });
    return connectInBackground(policy, (signal) => this.listen(signal), this.stopping.signal);
  }

  private async listen(stopped: AbortSignal): Promise<void> {
    const pingIntervalMs = this.options.pingIntervalMs ?? 30_000;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
      // Bounds the ping: a dead connection's SELECT 1 fails instead of waiting forever.
      query_timeout: Math.max(1000, Math.min(pingIntervalMs, 10_000)),
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', ({ channel, payload }) => {
      if (channel === CHANGES) this.notified(payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES}`);
    } catch (error) {
      client.end().catch(() => undefined);
      throw error;
    }
    if (stopped.aborted) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.ping = setInterval(() => void client.query('SELECT 1').catch((error: unknown) => this.lost(client, error)), pingIntervalMs).unref();
    if (this.lostAt === null) {
      this.log.info({ channel: CHANGES }, 'listening to the shop database');
    } else {
      this.log.warn({ channel: CHANGES, downMs: Date.now() - this.lostAt }, 'listening to the shop database again: changes committed while it was down were not signalled');
      this.lostAt = null;
    }
  }

  /** The current connection failed (an error, its end, a failed ping): reconnect, once. */
  private lost(client: pg.Client, error: unknown): void {
    if (client !== this.client) return;
    this.client = null;
    clearInterval(this.ping);
    this.lostAt = Date.now();
    this.log.warn({ err: error }, 'lost the connection listening to the shop database: reconnecting');
    client.end().catch(() => undefined);
    void this.connect();
  }

  private notified(payload: string): void {
    const change = parseNotification(payload);
    if (!change) {
      // Someone else's NOTIFY on our channel: its text is not ours to log.
      this.log.warn({ channel: CHANGES, bytes: payload.length }, 'ignored a notification the triggers did not write');
      return;
    }
    this.emit?.(changeSignal(change, Date.now()));
  }
}
