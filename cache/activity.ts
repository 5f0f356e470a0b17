import type DataLoader from 'dataloader';
import type { SourceName } from '../sources/errors.ts';
import type { ActivityOptions, EmailActivity } from '../sources/mailchimp/index.ts';
import type { CallContext, Family } from './family.ts';
import { declareShapes } from './shapes.ts';

/** Default of MAILCHIMP_ACTIVITY_MAX_PER_REQUEST. */
export const ACTIVITY_READS_PER_REQUEST = 20;

/** The activity family's name: part of its cache keys and metric labels. */
export const ACTIVITY_FAMILY = 'activity';

/**
 * The activity feed reads the EmailMarketing fields make for every member of a page. Only these
 * shapes are cached: an `activity(first:, types:)` of other arguments is read live (it still counts
 * towards the per-request bound). Keeping the list short and declared is what lets an eviction name
 * every activity key of a member (`ACTIVITY_SHAPES.keysOf`) without a scan.
 */
export const ACTIVITY_READS = {
  lastOpen: { count: 1, types: ['open'] },
  lastClick: { count: 1, types: ['click'] },
  /** `activity` with its default arguments: ten entries of the schema's five types. */
  recent: { count: 10, types: ['bounce', 'click', 'open', 'sent', 'unsub'] },
  /** The channel and engagement-trend traits' opens and clicks (traits-channel.graphql), one read for both. */
  engagement: { count: 100, types: ['click', 'open'] },
} as const satisfies Record<string, ActivityOptions>;

/** A (count, types) choice as one string, the types as a set: `1:open`, `10:bounce,click,open,sent,unsub`. */
export function activityShape({ count, types = [] }: ActivityOptions): string {
  return `${count}:${[...types].sort().join(',')}`;
}

/**
 * The cached feed shapes (shapes.ts), derived from ACTIVITY_READS: `isCached`, the keys of one
 * member's feed (`email:activity:1:open:<email>`), and `keysOf` for eviction (email normalized).
 */
export const ACTIVITY_SHAPES = declareShapes<ActivityOptions>('email', ACTIVITY_FAMILY, activityShape, Object.values(ACTIVITY_READS));

/**
 * A field the server chose not to read: the request already made its share of uncached reads of
 * an upstream. Not a failure of the upstream (no breaker counts it, nothing is logged). The message
 * is public as it is: it states the limit and what to do.
 */
export class RequestLimitError extends Error {
  override readonly name = 'RequestLimitError';

  constructor(
    readonly source: SourceName,
    readonly limit: number,
    message: string,
  ) {
    super(message);
  }
}

/** One request's allowance of uncached activity reads, shared by every activity loader of the request. */
export interface ActivityAllowance {
  readonly limit: number;
  used: number;
}

/**
 * The batch of one request's activity loader for one shape: members whose feed the shared cache
 * can serve are read through the family as always; of the others, only as many as the request's
 * allowance has left, in key order (the top of a page first); the rest get a RequestLimitError.
 * So a page of 100 costs at most `limit` Mailchimp reads (two rounds of Mailchimp's 10 connections
 * by default) rather than 100 that miss the deadline: fewer fields instead of timeouts, and a
 * repeat of the request gets the next ones.
 */
export function boundedActivityBatch(
  family: Family<string, EmailActivity[] | null>,
  servedFromCache: (emails: readonly string[]) => Promise<boolean[]>,
  allowance: ActivityAllowance,
  call: CallContext,
): DataLoader.BatchLoadFn<string, EmailActivity[] | null> {
  return async (emails) => {
    const cached = await servedFromCache(emails);
    const admitted: number[] = [];
    const out: Array<EmailActivity[] | null | Error> = emails.map((_, i) => {
      if (!cached[i]) {
        if (allowance.used >= allowance.limit) return limited(allowance.limit);
        allowance.used++;
      }
      admitted.push(i);
      return null;
    });
    if (admitted.length > 0) {
      const values = await family(
        admitted.map((i) => emails[i]!),
        call,
      ).catch((error: Error) => admitted.map(() => error));
      admitted.forEach((i, j) => (out[i] = values[j]!));
    }
    return out;
  };
}

const limited = (limit: number) =>
  new RequestLimitError(
    'email',
    limit,
    `email activity is read for at most ${limit} members per request beyond those cached: select it on fewer customers, or repeat the request for the rest`,
  );
