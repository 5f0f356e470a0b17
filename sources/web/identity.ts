import { groupInKeyOrder, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { WebIdentity } from './model.ts';

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

/**
 * The user each anonymous id is linked to, in key order; null when it is linked to nobody, and
 * null too when it is linked to several users (ambiguous: see identities). One statement.
 */
export function userIdsByAnonymousIdStatement(w: Relations) {
  const text = `
    SELECT k.ord::int AS ord, min(i.user_id) AS user_id, count(DISTINCT i.user_id)::int AS users
      FROM unnest($1::text[]) WITH ORDINALITY AS k(anonymous_id, ord)
      JOIN ${w('identifies')} i ON i.anonymous_id = k.anonymous_id AND i.user_id IS NOT NULL
     GROUP BY k.ord`;
  return async (db: Queryable, anonymousIds: readonly string[]): Promise<Array<string | null>> => {
    if (anonymousIds.length === 0) return [];
    const rows = await run<{ ord: number; user_id: string; users: number }>(db, text, [anonymousIds]);
    const byOrd = new Map(rows.map((row) => [row.ord, row]));
    return anonymousIds.map((_, i) => {
      const row = byOrd.get(i + 1);
      return row && row.users === 1 ? row.user_id : null;
    });
  };
}
