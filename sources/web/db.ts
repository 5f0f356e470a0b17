import { runSql, type Queryable, type SqlSource } from '../sql.ts';
import type { WebKey, WebSubject } from './model.ts';

export { groupInKeyOrder, inKeyOrder, type Queryable } from '../sql.ts';

const WEB: SqlSource = { name: 'web', database: 'the event warehouse', contract: 'the Segment/RudderStack warehouse layout' };

/** Runs one statement against the warehouse; failures become SourceError('web', ...) (see runSql). */
export function run<R extends object>(db: Queryable, text: string, values: unknown[]): Promise<R[]> {
  return runSql<R>(WEB, db, text, values);
}

export const MAX_DAYS = 365;
export const MAX_FIRST = 100;
const DAY_MS = 86_400_000;

/** Throws a RangeError for a subject with neither id (before any SQL). */
export function checkSubjects(subjects: readonly WebSubject[]): void {
  for (const subject of subjects) {
    if (subject.userId == null && subject.anonymousId == null) {
      throw new RangeError('expected a user id or an anonymous id (or both), got neither');
    }
  }
}

/** Throws a RangeError for a subject, window or page size the caller should have refused (before any SQL). */
export function checkKeys(keys: readonly (WebKey & { first?: number })[]): void {
  checkSubjects(keys);
  for (const key of keys) {
    if (!Number.isInteger(key.days) || key.days < 1 || key.days > MAX_DAYS) {
      throw new RangeError(`expected days between 1 and ${MAX_DAYS}, got ${key.days}`);
    }
    if (key.first !== undefined && (!Number.isInteger(key.first) || key.first < 1 || key.first > MAX_FIRST)) {
      throw new RangeError(`expected first between 1 and ${MAX_FIRST}, got ${key.first}`);
    }
  }
}

/**
 * The parameters every windowed statement takes: $1 user ids, $2 window starts, $3 page sizes (null
 * for families without one), $4 the end of every window (the source's clock, once per batch), $5
 * anonymous ids (null where a key has none). Throws a RangeError for a key the caller should have
 * refused.
 */
export function keyParams(keys: readonly (WebKey & { first?: number })[], now: Date): unknown[] {
  checkKeys(keys);
  return [
    keys.map((k) => k.userId ?? null),
    keys.map((k) => new Date(now.getTime() - k.days * DAY_MS)),
    keys.map((k) => k.first ?? null),
    now,
    keys.map((k) => k.anonymousId ?? null),
  ];
}

/**
 * keyParams for reads of a subject's whole history (no window): every window from -infinity to
 * infinity, so the same subjects and ranges serve. Throws a RangeError for a subject with no id.
 */
export function subjectParams(subjects: readonly WebSubject[]): unknown[] {
  checkSubjects(subjects);
  return [subjects.map((s) => s.userId ?? null), subjects.map(() => '-infinity'), subjects.map(() => null), 'infinity', subjects.map((s) => s.anonymousId ?? null)];
}

/** Key positions as the statements number them (WITH ORDINALITY, from 1), for groupInKeyOrder. */
export function ordinals(keys: readonly unknown[]): number[] {
  return keys.map((_, i) => i + 1);
}
