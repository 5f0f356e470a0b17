import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tally, WebCondition } from '../../sources/audience.ts';
import { SourceError } from '../../sources/errors.ts';
import { seedWarehouse } from '../../sandbox/demo/warehouse.ts';
import { createWebSource, type Queryable, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { DAY, indexUse, MINUTE, planWithoutSeqScan, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const later = (ms: number) => new Date(NOW.getTime() + ms);

let db: TestDatabase;
let web: WebSource;
/** The statements the source sent, catalog reads left out. */
const sent: Array<{ text: string; values: unknown[] | undefined }> = [];
const isCatalog = (text: string) => text.includes('information_schema.columns');

/** Counts what a call tallies, as the planner's Tally does. */
function tally(): Tally & { calls: number; rows: number } {
  return {
    calls: 0,
    rows: 0,
    call(rows: number) {
      this.calls += 1;
      this.rows += rows;
    },
  };
}
const signal = () => new AbortController().signal;

/**
 * User 1 browsed as anon-1 (linked to 1 alone) from a Spring Sale email, viewing a Home lamp, then
 * logged in: sessions at -5 d, -2 d, -2 d + 40 min and -1 d, the last from a cpc "Retarget" ad.
 * Users 2 and 3 both logged in on anon-shared, so its anonymous page (a "Shared" social campaign,
 * -60 d) and Garden view (-3 d) are nobody's; 2 came once from a referring site (-20 d), 3 once
 * directly (-40 d). User 4 refused analytics on every event (a Spring Sale page, a Home view, -1 d).
 * User 5 viewed a Kitchen mug at -40 d, and has a page dated after the clock. User 6 granted
 * consent: a page at -1 d, a Home view exactly 30 min later (same session), a page 31 min after that
 * (a second session) and one more a minute later carrying a social campaign (mid-session: no touch).
 * User 7 exists only through anon-7, whose one page came from a UTM source with no medium. anon-x
 * viewed a Home product and was never identified. User 8 (below) withdrew consent after browsing.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'web').create();
  const anon1 = { anonymousId: 'anon-1' };
  await fx.page(anon1, ago(5 * DAY), { campaign: 'Spring Sale', medium: 'Email', source: 'newsletter' });
  await fx.track(anon1, 'product_viewed', ago(5 * DAY - MINUTE), { product_id: '9', name: 'Lamp', category: 'Home' });
  await fx.identify('anon-1', '1', ago(5 * DAY - 2 * MINUTE));
  await fx.page({ userId: '1', anonymousId: 'anon-1' }, ago(2 * DAY));
  await fx.page({ userId: '1' }, ago(2 * DAY - 40 * MINUTE));
  await fx.page({ userId: '1' }, ago(DAY), { source: 'google', medium: 'cpc', campaign: 'Retarget' });

  const shared = { anonymousId: 'anon-shared' };
  await fx.page(shared, ago(60 * DAY), { campaign: 'Shared', medium: 'social', source: 'fb' });
  await fx.identify('anon-shared', '2', ago(59 * DAY));
  await fx.identify('anon-shared', '3', ago(45 * DAY));
  await fx.track(shared, 'product_viewed', ago(3 * DAY), { product_id: '5', name: 'Spade', category: 'Garden' });
  await fx.page({ userId: '2' }, ago(20 * DAY), { referrer: 'https://www.Example.org/blog?x=1' });
  await fx.page({ userId: '2' }, ago(20 * DAY - 10 * MINUTE));
  await fx.page({ userId: '3' }, ago(40 * DAY));

  const refused = { consent: { c0002: false } };
  await fx.page({ userId: '4' }, ago(DAY), { campaign: 'Spring Sale', medium: 'email', ...refused });
  await fx.track({ userId: '4' }, 'product_viewed', ago(DAY - MINUTE), { product_id: '9', name: 'Lamp', category: 'Home' }, refused);

  await fx.track({ userId: '5' }, 'product_viewed', ago(40 * DAY), { product_id: '7', name: 'Mug', category: 'Kitchen' });
  await fx.page({ userId: '5' }, later(60 * MINUTE), { campaign: 'Future', medium: 'email' });

  const granted = { consent: { c0002: true } };
  await fx.page({ userId: '6' }, ago(DAY), granted);
  await fx.track({ userId: '6' }, 'product_viewed', ago(DAY - 30 * MINUTE), { product_id: '10', name: 'Rug', category: 'Home' }, granted);
  await fx.page({ userId: '6' }, ago(DAY - 61 * MINUTE), granted);
  await fx.page({ userId: '6' }, ago(DAY - 62 * MINUTE), { medium: 'social', campaign: 'Mid', ...granted });

  await fx.page({ anonymousId: 'anon-7' }, ago(DAY), { source: 'google' });
  await fx.identify('anon-7', '7', ago(DAY - MINUTE));

  await fx.track({ anonymousId: 'anon-x' }, 'product_viewed', ago(DAY), { product_id: '9', name: 'Lamp', category: 'Home' });

  // User 8 browsed with consent, then withdrew it: matched on nothing, as their profile shows nothing.
  await fx.page({ userId: '8' }, ago(5 * DAY), { medium: 'email', ...granted });
  await fx.track({ userId: '8' }, 'product_viewed', ago(5 * DAY - MINUTE), { product_id: '9', name: 'Lamp', category: 'Home' }, granted);
  await fx.page({ userId: '8' }, ago(DAY), refused);

  const recording: Queryable = {
    query(text, values) {
      if (!isCatalog(text)) sent.push({ text, values });
      return db.pool.query(text, values);
    },
  };
  web = createWebSource(recording, { schema: 'web', now: () => NOW });
});
afterAll(async () => db?.close());

const EVERYONE = ['1', '2', '3', '4', '5', '6', '7', '8', '99'];

const CASES: Array<[string, WebCondition, string[]]> = [
  [
    'viewed a Home product in 10 days: 1 through its linked browser, 6; not the refusal, not 8 who withdrew consent since, not the unidentified browser',
    { viewedCategories: { categories: ['Home'], since: ago(10 * DAY) } },
    ['1', '6'],
  ],
  ['viewed Home or Kitchen in 60 days', { viewedCategories: { categories: ['Home', 'Kitchen'], since: ago(60 * DAY) } }, ['1', '5', '6']],
  ['viewed Home since the start of a day ago', { viewedCategories: { categories: ['Home'], since: ago(DAY) } }, ['6']],
  ['viewed Garden only on the ambiguous browser: nobody', { viewedCategories: { categories: ['Garden'], since: ago(10 * DAY) } }, []],
  ['viewed product 9 in 10 days', { viewedProducts: { productIds: ['9'], since: ago(10 * DAY) } }, ['1']],
  ['viewed product 10 or 7 in 60 days', { viewedProducts: { productIds: ['10', '7'], since: ago(60 * DAY) } }, ['5', '6']],
  ['at least 2 sessions in 10 days (a gap of exactly 30 minutes continues one)', { sessions: { min: 2, since: ago(10 * DAY) } }, ['1', '6']],
  ['at least 3 sessions in 10 days', { sessions: { min: 3, since: ago(10 * DAY) } }, ['1']],
  ['at least 1 session in 30 days, anonymous browsing of a linked id included', { sessions: { min: 1, since: ago(30 * DAY) } }, ['1', '2', '6', '7']],
  ['at least 3 sessions from exactly 2 days ago', { sessions: { min: 3, since: ago(2 * DAY) } }, ['1']],
  ['at least 3 sessions from a millisecond later', { sessions: { min: 3, since: ago(2 * DAY - 1) } }, []],
  ['at least 2 sessions from inside a session: the window cuts it', { sessions: { min: 2, since: ago(DAY - 10 * MINUTE) } }, ['6']],
  ['the same read with the whole history (any first touch)', { sessions: { min: 2, since: ago(DAY - 10 * MINUTE) }, firstTouch: {} }, ['6']],
  ['last seen in 4 days: not the ambiguous browser, not an event after the clock', { lastSeenAfter: ago(4 * DAY) }, ['1', '6', '7']],
  ['last seen more than 30 days ago: not the refusal (never seen), not 5 for its future page', { lastSeenBefore: ago(30 * DAY) }, ['3', '5']],
  ['last seen between 60 and 30 days ago', { lastSeenAfter: ago(60 * DAY), lastSeenBefore: ago(30 * DAY) }, ['3', '5']],
  ['first touch from the Spring Sale campaign, case and spaces ignored', { firstTouch: { campaigns: ['SPRING sale '] } }, ['1']],
  ['first touch with medium EMAIL', { firstTouch: { mediums: ['EMAIL'] } }, ['1']],
  ['first touch on the email channel', { firstTouch: { channels: ['email'] } }, ['1']],
  ['first touch from a referring site', { firstTouch: { channels: ['referral'] } }, ['2']],
  ['first touch direct (a track first counts too)', { firstTouch: { channels: ['direct'] } }, ['3', '5', '6']],
  ['first touch from a UTM source without a medium', { firstTouch: { channels: ['(not set)'] } }, ['7']],
  ["first touch from the ambiguous browser's campaign: nobody", { firstTouch: { campaigns: ['shared'] } }, []],
  ['first touch must meet every list it gives', { firstTouch: { campaigns: ['spring sale'], mediums: ['cpc'] } }, []],
  ['last touch with a campaign from Retarget', { lastTouch: { campaigns: ['retarget'] } }, ['1']],
  ['last touch on the cpc channel', { lastTouch: { channels: ['CPC'] } }, ['1']],
  ['last touch by email: an older touch does not count, nor a refused one', { lastTouch: { mediums: ['email'] } }, []],
  ['last touch social: a campaign in the middle of a session is not a touch', { lastTouch: { channels: ['social'] } }, []],
  ['last touch from the campaign dated after the clock: nobody', { lastTouch: { campaigns: ['future'] } }, []],
  ['last touch (not set)', { lastTouch: { channels: ['(not set)'] } }, ['7']],
  [
    'every field given must hold',
    {
      viewedCategories: { categories: ['Home'], since: ago(10 * DAY) },
      sessions: { min: 2, since: ago(10 * DAY) },
      lastSeenAfter: ago(4 * DAY),
      firstTouch: { channels: ['direct'] },
    },
    ['6'],
  ],
];

describe('web audiences', () => {
  describe.each(CASES)('%s', (_name, condition, expected) => {
    it('estimates the exact count in one statement', async () => {
      const t = tally();
      const before = sent.length;
      expect(await web.audience.estimate(condition, t, signal())).toEqual({ count: expected.length, exact: true });
      expect(sent.length - before).toBe(1);
      expect(t).toMatchObject({ calls: 1, rows: 1 });
    });

    it('enumerates the people in one statement', async () => {
      const t = tally();
      const before = sent.length;
      const people = await web.audience.enumerate(condition, t, signal());
      expect([...people].sort()).toEqual(expected);
      expect(sent.length - before).toBe(1);
      expect(t).toMatchObject({ calls: 1, rows: expected.length });
    });

    it('checks candidates in one statement, answering only among them', async () => {
      const t = tally();
      const before = sent.length;
      expect([...(await web.audience.check(condition, EVERYONE, t, signal()))].sort()).toEqual(expected);
      // Without the first match among the candidates, it must not come back.
      const some = EVERYONE.filter((id) => id !== expected[0]);
      expect([...(await web.audience.check(condition, some, t, signal()))].sort()).toEqual(expected.slice(1));
      expect(sent.length - before).toBe(2);
      expect(t.calls).toBe(2);
    });
  });

  it('says what each call costs: one statement, none to check nobody', () => {
    const condition = { lastSeenAfter: ago(DAY) };
    expect(web.audience.key).toBe('customerId');
    expect(web.audience.enumerationCalls(condition, 50_000)).toBe(1);
    expect(web.audience.checkCalls(condition, 500)).toBe(1);
    expect(web.audience.checkCalls(condition, 0)).toBe(0);
  });

  it('checks no candidates without a statement', async () => {
    const t = tally();
    const before = sent.length;
    expect(await web.audience.check({ lastSeenAfter: ago(DAY) }, [], t, signal())).toEqual(new Set());
    expect(sent.length - before).toBe(0);
    expect(t.calls).toBe(0);
  });

  it('passes the candidates as one parameter and reads them through the per-user and per-browser indexes', async () => {
    const before = sent.length;
    const condition: WebCondition = {
      viewedCategories: { categories: ['Home'], since: ago(10 * DAY) },
      sessions: { min: 1, since: ago(10 * DAY) },
      lastSeenBefore: NOW,
      firstTouch: { channels: ['email'] },
      lastTouch: { channels: ['cpc'] },
    };
    expect(await web.audience.check(condition, ['1', '6'], tally(), signal())).toEqual(new Set(['1']));
    const statement = sent[before]!;
    expect(statement.values).toContainEqual(['1', '6']);
    const plan = await planWithoutSeqScan(db.pool, { text: statement.text, values: statement.values });
    for (const table of ['pages', 'tracks', 'product_viewed']) {
      expect(indexUse(plan, table)).toEqual({ indexes: [`${table}_anonymous_idx`, `${table}_user_idx`], sequential: false });
    }
    expect(indexUse(plan, 'identifies').sequential).toBe(false);
  });

  it("counts candidates' first-touch mediums in one statement: not the refusal, not the unseen", async () => {
    const t = tally();
    const before = sent.length;
    const mediums = await web.audience.firstTouchMediums(EVERYONE, t, signal());
    // 1 came from an Email campaign; 2 (referral), 3 and 6 (direct), 5 (a track) and 7 (a source alone) with no medium.
    expect(mediums).toEqual(
      new Map([
        ['email', 1],
        [null, 5],
      ]),
    );
    expect(sent.length - before).toBe(1);
    expect(t).toMatchObject({ calls: 1, rows: 2 });
    expect(await web.audience.firstTouchMediums([], t, signal())).toEqual(new Map());
    expect(sent.length - before).toBe(1);
  });

  it('refuses a condition with no field, or a bad value, before any statement', async () => {
    const before = sent.length;
    await expect(web.audience.estimate({}, tally(), signal())).rejects.toThrow(RangeError);
    await expect(web.audience.enumerate({ sessions: { min: 0, since: ago(DAY) } }, tally(), signal())).rejects.toThrow(/sessions.min/);
    await expect(web.audience.check({ lastSeenAfter: new Date(Number.NaN) }, ['1'], tally(), signal())).rejects.toThrow(/lastSeenAfter/);
    expect(sent.length).toBe(before);
  });

  it('starts no statement once the deadline has passed', async () => {
    const before = sent.length;
    const error = await web.audience.enumerate({ lastSeenAfter: ago(DAY) }, tally(), AbortSignal.abort()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'web', kind: 'timeout' });
    expect(sent.length).toBe(before);
  });
});

describe('web audiences on a drifting warehouse', () => {
  it('answers nobody for the fields of a missing table, and still answers the others, without a failed statement', async () => {
    const fx = await new WarehouseFixture(db.pool, 'young').create();
    await fx.identify('anon-y', '1', ago(2 * DAY));
    await fx.page({ anonymousId: 'anon-y' }, ago(2 * DAY + MINUTE));
    await fx.page({ userId: '1' }, ago(DAY));
    await db.pool.query('DROP TABLE young.product_viewed, young.tracks');
    const failures: string[] = [];
    const young = createWebSource(
      {
        async query(text, values) {
          try {
            return await db.pool.query(text, values);
          } catch (error) {
            failures.push(String((error as { code?: unknown }).code));
            throw error;
          }
        },
      },
      { schema: 'young', now: () => NOW },
    );
    const viewed: WebCondition = { viewedCategories: { categories: ['Home'], since: ago(10 * DAY) } };
    expect(await young.audience.estimate(viewed, tally(), signal())).toEqual({ count: 0, exact: true });
    expect(await young.audience.enumerate(viewed, tally(), signal())).toEqual(new Set());
    expect(await young.audience.check(viewed, ['1'], tally(), signal())).toEqual(new Set());
    expect(await young.audience.enumerate({ sessions: { min: 2, since: ago(10 * DAY) } }, tally(), signal())).toEqual(new Set(['1']));
    expect(failures).toEqual([]);
  });

  it('reads the catalog again when a table went since the last read, and tallies both statements', async () => {
    const fx = await new WarehouseFixture(db.pool, 'racing').create();
    await fx.page({ userId: '1' }, ago(DAY));
    await fx.track({ userId: '2' }, 'product_viewed', ago(DAY), { product_id: '9', category: 'Home' });
    const racing = createWebSource(db.pool, { schema: 'racing', now: () => NOW, layoutRefreshMs: 3_600_000 });
    const condition = { lastSeenAfter: ago(2 * DAY) };
    expect(await racing.audience.enumerate(condition, tally(), signal())).toEqual(new Set(['1', '2']));
    await db.pool.query('DROP TABLE racing.tracks');
    const t = tally();
    expect(await racing.audience.enumerate(condition, t, signal())).toEqual(new Set(['1']));
    expect(t).toMatchObject({ calls: 2, rows: 1 });
  });

  it('fails with the source error, naming no one, when the schema has none of the tables', async () => {
    const empty = createWebSource(db.pool, { schema: 'nothing_here', now: () => NOW });
    const error = await empty.audience.check({ lastSeenAfter: ago(DAY) }, ['424242'], tally(), signal()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect(error).toMatchObject({ source: 'web', kind: 'bad_response', retryable: false });
    expect((error as Error).message).not.toContain('424242');
  });

  it('fails with the source error, naming no one, when the warehouse is unreachable', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2_000 });
    try {
      const down = createWebSource(pool, { schema: 'web', now: () => NOW });
      const error = await down.audience.check({ lastSeenAfter: ago(DAY) }, ['424242'], tally(), signal()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceError);
      expect(error).toMatchObject({ source: 'web', kind: 'unavailable' });
      expect((error as Error).message).not.toContain('424242');
    } finally {
      await pool.end();
    }
  });
});

/**
 * The generated warehouse (shared computers, consent refusals, anonymous browsing before login):
 * every answer pushed down must be what the families answer person by person.
 */
describe('web audiences on the demo warehouse', () => {
  let demo: TestDatabase;
  let source: WebSource;
  let people: string[];
  const since = (days: number) => new Date(TEST_AS_OF.getTime() - days * DAY);
  const key = (userId: string, days: number) => ({ userId, anonymousId: null, days });

  beforeAll(async () => {
    demo = await createTestDatabase();
    await seedWarehouse(demo.pool, { seed: 15, customers: 40, asOf: TEST_AS_OF }, { schema: 'web', historyDays: 120 });
    source = createWebSource(demo.pool, { schema: 'web', now: () => TEST_AS_OF });
    const { rows } = await demo.pool.query<{ id: string }>('SELECT user_id AS id FROM web.pages UNION SELECT user_id FROM web.tracks UNION SELECT user_id FROM web.identifies');
    people = rows.map((row) => row.id).filter((id) => id !== null);
  });
  afterAll(async () => demo?.close());

  /** Enumerate, check of everyone and estimate agree with `expected`, each in one tallied statement. */
  async function agrees(condition: WebCondition, expected: Set<string>): Promise<void> {
    const t = tally();
    const enumerated = await source.audience.enumerate(condition, t, signal());
    expect([...enumerated].sort()).toEqual([...expected].sort());
    expect([...(await source.audience.check(condition, people, t, signal()))].sort()).toEqual([...expected].sort());
    expect(await source.audience.estimate(condition, t, signal())).toEqual({ count: expected.size, exact: true });
    expect(t.calls).toBe(3);
  }

  it('has people of every kind to compare: shared computers and refusals among them', async () => {
    expect(people.length).toBeGreaterThan(20);
    const { rows } = await demo.pool.query<{ shared: number; refused: number }>(`SELECT
      (SELECT count(*)::int FROM (SELECT anonymous_id FROM web.identifies GROUP BY 1 HAVING count(DISTINCT user_id) > 1) a) AS shared,
      (SELECT count(*)::int FROM web.pages WHERE context_consent_category_preferences_c0002 = false) AS refused`);
    expect(rows[0]!.shared).toBeGreaterThan(0);
    expect(rows[0]!.refused).toBeGreaterThan(0);
  });

  it('counts sessions as the summaries do', async () => {
    const summaries = await source.summaries(people.map((id) => key(id, 30)));
    for (const min of [1, 3]) {
      const expected = new Set(people.filter((_, i) => (summaries[i]?.sessionCount ?? 0) >= min));
      expect(expected.size).toBeGreaterThan(0);
      await agrees({ sessions: { min, since: since(30) } }, expected);
    }
  });

  it('sees people last as the summaries do', async () => {
    const summaries = await source.summaries(people.map((id) => key(id, 7)));
    const expected = new Set(people.filter((_, i) => summaries[i] !== null));
    expect(expected.size).toBeGreaterThan(0);
    await agrees({ lastSeenAfter: since(7) }, expected);
  });

  it('finds category viewers as the top categories do', async () => {
    const top = await source.topCategories(people.map((id) => ({ ...key(id, 30), first: 100 })));
    const counts = new Map<string, number>();
    for (const list of top) for (const { category } of list) counts.set(category, (counts.get(category) ?? 0) + 1);
    const [category] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
    await agrees({ viewedCategories: { categories: [category], since: since(30) } }, new Set(people.filter((_, i) => top[i]!.some((c) => c.category === category))));
  });

  it('reads the first touch as the touches family does', async () => {
    const touches = await source.touches(people.map((id) => key(id, 365)));
    const campaignOf = (i: number) => touches[i]?.firstTouch.campaign?.trim().toLowerCase() || null;
    const counts = new Map<string, number>();
    people.forEach((_, i) => {
      const campaign = campaignOf(i);
      if (campaign) counts.set(campaign, (counts.get(campaign) ?? 0) + 1);
    });
    const [campaign] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
    await agrees({ firstTouch: { campaigns: [campaign.toUpperCase()] } }, new Set(people.filter((_, i) => campaignOf(i) === campaign)));
  });

  it('counts first-touch mediums as the touches family reads them', async () => {
    const touches = await source.touches(people.map((id) => key(id, 365)));
    const expected = new Map<string | null, number>();
    for (const touch of touches) {
      if (touch === null) continue;
      const medium = touch.firstTouch.medium?.trim().toLowerCase() || null;
      expected.set(medium, (expected.get(medium) ?? 0) + 1);
    }
    expect(expected.size).toBeGreaterThan(1);
    const t = tally();
    expect(await source.audience.firstTouchMediums(people, t, signal())).toEqual(expected);
    expect(t.calls).toBe(1);
  });
});
