import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../sandbox/ports.ts';

/** The repository: replicas run from it, as `npm start` would. */
const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
/** A replica reads its shop's RFM boundaries and checks its sources' contracts before it listens. */
const START_TIMEOUT_MS = 60_000;

/**
 * One replica: the real server (server/main.ts, its own Node process, its types removed by Node's
 * own transform as tsc's build removes them, not through tsx) configured only by `env`, as a
 * deployment configures it. Its request logs go to /dev/null; its stderr is kept (the
 * last few KB) to say why it would not start.
 */
export class Replica {
  private stderr = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stderr!.on('data', (chunk: Buffer) => void (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    child.once('exit', (code, signal) => void (this.exited = { code, signal }));
  }

  /** Starts a replica and resolves once its /healthz answers; rejects (and stops it) otherwise. */
  static async start(name: string, env: Record<string, string>): Promise<Replica> {
    const port = await freePort();
    // Only what a deployment would set: nothing of the benchmark's own environment leaks into the server's configuration.
    const childEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, HOST: '127.0.0.1', PORT: String(port) };
    const child = spawn(process.execPath, ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', 'server/main.ts'], {
      cwd: REPOSITORY,
      env: childEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const replica = new Replica(name, port, child);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (replica.exited) throw new Error(`replica ${name} exited while starting (${JSON.stringify(replica.exited)}): ${replica.stderr.slice(-1500)}`);
      if (await replica.healthy()) return replica;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await replica.stop();
    throw new Error(`replica ${name} did not answer /healthz within ${START_TIMEOUT_MS} ms: ${replica.stderr.slice(-1500)}`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exited === null;
  }

  async healthy(): Promise<boolean> {
    try {
      const response = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  }

  /** SIGKILL: the process dies with whatever it has in flight, as when a node disappears. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** SIGTERM (the server finishes in-flight requests), then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.signal('SIGTERM');
    clearTimeout(timer);
  }

  private signal(signal: NodeJS.Signals): Promise<void> {
    if (!this.alive) return Promise.resolve();
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    return gone;
  }
}
