import type { SourceName } from '../../sources/errors.ts';
import { TYPED_CODES } from './load.ts';

/**
 * The visitor probe: once per fault, while it is in force, the two kinds of visitor profile
 * (issue 12) are asked for beside the load: a never-identified browser, answered by the warehouse
 * alone, and a browser linked to a customer, which also reads the shop database (the customer's
 * record, orders, carts and catalogue), Mailchimp (email consent, activity) and HubSpot (location),
 * for every trait (issue 13): each trait part is null only when one of its inputs' sources fails.
 * Beside them, an analyst's audience question per source (issue 15), each narrowed by the shop: it
 * fails only when the shop or its own source does.
 */
export const VISITOR_PROBE = `query VisitorProbe($unlinked: ID!, $linked: ID!, $since: DateTime!) {
  shopAudience: findCustomers(filter: { commerce: { orderCount: { min: 2 } } }, first: 3) { totalCount { value } edges { node { id } } }
  crmAudience: findCustomers(filter: { commerce: { orderCount: { min: 2 } }, crm: { lifecycleStages: [CUSTOMER, LEAD, SUBSCRIBER, OPPORTUNITY] } }, first: 3) {
    totalCount { value }
  }
  emailAudience: findCustomers(filter: { commerce: { orderCount: { min: 2 } }, email: { statuses: [SUBSCRIBED] } }, first: 3) { totalCount { value } }
  webAudience: findCustomers(filter: { commerce: { orderCount: { min: 2 } }, web: { sessions: { min: 1, since: $since } } }, first: 3) { totalCount { value } }
  unlinked: visitor(anonymousId: $unlinked) {
    __typename web { sessionCount } location { country } consent { analytics { granted } }
    ... on AnonymousVisitor { traits { affinities { categories(first: 3) { category } } } }
  }
  linked: visitor(anonymousId: $linked) {
    __typename web { sessionCount }
    ... on Customer {
      id consent { email { granted } }
      traits {
        predictedValue { expectedPurchases }
        affinities { categories(first: 3) { category score } }
        channel { email { openRate } web { sessions } preferred { channel } }
        engagementTrend { web { sessions { current } } email { opens { current } } shop { orders { current } } }
        discountSensitivity { discountedShare }
        demographics { location { countryCode } devices { type } }
      }
    }
  }
}`;

/** Each part of the probe's answer and the sources it needs (a part of a linked customer needs its shop record). */
const NEEDS: Record<string, readonly SourceName[]> = {
  shopAudience: ['commerce'],
  crmAudience: ['commerce', 'crm'],
  emailAudience: ['commerce', 'email'],
  webAudience: ['commerce', 'web'],
  unlinked: ['web'],
  'unlinked.web': ['web'],
  'unlinked.location': ['web'],
  'unlinked.consent.analytics': ['web'],
  // Browsing alone, scored against the price tiers kept in process: a shop outage leaves it.
  'unlinked.traits.affinities': ['web'],
  linked: ['web', 'commerce'],
  'linked.web': ['web', 'commerce'],
  'linked.consent.email': ['web', 'commerce', 'email'],
  'linked.traits.predictedValue': ['web', 'commerce'],
  // Each trait needs the sources of its inputs, besides those that found the customer.
  'linked.traits.affinities': ['web', 'commerce'],
  'linked.traits.channel.email': ['web', 'commerce', 'email'],
  'linked.traits.channel.web': ['web', 'commerce'],
  'linked.traits.channel.preferred': ['web', 'commerce', 'email'],
  'linked.traits.engagementTrend.web': ['web', 'commerce'],
  'linked.traits.engagementTrend.email': ['web', 'commerce', 'email'],
  'linked.traits.engagementTrend.shop': ['web', 'commerce'],
  'linked.traits.discountSensitivity': ['web', 'commerce'],
  'linked.traits.demographics.location': ['web', 'commerce', 'crm'],
  'linked.traits.demographics.devices': ['web', 'commerce'],
};

/** Every part of the probe's answer. */
export const PROBE_PARTS: readonly string[] = Object.keys(NEEDS);

interface ProbeBody {
  data?: Record<string, unknown> | null;
  errors?: Array<{ path?: Array<string | number>; extensions?: { code?: string; source?: string } }>;
}

export interface ProbeAnswer {
  readonly ms: number;
  readonly status: number;
  readonly body?: ProbeBody;
  readonly failure?: string;
}

export async function probeVisitors(url: string, browsers: { unlinked: string; linked: string }, budgetMs: number, timeoutMs: number): Promise<ProbeAnswer> {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      // The request's budget, as the visitors' parts have by default: audience questions would
      // otherwise extend the whole request to AUDIENCE_BUDGET_MS.
      headers: { 'content-type': 'application/json', 'x-time-budget-ms': String(budgetMs) },
      body: JSON.stringify({ query: VISITOR_PROBE, variables: { ...browsers, since: new Date(Date.now() - 7 * 86_400_000).toISOString() } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as ProbeBody;
    return { ms: performance.now() - started, status: response.status, body };
  } catch (error) {
    return { ms: performance.now() - started, status: 0, failure: String((error as Error).message).slice(0, 100) };
  }
}

/** The parts of an answer that are there (non-null all the way down). */
export function presentParts(body: ProbeBody | undefined): Set<string> {
  const present = new Set<string>();
  for (const part of PROBE_PARTS) {
    let value: unknown = body?.data;
    for (const key of part.split('.')) value = value === null || value === undefined ? undefined : (value as Record<string, unknown>)[key];
    if (value !== null && value !== undefined) present.add(part);
  }
  return present;
}

/**
 * What is wrong with a probe's answer under a fault of `faulty`: not a GraphQL answer, later than
 * `boundMs`, an error that is untyped or names a source that is not faulty, or a part the healthy
 * server answered that needs no faulty source and is missing now. Empty when all is well.
 */
export function probeProblems(answer: ProbeAnswer, healthy: ReadonlySet<string>, faulty: readonly SourceName[], boundMs: number): string[] {
  if (!answer.body) return [`no GraphQL answer (${answer.failure ?? `status ${answer.status}`})`];
  const problems: string[] = [];
  if (answer.ms > boundMs) problems.push(`answered in ${Math.round(answer.ms)} ms, over ${boundMs} ms`);
  for (const error of answer.body.errors ?? []) {
    const { code = '-', source = '-' } = error.extensions ?? {};
    if (!TYPED_CODES.has(code) || !faulty.includes(source as SourceName)) problems.push(`error ${code} from ${source} at ${(error.path ?? ['-']).join('.')}`);
  }
  const present = presentParts(answer.body);
  for (const part of healthy) {
    if (!present.has(part) && !NEEDS[part]!.some((source) => faulty.includes(source))) problems.push(`${part} missing, though it needs only healthy sources`);
  }
  return problems;
}
