import { slotPrefix, type RedisClient } from '../../cache/redis-client.ts';
import type { TriggerEvent } from '../signals.ts';

/** One delivery to make: a trigger event for one endpoint. */
export interface Job {
  /** The idempotency key (`webhook-id`), from the event's id and the endpoint's (signing.ts). */
  readonly webhookId: string;
  readonly endpointId: string;
  readonly event: TriggerEvent;
}

/** A job taken from the queue: this consumer holds it until `done`, `retry` or `deadLetter`. */
export interface Leased {
  /** The queue's id of this entry. */
  readonly ref: string;
  readonly job: Job;
  /** Attempts already made (0 for a new job or a replay). */
  readonly attempts: number;
}

export interface DeadLetter {
  readonly id: string;
  readonly job: Job;
  readonly attempts: number;
  readonly reason: string;
  /** Epoch ms. */
  readonly failedAt: number;
}

/**
 * The durable part of outgoing webhooks: jobs wait here until a deliverer takes them, and a job a
 * deliverer took but never settled (its process died) is taken by another after `claimIdleMs`.
 * Every method rejects when the backing store does (Redis down); the deliverer retries.
 */
export interface DeliveryQueue {
  /**
   * Adds a job unless one with the same `webhookId` was added within the dedupe window, across
   * every replica: true when added, false for a repeat.
   */
  enqueue(job: Job): Promise<boolean>;
  /**
   * Up to `max` jobs to deliver now: retries that are due, jobs another consumer left unsettled
   * for too long, then new ones. Waits up to `waitMs` (less when a retry falls due sooner) when
   * there are none, then resolves with what it has, maybe nothing.
   */
  take(max: number, waitMs: number): Promise<Leased[]>;
  /** Settles a job for good (delivered, or given up without a dead letter). */
  done(entry: Leased): Promise<void>;
  /** Settles this attempt and offers the job again at `dueAt` (epoch ms), `attempts` made. */
  retry(entry: Leased, attempts: number, dueAt: number): Promise<void>;
  /** Settles the job onto the dead-letter list. */
  deadLetter(entry: Leased, attempts: number, reason: string): Promise<void>;
  /** One endpoint's dead letters, newest first. */
  deadLetters(endpointId: string, first: number): Promise<DeadLetter[]>;
  /** Takes a dead letter off the list and queues its job again from attempt 0; false when there is none. */
  replay(id: string): Promise<boolean>;
  /** Releases what the queue holds (connections, timers); jobs still held stay for another consumer. */
  close(): Promise<void>;
}

export interface QueueBounds {
  /** How long an idempotency key blocks a repeat of its job (ms): longer than any replica's lag. */
  readonly dedupeMs: number;
  /** Dead letters kept; older ones are pushed out. */
  readonly maxDeadLetters: number;
}

/**
 * The queue in this process: the same behaviour as RedisQueue, without its durability (a restart
 * loses what is queued) and without other consumers (nothing is ever claimed from another).
 */
export class MemoryQueue implements DeliveryQueue {
  private readonly seen = new Map<string, number>();
  private readonly ready: Leased[] = [];
  private retries: Array<{ dueAt: number; job: Job; attempts: number }> = [];
  private readonly dead: DeadLetter[] = [];
  private sequence = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly bounds: QueueBounds) {}

  async enqueue(job: Job): Promise<boolean> {
    const now = Date.now();
    // Keys expire in the order they were added (one window for all): stop at the first live one.
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(key);
    }
    if (this.seen.has(job.webhookId)) return false;
    this.seen.set(job.webhookId, now + this.bounds.dedupeMs);
    this.push(job, 0);
    return true;
  }

  async take(max: number, waitMs: number): Promise<Leased[]> {
    this.promote();
    if (this.ready.length === 0 && waitMs > 0) {
      const nextDue = Math.min(...this.retries.map((retry) => retry.dueAt));
      const wait = Math.max(0, Math.min(waitMs, nextDue - Date.now()));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
      this.promote();
    }
    return this.ready.splice(0, max);
  }

  async done(): Promise<void> {}

  async retry(entry: Leased, attempts: number, dueAt: number): Promise<void> {
    this.retries.push({ dueAt, job: entry.job, attempts });
    this.wake?.();
  }

  async deadLetter(entry: Leased, attempts: number, reason: string): Promise<void> {
    this.dead.push({ id: `dl-${++this.sequence}`, job: entry.job, attempts, reason, failedAt: Date.now() });
    if (this.dead.length > this.bounds.maxDeadLetters) this.dead.shift();
  }

  async deadLetters(endpointId: string, first: number): Promise<DeadLetter[]> {
    return this.dead
      .filter((letter) => letter.job.endpointId === endpointId)
      .reverse()
      .slice(0, first);
  }

  async replay(id: string): Promise<boolean> {
    const index = this.dead.findIndex((letter) => letter.id === id);
    if (index < 0) return false;
    const [letter] = this.dead.splice(index, 1);
    this.push(letter!.job, 0);
    return true;
  }

  async close(): Promise<void> {
    this.wake?.();
  }

  private push(job: Job, attempts: number): void {
    this.ready.push({ ref: String(++this.sequence), job, attempts });
    this.wake?.();
  }

  private promote(): void {
    const now = Date.now();
    const due = this.retries.filter((retry) => retry.dueAt <= now);
    if (due.length === 0) return;
    this.retries = this.retries.filter((retry) => retry.dueAt > now);
    for (const retry of due) this.ready.push({ ref: String(++this.sequence), job: retry.job, attempts: retry.attempts });
  }
}

export interface RedisQueueOptions extends QueueBounds {
  /** Commands: one server, or a Redis Cluster. */
  readonly redis: RedisClient;
  /** A connection of its own for the blocking read (a blocked connection answers nothing else). */
  readonly blocking: RedisClient;
  /**
   * Namespace of the queue's keys: `<prefix>queue`, `<prefix>retries`, `<prefix>dead`,
   * `<prefix>seen:<webhook-id>`; on a cluster `{<prefix>}queue` and so on, one hash slot for all.
   */
  readonly prefix: string;
  /** This consumer's name in the group, unique in the fleet. */
  readonly consumer: string;
  /** A job held by a consumer for longer than this is taken by another (it must exceed an attempt's longest duration). */
  readonly claimIdleMs: number;
}

const GROUP = 'deliverers';

// Atomic, so a job is added once or not at all whatever replica or failure: the key and the entry go together.
const ENQUEUE = `if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return redis.call('XADD', KEYS[2], '*', 'job', ARGV[2], 'attempts', '0') end return false`;
// Atomic, so two replicas never move the same due retry twice.
const PROMOTE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local space = string.find(member, ' ', 1, true)
  redis.call('XADD', KEYS[2], '*', 'job', string.sub(member, space + 1), 'attempts', string.sub(member, 1, space - 1))
  redis.call('ZREM', KEYS[1], member)
end
return #due`;
// Atomic, so a dead letter is replayed once however many admins press the button.
const REPLAY = `
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local fields = found[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'job' then redis.call('XADD', KEYS[2], '*', 'job', fields[i + 1], 'attempts', '0') end
end
redis.call('XDEL', KEYS[1], ARGV[1])
return 1`;

/**
 * The queue in Redis, shared by every replica: a stream read through one consumer group (each
 * entry goes to one consumer), retries in a sorted set by due time (moved back to the stream when
 * due), dead letters in a stream of their own, and a `SET NX` key per job so the fleet enqueues
 * each (event, endpoint) once. A settled entry is acknowledged and deleted, so the stream holds
 * only what is queued or held. Needs Redis 6.2 or later (XAUTOCLAIM).
 */
export class RedisQueue implements DeliveryQueue {
  private readonly keys: { queue: string; retries: string; dead: string; seen: string };
  private groupReady = false;

  constructor(private readonly options: RedisQueueOptions) {
    // The scripts and transactions below each span several of these keys: on a cluster they must
    // share a slot, so the whole queue lives on one node (its stream is one key there anyway).
    const prefix = slotPrefix(options.redis, options.prefix);
    this.keys = { queue: `${prefix}queue`, retries: `${prefix}retries`, dead: `${prefix}dead`, seen: `${prefix}seen:` };
    // A restarted Redis without persistence has no group: create it again on the next take.
    options.redis.on('ready', () => void (this.groupReady = false));
  }

  async enqueue(job: Job): Promise<boolean> {
    const id = await this.options.redis.eval(ENQUEUE, 2, this.keys.seen + job.webhookId, this.keys.queue, this.options.dedupeMs, JSON.stringify(job));
    return id !== null;
  }

  async take(max: number, waitMs: number): Promise<Leased[]> {
    const { redis, blocking, consumer, claimIdleMs } = this.options;
    await this.ensureGroup();
    await redis.eval(PROMOTE, 2, this.keys.retries, this.keys.queue, Date.now(), max);
    const [, claimed] = (await redis.xautoclaim(this.keys.queue, GROUP, consumer, claimIdleMs, '0-0', 'COUNT', max)) as [string, StreamEntry[], string[]];
    const taken = claimed.filter((entry) => entry?.[1]).map(leasedOf);
    if (taken.length >= max) return taken;
    let wait = taken.length > 0 ? 0 : waitMs;
    if (wait > 0) {
      const [, score] = await redis.zrange(this.keys.retries, '0', '0', 'WITHSCORES');
      const nextDue = score === undefined ? Infinity : Number(score);
      wait = Math.max(1, Math.min(wait, nextDue - Date.now()));
    }
    try {
      const read = (await (wait > 0
        ? blocking.xreadgroup('GROUP', GROUP, consumer, 'COUNT', max - taken.length, 'BLOCK', wait, 'STREAMS', this.keys.queue, '>')
        : redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', max - taken.length, 'STREAMS', this.keys.queue, '>'))) as Array<[string, StreamEntry[]]> | null;
      return [...taken, ...(read?.[0]?.[1] ?? []).map(leasedOf)];
    } catch (error) {
      if (String((error as Error).message).startsWith('NOGROUP')) this.groupReady = false;
      throw error;
    }
  }

  async done(entry: Leased): Promise<void> {
    await this.options.redis.multi().xack(this.keys.queue, GROUP, entry.ref).xdel(this.keys.queue, entry.ref).exec();
  }

  async retry(entry: Leased, attempts: number, dueAt: number): Promise<void> {
    await this.options.redis
      .multi()
      .zadd(this.keys.retries, dueAt, `${attempts} ${JSON.stringify(entry.job)}`)
      .xack(this.keys.queue, GROUP, entry.ref)
      .xdel(this.keys.queue, entry.ref)
      .exec();
  }

  async deadLetter(entry: Leased, attempts: number, reason: string): Promise<void> {
    const fields = ['job', JSON.stringify(entry.job), 'attempts', String(attempts), 'reason', reason, 'failedAt', String(Date.now())];
    await this.options.redis
      .multi()
      // Trimming is safe here: nobody reads the dead-letter stream through a group.
      .xadd(this.keys.dead, 'MAXLEN', '~', String(this.options.maxDeadLetters), '*', ...fields)
      .xack(this.keys.queue, GROUP, entry.ref)
      .xdel(this.keys.queue, entry.ref)
      .exec();
  }

  async deadLetters(endpointId: string, first: number): Promise<DeadLetter[]> {
    const found: DeadLetter[] = [];
    // Newest first, a page at a time, until enough of this endpoint's are found or the list ends.
    for (let end = '+'; found.length < first;) {
      const page = (await this.options.redis.xrevrange(this.keys.dead, end, '-', 'COUNT', 500)) as StreamEntry[];
      for (const [id, fields] of page) {
        const letter = deadLetterOf(id, fields);
        if (letter.job.endpointId === endpointId && found.length < first) found.push(letter);
      }
      if (page.length < 500) break;
      end = `(${page.at(-1)![0]}`;
    }
    return found;
  }

  async replay(id: string): Promise<boolean> {
    if (!/^\d+-\d+$/.test(id)) return false;
    return (await this.options.redis.eval(REPLAY, 2, this.keys.dead, this.keys.queue, id)) === 1;
  }

  async close(): Promise<void> {
    const { redis, consumer } = this.options;
    try {
      // A consumer holding nothing is forgotten, so restarts do not pile up names in the group; one
      // still holding jobs stays until another replica claims them.
      const held = await redis.xpending(this.keys.queue, GROUP, '-', '+', 1, consumer);
      if (held.length === 0) await redis.xgroup('DELCONSUMER', this.keys.queue, GROUP, consumer);
    } catch {
      // Redis away: the name stays in the group, which costs nothing but a line in XINFO.
    }
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      // From the start of the stream: jobs added before any consumer existed are delivered too.
      await this.options.redis.xgroup('CREATE', this.keys.queue, GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
    }
    this.groupReady = true;
  }
}

type StreamEntry = [id: string, fields: string[]];

function fieldsOf(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
  return record;
}

function leasedOf([ref, fields]: StreamEntry): Leased {
  const record = fieldsOf(fields);
  return { ref, job: JSON.parse(record.job!) as Job, attempts: Number(record.attempts ?? 0) };
}

function deadLetterOf(id: string, fields: readonly string[]): DeadLetter {
  const record = fieldsOf(fields);
  return { id, job: JSON.parse(record.job!) as Job, attempts: Number(record.attempts), reason: record.reason ?? '', failedAt: Number(record.failedAt) };
}
