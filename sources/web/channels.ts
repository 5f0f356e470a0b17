import { groupInKeyOrder, keyParams, ordinals, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { WebKey } from './model.ts';
import { sessionsCtes, subjectsCtes } from './stream.ts';

/** Session starts of one key that share their UTM tags and referring host. */
export interface SessionSourceGroup {
  /** UTM medium, source and campaign, trimmed and lower-cased (campaign as sent); null when absent. */
  readonly medium: string | null;
  readonly source: string | null;
  readonly campaign: string | null;
  /** Host of the session's referrer (never its path or query); null without one. */
  readonly referrerHost: string | null;
  readonly sessions: number;
  /** The newest of these sessions' starts. */
  readonly lastAt: Date;
}

interface SourceRow {
  ord: number;
  medium: string | null;
  source: string | null;
  campaign: string | null;
  referrer_host: string | null;
  sessions: number;
  last_at: Date;
}

const tag = (column: string) => `nullif(lower(btrim(${column})), '')`;

/**
 * Session starts per key in the window, grouped by campaign tags and referring host, in key order
 * (an empty list without sessions). The host is cut from the referrer in SQL, so a path or query
 * string, which may carry anything, never leaves the warehouse. One statement.
 */
export function sessionSourcesStatement(w: Relations) {
  const text = `WITH ${subjectsCtes(w)}, ${sessionsCtes(w, ['source', 'medium', 'campaign', 'referrer'])}
    SELECT ord, ${tag('medium')} AS medium, ${tag('source')} AS source, nullif(btrim(campaign), '') AS campaign,
           lower(substring(referrer FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)')) AS referrer_host,
           count(*)::int AS sessions, max(at) AS last_at
      FROM sessions WHERE starts_session GROUP BY 1, 2, 3, 4, 5`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<SessionSourceGroup[][]> => {
    if (keys.length === 0) return [];
    const rows = await run<SourceRow>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) =>
      group.map((row) => ({
        medium: row.medium,
        source: row.source,
        campaign: row.campaign,
        referrerHost: row.referrer_host,
        sessions: row.sessions,
        lastAt: row.last_at,
      })),
    );
  };
}

/** Sessions and page views of one period. */
export interface WebPeriodCounts {
  readonly sessions: number;
  readonly pageViews: number;
}

/** A key's two periods of `days` each, ending at `asOf` (the source's clock when read). */
export interface WebPeriods {
  readonly asOf: Date;
  /** [asOf - days, asOf]. */
  readonly current: WebPeriodCounts;
  /** [asOf - 2 days, asOf - days). */
  readonly previous: WebPeriodCounts;
}

interface PeriodRow {
  ord: number;
  current: boolean;
  sessions: number;
  page_views: number;
}

const NONE: WebPeriodCounts = { sessions: 0, pageViews: 0 };

/**
 * Per key (whose `days` is one period), sessions and page views in the last `days` days and in the
 * `days` before them, in key order; a session counts in the period it started in, with all its page
 * views. Reads one window of 2 x days (at most MAX_DAYS). One statement.
 */
export function engagementPeriodsStatement(w: Relations) {
  const text = `WITH ${subjectsCtes(w)}, ${sessionsCtes(w)},
    per_session AS (
      SELECT ord, min(at) AS started_at, count(*) FILTER (WHERE kind = 0)::int AS pages FROM sessions GROUP BY ord, session_no)
    SELECT p.ord, p.started_at >= k.from_at + ($4::timestamptz - k.from_at) / 2 AS current,
           count(*)::int AS sessions, sum(p.pages)::int AS page_views
      FROM per_session p JOIN keys k ON k.ord = p.ord GROUP BY 1, 2`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<WebPeriods[]> => {
    if (keys.length === 0) return [];
    const both = keys.map((key) => ({ ...key, days: key.days * 2 }));
    const rows = await run<PeriodRow>(db, text, keyParams(both, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) => {
      const of = (current: boolean): WebPeriodCounts => {
        const row = group.find((r) => r.current === current);
        return row ? { sessions: row.sessions, pageViews: row.page_views } : NONE;
      };
      return { asOf: now, current: of(true), previous: of(false) };
    });
  };
}
