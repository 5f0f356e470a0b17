import { createHash } from 'node:crypto';
import { personAt, populationSize, type DemoWorld } from '../demo/people.ts';

/**
 * Mailchimp's subscriber hash: MD5 hex of the lower-cased email. Written here again rather than
 * imported from sources/, so the tests check the source's hashing instead of sharing its bugs.
 */
export function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/** People per chunk: one chunk costs ~100 ms of personAt, short enough to keep the server answering. */
const CHUNK_SIZE = 4096;

interface Chunk {
  /** First 32 bits of each person's hash, ascending. */
  readonly prefixes: Uint32Array;
  /** Person index at the same position as its prefix. */
  readonly indices: Uint32Array;
}

const prefixOf = (hash: string): number => Number.parseInt(hash.slice(0, 8), 16) >>> 0;

function buildChunk(world: DemoWorld, chunk: number): Chunk {
  const first = chunk * CHUNK_SIZE;
  const size = Math.min(CHUNK_SIZE, populationSize(world) - first);
  const raw = new Uint32Array(size);
  for (let i = 0; i < size; i++) raw[i] = prefixOf(md5Hex(personAt(world, first + i).email));
  const order = Array.from({ length: size }, (_, i) => i).sort((a, b) => raw[a]! - raw[b]!);
  return {
    prefixes: Uint32Array.from(order, (i) => raw[i]!),
    indices: Uint32Array.from(order, (i) => first + i),
  };
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Subscriber hash -> person index, for worlds too large to enumerate up front (1,000,000 customers).
 *
 * The demo world can only be walked forwards (an email comes from regenerating its person), so a
 * lookup builds the index in chunks of people, in index order, until it meets the hash, and keeps
 * what it built. Trade-offs:
 * - memory: 8 bytes per indexed person (a 32-bit hash prefix and a 32-bit index per chunk), ~9 MB
 *   for 1,100,000 people, against ~100 MB for a Map of 32-character hex keys;
 * - time: one personAt per person (~25 us): a small world is indexed on its first lookup, a
 *   1,000,000-customer world takes ~25 s of CPU spread over the lookups that reach far into it, and
 *   the first unknown hash walks the rest of the world once. The walk yields between chunks, so
 *   other requests keep being served meanwhile;
 * - prefixes collide now and then; a candidate is confirmed by regenerating the person.
 */
export class SubscriberIndex {
  private readonly chunks: Chunk[] = [];

  constructor(private readonly world: DemoWorld) {}

  /** How many chunks of the world have been indexed so far (lookups stop at the first match). */
  get chunksBuilt(): number {
    return this.chunks.filter(Boolean).length;
  }

  /** The index of the person whose email hashes to `hash` (lower-case hex), or null. */
  async indexOf(hash: string): Promise<number | null> {
    if (!/^[0-9a-f]{32}$/.test(hash)) return null;
    const prefix = prefixOf(hash);
    const chunkCount = Math.ceil(populationSize(this.world) / CHUNK_SIZE);
    for (let c = 0; c < chunkCount; c++) {
      if (!this.chunks[c]) await yieldToEventLoop();
      // Another lookup may have built it while this one yielded.
      const chunk = (this.chunks[c] ??= buildChunk(this.world, c));
      const found = this.find(chunk, prefix, hash);
      if (found !== null) return found;
    }
    return null;
  }

  private find(chunk: Chunk, prefix: number, hash: string): number | null {
    let low = 0;
    let high = chunk.prefixes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (chunk.prefixes[mid]! < prefix) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < chunk.prefixes.length && chunk.prefixes[i] === prefix; i++) {
      const index = chunk.indices[i]!;
      if (md5Hex(personAt(this.world, index).email) === hash) return index;
    }
    return null;
  }
}
