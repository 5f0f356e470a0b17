import { GraphQLError } from 'graphql';
import type { RedisClient } from '../cache/redis-client.ts';
import { ErrorCode } from '../resolvers/errors.ts';

/** One saved version of an audience. */
export interface AudienceVersion {
  readonly version: number;
  readonly description: string | null;
  /** The CustomerFilter as JSON (dates as ISO 8601 strings), as saved. */
  readonly definition: string;
  /** Epoch ms. */
  readonly savedAt: number;
}

/** A saved audience at one version, with the numbers of all its versions. */
export interface SavedAudience extends AudienceVersion {
  readonly name: string;
  readonly versions: readonly number[];
}

/**
 * Where audience definitions are kept: filters, never members (membership is computed live). In
 * Redis when the server has one (every replica sees the same audiences), in process otherwise (the
 * demo: lost on restart).
 */
export interface AudienceStore {
  list(): Promise<SavedAudience[]>;
  /** The latest version, or the given one; null when there is none. */
  get(name: string, version?: number): Promise<SavedAudience | null>;
  /** Appends a version and returns the audience at it. */
  save(name: string, version: Omit<AudienceVersion, 'version'>): Promise<SavedAudience>;
  delete(name: string): Promise<boolean>;
}

function at(name: string, versions: readonly AudienceVersion[], version?: number): SavedAudience | null {
  const chosen = version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
  return chosen ? { ...chosen, name, versions: versions.map((v) => v.version) } : null;
}

export class MemoryAudienceStore implements AudienceStore {
  private readonly audiences = new Map<string, AudienceVersion[]>();

  async list(): Promise<SavedAudience[]> {
    return [...this.audiences.keys()].sort().map((name) => at(name, this.audiences.get(name)!)!);
  }

  async get(name: string, version?: number): Promise<SavedAudience | null> {
    const versions = this.audiences.get(name);
    return versions ? at(name, versions, version) : null;
  }

  async save(name: string, version: Omit<AudienceVersion, 'version'>): Promise<SavedAudience> {
    const versions = this.audiences.get(name) ?? [];
    versions.push({ ...version, version: versions.length + 1 });
    this.audiences.set(name, versions);
    return at(name, versions)!;
  }

  async delete(name: string): Promise<boolean> {
    return this.audiences.delete(name);
  }
}

/**
 * Each audience is a Redis list of its versions (`c360:audience:{name}`; RPUSH numbers a version
 * atomically, however many replicas save at once) and its name is in the set `c360:audiences`.
 * Every command names one key, so the store works on a Redis Cluster as on one Redis.
 */
export class RedisAudienceStore implements AudienceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'c360:audience',
  ) {}

  /** Redis failing is the store's failure, said as such (its own message may name hosts). */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new GraphQLError('Saved audiences are unavailable: their store (Redis) did not answer. Try again.', {
        extensions: { code: ErrorCode.AudienceStoreUnavailable },
        originalError: error instanceof Error ? error : undefined,
      });
    }
  }

  private key(name: string): string {
    return `${this.prefix}:{${name}}`;
  }

  private get names(): string {
    return `${this.prefix}s`;
  }

  async list(): Promise<SavedAudience[]> {
    const names = (await this.run(() => this.redis.smembers(this.names))).sort();
    const found = await Promise.all(names.map((name) => this.get(name)));
    return found.filter((audience): audience is SavedAudience => audience !== null);
  }

  async get(name: string, version?: number): Promise<SavedAudience | null> {
    const raw = await this.run(() => this.redis.lrange(this.key(name), 0, -1));
    return at(
      name,
      raw.map((json, i) => ({ ...(JSON.parse(json) as Omit<AudienceVersion, 'version'>), version: i + 1 })),
      version,
    );
  }

  async save(name: string, version: Omit<AudienceVersion, 'version'>): Promise<SavedAudience> {
    const length = await this.run(() => this.redis.rpush(this.key(name), JSON.stringify(version)));
    await this.run(() => this.redis.sadd(this.names, name));
    const saved = await this.get(name, length);
    return saved!;
  }

  async delete(name: string): Promise<boolean> {
    const removed = await this.run(() => this.redis.del(this.key(name)));
    await this.run(() => this.redis.srem(this.names, name));
    return removed > 0;
  }
}
