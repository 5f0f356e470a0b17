import { execFile } from 'node:child_process';
import { chown, appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../sandbox/ports.ts';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of the fault suite's own: `initdb` in a temporary directory, on a free
 * loopback port, so the suite may stop, restart and break it without touching the machine's shared
 * server. initdb refuses to run as root (CI runs as root): then every binary runs as the `postgres`
 * user through runuser, over a directory handed to that user.
 */
export interface Cluster {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database: string): string;
  /** `pg_ctl restart -m fast`: every connection is cut, the server is back when this resolves. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`: connections are cut and the port refuses new ones until `start`. */
  stop(): Promise<void>;
  /** Starts it again after `stop` (nothing when it runs). */
  start(): Promise<void>;
  /** Stops the server at once and removes the directory; safe to call twice. */
  destroy(): Promise<void>;
  /** The postmaster's pid while it runs (for a last-resort kill at process exit). */
  readonly pid: number | undefined;
}

/** The newest PostgreSQL's binaries: FAULTS_PG_BIN, else /usr/lib/postgresql/<newest>/bin. */
async function binDir(): Promise<string> {
  if (process.env.FAULTS_PG_BIN) return process.env.FAULTS_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? (await readdir(root)).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => join(root, v, 'bin')).find((dir) => existsSync(join(dir, 'initdb')));
  if (!found) throw new Error(`expected PostgreSQL binaries (initdb, pg_ctl) under ${root}/<version>/bin or FAULTS_PG_BIN, found none`);
  return found;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export async function startCluster(): Promise<Cluster> {
  const bin = await binDir();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'c360-faults-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  // As root: the postgres user runs every binary, so it must own the directory.
  const exec = async (tool: string, args: string[], timeoutMs = 60_000) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    try {
      return await run(file, argv, { timeout: timeoutMs, cwd: dir, env: { ...process.env, LC_ALL: 'C' } });
    } catch (error) {
      const tail = await readFile(log, 'utf8').then(
        (text) => text.slice(-2000),
        () => '',
      );
      throw new Error(`${tool} ${args.join(' ')} failed${tail ? `; server log ends:\n${tail}` : ''}`, { cause: error });
    }
  };
  let pid: number | undefined;
  const readPid = async () => {
    pid = await readFile(join(data, 'postmaster.pid'), 'utf8').then(
      (text) => Number(text.split('\n')[0]),
      () => undefined,
    );
  };
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    if (existsSync(join(data, 'postmaster.pid'))) {
      await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '20', 'stop'], 30_000).catch(() => {
        // pg_ctl could not stop it: the postmaster we started, by its own pid.
        if (pid) {
          try {
            process.kill(pid, 'SIGQUIT');
          } catch {
            // already gone
          }
        }
      });
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (asRoot) {
      const { uid, gid } = await postgresIds();
      await chown(dir, uid, gid);
    }
    await exec('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const port = await freePort();
    // Durability is worth nothing here; speed and a socket inside our own directory are.
    await appendFile(
      join(data, 'postgresql.conf'),
      [
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${dir}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'max_connections = 100',
        'shared_buffers = 32MB',
        '',
      ].join('\n'),
    );
    await exec('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', 'start']);
    await readPid();
    return {
      port,
      url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
      get pid() {
        return pid;
      },
      async restart() {
        await exec('pg_ctl', ['-D', data, '-l', log, '-m', 'fast', '-w', '-t', '30', 'restart']);
        await readPid();
      },
      async stop() {
        await exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
        pid = undefined;
      },
      async start() {
        if (existsSync(join(data, 'postmaster.pid'))) return;
        await exec('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', 'start']);
        await readPid();
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
