import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisClient, type RedisClient } from '../../cache/redis-client.ts';
import { freePort } from '../../sandbox/ports.ts';

/**
 * A redis-server of a test's own (the fault suite's, or one test's), on a free loopback port, with
 * nothing persisted: the test may kill it (SIGKILL) and start it again on the same port, as a
 * crashed Redis comes back, or freeze it, as a Redis that stops answering.
 */
export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  /** The running server's pid, or undefined while it is down. */
  readonly pid: number | undefined;
  /** SIGKILL, as a crash: no goodbye to the clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing was saved). */
  start(): Promise<void>;
  /** SIGSTOP: its connections stay open and nothing is answered, as a Redis stuck or partitioned away. */
  freeze(): void;
  /** SIGCONT: it answers again, with everything it held (and every command queued meanwhile). */
  thaw(): void;
  /** Sends one command (e.g. PUBLISH channel message) and resolves with the raw reply. */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const BINARY = process.env.FAULTS_REDIS_SERVER ?? '/usr/bin/redis-server';

export async function startRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const started = spawn(BINARY, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], {
      stdio: 'ignore',
    });
    child = started;
    const exited = new Promise<never>((_, reject) => started.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with ${code} while starting`))));
    exited.catch(() => undefined);
    started.once('error', () => undefined);
    for (let attempt = 0; attempt < 100; attempt++) {
      const reply = await Promise.race([command('PING').catch(() => ''), exited]);
      if (reply.startsWith('+PONG')) return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
  };

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await Promise.race([gone, sleep(5000)]);
  };

  function command(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => socket.destroy(new Error('redis command timed out')), 2000);
      socket.once('connect', () => {
        socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
      });
      socket.on('data', (chunk) => {
        chunks.push(chunk);
        if (Buffer.concat(chunks).includes('\r\n')) socket.end();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  const signal = (name: NodeJS.Signals) => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, name);
  };

  await start();
  return {
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    kill,
    start,
    command,
    stop: kill,
  };
}

/**
 * A redis-server of the test's own and a client of it, connected as the fleet's quota clients are
 * (no offline queue, no retries, a 200 ms command timeout); `close` ends both.
 */
export async function ownRedisWithClient(): Promise<{ own: OwnRedis; redis: RedisClient; close(): Promise<void> }> {
  const own = await startRedis();
  const redis = createRedisClient(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 200 });
  redis.on('error', () => undefined);
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return {
    own,
    redis,
    close: async () => {
      redis.disconnect();
      await own.stop();
    },
  };
}
