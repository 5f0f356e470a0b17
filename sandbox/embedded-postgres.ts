import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A `postgres://` URL for `pg`, on a free loopback port. */
  readonly url: string;
  /** The database in-process: NOTIFYs of statements run on it reach its in-process `listen`, those of socket clients do not. */
  readonly db: PGlite;
  close(): Promise<void>;
}

/**
 * PostgreSQL in this process (PGlite, in memory), served over the wire protocol so the server's `pg`
 * code path is the same as against a real server. PGlite runs one query at a time and an open
 * transaction holds the others back: fine for the demo and tests, not for load.
 */
export async function startEmbeddedPostgres(options: { maxConnections?: number } = {}): Promise<EmbeddedPostgres> {
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: 0,
    maxConnections: options.maxConnections ?? 20,
  });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    db,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
