import { inKeyOrder, keyParams, ordinals, run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { WebKey, WebLocation } from './model.ts';
import { ownRows, subjectsCtes } from './stream.ts';

/** The context columns a location is made of, by the field they fill. */
const CONTEXT = {
  locale: 'context_locale',
  timezone: 'context_timezone',
  country: 'context_geo_country',
  region: 'context_geo_region',
  city: 'context_geo_city',
} as const;

type LocationRow = { ord: number; at: Date } & Record<keyof typeof CONTEXT, string | null>;

/**
 * Location per key, in key order: the context of the newest page or track in the window that
 * carries any of locale, timezone or geolocation (all five from that one event, so a city never
 * comes with another event's country); null when no event in the window carries one. Each
 * (subject, table) is one index range read backwards that stops at its first such event. One
 * statement; none when pages and tracks have none of the columns (every answer is then null).
 */
export function locationsStatement(w: Relations) {
  const fields = Object.entries(CONTEXT)
    .map(([field, column]) => `x.${column} AS ${field}`)
    .join(', ');
  const branches = (['pages', 'tracks'] as const).flatMap((table, kind) => {
    const present = Object.values(CONTEXT).filter((column) => w.has(table, column));
    if (present.length === 0) return [];
    const carries = present.map((column) => `x.${column} IS NOT NULL`).join(' OR ');
    // kind: ties in time put pages before tracks, as in sessions.
    return [ownRows(w, table, `x.id, x."timestamp" AS at, ${kind} AS kind, ${fields}`, `AND (${carries}) ORDER BY x."timestamp" DESC LIMIT 1`)];
  });
  const text =
    branches.length === 0
      ? null
      : `WITH ${subjectsCtes(w)}, seen AS (${branches.join('\nUNION ALL\n')})
    SELECT DISTINCT ON (ord) ord, at, ${Object.keys(CONTEXT).join(', ')} FROM seen ORDER BY ord, at DESC, kind DESC, id DESC`;
  return async (db: Queryable, keys: readonly WebKey[], now: Date): Promise<Array<WebLocation | null>> => {
    if (keys.length === 0) return [];
    const params = keyParams(keys, now);
    if (text === null) return keys.map(() => null);
    const rows = await run<LocationRow>(db, text, params);
    return inKeyOrder(ordinals(keys), rows, (row) => row.ord).map(
      (row) => row && { locale: row.locale, timezone: row.timezone, country: row.country, region: row.region, city: row.city, at: row.at },
    );
  };
}
