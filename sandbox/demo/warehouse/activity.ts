import { personAt, type DemoPerson, type DemoWorld } from '../people.ts';
import { poisson, Rng, Stream } from '../random.ts';
import { cartsOf, catalog, ordersOf, type DemoProduct } from '../shop.ts';
import { browserConsent, browserPlace, consentAt } from './context.ts';
import { anonymousIdOf, ipOf } from './ids.ts';
import type { DemoDevice, DemoEvent } from './session.ts';
import { browseVisit, cartVisit, loginVisit, purchaseVisit, researchVisit, type VisitContext } from './visits.ts';

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** How far back the demo warehouse goes by default: volume grows linearly with it. */
export const DEFAULT_HISTORY_DAYS = 180;

/** Customers 200k and 200k + 1 share a computer: its anonymous id is linked to both (ambiguous). */
const SHARED_EVERY = 200;

/** One person's web activity: their visits (events in time order, user ids set) and identify calls. */
export interface WebActivity {
  /** The warehouse's user id (the customer id as text), or null for a prospect. */
  readonly userId: string | null;
  readonly visits: ReadonlyArray<{ readonly device: DemoDevice; readonly events: readonly DemoEvent[] }>;
  readonly identifies: ReadonlyArray<{ readonly at: number; readonly device: DemoDevice }>;
}

/** The other person of a shared computer, or null: pairs (p, p + 1) of customers, p a multiple of 200. */
export function sharingPartner(world: DemoWorld, index: number): number | null {
  const first = index - (index % SHARED_EVERY);
  if (first + 1 >= world.customers) return null;
  return index === first ? first + 1 : index === first + 1 ? first : null;
}

const LOCALES: Record<string, string> = { US: 'en-US', CA: 'en-CA', GB: 'en-GB', DE: 'de-DE', FR: 'fr-FR', AU: 'en-AU' };

/** The person's browsers (their user agents, each with its own anonymous id); the second of a pair uses the first's computer. */
export function devicesOf(world: DemoWorld, person: DemoPerson): DemoDevice[] {
  const locale = LOCALES[person.countryCode] ?? 'en-US';
  const devices = person.web.userAgents.map((userAgent, d) => ({
    userAgent,
    anonymousId: anonymousIdOf(world.seed, person.index, d),
    ip: ipOf(world.seed, person.index, d),
    locale,
    consent: browserConsent(world.seed, person.index, d),
    place: browserPlace(world.seed, person, d),
  }));
  const partner = sharingPartner(world, person.index);
  if (partner !== null && partner < person.index) devices[0] = devicesOf(world, personAt(world, partner))[0]!;
  return devices;
}

const rng = new Rng();
const productsByCategory = new Map<number, ReadonlyMap<string, readonly DemoProduct[]>>();

/**
 * What `person` did on the site in the `historyDays` before world.asOf: browsing at their
 * visitsPerMonth, a visit before most orders and one placing each (Order Completed at the order's
 * time, order_id = the shop's id), a visit per open cart. Visits begin anonymous on each browser;
 * logging in (at checkout, to keep a cart, or now and then while browsing) links that browser to
 * the customer for good, so its earlier anonymous events are theirs. Prospects browse less, and
 * anonymously. Each event carries its browser's consent answer at that time (context.ts): the
 * families leave out those refusing analytics. Deterministic: a pure function of (world, person,
 * historyDays).
 */
export function webActivityOf(world: DemoWorld, person: DemoPerson, historyDays = DEFAULT_HISTORY_DAYS): WebActivity {
  const f = rng.reset(world.seed, Stream.warehouse, person.index);
  const random = () => f.number.float();
  const from = world.asOf.getTime() - historyDays * DAY;
  const until = world.asOf.getTime() - 5 * SECOND; // received_at, a moment later, stays before asOf too
  const userId = person.customerId === null ? null : String(person.customerId);
  const ctx: VisitContext = {
    person,
    random,
    devices: devicesOf(world, person),
    products: productsOf(world),
    subscribed: person.emailMarketing?.status === 'subscribed',
  };
  // Half the prospects never came to the site; the others come less often than customers.
  if (userId === null && random() < 0.5) return { userId, visits: [], identifies: [] };
  const visits = [];
  const count = poisson((person.web.visitsPerMonth * (userId === null ? 0.4 : 1) * historyDays) / 30, random);
  for (let n = 0; n < count; n++) visits.push(browseVisit(ctx, visitStart(person, from, until, random), { mayLogIn: userId !== null }));
  if (userId !== null) {
    for (const order of ordersOf(world, person)) {
      const at = order.placedAt.getTime();
      if (at < from || at > until) continue;
      if (random() < 0.6) visits.push(researchVisit(ctx, order, at - HOUR - random() * 10 * DAY));
      visits.push(purchaseVisit(ctx, order));
    }
    for (const cart of cartsOf(world, person)) visits.push(cartVisit(ctx, cart));
    if (sharingPartner(world, person.index) !== null) visits.push(loginVisit(ctx, from + random() * (until - from - HOUR)));
  }
  visits.sort((a, b) => a.start - b.start);

  // analytics.js keeps the user id once set: after a login, the browser's events carry it.
  const known = new Set<string>();
  const identifies: Array<{ at: number; device: DemoDevice }> = [];
  for (const visit of visits) {
    const { device, events } = visit;
    const loginAt = userId === null ? null : known.has(device.anonymousId) ? 0 : visit.loginIndex;
    if (loginAt === null) continue;
    if (!known.has(device.anonymousId) && events[loginAt]) identifies.push({ at: events[loginAt].at - 500, device });
    known.add(device.anonymousId);
    for (let i = loginAt; i < events.length; i++) {
      const event = events[i]!;
      event.userId = userId;
      // The shop identifies the buyer again with every order (fresh traits).
      if (event.type === 'track' && event.event.name === 'order_completed') identifies.push({ at: event.at - 200, device });
    }
  }
  const inHistory = (at: number) => at >= from && at <= until;
  const kept = visits.map((visit) => ({ device: visit.device, events: visit.events.filter((e) => inHistory(e.at)) }));
  for (const { device, events } of kept) for (const event of events) event.consent = consentAt(device.consent, event.at, from, until);
  return { userId, visits: kept, identifies: identifies.filter((identify) => inHistory(identify.at)) };
}

function productsOf(world: DemoWorld): ReadonlyMap<string, readonly DemoProduct[]> {
  let products = productsByCategory.get(world.seed);
  if (!products) {
    const grouped = new Map<string, DemoProduct[]>();
    for (const product of catalog(world)) grouped.set(product.category, [...(grouped.get(product.category) ?? []), product]);
    productsByCategory.set(world.seed, (products = grouped));
  }
  return products;
}

// People browse in the evening more than at night, in their own time zone (roughly: by region).
const HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 4, 4.5, 5, 5, 4.5, 4.5, 5, 5.5, 6.5, 7.5, 8, 7, 5, 2.5];
const HOUR_TOTAL = HOUR_WEIGHTS.reduce((a, b) => a + b, 0);
const UTC_OFFSET: Record<string, number> = { 'America/New_York': -5, 'America/Chicago': -6, 'America/Denver': -7, 'America/Los_Angeles': -8 };

function visitStart(person: DemoPerson, from: number, until: number, random: () => number): number {
  const day = Math.floor((from + random() * (until - from)) / DAY) * DAY;
  let roll = random() * HOUR_TOTAL;
  let hour = 0;
  while (roll >= HOUR_WEIGHTS[hour]!) roll -= HOUR_WEIGHTS[hour++]!;
  const offset = UTC_OFFSET[person.timezone] ?? (person.timezone.startsWith('Europe/') ? 1 : 0);
  return Math.max(from, day + (hour - offset) * HOUR + random() * HOUR);
}
