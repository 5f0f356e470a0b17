/**
 * What bench/audiences.ts asks (issue 15): five analysts' questions, each spanning two or more
 * sources, on the demo world's own values (sandbox/demo/people.ts: RFM segments from the shop's
 * orders, HubSpot lifecycle stages and owners, Mailchimp statuses, catalog categories); and the
 * stand-ins' one-off index builds, done before any measurement.
 */
import { DEMO_OWNERS, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ACCESS_TOKEN, API_KEY, LIST_ID } from './credentials.ts';

const DAY_MS = 86_400_000;

/** One question: a GraphQL document, its variables for a world, and what it exercises. */
export interface Question {
  readonly id: string;
  readonly title: string;
  /** The sources its filter names. */
  readonly sources: readonly string[];
  /** What the question is meant to exercise in the planner. */
  readonly exercises: string;
  readonly query: string;
  variables(world: DemoWorld): Record<string, unknown>;
}

const FIND = `query Find($filter: CustomerFilter!) {
  findCustomers(filter: $filter, first: 20) {
    totalCount { value exact }
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const COUNTS = `query Counts($filter: CustomerFilter!, $by: CustomerCountDimension!) {
  customerCounts(filter: $filter, by: $by) {
    total { value exact }
    groups { key count exact }
  }
}`;

const ago = (world: DemoWorld, days: number) => new Date(world.asOf.getTime() - days * DAY_MS).toISOString();

/** The first demo owner: about one contact in nine (70% owned, six owners). */
const OWNER = DEMO_OWNERS[0]!.id;

export const QUESTIONS: readonly Question[] = [
  {
    id: 'q1-champions-cart-opened',
    title: 'Champions who abandoned a cart this week and opened an email this week',
    sources: ['commerce', 'email'],
    exercises: 'the headline: a per-candidate Mailchimp check (opens cannot be listed) behind two shop conditions',
    query: FIND,
    variables: (world) => ({
      filter: {
        commerce: { rfmSegments: ['CHAMPIONS'], abandonedCart: { since: ago(world, 7) } },
        email: { openedSince: ago(world, 7) },
      },
    }),
  },
  {
    id: 'q2-evangelists-owner-lapsing',
    title: 'Evangelists owned by one sales owner whose last order is over 60 days old',
    sources: ['commerce', 'crm'],
    exercises: 'HubSpot push-down (lifecycle stage and owner in one search filter group) with a shop condition',
    query: FIND,
    variables: (world) => ({
      filter: {
        commerce: { lastOrderBefore: ago(world, 60) },
        crm: { lifecycleStages: ['EVANGELIST'], ownerIds: [OWNER] },
      },
    }),
  },
  {
    id: 'q3-big-spenders-unreachable',
    title: 'Top-monetary buyers of the last 30 days who are unsubscribed or cleaned in Mailchimp',
    sources: ['commerce', 'email'],
    exercises: "Mailchimp's status listing (one listing per status) with shop conditions",
    query: FIND,
    variables: (world) => ({
      filter: {
        commerce: { monetaryScore: { min: 5 }, lastOrderAfter: ago(world, 30) },
        email: { statuses: ['UNSUBSCRIBED', 'CLEANED'] },
      },
    }),
  },
  {
    id: 'q4-lapsed-browsing-unsubscribed',
    title: 'Lapsed buyers (no order for 180 days) who viewed Electronics this week and unsubscribed from email',
    sources: ['commerce', 'web', 'email'],
    exercises: 'a warehouse condition (viewed categories since 7 days) with a shop and an email status condition, ordered by their estimates',
    query: FIND,
    variables: (world) => ({
      filter: {
        commerce: { lastOrderBefore: ago(world, 180) },
        web: { viewedCategories: { categories: ['Electronics'], since: ago(world, 7) } },
        email: { statuses: ['UNSUBSCRIBED'] },
      },
    }),
  },
  {
    id: 'q5-champions-cart-by-lifecycle',
    title: "The headline's shop segment (champions with a cart abandoned this week) by HubSpot lifecycle stage",
    sources: ['commerce', 'crm'],
    exercises: 'a breakdown (customerCounts by LIFECYCLE_STAGE) on a shop segment: one planned count per stage',
    query: COUNTS,
    variables: (world) => ({
      filter: { commerce: { rfmSegments: ['CHAMPIONS'], abandonedCart: { since: ago(world, 7) } } },
      by: 'LIFECYCLE_STAGE',
    }),
  },
];

/**
 * Builds the stand-ins' indexes over the whole world, as a first real call would: HubSpot's search
 * index (one search) and Mailchimp's member listing (one listing), and its subscriber index (one
 * member read, through StandIns.warm), all at once. A 1,000,000-customer world takes tens of
 * seconds. Returns the seconds each took.
 */
export async function warmStandIns(urls: { hubspotUrl: string; mailchimpUrl: string }, warmMembers: () => Promise<number>) {
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return (performance.now() - started) / 1000;
  };
  const hubspotSearch = () =>
    expectOk(
      fetch(`${urls.hubspotUrl}/crm/v3/objects/contacts/search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ACCESS_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ filterGroups: [{ filters: [{ propertyName: 'lifecyclestage', operator: 'EQ', value: 'customer' }] }], limit: 1 }),
      }),
      'the HubSpot stand-in search',
    );
  const auth = `Basic ${Buffer.from(`bench:${API_KEY}`).toString('base64')}`;
  const mailchimpListing = () =>
    expectOk(fetch(`${urls.mailchimpUrl}/3.0/lists/${LIST_ID}/members?count=1&status=subscribed`, { headers: { authorization: auth } }), 'the Mailchimp stand-in listing');
  const [hubspot, listing, members] = await Promise.all([timed(hubspotSearch), timed(mailchimpListing), timed(warmMembers)]);
  return { hubspotSearchIndexSeconds: hubspot, mailchimpListingIndexSeconds: listing, mailchimpMemberIndexSeconds: members };
}

async function expectOk(response: Promise<Response>, what: string): Promise<void> {
  const answer = await response;
  const text = await answer.text();
  if (!answer.ok) throw new Error(`expected ${what} to answer 200, got ${answer.status}: ${text.slice(0, 300)}`);
}
