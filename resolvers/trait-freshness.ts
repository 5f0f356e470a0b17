import type { Context } from '../server/context.ts';
import type { SourceName } from '../sources/errors.ts';

/** One input of a trait: which source, what of it, and when it was read there. */
export interface TraitInputModel {
  readonly source: SourceName;
  readonly data: string;
  readonly readAt: Date;
}

/** A trait's freshness: its oldest input's read time, and every input's. */
export interface TraitFreshnessModel {
  readonly asOf: Date;
  readonly inputs: readonly TraitInputModel[];
}

/**
 * An input as a trait's resolver names it: `value` is the object a loader answered for it (its read
 * time is looked up in the request's loaders), or `readAt` when the input says so itself (a model
 * fitted in the background carries its fit time).
 */
export interface TraitInputRead {
  readonly source: SourceName;
  readonly data: string;
  readonly value?: unknown;
  readonly readAt?: Date;
}

/**
 * The freshness of a trait computed from `inputs`: `asOf` is the oldest input's read time, so
 * nothing the trait rests on is older. Inputs are listed oldest first.
 */
export function traitFreshness({ loaders }: Pick<Context, 'loaders'>, inputs: readonly TraitInputRead[]): TraitFreshnessModel {
  const read = inputs.map(({ source, data, value, readAt }) => ({ source, data, readAt: readAt ?? loaders.readAt(value) })).sort((a, b) => a.readAt.getTime() - b.readAt.getTime());
  const oldest = read[0];
  return { asOf: oldest ? oldest.readAt : loaders.readAt(undefined), inputs: read };
}
