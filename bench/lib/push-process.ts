import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../sandbox/ports.ts';

// The processes bench/push.ts runs: the real server (server/main.ts, as `npm run dev` starts it)
// and a private redis-server, each a child process of its own with its output in a log file, and
// what /proc says about a process (memory, CPU seconds).

const ROOT = new URL('../../', import.meta.url).pathname;
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** A server process: its pid, base URL and how to stop it (SIGTERM, then SIGKILL after 10 s) or kill it (-9). */
export interface ServerProcess {
  readonly pid: number;
  readonly url: string;
  /** The settings given beyond the default configuration. */
  readonly env: Record<string, string>;
  /** Seconds from spawn to /healthz answering. */
  readonly startupSeconds: number;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * `node --experimental-transform-types server/main.ts` (types removed as tsc's build removes them, not
 * through tsx) with `env` (or `env(url)`, for settings that name the
 * server's own URL) added to this process's environment (no DATABASE_URL: the embedded demo), on
 * a free port; resolves once /healthz answers. Its output
 * goes to `logFile`. Rejects when it exits or does not answer within `timeoutMs`.
 */
export async function startServerProcess(env: Record<string, string> | ((url: string) => Record<string, string>), logFile: string, timeoutMs = 240_000): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const given = { PORT: String(port), HOST: '127.0.0.1', ...(typeof env === 'function' ? env(url) : env) };
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DATABASE_URL|REDIS_URL|BENCH_|PORT$|HOST$)/.test(name)));
  const log = openSync(logFile, 'a');
  const started = performance.now();
  const child = spawn(process.execPath, ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...inherited, ...given },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the server exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); see ${logFile}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not answer /healthz within ${timeoutMs / 1000} s; see ${logFile}`);
    }
    const ok = await fetch(`${url}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) break;
    await sleep(250);
  }
  const startupSeconds = (performance.now() - started) / 1000;
  return {
    pid: child.pid!,
    url,
    env: given,
    startupSeconds,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited(child);
      clearTimeout(timer);
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

/** A process's resident memory (bytes) and CPU seconds (user + system) from /proc. */
export async function processStats(pid: number): Promise<{ rssBytes: number; cpuSeconds: number }> {
  const [status, stat] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]);
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssBytes: rssKb * 1024, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
}

/** The server's V8 heap in use, from its /metrics (prom-client's `nodejs_heap_size_used_bytes`). */
export async function heapUsedBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1];
  if (value === undefined) throw new Error('expected nodejs_heap_size_used_bytes in /metrics');
  return Number(value);
}

/** A private redis-server: AOF on, fsync at every write, no RDB snapshots, in `dir`. */
export class RedisProcess {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(dir: string): Promise<RedisProcess> {
    const redis = new RedisProcess(await freePort(), dir);
    await redis.up();
    return redis;
  }

  /** Starts redis-server (again, with the same AOF) and waits until it answers PING. */
  async up(): Promise<void> {
    const log = openSync(`${this.dir}/redis.log`, 'a');
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    for (let tries = 0; ; tries++) {
      if (
        await this.cli('PING').then(
          (answer) => answer === 'PONG',
          () => false,
        )
      )
        return;
      if (tries > 100) throw new Error(`redis-server did not answer on port ${this.port}; see ${this.dir}/redis.log`);
      await sleep(100);
    }
  }

  /** SHUTDOWN (the AOF is fsynced, as at every write) and waits for the process to end. */
  async down(): Promise<void> {
    const child = this.child;
    if (!child) return;
    await this.cli('SHUTDOWN').catch(() => undefined);
    await exited(child);
    this.child = null;
  }

  private cli(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const cli = spawn('redis-cli', ['-p', String(this.port), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      cli.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      cli.on('error', reject);
      cli.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cli ${args[0]} exited with ${code}`))));
    });
  }
}
