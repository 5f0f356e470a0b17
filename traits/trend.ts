/**
 * The engagement trend's computations (schema/traits-channel.graphql): a period against the one
 * before it. Pure: the resolver hands in what the sources counted.
 */

/** A relative change beyond this either way is UP or DOWN; within it, FLAT. */
export const TREND_THRESHOLD = 0.2;

export type TrendDirection = 'UP' | 'DOWN' | 'FLAT' | 'NEW' | 'NONE';

export interface Comparison {
  /** (current - previous) / previous; null when previous is 0. */
  readonly change: number | null;
  readonly direction: TrendDirection;
}

/**
 * NONE when both periods are 0, NEW when only the current one has any, else UP or DOWN when the
 * relative change is at least TREND_THRESHOLD either way, FLAT otherwise.
 */
export function compare(current: number, previous: number): Comparison {
  if (previous === 0) return { change: null, direction: current === 0 ? 'NONE' : 'NEW' };
  const change = (current - previous) / previous;
  const direction = change >= TREND_THRESHOLD ? 'UP' : change <= -TREND_THRESHOLD ? 'DOWN' : 'FLAT';
  return { change, direction };
}

/** The two periods ending at `until`: current [until - days, until], previous [until - 2 days, until - days). */
export interface Periods {
  readonly days: number;
  readonly until: Date;
}

const DAY_MS = 86_400_000;

export type Period = 'current' | 'previous' | null;

/** Which period a time falls in; null outside both. */
export function periodOf(at: Date, { days, until }: Periods): Period {
  const t = at.getTime();
  const end = until.getTime();
  const split = end - days * DAY_MS;
  if (t > end || t < split - days * DAY_MS) return null;
  return t >= split ? 'current' : 'previous';
}

export interface EmailPeriodCounts {
  readonly opens: { readonly current: number; readonly previous: number };
  readonly clicks: { readonly current: number; readonly previous: number };
  /**
   * True when the feed read was full (`limit` entries) and its oldest entry is inside the periods:
   * older entries may have been cut off, so each count is a lower bound.
   */
  readonly lowerBounds: boolean;
}

/** Opens and clicks per period from the newest `limit` entries of a member's feed (newest first or not). */
export function emailPeriods(feed: ReadonlyArray<{ type: string; at: Date }>, periods: Periods, limit: number): EmailPeriodCounts {
  const counts = { opens: { current: 0, previous: 0 }, clicks: { current: 0, previous: 0 } };
  for (const entry of feed) {
    const period = periodOf(entry.at, periods);
    if (period === null) continue;
    if (entry.type === 'open') counts.opens[period]++;
    if (entry.type === 'click') counts.clicks[period]++;
  }
  const oldest = feed.reduce<Date | null>((min, e) => (min === null || e.at < min ? e.at : min), null);
  const lowerBounds = feed.length >= limit && oldest !== null && periodOf(oldest, periods) !== null;
  return { ...counts, lowerBounds };
}
