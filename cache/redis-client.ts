import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

/**
 * A connection to one Redis server or to a Redis Cluster. Both take the same commands; on a
 * cluster, the keys of one multi-key command, script or transaction must share a hash slot (a
 * `{tag}`), and a batch of commands over unrelated keys goes through `sendEach`, `getBuffers` or
 * `deleteKeys` below rather than MGET, DEL or a pipeline.
 */
export type RedisClient = Redis | Cluster;

/** The settings callers choose; on a cluster they apply to the cluster as a whole or to each node's connection, as ioredis splits them. */
export type RedisClientOptions = Pick<
  RedisOptions,
  'enableOfflineQueue' | 'maxRetriesPerRequest' | 'commandTimeout' | 'connectTimeout' | 'lazyConnect' | 'retryStrategy' | 'autoResubscribe'
>;

/** What a REDIS_URL names: one server (its URL as given) or a cluster's seed nodes with the credentials and TLS of every node. */
type Target = { readonly cluster: false } | { readonly cluster: true; readonly nodes: ClusterNode[]; readonly node: Pick<RedisOptions, 'username' | 'password' | 'tls'> };

const PROTOCOL = /^rediss?:$/;

/**
 * A client for a REDIS_URL. One URL is one server, opened exactly as `new Redis(url, options)`.
 * Two or more, comma-separated, are seed nodes of a Redis Cluster (any of its nodes: the client
 * learns the rest from them): the first is a full URL whose scheme and credentials apply to every
 * node, the others full URLs or `host:port`. Throws a RangeError (never quoting the URL, which may
 * hold a password) when `url` is neither; `checkRedisUrl` says so beforehand.
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): RedisClient {
  const target = targetOf(url);
  if (!target.cluster) return new Redis(url, options);
  const { enableOfflineQueue, lazyConnect, retryStrategy, ...nodeOptions } = options;
  return new Cluster(target.nodes, {
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(lazyConnect !== undefined && { lazyConnect }),
    // A cluster reconnects as a whole (its nodes' connections do not retry on their own).
    ...(retryStrategy !== undefined && { clusterRetryStrategy: retryStrategy }),
    // Commands over keys of different slots go one by one (sendEach): this gathers them into one
    // round trip per node again.
    enableAutoPipelining: true,
    redisOptions: { ...nodeOptions, ...target.node },
  });
}

/** How long redisPause() keeps a caller from asking Redis after a failure. */
const REDIS_PAUSE_MS = 1_000;

/**
 * For a caller with a fallback of its own (an in-process count or budget): whether to ask Redis
 * now, given `failed()` after each command Redis did not answer. Not for a second after a failure:
 * a Redis that stops answering with its connections open would otherwise cost every call the
 * command timeout, and run every call's command once it answers again.
 */
export function redisPause(): { readonly asking: boolean; failed(): void } {
  let until = 0;
  return {
    get asking() {
      return Date.now() >= until;
    },
    failed() {
      until = Date.now() + REDIS_PAUSE_MS;
    },
  };
}

/** Why `url` is not a REDIS_URL `createRedisClient` takes, in words that never quote it; null when it is one. */
export function checkRedisUrl(url: string): string | null {
  try {
    targetOf(url);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Sends single-key commands (`[name, key, ...arguments]`) as one batch and resolves with an
 * `[error, result]` pair per command, in order, as `pipeline.exec()` does. On one server it is one
 * pipeline; on a cluster, whose pipelines must stay within one node, each command goes on its own
 * to its key's node. Not atomic either way. Rejects only when the batch could not be sent at all.
 */
export async function sendEach(
  client: RedisClient,
  commands: ReadonlyArray<readonly [name: string, key: string, ...args: Array<string | number | Buffer>]>,
): Promise<Array<[Error | null, unknown]>> {
  if (commands.length === 0) return [];
  if (!client.isCluster) return (await client.pipeline(commands.map((command) => [...command])).exec()) ?? [];
  return Promise.all(
    commands.map(([name, ...args]) =>
      client.call(name, ...args).then(
        (result): [Error | null, unknown] => [null, result],
        (error: unknown): [Error | null, unknown] => [error instanceof Error ? error : new Error(String(error)), null],
      ),
    ),
  );
}

/** The values of `keys`, in order, null where there is none: one MGET on one server, a GET per key on a cluster. Rejects when any read fails. */
export async function getBuffers(client: RedisClient, keys: readonly string[]): Promise<Array<Buffer | null>> {
  if (keys.length === 0) return [];
  if (!client.isCluster) return client.mgetBuffer(...keys);
  return Promise.all(keys.map((key) => client.getBuffer(key)));
}

/** Deletes `keys` and resolves with how many existed: one DEL on one server, a DEL per key on a cluster. Rejects when any delete fails. */
export async function deleteKeys(client: RedisClient, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  if (!client.isCluster) return client.del(...keys);
  const counts = await Promise.all(keys.map((key) => client.del(key)));
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * The key prefix that puts every key starting with it into one hash slot on a cluster (the prefix
 * as a `{tag}`), so that one script or transaction may span them; on one server, the prefix as it
 * is, so the keys keep their names.
 */
export function slotPrefix(client: RedisClient, prefix: string): string {
  return client.isCluster ? `{${prefix}}` : prefix;
}

function targetOf(value: string): Target {
  if (!value.includes(',')) {
    if (!PROTOCOL.test(urlOf(value)?.protocol ?? '')) throw new RangeError('expected a redis:// or rediss:// URL');
    return { cluster: false };
  }
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw new RangeError('expected comma-separated cluster nodes, got an empty one');
  const first = urlOf(items[0]!);
  if (!first || !PROTOCOL.test(first.protocol))
    throw new RangeError('expected the first cluster node as a redis:// or rediss:// URL (its scheme and credentials apply to every node)');
  const nodes = items.map((item, index) => {
    const url = index === 0 ? first : urlOf(/^[a-z]+:\/\//i.test(item) ? item : `${first.protocol}//${item}`);
    if (!url || url.protocol !== first.protocol || !url.hostname) throw new RangeError(`expected cluster node ${index + 1} as host:port or a ${first.protocol}// URL`);
    if (index > 0 && (url.username || url.password)) throw new RangeError(`expected the credentials in the first cluster node's URL only, got some in node ${index + 1}`);
    // A cluster has database 0 alone.
    if (!/^\/?0?$/.test(url.pathname)) throw new RangeError(`expected no database number in cluster node ${index + 1} (a cluster has database 0 only)`);
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 6379) };
  });
  return {
    cluster: true,
    nodes,
    node: {
      ...(first.username && { username: decodeURIComponent(first.username) }),
      ...(first.password && { password: decodeURIComponent(first.password) }),
      ...(first.protocol === 'rediss:' && { tls: {} }),
    },
  };
}

function urlOf(value: string): URL | null {
  return URL.canParse(value) ? new URL(value) : null;
}
