import { groupInKeyOrder, ordinals, run, subjectParams, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import type { WebConsent, WebConsentAnswer, WebSubject } from './model.ts';
import { ownRows, subjectsCtes } from './stream.ts';
import type { ConsentPurpose } from './tables.ts';

interface AnswerRow {
  ord: number;
  purpose: ConsentPurpose;
  granted: boolean;
  at: Date;
}

const PURPOSES: readonly ConsentPurpose[] = ['analytics', 'advertising'];
/** Ties in time put pages before tracks, as in sessions (a page's own events follow it). */
const KIND = { pages: 0, tracks: 1 } as const;
const NO_ANSWER: WebConsent = { analytics: null, advertising: null };

/**
 * Consent per subject, in key order (never null): for each purpose, the value of the newest event
 * (page or track, of any time, by the same subject rules as the windowed families: WebSubject)
 * whose consent column for it is not null, with that event's time; null for a purpose no event
 * answered. A refusal counts here like a grant (the families leave such events out; this is how a
 * caller learns of it). Each (subject, table, purpose) is one index range read backwards that stops
 * at its first answer. One statement; none when the warehouse has none of the configured columns
 * (every answer is then null).
 */
export function consentsStatement(w: Relations) {
  const branches = PURPOSES.flatMap((purpose) => {
    const column = w.consent[purpose];
    if (column === null) return [];
    return (['pages', 'tracks'] as const)
      .filter((table) => w.has(table, column))
      .map(
        (table) =>
          `SELECT ord, '${purpose}' AS purpose, granted, at, ${KIND[table]} AS kind, id FROM (${ownRows(
            w,
            table,
            `x.id, x."${column}" AS granted, x."timestamp" AS at`,
            `AND x."${column}" IS NOT NULL ORDER BY x."timestamp" DESC LIMIT 1`,
            { withRefused: true },
          )}) a`,
      );
  });
  const text =
    branches.length === 0
      ? null
      : `WITH ${subjectsCtes(w)}, answers AS (${branches.join('\nUNION ALL\n')})
    SELECT DISTINCT ON (ord, purpose) ord, purpose, granted, at FROM answers ORDER BY ord, purpose, at DESC, kind DESC, id DESC`;
  return async (db: Queryable, subjects: readonly WebSubject[]): Promise<WebConsent[]> => {
    if (subjects.length === 0) return [];
    const params = subjectParams(subjects);
    if (text === null) return subjects.map(() => NO_ANSWER);
    const rows = await run<AnswerRow>(db, text, params);
    return groupInKeyOrder(ordinals(subjects), rows, (row) => row.ord).map((group) => {
      const answer = (purpose: ConsentPurpose): WebConsentAnswer | null => {
        const row = group.find((r) => r.purpose === purpose);
        return row ? { granted: row.granted, at: row.at } : null;
      };
      return { analytics: answer('analytics'), advertising: answer('advertising') };
    });
  };
}
