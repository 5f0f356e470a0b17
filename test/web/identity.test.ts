import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSource, type WebSource } from '../../sources/web/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { DAY, MINUTE, WarehouseFixture } from './fixture.ts';

const NOW = new Date('2026-06-10T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);

let db: TestDatabase;
let web: WebSource;

/**
 * Alice (user 10) browses as anon-a, logs in (identify), then browses as herself; earlier she used
 * anon-phone and identified it too. Bob (user 20) logs in on the family computer anon-shared, which
 * Alice also logged in on: anon-shared is ambiguous, and its anonymous events belong to nobody.
 * Carol's browser anon-c never logged in. Dan (user 40) logged in on anon-tv, which sent nothing else.
 */
beforeAll(async () => {
  db = await createTestDatabase();
  const fx = await new WarehouseFixture(db.pool, 'web').create();
  await fx.page({ anonymousId: 'anon-phone' }, ago(5 * DAY));
  await fx.identify('anon-phone', '10', ago(5 * DAY - MINUTE));
  await fx.page({ anonymousId: 'anon-a' }, ago(2 * DAY));
  await fx.track({ anonymousId: 'anon-a' }, 'product_viewed', ago(2 * DAY - MINUTE), { product_id: '1', name: 'Tee', category: 'Apparel' });
  await fx.identify('anon-a', '10', ago(2 * DAY - 2 * MINUTE));
  await fx.page({ anonymousId: 'anon-a', userId: '10' }, ago(2 * DAY - 3 * MINUTE));

  await fx.page({ anonymousId: 'anon-shared' }, ago(3 * DAY)); // before anyone logged in: whose?
  await fx.identify('anon-shared', '10', ago(3 * DAY - MINUTE));
  await fx.page({ anonymousId: 'anon-shared', userId: '10' }, ago(3 * DAY - 2 * MINUTE));
  await fx.page({ anonymousId: 'anon-shared' }, ago(DAY));
  await fx.identify('anon-shared', '20', ago(DAY - MINUTE));
  await fx.page({ anonymousId: 'anon-shared', userId: '20' }, ago(DAY - 2 * MINUTE));
  // An identify repeated on a later login is still one link.
  await fx.identify('anon-a', '10', ago(DAY));

  await fx.page({ anonymousId: 'anon-c' }, ago(DAY));
  await fx.identify('anon-tv', '40', ago(4 * DAY));
  web = createWebSource(db.pool, { schema: 'web', now: () => NOW });
});
afterAll(async () => db?.close());

describe('identity stitching', () => {
  it('reports linked anonymous ids, first linked first, and the ambiguous ones apart', async () => {
    expect(await web.identities(['10', '20', '30'])).toEqual([
      { userId: '10', anonymousIds: ['anon-phone', 'anon-a'], ambiguousAnonymousIds: ['anon-shared'] },
      { userId: '20', anonymousIds: [], ambiguousAnonymousIds: ['anon-shared'] },
      null,
    ]);
  });

  it("files anonymous events before login under the person, and counts an ambiguous id's for nobody", async () => {
    const [alice, bob] = await web.summaries([
      { userId: '10', anonymousId: null, days: 30 },
      { userId: '20', anonymousId: null, days: 30 },
    ]);
    // Alice: anon-phone (1), anon-a before and after login (2), her own page on the shared computer (1);
    // not the two anonymous pages of anon-shared.
    expect(alice).toMatchObject({ pageViews: 4, sessionCount: 3 });
    expect(bob).toMatchObject({ pageViews: 1, sessionCount: 1 });
    const [viewed] = await web.recentlyViewedProducts([{ userId: '10', anonymousId: null, days: 30, first: 5 }]);
    expect(viewed!.map((p) => p.productId)).toEqual(['1']);
  });

  it('tells how each anonymous id is linked, and null for an unknown one', async () => {
    expect(await web.visitors(['anon-a', 'anon-shared', 'anon-c', 'unknown', 'anon-phone', 'anon-tv', 'anon-a'])).toEqual([
      // Identified as Alice (its later events carry her id).
      { anonymousId: 'anon-a', link: 'linked', userId: '10' },
      // Identified as Alice and as Bob: neither id is given.
      { anonymousId: 'anon-shared', link: 'ambiguous', userId: null },
      { anonymousId: 'anon-c', link: 'unlinked', userId: null },
      null,
      { anonymousId: 'anon-phone', link: 'linked', userId: '10' },
      { anonymousId: 'anon-tv', link: 'linked', userId: '40' },
      { anonymousId: 'anon-a', link: 'linked', userId: '10' },
    ]);
  });
});
