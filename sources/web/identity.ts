import { groupInKeyOrder, inKeyOrder, ordinals, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { AnonymousLink, AnonymousVisitorRecord, WebIdentity } from './model.ts';

interface LinkRow {
  ord: number;
  known: boolean;
  anonymous_id: string | null;
  ambiguous: boolean | null;
}

/**
 * What the warehouse calls each user id, in key order: the anonymous ids linked to it in
 * `identifies`, split into those linked to it alone and the ambiguous ones (also linked to another
 * user). Links are not windowed: an identify call of any date ties a browser to a person. Null when
 * the warehouse has neither a `users` row nor an identify call for the id. One statement.
 */
export function identitiesStatement(w: Relations) {
  const text = `
    SELECT k.ord::int AS ord,
           EXISTS (SELECT 1 FROM ${w('users')} u WHERE u.id = k.user_id)
             OR EXISTS (SELECT 1 FROM ${w('identifies')} i WHERE i.user_id = k.user_id) AS known,
           a.anonymous_id, a.ambiguous
      FROM unnest($1::text[]) WITH ORDINALITY AS k(user_id, ord)
      LEFT JOIN LATERAL (
        SELECT i.anonymous_id, min(i."timestamp") AS first_at,
               EXISTS (SELECT 1 FROM ${w('identifies')} o
                        WHERE o.anonymous_id = i.anonymous_id AND o.user_id <> k.user_id) AS ambiguous
          FROM ${w('identifies')} i
         WHERE i.user_id = k.user_id AND i.anonymous_id IS NOT NULL
         GROUP BY i.anonymous_id) a ON true
     ORDER BY k.ord, a.first_at, a.anonymous_id`;
  return async (db: Queryable, userIds: readonly string[]): Promise<Array<WebIdentity | null>> => {
    if (userIds.length === 0) return [];
    const rows = await run<LinkRow>(db, text, [userIds]);
    const ords = userIds.map((_, i) => i + 1);
    return groupInKeyOrder(ords, rows, (row) => row.ord).map((group, i) => {
      if (!group[0]?.known) return null;
      const linked = group.filter((row) => row.anonymous_id !== null);
      return {
        userId: userIds[i]!,
        anonymousIds: linked.filter((row) => !row.ambiguous).map((row) => row.anonymous_id!),
        ambiguousAnonymousIds: linked.filter((row) => row.ambiguous).map((row) => row.anonymous_id!),
      };
    });
  };
}

interface VisitorRow {
  ord: number;
  identified: boolean;
  users: number;
  user_id: string | null;
  seen: boolean;
}

/**
 * What the warehouse knows of each anonymous id, in key order: how `identifies` links it (to
 * exactly one user, whose id is given; to several, whose ids are not: another person's id must not
 * leak; to nobody). Null when the warehouse has neither an event (a page or track of any user id,
 * consented or not: a browser that refused analytics is still a browser, whose profile then serves
 * nothing) nor an identify call for the id. Links are not windowed, like identities'. One
 * statement; each event probe is the first entry of an (anonymous_id, "timestamp") index range:
 * the partial index of the rows not yet identified, which the families read, and its complement
 * (schema.sql's *_anonymous_identified_idx: a linked browser's later events carry the user id).
 */
export function visitorsStatement(w: Relations) {
  const seen = (['pages', 'tracks'] as const).flatMap((table) =>
    ['IS NULL', 'IS NOT NULL'].map((identified) => `EXISTS (SELECT 1 FROM ${w(table)} x WHERE x.anonymous_id = k.anonymous_id AND x.user_id ${identified})`),
  );
  const text = `
    SELECT k.ord::int AS ord, l.identified, l.users, CASE WHEN l.users = 1 THEN l.user_id END AS user_id,
           ${seen.join(' OR ')} AS seen
      FROM unnest($1::text[]) WITH ORDINALITY AS k(anonymous_id, ord)
      CROSS JOIN LATERAL (
        SELECT count(*) > 0 AS identified, count(DISTINCT i.user_id)::int AS users, min(i.user_id) AS user_id
          FROM ${w('identifies')} i WHERE i.anonymous_id = k.anonymous_id) l`;
  return async (db: Queryable, anonymousIds: readonly string[]): Promise<Array<AnonymousVisitorRecord | null>> => {
    if (anonymousIds.length === 0) return [];
    const rows = await run<VisitorRow>(db, text, [anonymousIds]);
    return inKeyOrder(ordinals(anonymousIds), rows, (row) => row.ord).map((row, i) => {
      if (!row || (!row.identified && !row.seen)) return null;
      const link: AnonymousLink = row.users === 0 ? 'unlinked' : row.users === 1 ? 'linked' : 'ambiguous';
      return {
        anonymousId: anonymousIds[i]!,
        link,
        userId: link === 'linked' ? row.user_id : null,
      };
    });
  };
}
