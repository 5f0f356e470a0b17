import type { SourceName } from '../sources/errors.ts';
import { cacheKey, type CallContext, type Family } from './family.ts';

/**
 * A family whose reads take arguments (a window, a page size, activity types) that multiply its
 * keys. Only a short, declared list of argument shapes is cached; reads of any other shape go to
 * the source live. Keeping the list declared is what lets an eviction name every key an entity
 * can have in the family (`keysOf`) without a scan, whatever arguments clients sent.
 */
export interface DeclaredShapes<A> {
  readonly source: SourceName;
  /** The family's name: part of its cache keys and metric labels. */
  readonly family: string;
  /** The cached shapes, each once, in declaration order. */
  readonly shapes: readonly string[];
  /** The arguments as one string: equal arguments give equal shapes. */
  shapeOf(args: A): string;
  /** Whether reads of these arguments go through the shared cache. */
  isCached(args: A): boolean;
  /** The family's key of one entity's read of one shape (the family prefixes `<source>:<family>:`). */
  entry(shape: string, id: string): string;
  /** The whole cache key of one entity's read of one shape: `<source>:<family>:<shape>:<id>`. */
  cacheKey(shape: string, id: string): string;
  /** Every cache key that can hold something of the entity in this family: one per cached shape. */
  keysOf(id: string): string[];
}

/** The cached shapes of a family, derived from the declared arguments (duplicates are one shape). */
export function declareShapes<A>(source: SourceName, family: string, shapeOf: (args: A) => string, declared: readonly A[]): DeclaredShapes<A> {
  const shapes = [...new Set(declared.map(shapeOf))];
  const entry = (shape: string, id: string) => `${shape}:${id}`;
  const key = (shape: string, id: string) => cacheKey(source, family, entry(shape, id));
  return {
    source,
    family,
    shapes,
    shapeOf,
    isCached: (args) => shapes.includes(shapeOf(args)),
    entry,
    cacheKey: key,
    keysOf: (id) => shapes.map((shape) => key(shape, id)),
  };
}

/**
 * One family in front of two: keys `isCached` accepts go to `cached`, the others to `live`, each
 * part in one call (so a batch that mixes them costs two upstream calls, one that does not costs
 * one); answers come back in key order. A part that fails as a whole fails its own keys only.
 */
export function splitFamily<K, R>(isCached: (key: K) => boolean, cached: Family<K, R>, live: Family<K, R>): Family<K, R> {
  return async (keys, call: CallContext) => {
    const toCache: number[] = [];
    const toLive: number[] = [];
    keys.forEach((key, i) => (isCached(key) ? toCache : toLive).push(i));
    const out = new Array<R | Error>(keys.length);
    const run = async (family: Family<K, R>, positions: readonly number[]) => {
      if (positions.length === 0) return;
      const values = await family(
        positions.map((i) => keys[i]!),
        call,
      ).catch((error: Error) => positions.map(() => error));
      positions.forEach((i, j) => (out[i] = values[j]!));
    };
    await Promise.all([run(cached, toCache), run(live, toLive)]);
    return out;
  };
}
