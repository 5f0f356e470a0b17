import { groupInKeyOrder, inKeyOrder, keyParams, ordinals, run, type Queryable } from './db.ts';
import { devicesOf, type SessionAgentRow } from './devices.ts';
import type { Relations } from './layout.ts';
import type { Touch, Touches, WebDevice, WebKey, WebSummary } from './model.ts';
import { sessionsCtes, subjectsCtes } from './stream.ts';

interface SummaryRow {
  ord: number;
  last_seen_at: Date;
  session_count: number;
  page_views: number;
  average_session_seconds: number;
}

/**
 * Activity per key, in key order: last event, sessions, page views and mean session length in the
 * window; null when the person has no page or track in it. One statement for the whole batch.
 */
export function summariesStatement(w: Relations) {
  const text = `WITH ${subjectsCtes(w)}, ${sessionsCtes(w)},
    per_session AS (
      SELECT ord, min(at) AS started_at, max(at) AS ended_at, count(*) FILTER (WHERE kind = 0) AS pages
        FROM sessions GROUP BY ord, session_no)
    SELECT ord, max(ended_at) AS last_seen_at, count(*)::int AS session_count, sum(pages)::int AS page_views,
           round(avg(extract(epoch FROM ended_at - started_at)), 1)::float8 AS average_session_seconds
      FROM per_session GROUP BY ord`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<Array<WebSummary | null>> => {
    if (keys.length === 0) return [];
    const rows = await run<SummaryRow>(db, text, keyParams(keys, now));
    return inKeyOrder(ordinals(keys), rows, (row) => row.ord).map(
      (row) =>
        row && {
          lastSeenAt: row.last_seen_at,
          sessionCount: row.session_count,
          pageViews: row.page_views,
          averageSessionSeconds: row.average_session_seconds,
        },
    );
  };
}

/**
 * Devices per key, in key order, most used first: each session's user agent (its first event's)
 * is counted in SQL, then parsed here (ua-parser-js) and merged by (type, OS, browser), so two
 * versions of one browser are one device. An empty list when the window holds no session. One
 * statement.
 */
export function devicesStatement(w: Relations) {
  const text = `WITH ${subjectsCtes(w)}, ${sessionsCtes(w, ['user_agent'])}
    SELECT ord, user_agent, count(*)::int AS sessions, max(at) AS last_seen_at
      FROM sessions WHERE starts_session GROUP BY ord, user_agent`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<WebDevice[][]> => {
    if (keys.length === 0) return [];
    const rows = await run<SessionAgentRow & { ord: number }>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map(devicesOf);
  };
}

interface TouchRow {
  ord: number;
  which: 'first' | 'last';
  at: Date;
  source: string | null;
  medium: string | null;
  campaign: string | null;
  referrer: string | null;
  path: string | null;
}

/**
 * First and last touch per key, in key order: the campaign (UTM) context, referrer and landing
 * path of the first event of the earliest and of the latest session in the window; null when the
 * window holds no session. One statement.
 */
export function touchesStatement(w: Relations) {
  const columns = 'ord, at, source, medium, campaign, referrer, path';
  const text = `WITH ${subjectsCtes(w)}, ${sessionsCtes(w, ['source', 'medium', 'campaign', 'referrer', 'path'])},
    starts AS (SELECT * FROM sessions WHERE starts_session)
    (SELECT DISTINCT ON (ord) 'first' AS which, ${columns} FROM starts ORDER BY ord, at, kind, id)
    UNION ALL
    (SELECT DISTINCT ON (ord) 'last' AS which, ${columns} FROM starts ORDER BY ord, at DESC, kind DESC, id DESC)`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<Array<Touches | null>> => {
    if (keys.length === 0) return [];
    const rows = await run<TouchRow>(db, text, keyParams(keys, now));
    return groupInKeyOrder(ordinals(keys), rows, (row) => row.ord).map((group) => {
      const first = group.find((row) => row.which === 'first');
      const last = group.find((row) => row.which === 'last');
      return first && last ? { firstTouch: toTouch(first), lastTouch: toTouch(last) } : null;
    });
  };
}

function toTouch(row: TouchRow): Touch {
  return {
    at: row.at,
    source: row.source,
    medium: row.medium,
    campaign: row.campaign,
    referrer: row.referrer,
    landingPath: row.path,
  };
}
