/**
 * SQL fragments shared by the windowed families. Every one is built from constants and the
 * warehouse's relations (layout.ts: each table as the source sees it, built from the validated
 * schema name and validated consent column names) once per layout; values travel as parameters
 * ($1..$5, see keyParams).
 */
import type { Relations } from './layout.ts';
import type { TableName } from './tables.ts';

/**
 * `keys`: one row per batch key (ord from 1, user_id, anonymous_id, from_at, first). `subjects`:
 * who a key's events are filed under (see WebSubject): a row with its user id, when it has one, and
 * a row per anonymous id whose not-yet-identified rows are its: each linked in `identifies` to that
 * user alone, and the key's own anonymous id, for a user only when `identifies` links it to nobody
 * else (an anonymous id linked to anyone else as well is ambiguous and stitched to nobody). The
 * UNION makes an anonymous id that is both linked and the key's own one subject, so no row is read
 * twice. One lateral lookup per key whatever the number of links: the statement count never grows.
 */
export function subjectsCtes(w: Relations): string {
  return `keys AS (
    SELECT k.ord::int AS ord, k.user_id, k.anonymous_id, k.from_at, k.first
      FROM unnest($1::text[], $5::text[], $2::timestamptz[], $3::int[]) WITH ORDINALITY AS k(user_id, anonymous_id, from_at, first, ord)),
  subjects AS (
    SELECT k.ord, k.from_at, k.first, k.user_id, NULL::text AS anonymous_id FROM keys k WHERE k.user_id IS NOT NULL
    UNION ALL
    SELECT k.ord, k.from_at, k.first, NULL, a.anonymous_id
      FROM keys k
      CROSS JOIN LATERAL (SELECT i.anonymous_id FROM ${w('identifies')} i
                           WHERE i.user_id = k.user_id AND i.anonymous_id IS NOT NULL
                          UNION
                          SELECT k.anonymous_id WHERE k.anonymous_id IS NOT NULL) a
     WHERE k.user_id IS NULL
        OR NOT EXISTS (SELECT 1 FROM ${w('identifies')} o WHERE o.anonymous_id = a.anonymous_id AND o.user_id <> k.user_id))`;
}

/**
 * Each subject's rows of `table` in its key's window [from_at, $4], as `ord` + `columns` (over alias
 * x). Two index ranges per subject: rows carrying the user id, and rows of an anonymous id not yet
 * identified (once identified, a row carries the user id and is found by the first range, so
 * nothing is counted twice and another user's rows on a shared device never leak in); a subject
 * has one of the two ids, so the other range is an index lookup of NULL, which finds nothing at
 * once. Rows that refused analytics consent (the configured column explicitly false) are left
 * out wherever the table has that column: no consent object (null) means no refusal, as the
 * pipelines read it. `tail` (more conditions starting with AND, then ORDER BY / LIMIT) ends each
 * range's query; `withRefused` keeps the refusals (the consent family reads them).
 */
export function ownRows(w: Relations, table: TableName, columns: string, tail = '', options: { withRefused?: boolean } = {}): string {
  const analytics = w.consent.analytics;
  const consented = !options.withRefused && analytics !== null && w.has(table, analytics) ? `AND x."${analytics}" IS NOT FALSE` : '';
  return `SELECT s.ord, x.* FROM subjects s CROSS JOIN LATERAL (
      (SELECT ${columns} FROM ${w(table)} x
        WHERE x.user_id = s.user_id AND x."timestamp" >= s.from_at AND x."timestamp" <= $4 ${consented} ${tail})
      UNION ALL
      (SELECT ${columns} FROM ${w(table)} x
        WHERE x.anonymous_id = s.anonymous_id AND x.user_id IS NULL
          AND x."timestamp" >= s.from_at AND x."timestamp" <= $4 ${consented} ${tail})) x`;
}

/** Extra columns of the event stream, as pages and as tracks spell them. */
const EXTRA = {
  user_agent: ['x.context_user_agent', 'x.context_user_agent'],
  source: ['x.context_campaign_source', 'x.context_campaign_source'],
  medium: ['x.context_campaign_medium', 'x.context_campaign_medium'],
  campaign: ['x.context_campaign_name', 'x.context_campaign_name'],
  referrer: ['coalesce(x.referrer, x.context_page_referrer)', 'x.context_page_referrer'],
  path: ['x.path', 'x.context_page_path'],
} as const;

export type StreamColumn = keyof typeof EXTRA;

/** The gap that ends a session: longer than this (a gap of exactly 30 minutes continues it). */
export const SESSION_TIMEOUT = `interval '30 minutes'`;

/**
 * `sessions`: every page (kind 0) and track (kind 1) of each key's subjects in the window, with
 * ord, id, at, kind, the `extra` columns, `starts_session` and `session_no` (1, 2, ... per key).
 * A session is a run of events with no gap longer than 30 minutes; a gap of exactly 30 minutes
 * continues it, and a session running across midnight is one session. The window cuts a session
 * that began before it. Ties in time put pages before tracks (a page's own events follow it).
 */
export function sessionsCtes(w: Relations, extra: readonly StreamColumn[] = []): string {
  const pick = (side: 0 | 1) => extra.map((name) => `, ${EXTRA[name][side]} AS ${name}`).join('');
  return `events AS (
    ${ownRows(w, 'pages', `x.id, x."timestamp" AS at, 0 AS kind${pick(0)}`)}
    UNION ALL
    ${ownRows(w, 'tracks', `x.id, x."timestamp" AS at, 1 AS kind${pick(1)}`)}),
  gaps AS (
    SELECT e.*, e.at - lag(e.at) OVER (PARTITION BY e.ord ORDER BY e.at, e.kind, e.id) AS gap FROM events e),
  sessions AS (
    SELECT g.*, coalesce(g.gap > ${SESSION_TIMEOUT}, true) AS starts_session,
           count(*) FILTER (WHERE coalesce(g.gap > ${SESSION_TIMEOUT}, true))
             OVER (PARTITION BY g.ord ORDER BY g.at, g.kind, g.id ROWS UNBOUNDED PRECEDING)::int AS session_no
      FROM gaps g)`;
}
