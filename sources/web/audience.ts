/**
 * The warehouse's side of cross-source audiences (sources/audience.ts): which identified people
 * (user id = shop customer id) meet a WebCondition, evaluated in SQL. Every answer is one
 * statement: a COUNT for `estimate`, the user ids for `enumerate`, the same restricted to the
 * candidates for `check`, and for `firstTouchMediums` the candidates' first-touch mediums counted.
 *
 * Whose events are whose follows the windowed families (stream.ts, WebSubject): a person's events
 * are the rows carrying their user id plus the not-yet-identified rows (user_id null) of every
 * anonymous id `identifies` links to them alone; an anonymous id linked to several users counts for
 * nobody, and a browser never identified is nobody. Events that refused analytics consent (the
 * configured column explicitly false) are invisible, as in every family but `consents`: a person
 * is matched on their consented events only. Events after the source's clock are not read.
 *
 * Sessions and touches follow activity.ts: a session is a run of a person's pages and tracks with
 * no gap longer than 30 minutes (SESSION_TIMEOUT), and a touch is the first event of a session. The
 * channel of a touch is computed in SQL the way the channel trait names it (traits/channel.ts
 * `channelOf` over channels.ts's session sources): the UTM medium, trimmed and lower-cased, when
 * the touch has a UTM medium or source (`(not set)` for a source alone), else `referral` when it
 * has a referring host, else `direct`.
 */
import type { Estimate, Tally, Touch, WebAudienceSource, WebCondition } from '../audience.ts';
import { deadlinePassed } from '../deadline.ts';
import { run, type Queryable } from './db.ts';
import type { Relations } from './layout.ts';
import { SESSION_TIMEOUT } from './stream.ts';
import type { TableName } from './tables.ts';

/** What one audience statement is asked: a count or the people meeting a condition, or first-touch mediums. */
export type AudienceQuery =
  (QueryBase & { readonly answer: 'count' | 'people'; readonly condition: WebCondition }) | (QueryBase & { readonly answer: 'mediums'; readonly candidates: readonly string[] });

interface QueryBase {
  /** Null: every person in the warehouse; else only these user ids (and their anonymous ids). */
  readonly candidates: readonly string[] | null;
  /** The source's clock: no event after it is read. */
  readonly now: Date;
  /** Told once per statement sent, with the rows it returned (0 when it failed). */
  readonly tally: Tally;
}

/** A row of an audience statement: a count, one person, or one first-touch medium's count. */
export type AudienceRow = { count: number } | { person: string } | { medium: string | null; count: number };

/**
 * The audience statement for one layout: built per query from the fields the condition gives (the
 * text depends on which are given, never on their values, which travel as parameters), run once,
 * tallied once. Throws SourceError('web') when the warehouse fails.
 */
export function audienceStatement(w: Relations) {
  return async (db: Queryable, query: AudienceQuery): Promise<AudienceRow[]> => {
    const { text, values } = query.answer === 'mediums' ? buildMediums(w, query) : buildAudience(w, query);
    let rows: AudienceRow[] = [];
    try {
      rows = await run<AudienceRow>(db, text, values);
      return rows;
    } finally {
      query.tally.call(rows.length);
    }
  };
}

/** Runs one audience query against the current layout (index.ts: retried once on drift, empty schema refused). */
export type AskAudience = (query: AudienceQuery) => Promise<AudienceRow[]>;

/**
 * The warehouse as an AudienceSource keyed by customer id. Each method validates its input first
 * (a RangeError, before any SQL, for a condition with no field, an invalid date, a session minimum
 * that is not a positive integer, a list or candidates that are not strings) and then runs exactly
 * one statement (none for no candidates). A deadline that passed before the statement rejects
 * with deadlinePassed's SourceError; SQL's statement_timeout bounds a statement under way.
 */
export function createWebAudience(ask: AskAudience, now: () => Date): WebAudienceSource {
  const started = (signal: AbortSignal, what: string) => {
    if (signal.aborted) throw deadlinePassed(signal, 'web', what);
  };
  const people = async (condition: WebCondition, candidates: readonly string[] | null, tally: Tally, signal: AbortSignal) => {
    started(signal, 'the audience statement');
    const rows = (await ask({ answer: 'people', condition, candidates, now: now(), tally })) as Array<{ person: string }>;
    return new Set(rows.map((row) => row.person));
  };
  return {
    key: 'customerId',
    async estimate(condition, tally, signal): Promise<Estimate> {
      checkCondition(condition);
      started(signal, 'the audience count');
      const [row] = (await ask({ answer: 'count', condition, candidates: null, now: now(), tally })) as Array<{ count: number }>;
      return { count: row?.count ?? 0, exact: true };
    },
    // One statement returns every match: the warehouse is read in SQL, not paged over HTTP.
    enumerationCalls: () => 1,
    async enumerate(condition, tally, signal) {
      checkCondition(condition);
      return people(condition, null, tally, signal);
    },
    checkCalls: (_condition, candidates) => (candidates === 0 ? 0 : 1),
    async check(condition, candidates, tally, signal) {
      checkCondition(condition);
      checkCandidates(candidates);
      if (candidates.length === 0) return new Set<string>();
      return people(condition, candidates, tally, signal);
    },
    async firstTouchMediums(customerIds, tally, signal) {
      checkCandidates(customerIds);
      if (customerIds.length === 0) return new Map<string | null, number>();
      started(signal, 'the first-touch mediums statement');
      const rows = (await ask({ answer: 'mediums', candidates: customerIds, now: now(), tally })) as Array<{ medium: string | null; count: number }>;
      return new Map(rows.map((row) => [row.medium, row.count]));
    },
  };
}

function checkCandidates(candidates: readonly string[]): void {
  if (!candidates.every((id) => typeof id === 'string')) throw new RangeError('expected candidate customer ids as strings');
}

const FIELDS = ['viewedCategories', 'viewedProducts', 'sessions', 'lastSeenAfter', 'lastSeenBefore', 'firstTouch', 'lastTouch'] as const;

/** Throws a RangeError for a condition the caller should have refused (before any SQL). */
export function checkCondition(condition: WebCondition): void {
  const given = FIELDS.filter((field) => condition[field] !== undefined);
  if (given.length === 0) throw new RangeError(`expected a web condition with at least one of ${FIELDS.join(', ')}, got none`);
  const date = (value: unknown, what: string) => {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new RangeError(`expected ${what} to be a valid date`);
  };
  const strings = (value: unknown, what: string) => {
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new RangeError(`expected ${what} to be a list of strings`);
  };
  const { viewedCategories, viewedProducts, sessions, lastSeenAfter, lastSeenBefore, firstTouch, lastTouch } = condition;
  if (viewedCategories) {
    strings(viewedCategories.categories, 'viewedCategories.categories');
    date(viewedCategories.since, 'viewedCategories.since');
  }
  if (viewedProducts) {
    strings(viewedProducts.productIds, 'viewedProducts.productIds');
    date(viewedProducts.since, 'viewedProducts.since');
  }
  if (sessions) {
    if (!Number.isInteger(sessions.min) || sessions.min < 1) throw new RangeError(`expected sessions.min to be a positive integer, got ${sessions.min}`);
    date(sessions.since, 'sessions.since');
  }
  if (lastSeenAfter !== undefined) date(lastSeenAfter, 'lastSeenAfter');
  if (lastSeenBefore !== undefined) date(lastSeenBefore, 'lastSeenBefore');
  for (const [name, touch] of [
    ['firstTouch', firstTouch],
    ['lastTouch', lastTouch],
  ] as const) {
    if (!touch) continue;
    for (const list of ['campaigns', 'mediums', 'channels'] as const) if (touch[list] !== undefined) strings(touch[list], `${name}.${list}`);
  }
}

/** Parameters as the statement numbers them. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

type Scope = 'all' | 'candidates';

/** pages and tracks as the session stream reads them (stream.ts: pages first on ties; a page's referrer as sessions read it). */
const STREAM = {
  pages: { kind: 0, referrer: 'coalesce(x.referrer, x.context_page_referrer)' },
  tracks: { kind: 1, referrer: 'x.context_page_referrer' },
} as const;

// As channels.ts tags session sources and cuts a referrer's host (keep the two in step).
const tag = (column: string) => `nullif(lower(btrim(${column})), '')`;
const REFERRER_HOST = `'^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)'`;
const TOUCH_COLUMNS = `${tag('x.context_campaign_medium')} AS medium, ${tag('x.context_campaign_source')} AS source, nullif(btrim(x.context_campaign_name), '') AS campaign`;

/** Reads of each person's events, for one statement: its CTEs, parameters and scope. */
function readerOf(w: Relations, p: Params, candidates: readonly string[] | null, at: Date) {
  const scope: Scope = candidates === null ? 'all' : 'candidates';
  const now = p.add(at, 'timestamptz');
  const heads: string[] = [];
  if (candidates !== null) {
    heads.push(`candidates AS (SELECT DISTINCT c.person FROM unnest(${p.add(candidates, 'text[]')}) AS c(person) WHERE c.person IS NOT NULL)`);
  }
  heads.push(linksCte(w, scope));

  /** `table`'s rows of each person (scope), consented, up to now, as person, at + `columns` (over x), narrowed by `where`. */
  const rowsOf = (table: TableName, columns: string, where: string) => {
    const analytics = w.consent.analytics;
    const consented = analytics !== null && w.has(table, analytics) ? `AND x."${analytics}" IS NOT FALSE` : '';
    const read = `x."timestamp" AS at${columns ? `, ${columns}` : ''}`;
    const filter = `${consented} AND x."timestamp" <= ${now} ${where}`;
    if (scope === 'all') {
      // Every identified row, and the not-yet-identified rows of browsers linked to one user alone.
      return `SELECT x.user_id AS person, ${read} FROM ${w(table)} x WHERE x.user_id IS NOT NULL ${filter}
        UNION ALL
        SELECT l.person, ${read} FROM links l JOIN ${w(table)} x ON x.anonymous_id = l.anonymous_id WHERE x.user_id IS NULL ${filter}`;
    }
    // Per candidate and per linked browser: the (user_id, "timestamp") and (anonymous_id, "timestamp") index ranges.
    const select = `SELECT ${read} FROM ${w(table)} x`;
    return `SELECT c.person, x.* FROM candidates c CROSS JOIN LATERAL (${select} WHERE x.user_id = c.person ${filter}) x
      UNION ALL
      SELECT l.person, x.* FROM links l CROSS JOIN LATERAL (${select} WHERE x.anonymous_id = l.anonymous_id AND x.user_id IS NULL ${filter}) x`;
  };
  /** Pages and tracks of each person, as person, at, kind, id + the touch columns when asked. */
  const stream = (where: string, touch = false) =>
    (['pages', 'tracks'] as const)
      .map((table) => {
        const extra = touch ? `, ${TOUCH_COLUMNS}, ${STREAM[table].referrer} AS referrer` : '';
        return rowsOf(table, `${STREAM[table].kind} AS kind, x.id${extra}`, where);
      })
      .join('\nUNION ALL\n');
  return { heads, rowsOf, stream };
}

/** The statement text and parameters for a condition's count or people. */
function buildAudience(w: Relations, query: AudienceQuery & { answer: 'count' | 'people' }): { text: string; values: unknown[] } {
  const p = new Params();
  const { heads, rowsOf, stream } = readerOf(w, p, query.candidates, query.now);
  const parts: string[] = [];
  const { viewedCategories, viewedProducts, sessions, lastSeenAfter, lastSeenBefore, firstTouch, lastTouch } = query.condition;
  if (viewedCategories) {
    const where = `AND x.category = ANY(${p.add(viewedCategories.categories, 'text[]')}) AND x."timestamp" >= ${p.add(viewedCategories.since, 'timestamptz')}`;
    parts.push(`SELECT person FROM (${rowsOf('product_viewed', '', where)}) e GROUP BY person`);
  }
  if (viewedProducts) {
    const where = `AND x.product_id = ANY(${p.add(viewedProducts.productIds, 'text[]')}) AND x."timestamp" >= ${p.add(viewedProducts.since, 'timestamptz')}`;
    parts.push(`SELECT person FROM (${rowsOf('product_viewed', '', where)}) e GROUP BY person`);
  }
  if (sessions || lastSeenAfter || lastSeenBefore || firstTouch || lastTouch) {
    // The stream fields share one read of pages and tracks, ordered once per person (a scan and a
    // sort each would cost as much again per field when enumerating).
    const touch = Boolean(firstTouch || lastTouch);
    // Only windowed fields: the stream can start at the earliest of their bounds. A session that
    // began before `since` is cut there, as the families' windows cut it: an event at or after
    // `since` whose predecessor is older (or not read) starts one.
    const bounds = [sessions?.since, lastSeenAfter].filter((d): d is Date => d !== undefined);
    const from = lastSeenBefore || touch ? '' : `AND x."timestamp" >= ${p.add(new Date(Math.min(...bounds.map((d) => d.getTime()))), 'timestamptz')}`;
    const events = stream(from, touch);
    const marked =
      sessions || touch
        ? `SELECT e.*, lag(e.at) OVER w AS prev_at, row_number() OVER w AS n FROM (${events}) e
            WINDOW w AS (PARTITION BY e.person ORDER BY e.at, e.kind, e.id)`
        : events;
    const starts = `(e.prev_at IS NULL OR e.at - e.prev_at > ${SESSION_TIMEOUT})`;
    const tests: string[] = [];
    if (sessions) {
      const since = p.add(sessions.since, 'timestamptz');
      tests.push(`count(*) FILTER (WHERE e.at >= ${since} AND (${starts} OR e.prev_at < ${since})) >= ${p.add(sessions.min, 'int')}`);
    }
    if (lastSeenAfter) tests.push(`max(e.at) >= ${p.add(lastSeenAfter, 'timestamptz')}`);
    if (lastSeenBefore) tests.push(`max(e.at) < ${p.add(lastSeenBefore, 'timestamptz')}`);
    // The first session's first event is the person's earliest event.
    if (firstTouch) tests.push(`bool_or(e.n = 1 AND ${touchMatches(firstTouch, p)})`);
    if (lastTouch) {
      const withCampaign = `${starts} AND (e.medium IS NOT NULL OR e.source IS NOT NULL OR e.campaign IS NOT NULL)`;
      tests.push(`(array_agg(${touchMatches(lastTouch, p)} ORDER BY e.at DESC, e.kind DESC, e.id DESC) FILTER (WHERE ${withCampaign}))[1]`);
    }
    parts.push(`SELECT e.person FROM (${marked}) e GROUP BY e.person HAVING ${tests.join(' AND ')}`);
  }

  const ctes = [...heads, ...parts.map((part, i) => `p${i} AS (${part})`)];
  const matched = `SELECT m.person FROM (${parts.map((_, i) => `SELECT person FROM p${i}`).join(' INTERSECT ')}) m WHERE ${notRefusing(w, p, 'm.person', query.now)}`;
  const text =
    query.answer === 'count' ? `WITH ${ctes.join(',\n')} SELECT count(*)::int AS count FROM (${matched}) m` : `WITH ${ctes.join(',\n')} SELECT m.person FROM (${matched}) m`;
  return { text, values: p.values };
}

/**
 * First-touch mediums of candidates: each one's earliest consented page or track (their first
 * session's first event), its UTM medium trimmed and lower-cased (null without one), counted.
 */
function buildMediums(w: Relations, query: AudienceQuery & { answer: 'mediums' }): { text: string; values: unknown[] } {
  const p = new Params();
  const { heads, stream } = readerOf(w, p, query.candidates, query.now);
  const firsts = `SELECT DISTINCT ON (e.person) e.person, e.medium FROM (${stream('', true)}) e
    WHERE ${notRefusing(w, p, 'e.person', query.now)} ORDER BY e.person, e.at, e.kind, e.id`;
  return { text: `WITH ${heads.join(',\n')} SELECT f.medium, count(*)::int AS count FROM (${firsts}) f GROUP BY f.medium`, values: p.values };
}

/**
 * True unless `person`'s newest analytics answer (their own rows' and their browsers' alone, up to
 * `at`) is a refusal: someone who withdrew consent is not matched on behaviour at all, as the
 * per-customer reads answer nothing then (resolvers/visitor.ts consentedWindow). Each (table,
 * subject) is one index range read backwards, stopping at its first answer (consent.ts's rule).
 */
function notRefusing(w: Relations, p: Params, person: string, at: Date): string {
  const column = w.consent.analytics;
  if (column === null) return 'true';
  const now = p.add(at, 'timestamptz');
  const newest = (['pages', 'tracks'] as const)
    .filter((table) => w.has(table, column))
    .flatMap((table) => {
      const read = `SELECT x."timestamp" AS at, ${STREAM[table].kind} AS kind, x.id, x."${column}" AS granted FROM ${w(table)} x`;
      const answered = `x."${column}" IS NOT NULL AND x."timestamp" <= ${now} ORDER BY x."timestamp" DESC LIMIT 1`;
      return [
        `(${read} WHERE x.user_id = ${person} AND ${answered})`,
        `(SELECT b.* FROM ${w('identifies')} i CROSS JOIN LATERAL (${read} WHERE x.anonymous_id = i.anonymous_id AND x.user_id IS NULL AND ${answered}) b
           WHERE i.user_id = ${person} AND i.anonymous_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM ${w('identifies')} o WHERE o.anonymous_id = i.anonymous_id AND o.user_id <> ${person}))`,
      ];
    });
  if (newest.length === 0) return 'true';
  return `(SELECT a.granted FROM (${newest.join(' UNION ALL ')}) a ORDER BY a.at DESC, a.kind DESC, a.id DESC LIMIT 1) IS NOT FALSE`;
}

/**
 * `links`: (anonymous_id, person) for each browser `identifies` links to exactly one user, that
 * user (subjectsCtes' rule: another user's identify call on the same id makes it nobody's). For
 * candidates, only their browsers, each found through identifies' (user_id, anonymous_id) index.
 */
function linksCte(w: Relations, scope: Scope): string {
  if (scope === 'all') {
    return `links AS (SELECT i.anonymous_id, min(i.user_id) AS person FROM ${w('identifies')} i
      WHERE i.anonymous_id IS NOT NULL AND i.user_id IS NOT NULL GROUP BY i.anonymous_id HAVING count(DISTINCT i.user_id) = 1)`;
  }
  return `links AS (SELECT DISTINCT c.person, i.anonymous_id FROM candidates c JOIN ${w('identifies')} i ON i.user_id = c.person
      WHERE i.anonymous_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM ${w('identifies')} o WHERE o.anonymous_id = i.anonymous_id AND o.user_id <> c.person))`;
}

/** The event `e` (medium, source, campaign, referrer) meets every list `touch` gives; true when it gives none. */
function touchMatches(touch: Touch, p: Params): string {
  const folded = (values: readonly string[]) => values.map((value) => value.trim().toLowerCase());
  const host = `lower(substring(e.referrer FROM ${REFERRER_HOST}))`;
  const channel = `CASE WHEN e.medium IS NOT NULL OR e.source IS NOT NULL THEN coalesce(e.medium, '(not set)')
    WHEN ${host} IS NOT NULL THEN 'referral' ELSE 'direct' END`;
  const tests: string[] = [];
  if (touch.campaigns) tests.push(`lower(e.campaign) = ANY(${p.add(folded(touch.campaigns), 'text[]')})`);
  if (touch.mediums) tests.push(`e.medium = ANY(${p.add(folded(touch.mediums), 'text[]')})`);
  if (touch.channels) tests.push(`${channel} = ANY(${p.add(folded(touch.channels), 'text[]')})`);
  return tests.length === 0 ? 'true' : `(${tests.join(' AND ')})`;
}
