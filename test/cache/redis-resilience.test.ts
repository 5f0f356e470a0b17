import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { serialize } from 'node:v8';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { family } from '../../cache/family.ts';
import { SourceGuard } from '../../cache/guard.ts';
import { RedisStore, type RedisStoreOptions } from '../../cache/redis-store.ts';
import { freePort } from '../../sandbox/ports.ts';

// CI provides Redis through REDIS_URL; these tests run a redis-server of their own (they stop and
// start it), so the shared one is never touched. They run where the other Redis tests run.
const REDIS_SERVER = '/usr/bin/redis-server';

const children = new Set<ChildProcess>();
const stores = new Set<{ close(): Promise<void> | void }>();
afterAll(async () => {
  await Promise.all([...stores].map(async (store) => store.close()));
  await Promise.all([...children].map(kill));
});

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`expected redis-server to be ready on ${port} within 10 s, got:\n${output}`)), 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`expected redis-server to start on ${port}, it exited with ${code}:\n${output}`));
    });
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Polls `check` every 20 ms until it holds; fails after `withinMs`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${withinMs} ms`);
    await sleep(20);
  }
}

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A store on `port` whose log lines are kept; a long local retention so evictions are visible. */
async function store(port: number, keyPrefix: string, commandTimeoutMs = 500) {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  const options: RedisStoreOptions = {
    url: `redis://127.0.0.1:${port}`,
    keyPrefix,
    localRetainMs: 60_000,
    localMaxEntries: 1000,
    localMaxBytes: 1 << 20,
    commandTimeoutMs,
    connectTimeoutMs: 1000,
    reconnectMaxDelayMs: 200,
    logger,
  };
  const created = await RedisStore.connect(options);
  stores.add(created);
  const warnings = () => lines.filter((line) => line.level === 40);
  const infos = () => lines.filter((line) => line.level === 30);
  return { store: created, lines, warnings, infos };
}

const entry = (value: unknown) => ({ value, storedAt: Date.now() });
const valueOf = async (s: RedisStore, key: string) => (await s.getMany([key]))[0]?.value;

/** `b` evicts a key `a` holds in its local copy; resolves once `a` no longer answers it. */
async function evictionReaches(a: RedisStore, b: RedisStore, key: string): Promise<void> {
  await a.setMany([{ key, entry: entry('held'), retainMs: 60_000 }]);
  expect(await valueOf(a, key)).toBe('held');
  await b.delete([key]);
  await eventually(`the eviction of ${key} to reach the other store`, async () => (await valueOf(a, key)) === undefined, 5000);
}

describe.skipIf(!process.env.REDIS_URL)('the Redis store when Redis misbehaves', () => {
  it('drops and counts malformed eviction messages, and still applies a valid one after them', async () => {
    const port = await freePort();
    await startRedis(port);
    const prefix = `t:${randomUUID()}:`;
    const [{ store: a, lines, warnings }, { store: b }] = await Promise.all([store(port, prefix), store(port, prefix)]);
    const raw = new Redis(`redis://127.0.0.1:${port}`);
    stores.add({ close: () => raw.disconnect() });
    await a.setMany([{ key: 'crm:x:1', entry: entry('kept'), retainMs: 60_000 }]);

    const malformed = [
      '{}',
      'null',
      'not json',
      JSON.stringify({ from: 'elsewhere', keys: Array.from({ length: 100_000 }, (_, i) => i) }),
      JSON.stringify({ from: 'elsewhere', keys: [1, 'alice@example.com'] }),
      JSON.stringify({ from: 'elsewhere', keys: 'crm:x:1' }),
      'x'.repeat(2_000_000),
    ];
    for (const message of malformed) await raw.publish(`${prefix}evictions`, message);
    await eventually('every malformed message to be counted', () => a.stats().droppedMessages === malformed.length);

    expect(await valueOf(a, 'crm:x:1')).toBe('kept'); // nothing was evicted by the junk
    expect(warnings()).toHaveLength(1); // rate-limited: one line for the burst
    expect(warnings()[0]).toMatchObject({ msg: 'dropped a malformed eviction message', length: 2, reason: 'unexpected shape' });
    expect(JSON.stringify(lines)).not.toContain('alice@');
    await evictionReaches(a, b, 'crm:x:1');
    expect(b.stats().droppedMessages).toBe(malformed.length); // b heard the same junk and survived it too
  });

  it('reads a corrupt value in Redis as a miss and counts it', async () => {
    const port = await freePort();
    await startRedis(port);
    const prefix = `t:${randomUUID()}:`;
    const { store: s, warnings } = await store(port, prefix);
    const raw = new Redis(`redis://127.0.0.1:${port}`);
    stores.add({ close: () => raw.disconnect() });
    await raw.set(`${prefix}crm:x:garbage`, Buffer.from([0xff, 0x0d, 0x6f, 0x22, 0x03, 0x61]));
    await raw.set(`${prefix}crm:x:text`, 'not a serialization at all');
    await raw.set(`${prefix}crm:x:string`, serialize('a string, not an entry'));
    await raw.set(`${prefix}crm:x:shape`, serialize({ value: 'v', storedAt: 'yesterday' }));
    await raw.set(`${prefix}crm:x:good`, serialize(entry('fine')));

    const read = await s.getMany(['crm:x:garbage', 'crm:x:text', 'crm:x:string', 'crm:x:shape', 'crm:x:good']);
    expect(read.map((e) => e?.value)).toEqual([undefined, undefined, undefined, undefined, 'fine']);
    expect(s.stats()).toMatchObject({ corruptEntries: 4, failedCommands: 0 });
    expect(warnings().map((line) => line.msg)).toEqual(['unreadable cache entry in Redis, read as a miss']);
    expect(s.health().state).toBe('up');
  });

  it('starts without Redis, serves from the in-process cache, and connects by itself when Redis starts', async () => {
    const port = await freePort(); // nothing listens here yet
    const prefix = `t:${randomUUID()}:`;
    const { store: s, warnings, infos } = await store(port, prefix);
    expect(s.health()).toEqual({ kind: 'redis', state: 'down', since: expect.any(Number) });

    for (let i = 0; i < 200; i++) {
      await s.setMany([{ key: `crm:x:${i}`, entry: entry(i), retainMs: 60_000 }]);
      expect(await valueOf(s, `crm:x:${i}`)).toBe(i);
      expect(await s.claim(`refresh:${i}`, 10_000)).toBe(true);
      expect(await s.claim(`refresh:${i}`, 10_000)).toBe(false); // claims hold within the process
    }
    await s.delete(['crm:x:0']);
    expect(await valueOf(s, 'crm:x:0')).toBeUndefined();
    expect(warnings()).toEqual([expect.objectContaining({ msg: 'Redis unreachable at start-up, serving from the in-process cache until it answers' })]);

    await startRedis(port);
    await eventually('the store to find Redis', () => s.health().state === 'up');
    expect(infos()).toEqual([expect.objectContaining({ msg: 'Redis reachable again, shared cache restored', replayedEvictions: 1 })]);
    expect(warnings()).toHaveLength(1);
    expect(await valueOf(s, 'crm:x:1')).toBeUndefined(); // the local copy was dropped on recovery

    const { store: other } = await store(port, prefix);
    await evictionReaches(s, other, 'crm:x:after');
    await evictionReaches(other, s, 'crm:x:back');
  });

  it("answers a source's read without waiting for its write to Redis, which still lands", async () => {
    const port = await freePort();
    await startRedis(port);
    const prefix = `t:${randomUUID()}:`;
    // Longer than the pause below: the held write is not a failed command.
    const { store: s, warnings } = await store(port, prefix, 10_000);
    const raw = new Redis(`redis://127.0.0.1:${port}`);
    stores.add({ close: () => raw.disconnect() });
    const calls: string[][] = [];
    const load = family<string, string>({
      source: 'crm',
      name: 'contact',
      batch: async (keys) => {
        calls.push([...keys]);
        return keys.map((key) => `value:${key}`);
      },
      guard: new SourceGuard('crm', { breakerFailures: 100, breakerCooldownMs: 1000, maxConcurrent: 1, queue: 0 }),
      logger: pino({ level: 'silent' }),
      cache: { store: s, policy: { ttlMs: 60_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, notFoundTtlMs: 5000 }, keyOf: (key) => key },
    });

    // Redis holds every write for 3 s and goes on answering reads (the read of `a` misses).
    await raw.call('CLIENT', 'PAUSE', '3000', 'WRITE');
    const [answer] = await load(['a'], { deadline: Date.now() + 1000 });
    // Waiting for the write, the read ended at its deadline: a timeout for an answer the source gave.
    expect(answer).toBe('value:a');
    expect(await raw.exists(`${prefix}crm:contact:a`)).toBe(0);
    // Meanwhile this process serves it from its own copy, without asking Redis or the source again.
    expect(await load(['a'], { deadline: Date.now() + 1000 })).toEqual(['value:a']);
    expect(calls).toEqual([['a']]);

    await raw.call('CLIENT', 'UNPAUSE');
    await eventually('the held write to reach Redis', async () => (await raw.exists(`${prefix}crm:contact:a`)) === 1);
    expect(s.stats().failedCommands).toBe(0);
    expect(warnings()).toEqual([]);
  });

  it('withdraws a refresh claim a Redis that stopped answering takes once it answers again', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const prefix = `t:${randomUUID()}:`;
    const [{ store: s }, { store: other }] = await Promise.all([store(port, prefix), store(port, prefix)]);
    const raw = new Redis(`redis://127.0.0.1:${port}`);
    stores.add({ close: () => raw.disconnect() });
    expect(await s.claim('refresh:a', 60_000)).toBe(true);

    redis.kill('SIGSTOP');
    try {
      // Not answered within the command timeout: the claim is this process's own.
      expect(await s.claim('refresh:b', 60_000)).toBe(true);
    } finally {
      redis.kill('SIGCONT');
    }
    // What the frozen Redis was sent runs now, in order: a read on the store's connection is
    // answered after all of it.
    await s.getMany(['crm:x:after']);
    expect(await raw.exists(`${prefix}claim:refresh:b`)).toBe(0);
    expect(await raw.exists(`${prefix}claim:refresh:a`)).toBe(1); // one that was answered stands
    expect(await other.claim('refresh:b', 60_000)).toBe(true);
  });

  it('stops asking a Redis that stopped answering, serves from its own copy meanwhile, and asks again once it answers', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const prefix = `t:${randomUUID()}:`;
    const { store: s, warnings, infos } = await store(port, prefix, 100);
    const raw = new Redis(`redis://127.0.0.1:${port}`);
    stores.add({ close: () => raw.disconnect() });
    await s.setMany([{ key: 'crm:x:held', entry: entry('held'), retainMs: 60_000 }]);
    await s.setMany([{ key: 'crm:x:gone', entry: entry('gone'), retainMs: 60_000 }]);

    redis.kill('SIGSTOP');
    try {
      // Three reads in a row that Redis does not answer within 100 ms: misses, and then the store stops asking.
      for (let i = 0; i < 3; i++) expect(await valueOf(s, `crm:x:missing-${i}`)).toBeUndefined();
      expect(s.health().state).toBe('down');
      expect(warnings().map((line) => line.msg)).toEqual([
        'Redis command failed, answered from the in-process cache',
        'Redis stopped answering (3 commands in a row timed out), serving from the in-process cache until it answers',
      ]);
      // From its own copy, without a command each: none of these fails, as none is sent.
      for (let i = 0; i < 20; i++) {
        expect(await valueOf(s, `crm:x:other-${i}`)).toBeUndefined();
        expect(await valueOf(s, 'crm:x:held')).toBe('held');
      }
      await s.setMany([{ key: 'crm:x:meanwhile', entry: entry('meanwhile'), retainMs: 60_000 }]);
      await s.delete(['crm:x:gone']);
      expect(s.stats().failedCommands).toBe(3);
    } finally {
      redis.kill('SIGCONT');
    }
    await eventually('the store to ask Redis again', () => s.health().state === 'up', 5000);
    expect(infos()).toEqual([expect.objectContaining({ msg: 'Redis reachable again, shared cache restored' })]);
    // The deletion made meanwhile reaches Redis; a value another replica wrote there is read again.
    await eventually('the deletion kept for later to reach Redis', async () => (await raw.exists(`${prefix}crm:x:gone`)) === 0, 5000);
    await raw.set(`${prefix}crm:x:shared`, serialize(entry('shared')));
    expect(await valueOf(s, 'crm:x:shared')).toBe('shared');
    expect(s.stats().failedCommands).toBe(3);
  });

  it('keeps answering from the in-process cache when Redis dies mid-use, and recovers when it is back', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const prefix = `t:${randomUUID()}:`;
    const [{ store: s, warnings, infos }, { store: other }] = await Promise.all([store(port, prefix), store(port, prefix)]);
    expect(s.health().state).toBe('up');
    await s.setMany([{ key: 'crm:x:before', entry: entry('before'), retainMs: 60_000 }]);

    await kill(redis);
    await eventually('the store to notice Redis is gone', () => s.health().state === 'down');
    for (let i = 0; i < 200; i++) {
      expect(await valueOf(s, 'crm:x:before')).toBe('before');
      await s.setMany([{ key: `crm:x:${i}`, entry: entry(i), retainMs: 60_000 }]);
      expect(await valueOf(s, `crm:x:${i}`)).toBe(i);
    }
    expect(warnings()).toEqual([expect.objectContaining({ msg: 'Redis unreachable, serving from the in-process cache until it answers' })]);

    const downSince = s.health();
    await startRedis(port);
    await eventually('the store to reconnect', () => s.health().state === 'up');
    expect(s.health()).toEqual({ kind: 'redis', state: 'up', since: expect.any(Number) });
    expect((s.health() as { since: number }).since).toBeGreaterThanOrEqual((downSince as { since: number }).since);
    expect(warnings()).toHaveLength(1);
    expect(infos()).toEqual([expect.objectContaining({ msg: 'Redis reachable again, shared cache restored' })]);
    expect(await valueOf(s, 'crm:x:0')).toBeUndefined(); // written while away, so dropped on recovery
    await eventually('the other store to reconnect', () => other.health().state === 'up');
    await evictionReaches(s, other, 'crm:x:again');
    await evictionReaches(other, s, 'crm:x:and-back');
  });
});
