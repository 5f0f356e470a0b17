import { Rng, Stream } from './random.ts';

/**
 * The demo world: who exists, derived from three numbers. Every stand-in (shop database, HubSpot,
 * Mailchimp, event warehouse) regenerates a person from (seed, index) on demand, so they all serve
 * the same people without sharing state, and a shop of 1,000,000 customers needs no registry.
 */
export interface DemoWorld {
  /** Seed of every random stream. */
  readonly seed: number;
  /** Shop customers: people 0 .. customers-1 (commerce id = index + 1). */
  readonly customers: number;
  /** The generation's "now": every timestamp is before it. Tests fix it; the demo uses start-up time. */
  readonly asOf: Date;
}

export const DEFAULT_SEED = 360;

/** People beyond the shop's customers: CRM leads and newsletter subscribers who never signed up. */
export function prospectCount(world: DemoWorld): number {
  return Math.ceil(world.customers / 10);
}

/** Everyone the world holds: customers first, then prospects. */
export function populationSize(world: DemoWorld): number {
  return world.customers + prospectCount(world);
}

export type LifecycleStage = 'subscriber' | 'lead' | 'marketingqualifiedlead' | 'salesqualifiedlead' | 'opportunity' | 'customer' | 'evangelist' | 'other';

export type MemberStatus = 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending' | 'transactional';

export interface CrmTraits {
  /** HubSpot contact id (numeric string), derived from the index: see contactIdOf. */
  readonly contactId: string;
  readonly lifecycleStage: LifecycleStage;
  readonly leadStatus: string | null;
  readonly ownerId: string | null;
  readonly jobTitle: string | null;
  /** Index of the associated company (see companyAt), or null. */
  readonly companyIndex: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface EmailTraits {
  readonly status: MemberStatus;
  readonly memberRating: number;
  readonly avgOpenRate: number;
  readonly avgClickRate: number;
  readonly vip: boolean;
  readonly signupAt: Date;
  readonly optInAt: Date;
  readonly lastChangedAt: Date;
  /** Marketing permissions by name: false means the person withdrew that permission. */
  readonly permissions: { readonly email: boolean; readonly ads: boolean };
  readonly tags: readonly string[];
}

export interface WebTraits {
  /** Distinct browsers this person uses (user agent strings). */
  readonly userAgents: readonly string[];
  /** Visits per 30 days, on average. */
  readonly visitsPerMonth: number;
  /** Preferred catalog categories, most preferred first. */
  readonly favouriteCategories: readonly string[];
}

export interface DemoPerson {
  readonly index: number;
  /** Commerce customer id (`customers.id`), or null for a prospect who never signed up. */
  readonly customerId: number | null;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly phone: string;
  readonly city: string;
  readonly region: string;
  readonly postalCode: string;
  readonly countryCode: string;
  readonly timezone: string;
  readonly signupAt: Date;
  readonly signupChannel: string;
  /** How often this person buys: expected orders per year (most buy rarely, a few often). */
  readonly ordersPerYear: number;
  /** Null when the person is not in the CRM. */
  readonly crm: CrmTraits | null;
  /** Null when the person is not in the email audience. */
  readonly emailMarketing: EmailTraits | null;
  readonly web: WebTraits;
}

export const CATEGORIES = ['Apparel', 'Shoes', 'Accessories', 'Home', 'Kitchen', 'Beauty', 'Outdoors', 'Electronics', 'Toys', 'Books'] as const;

const SIGNUP_CHANNELS = ['organic', 'paid_search', 'social', 'email', 'referral', 'marketplace'] as const;
const LEAD_STATUSES = ['NEW', 'OPEN', 'IN_PROGRESS', 'OPEN_DEAL', 'UNQUALIFIED', 'ATTEMPTED_TO_CONTACT', 'CONNECTED'];
const TAGS = ['newsletter', 'black-friday', 'loyalty-club', 'back-in-stock', 'wholesale'];
const DAY_MS = 86_400_000;

/** HubSpot contact ids are large numbers in the wild; ours encode the index so lookups need no table. */
const CONTACT_ID_BASE = 70_000_000_000;
export const contactIdOf = (index: number): string => String(CONTACT_ID_BASE + index);
export function indexOfContactId(contactId: string): number | null {
  if (!/^\d{1,15}$/.test(contactId)) return null;
  const index = Number(contactId) - CONTACT_ID_BASE;
  return index >= 0 ? index : null;
}

/** The index encoded in a demo email (`first.last.N@example.com`), or null for any other address. */
export function indexOfEmail(email: string): number | null {
  const match = /\.(\d{1,9})@example\.(?:com|net|org)$/.exec(email.trim().toLowerCase());
  return match ? Number(match[1]) - 1 : null;
}

const rng = new Rng();

/** Person `index` of the world (0-based). Deterministic: the same world and index give the same person. */
export function personAt(world: DemoWorld, index: number): DemoPerson {
  const f = rng.reset(world.seed, Stream.person, index);
  const isCustomer = index < world.customers;
  const firstName = f.person.firstName();
  const lastName = f.person.lastName();
  const domain = f.helpers.arrayElement(['com', 'net', 'org']);
  const email = `${ascii(firstName)}.${ascii(lastName)}.${index + 1}@example.${domain}`;
  const us = f.number.float() < 0.85;
  const countryCode = us ? 'US' : f.helpers.arrayElement(['CA', 'GB', 'DE', 'FR', 'AU']);
  const timezone = us ? f.helpers.arrayElement(['America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles']) : f.location.timeZone();
  const ageDays = Math.floor(f.number.float() ** 0.7 * 1095) + 1;
  const signupAt = new Date(world.asOf.getTime() - ageDays * DAY_MS - f.number.int(DAY_MS - 1));
  // Purchase frequency is heavy-tailed: a Pareto draw gives most people under one order a year
  // and a few regulars a dozen or more.
  const ordersPerYear = isCustomer ? Math.min(40, 0.25 / Math.max(0.02, f.number.float()) ** 1.1) : 0;
  const person = {
    index,
    customerId: isCustomer ? index + 1 : null,
    email,
    firstName,
    lastName,
    phone: f.phone.number({ style: 'international' }),
    city: f.location.city(),
    region: us ? f.location.state({ abbreviated: true }) : f.location.county(),
    postalCode: f.location.zipCode(),
    countryCode,
    timezone,
    signupAt,
    signupChannel: f.helpers.weightedArrayElement([
      { weight: 35, value: SIGNUP_CHANNELS[0] },
      { weight: 20, value: SIGNUP_CHANNELS[1] },
      { weight: 15, value: SIGNUP_CHANNELS[2] },
      { weight: 12, value: SIGNUP_CHANNELS[3] },
      { weight: 10, value: SIGNUP_CHANNELS[4] },
      { weight: 8, value: SIGNUP_CHANNELS[5] },
    ]),
    ordersPerYear,
  };
  return {
    ...person,
    crm: crmTraits(world, index, isCustomer, ordersPerYear, signupAt),
    emailMarketing: emailTraits(world, index, isCustomer, signupAt),
    web: webTraits(world, index),
  };
}

/** The person a demo email belongs to, or null when no one in this world has that address. */
export function personByEmail(world: DemoWorld, email: string): DemoPerson | null {
  const index = indexOfEmail(email);
  if (index === null || index >= populationSize(world)) return null;
  const person = personAt(world, index);
  return person.email === email.trim().toLowerCase() ? person : null;
}

function crmTraits(world: DemoWorld, index: number, isCustomer: boolean, ordersPerYear: number, signupAt: Date): CrmTraits | null {
  const f = rng.reset(world.seed, Stream.company, index);
  // About one customer in five never made it into the CRM (guest checkouts, sync gaps); every
  // prospect is a lead there, which is why they are in the world at all.
  if (isCustomer && f.number.float() < 0.2) return null;
  const lifecycleStage: LifecycleStage = isCustomer
    ? ordersPerYear > 6 && f.number.float() < 0.5
      ? 'evangelist'
      : 'customer'
    : f.helpers.weightedArrayElement([
        { weight: 30, value: 'subscriber' as const },
        { weight: 30, value: 'lead' as const },
        { weight: 15, value: 'marketingqualifiedlead' as const },
        { weight: 10, value: 'salesqualifiedlead' as const },
        { weight: 10, value: 'opportunity' as const },
        { weight: 5, value: 'other' as const },
      ]);
  const createdAt = new Date(signupAt.getTime() - f.number.int(30) * DAY_MS);
  const updatedAt = new Date(Math.min(world.asOf.getTime() - 60_000, createdAt.getTime() + f.number.float() * (world.asOf.getTime() - createdAt.getTime())));
  const b2b = f.number.float() < 0.3;
  return {
    contactId: contactIdOf(index),
    lifecycleStage,
    leadStatus: isCustomer ? null : f.helpers.arrayElement(LEAD_STATUSES),
    ownerId: f.number.float() < 0.7 ? DEMO_OWNERS[f.number.int(DEMO_OWNERS.length - 1)]!.id : null,
    jobTitle: b2b ? f.person.jobTitle() : null,
    companyIndex: b2b ? f.number.int(companyCount(world) - 1) : null,
    createdAt,
    updatedAt,
  };
}

function emailTraits(world: DemoWorld, index: number, isCustomer: boolean, signupAt: Date): EmailTraits | null {
  const f = rng.reset(world.seed, Stream.email, index);
  if (f.number.float() < (isCustomer ? 0.25 : 0.5)) return null;
  const status = f.helpers.weightedArrayElement<MemberStatus>([
    { weight: 72, value: 'subscribed' },
    { weight: 14, value: 'unsubscribed' },
    { weight: 5, value: 'cleaned' },
    { weight: 4, value: 'pending' },
    { weight: 5, value: 'transactional' },
  ]);
  const engagement = status === 'subscribed' ? f.number.float() : f.number.float() * 0.2;
  const optInAt = new Date(signupAt.getTime() + f.number.int(3 * 3600_000));
  const lastChangedAt = new Date(optInAt.getTime() + f.number.float() * Math.max(0, world.asOf.getTime() - optInAt.getTime() - 60_000));
  return {
    status,
    memberRating: Math.max(1, Math.min(5, Math.round(1 + engagement * 4))),
    avgOpenRate: round(Math.min(1, engagement * 0.6 + f.number.float() * 0.1), 4),
    avgClickRate: round(engagement * 0.15 * f.number.float(), 4),
    vip: f.number.float() < 0.03,
    signupAt,
    optInAt,
    lastChangedAt,
    permissions: { email: f.number.float() > 0.04, ads: f.number.float() > 0.3 },
    tags: TAGS.filter(() => f.number.float() < 0.2),
  };
}

function webTraits(world: DemoWorld, index: number): WebTraits {
  // Browsers people shop with, weighted roughly like a US shop's traffic, in the strings they send
  // today: Chrome's reduced user agent (Windows NT 10.0, Mac OS X 10_15_7, "Android 10; K"), Safari's
  // frozen macOS version. iPads send "iPad" here (Chrome on iPad, Safari's mobile mode): Safari's
  // default desktop mode on iPadOS is indistinguishable from a Mac, as on a real site.
  const chromeMajors = [124, 125, 126, 127, 128, 129, 130, 131];
  const appleVersions: ReadonlyArray<readonly [number, number]> = [
    [17, 4],
    [17, 5],
    [17, 6],
    [18, 0],
    [18, 1],
  ];
  type Browser = (chrome: number, apple: readonly [number, number]) => string;
  const webkit = 'AppleWebKit/537.36 (KHTML, like Gecko)';
  const browsers: Array<{ weight: number; value: Browser }> = [
    {
      weight: 28,
      value: (_, [m, n]) => `Mozilla/5.0 (iPhone; CPU iPhone OS ${m}_${n} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${m}.${n} Mobile/15E148 Safari/604.1`,
    },
    {
      weight: 3,
      value: (c, [m, n]) => `Mozilla/5.0 (iPhone; CPU iPhone OS ${m}_${n} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/${c}.0.6478.54 Mobile/15E148 Safari/604.1`,
    },
    { weight: 16, value: (c) => `Mozilla/5.0 (Linux; Android 10; K) ${webkit} Chrome/${c}.0.0.0 Mobile Safari/537.36` },
    { weight: 2, value: (c) => `Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) ${webkit} SamsungBrowser/25.0 Chrome/${c}.0.0.0 Mobile Safari/537.36` },
    { weight: 17, value: (c) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64) ${webkit} Chrome/${c}.0.0.0 Safari/537.36` },
    { weight: 6, value: (c) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64) ${webkit} Chrome/${c}.0.0.0 Safari/537.36 Edg/${c}.0.0.0` },
    { weight: 2, value: (c) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${c}.0) Gecko/20100101 Firefox/${c}.0` },
    { weight: 8, value: (c) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) ${webkit} Chrome/${c}.0.0.0 Safari/537.36` },
    { weight: 9, value: (_, [m, n]) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${m}.${n} Safari/605.1.15` },
    { weight: 1, value: (c) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:${c}.0) Gecko/20100101 Firefox/${c}.0` },
    { weight: 6, value: (_, [m, n]) => `Mozilla/5.0 (iPad; CPU OS ${m}_${n} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${m}.${n} Mobile/15E148 Safari/604.1` },
    { weight: 2, value: (c) => `Mozilla/5.0 (Linux; Android 10; K) ${webkit} Chrome/${c}.0.0.0 Safari/537.36` },
  ];
  const f = rng.reset(world.seed, Stream.web, index);
  const devices = f.helpers.weightedArrayElement([
    { weight: 50, value: 1 },
    { weight: 35, value: 2 },
    { weight: 15, value: 3 },
  ]);
  return {
    userAgents: Array.from({ length: devices }, () => {
      const browser = f.helpers.weightedArrayElement(browsers);
      return browser(f.helpers.arrayElement(chromeMajors), f.helpers.arrayElement(appleVersions));
    }),
    visitsPerMonth: round(0.5 + f.number.float() ** 2 * 20, 2),
    favouriteCategories: f.helpers.shuffle([...CATEGORIES]).slice(0, 3),
  };
}

export interface DemoOwner {
  readonly id: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
}

/** The CRM's sales owners (HubSpot users); fixed, few, and the same in every world. */
export const DEMO_OWNERS: readonly DemoOwner[] = [
  ['Ada', 'Lovelace'],
  ['Grace', 'Hopper'],
  ['Alan', 'Kay'],
  ['Barbara', 'Liskov'],
  ['Edsger', 'Dijkstra'],
  ['Margaret', 'Hamilton'],
].map(([firstName, lastName], i) => ({
  id: String(41_000_000 + i * 17),
  firstName: firstName!,
  lastName: lastName!,
  email: `${firstName!.toLowerCase()}@sales.example.com`,
}));

export interface DemoCompany {
  readonly index: number;
  /** HubSpot company id (numeric string). */
  readonly companyId: string;
  readonly name: string;
  readonly domain: string;
  readonly industry: string;
  readonly employees: number;
}

const COMPANY_ID_BASE = 90_000_000_000;
const INDUSTRIES = ['RETAIL', 'COMPUTER_SOFTWARE', 'HOSPITALITY', 'MARKETING_AND_ADVERTISING', 'CONSUMER_GOODS', 'APPAREL_FASHION'];

export function companyCount(world: DemoWorld): number {
  return Math.max(20, Math.ceil(world.customers / 50));
}

export function companyIndexOfId(companyId: string): number | null {
  if (!/^\d{1,15}$/.test(companyId)) return null;
  const index = Number(companyId) - COMPANY_ID_BASE;
  return index >= 0 ? index : null;
}

/** Company `index` (0-based, below companyCount). */
export function companyAt(world: DemoWorld, index: number): DemoCompany {
  const f = rng.reset(world.seed, Stream.company + 100, index);
  const name = f.company.name();
  return {
    index,
    companyId: String(COMPANY_ID_BASE + index),
    name,
    domain: `${ascii(name).replace(/\./g, '')}-${index + 1}.example.com`,
    industry: f.helpers.arrayElement(INDUSTRIES),
    employees: Math.round(5 + f.number.float() ** 3 * 5000),
  };
}

function ascii(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, '.')
    .replace(/^\.+|\.+$/g, '')
    .toLowerCase();
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
