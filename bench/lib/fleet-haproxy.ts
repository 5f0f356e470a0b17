import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../sandbox/ports.ts';
import type { Replica } from './fleet-replicas.ts';

/** The HAProxy binary, or null with how to install it. */
export function findHaproxy(): { path: string } | { missing: string } {
  for (const path of ['haproxy', '/usr/sbin/haproxy']) {
    if (spawnSync(path, ['-v'], { stdio: 'ignore' }).status === 0) return { path };
  }
  return { missing: 'HAProxy not found: install it from Debian with `apt-get install --no-install-recommends haproxy` (or put haproxy on PATH)' };
}

/** One server's line of HAProxy's `show stat`: its state and the sessions it holds now. */
export interface ServerStat {
  readonly name: string;
  /** UP, DOWN, ... as HAProxy's health checks see it. */
  readonly status: string;
  /** Requests in flight on the server now (scur). */
  readonly current: number;
  /** Requests sent to it since start (stot), and those retried or redispatched away from it. */
  readonly total: number;
  readonly retries: number;
  readonly redispatches: number;
}

/**
 * HAProxy in front of some replicas, round robin, as a production load balancer would run: health
 * checks on /healthz every 250 ms (two failures mark a server down: a replica busy at 100% CPU may
 * take a while to answer one, and a dead one refuses at once), and a request whose server refused
 * or dropped the connection sent again, to another server (`retry-on`, `option redispatch`): a
 * GraphQL query only reads, so sending it twice is safe.
 */
export class Haproxy {
  private constructor(
    private readonly child: ChildProcess,
    private readonly directory: string,
    readonly port: number,
    private readonly socket: string,
  ) {}

  static async start(binary: string, replicas: readonly Replica[]): Promise<Haproxy> {
    const directory = await mkdtemp(join(tmpdir(), 'c360-fleet-'));
    const port = await freePort();
    const socket = join(directory, 'stats.sock');
    const config = [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  timeout check 2s',
      '  retries 3',
      '  option redispatch 1',
      '  option http-buffer-request',
      '  retry-on conn-failure empty-response response-timeout',
      'frontend graphql',
      `  bind 127.0.0.1:${port}`,
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      '  option httpchk GET /healthz',
      '  default-server check inter 250ms fall 2 rise 2',
      ...replicas.map((replica) => `  server ${replica.name} 127.0.0.1:${replica.port}`),
      '',
    ].join('\n');
    const file = join(directory, 'haproxy.cfg');
    await writeFile(file, config);
    // -db: in the foreground, so it is a child of ours and stops with us.
    const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-2000)));
    const haproxy = new Haproxy(child, directory, port, socket);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`HAProxy exited at start (${child.exitCode}): ${stderr}`);
      const stats = await haproxy.stats().catch(() => []);
      if (stats.length === replicas.length && stats.every((s) => s.status === 'UP')) return haproxy;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await haproxy.stop();
    throw new Error(`HAProxy did not see every replica up within 10 s: ${stderr}`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The backend's servers as HAProxy sees them now (its stats socket's `show stat`). */
  async stats(): Promise<ServerStat[]> {
    const text = await new Promise<string>((resolve, reject) => {
      let data = '';
      const client = connect(this.socket, () => client.end('show stat\n'));
      client.on('data', (chunk) => (data += chunk.toString()));
      client.on('end', () => resolve(data));
      client.on('error', reject);
    });
    const [header, ...lines] = text.trim().split('\n');
    const columns = header!.replace(/^# /, '').split(',');
    const at = (name: string) => columns.indexOf(name);
    return lines
      .map((line) => line.split(','))
      .filter((cells) => cells[at('pxname')] === 'replicas' && !['FRONTEND', 'BACKEND'].includes(cells[at('svname')]!))
      .map((cells) => ({
        name: cells[at('svname')]!,
        status: cells[at('status')]!,
        current: Number(cells[at('scur')]),
        total: Number(cells[at('stot')]),
        retries: Number(cells[at('wretr')]),
        redispatches: Number(cells[at('wredis')]),
      }));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      await gone;
    }
    await rm(this.directory, { recursive: true, force: true });
  }
}
