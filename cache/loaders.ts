import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { ClvFit, CommerceSource, CommerceCustomer, OrderPeriodsKey, RfmBoundaries, RfmScore, SegmentPageKey } from '../sources/commerce/index.ts';
import type { PriceTierBoundaries } from '../sources/commerce/index.ts';
import type { SourceName } from '../sources/errors.ts';
import type { CrmContact, HubSpotSource } from '../sources/hubspot/index.ts';
import type { ActivityOptions, EmailActivity, MailchimpSource } from '../sources/mailchimp/index.ts';
import type { WebKey, WebSource, WebSubject } from '../sources/web/index.ts';
import { ACTIVITY_FAMILY, ACTIVITY_READS_PER_REQUEST, ACTIVITY_SHAPES, activityShape, boundedActivityBatch, type ActivityAllowance } from './activity.ts';
import { cacheKey, entryState, observedFamily, type CallContext, type Family, type FamilyObserver, type FamilyOptions, type FreshnessPolicy } from './family.ts';
import { SourceGuard, type GuardOptions } from './guard.ts';
import { declareShapes, splitFamily, type DeclaredShapes } from './shapes.ts';
import type { EntityStore } from './store.ts';
import { WEB_CONSENT_FAMILY, WEB_IDENTITY_FAMILY, WEB_SHAPES, webUserKeys } from './web.ts';

/** The upstreams a request can reach. */
export interface Sources {
  readonly commerce: CommerceSource;
  readonly crm: HubSpotSource;
  readonly email: MailchimpSource;
  readonly web: WebSource;
}

export interface UpstreamOptions {
  /** The shared entity cache, or null to read every key live. */
  readonly store: EntityStore | null;
  readonly freshness: Record<SourceName, FreshnessPolicy>;
  readonly guard: GuardOptions;
  readonly logger: Logger;
  /** Sees every family call and upstream call (the server's metrics and tracing); none by default. */
  readonly observer?: FamilyObserver;
  /** Uncached activity-feed reads one request may make (MAILCHIMP_ACTIVITY_MAX_PER_REQUEST); 20 by default. */
  readonly activityReadsPerRequest?: number;
}

/**
 * The engagement trend's shop periods (`traits { engagementTrend }`): cached at the schema's default
 * period only, so forgetting a customer can name every key; other periods are read live.
 */
export const ORDER_PERIOD_SHAPES = declareShapes<{ days: number }>('commerce', 'order-periods', ({ days }) => `${days}`, [{ days: 30 }]);

/** HubSpot's batch read takes at most 100 inputs. */
const CRM_BATCH = 100;
/**
 * HubSpot's quota counts calls, and one batch read takes 100 contacts: concurrent requests' contact
 * reads share calls once 2 are under way (family.ts `coalesce`; a call waiting for a slot of the
 * paced limiter counts), so calls grow with load, not with requests. Two, not more: keys that
 * arrive while both are out wait for one round (a slot, 112 ms apart at the default quota, and
 * HubSpot's answer) and leave together, where more calls in flight would each wait their turn for
 * a slot with a key or two (bench/fleet.ts: 20 new customers a second answered at p50 289 ms with
 * 2, 516 ms with 4).
 */
const CRM_COALESCE = { maxKeys: CRM_BATCH, maxInFlight: 2 };
/** Statements stay bounded (and `= ANY($1)` arrays reasonable) even for the largest allowed request. */
const COMMERCE_BATCH = 500;
/**
 * The shop database and the warehouse share one pool (DATABASE_POOL_MAX, 10 by default) across a
 * dozen families: concurrent requests' reads of one family share statements once 2 are under way,
 * so that under load statements (and their round trips) grow with the load, not with requests,
 * and a statement does not queue for a connection behind many others that each read one key. A
 * lone request never waits.
 */
const DATABASE_COALESCE = { maxKeys: COMMERCE_BATCH, maxInFlight: 2 };

/**
 * The data sets cached under one of a person's keys, declared once: each family that caches one
 * takes its source and name (the middle of its cache keys, and its metric label) from here, and
 * forgetting a person (`personCacheKeys`) deletes an entry of every one, so a family cached by a
 * person's key cannot be left out of an eviction. The shaped ones (several entries per person:
 * web windows, engagement periods, activity feeds) declare their keys beside their shapes and
 * are listed in PERSON_SHAPED.
 */
export const PERSON_SETS = {
  customerById: { source: 'commerce', name: 'customer-by-id', by: 'customerId' },
  customerByEmail: { source: 'commerce', name: 'customer-by-email', by: 'email' },
  purchaseStats: { source: 'commerce', name: 'purchases', by: 'customerId' },
  carts: { source: 'commerce', name: 'carts', by: 'customerId' },
  clvSummary: { source: 'commerce', name: 'clv-summary', by: 'customerId' },
  purchaseEvidence: { source: 'commerce', name: 'purchase-evidence', by: 'customerId' },
  discountHistory: { source: 'commerce', name: 'discounts', by: 'customerId' },
  crmContactById: { source: 'crm', name: 'contact-by-id', by: 'contactId' },
  crmCompany: { source: 'crm', name: 'company', by: 'contactId' },
  crmContactByEmail: { source: 'crm', name: 'contact-by-email', by: 'email' },
  emailMember: { source: 'email', name: 'member', by: 'email' },
} as const satisfies Record<string, { readonly source: SourceName; readonly name: string; readonly by: 'customerId' | 'email' | 'contactId' }>;

type PersonSet = keyof typeof PERSON_SETS;

/** The cached families with several entries per person, by the key they are kept under. */
const PERSON_SHAPED: ReadonlyArray<{ readonly by: 'customerId' | 'email'; readonly keysOf: (key: string) => string[] }> = [
  { by: 'customerId', keysOf: (id) => ORDER_PERIOD_SHAPES.keysOf(id) },
  // The warehouse's user id is the shop's customer id.
  { by: 'customerId', keysOf: webUserKeys },
  { by: 'email', keysOf: (email) => ACTIVITY_SHAPES.keysOf(email) },
];

/** A declared set's entry for a person's key. */
const setKey = (set: PersonSet, key: string): string => cacheKey(PERSON_SETS[set].source, PERSON_SETS[set].name, key);

/**
 * The process-wide side of data access: each source's guard (breaker, bulkhead) and every batch
 * function wrapped as a family (cached where it pays). Built once at start-up; requests bind it to
 * their deadline and provenance through createLoaders.
 */
export function createUpstreams(sources: Sources, options: UpstreamOptions) {
  const family = observedFamily(options.observer);
  const guards = {
    commerce: new SourceGuard('commerce', options.guard),
    crm: new SourceGuard('crm', options.guard),
    email: new SourceGuard('email', options.guard),
    web: new SourceGuard('web', options.guard),
  } satisfies Partial<Record<SourceName, SourceGuard>>;
  const { store, logger } = options;
  const cached = <K>(source: SourceName, keyOf: (key: K) => string) => (store ? { cache: { store, policy: options.freshness[source], keyOf } } : {});
  const id = (key: string) => key;
  const { commerce, crm, email, web } = sources;
  /**
   * A web family whose reads of a customer's own events go through the cache, keyed by their shop
   * id so that forgetting them names every key (`entry`: the key within the family, or null for a
   * read that is never cached); an anonymous browser's reads, and a customer's with their
   * session's browser added, are always live.
   */
  const webOwnReads = <K extends WebSubject, R>(name: string, batch: (keys: readonly K[]) => Promise<R[]>, entry: (key: K) => string | null): Family<K, R> => {
    const base = { source: 'web', name, batch, guard: guards.web, logger, coalesce: DATABASE_COALESCE } as const;
    const live = family(base);
    if (!store) return live;
    const isCached = (key: K) => key.userId !== null && key.anonymousId === null && entry(key) !== null;
    return splitFamily(isCached, family({ ...base, cache: { store, policy: options.freshness.web, keyOf: (key: K) => entry(key)! } }), live);
  };
  /** A windowed web family: cached in its declared shapes only (web.ts). */
  const webFamily = <K extends WebKey, R>(shapes: DeclaredShapes<K>, batch: (keys: readonly K[]) => Promise<R[]>): Family<K, R> =>
    webOwnReads(shapes.family, batch, (key) => (shapes.isCached(key) ? shapes.entry(shapes.shapeOf(key), key.userId!) : null));
  const orderPeriods = (withCache: boolean) =>
    family({
      source: 'commerce',
      name: ORDER_PERIOD_SHAPES.family,
      batch: commerce.orderPeriods,
      guard: guards.commerce,
      logger,
      ...(withCache ? cached('commerce', (key: OrderPeriodsKey) => ORDER_PERIOD_SHAPES.entry(ORDER_PERIOD_SHAPES.shapeOf(key), key.customerId)) : {}),
    });
  /** A family of a declared person set (PERSON_SETS), cached by its key as it is when there is a store. */
  const personFamily = <K extends string, R>(
    set: PersonSet,
    batch: (keys: readonly K[], signal?: AbortSignal) => Promise<Array<R | Error>>,
    more: Partial<FamilyOptions<K, R>> = {},
  ) => {
    const { source, name } = PERSON_SETS[set];
    return family<K, R>({ source, name, batch, guard: guards[source], logger, ...cached(source, id), ...(source === 'commerce' && { coalesce: DATABASE_COALESCE }), ...more });
  };
  const families = {
    customerById: personFamily('customerById', commerce.customersById),
    customerByEmail: personFamily('customerByEmail', commerce.customersByEmail),
    purchaseStats: personFamily('purchaseStats', commerce.purchaseStats),
    carts: personFamily('carts', commerce.customerCarts),
    clvSummary: personFamily('clvSummary', commerce.clvSummaries),
    discountHistory: personFamily('discountHistory', commerce.discountHistories),
    purchaseEvidence: personFamily('purchaseEvidence', commerce.purchaseEvidence),
    orderPages: family({ source: 'commerce', name: 'orders', batch: commerce.orderPages, guard: guards.commerce, logger }),
    lineItems: family({ source: 'commerce', name: 'line-items', batch: commerce.lineItems, guard: guards.commerce, logger }),
    segmentPage: family({
      source: 'commerce',
      name: 'segment',
      batch: (keys: readonly SegmentPageKey[]) => Promise.all(keys.map((key) => commerce.segmentPage(key).catch((error: Error) => error))),
      guard: guards.commerce,
      logger,
    }),
    crmContactByEmail: personFamily('crmContactByEmail', crm.contactsByEmail, {
      coalesce: CRM_COALESCE,
      ...(store && { cache: { store, policy: options.freshness.crm, keyOf: id, alsoStore: contactEmailIndex } }),
    }),
    crmContactById: personFamily('crmContactById', crm.contactsById, {
      coalesce: CRM_COALESCE,
      ...(store && { cache: { store, policy: options.freshness.crm, keyOf: id, alsoStore: contactEmailIndex } }),
    }),
    crmCompany: personFamily('crmCompany', crm.companiesForContacts),
    crmOwner: family({ source: 'crm', name: 'owner', batch: crm.ownersById, guard: guards.crm, logger }),
    emailMember: personFamily('emailMember', email.membersByEmail),
    emailTags: family({ source: 'email', name: 'tags', batch: email.tagsByEmail, guard: guards.email, logger }),
    webIdentity: family({ source: 'web', name: WEB_IDENTITY_FAMILY, batch: web.identities, guard: guards.web, logger, coalesce: DATABASE_COALESCE, ...cached('web', id) }),
    // Read live: its key is an anonymous id, which forgetting a person could name only by asking
    // the warehouse for their links, and a warehouse that has already forgotten them would not say.
    webVisitor: family({ source: 'web', name: 'visitor', batch: web.visitors, guard: guards.web, logger }),
    // Asked before every read of a person's browsing (a withheld consent serves none of it).
    webConsent: webOwnReads(WEB_CONSENT_FAMILY, web.consents, (key) => key.userId),
    // Read live: any window, and only when selected.
    webLocation: webFamily(WEB_SHAPES.locations, web.locations),
    // One key: the source reads the load status at most every 30 s and shares it.
    webLoadStatus: family({
      source: 'web',
      name: 'load-status',
      batch: async (keys: readonly string[]) => {
        const status = await web.loadStatus();
        return keys.map(() => status);
      },
      guard: guards.web,
      logger,
    }),
    // Cached for the declared windows and page sizes only (web.ts), so forgetting a person can name
    // every key; other shapes are read live.
    webSummary: webFamily(WEB_SHAPES.summaries, web.summaries),
    webViewedProducts: webFamily(WEB_SHAPES.recentlyViewedProducts, web.recentlyViewedProducts),
    webTopCategories: webFamily(WEB_SHAPES.topCategories, web.topCategories),
    webCartActivity: webFamily(WEB_SHAPES.cartActivity, web.cartActivity),
    webDevices: webFamily(WEB_SHAPES.devices, web.devices),
    webTouches: webFamily(WEB_SHAPES.touches, web.touches),
    webSearches: webFamily(WEB_SHAPES.searches, web.searches),
    webSessionSources: webFamily(WEB_SHAPES.sessionSources, web.sessionSources),
    webEngagementPeriods: webFamily(WEB_SHAPES.engagementPeriods, web.engagementPeriods),
    orderPeriods: store ? splitFamily(ORDER_PERIOD_SHAPES.isCached, orderPeriods(true), orderPeriods(false)) : orderPeriods(false),
    webAffinityEvidence: webFamily(WEB_SHAPES.affinityEvidence, web.affinityEvidence),
  };
  // One activity family per (count, types): the feed is read with those arguments for every member.
  // Only the declared shapes (activity.ts) are cached, so an eviction can name all their keys.
  const activity = new Map<string, Family<string, EmailActivity[] | null>>();
  const emailActivity = (args: ActivityOptions) => {
    const shape = activityShape(args);
    let found = activity.get(shape);
    if (!found) {
      const keyOf = (email: string) => ACTIVITY_SHAPES.entry(shape, email);
      found = family({
        source: 'email',
        name: ACTIVITY_FAMILY,
        batch: email.activityByEmail(args),
        guard: guards.email,
        logger,
        ...(ACTIVITY_SHAPES.isCached(args) ? cached('email', keyOf) : {}),
      });
      activity.set(shape, found);
    }
    return found;
  };
  /** Which members' feeds of this shape the family would serve from the cache now (the rest are reads). */
  const activityServedFromCache = async (args: ActivityOptions, emails: readonly string[]): Promise<boolean[]> => {
    if (!store || !ACTIVITY_SHAPES.isCached(args)) return emails.map(() => false);
    const shape = activityShape(args);
    const entries = await store.getMany(emails.map((e) => ACTIVITY_SHAPES.cacheKey(shape, e))).catch(() => []);
    const now = Date.now();
    return emails.map((_, i) => entryState(entries[i], options.freshness.email, now) !== 'miss');
  };
  // Scoring is pure (stats and boundaries), so RFM never waits on the shop database for boundaries
  // it has: only when none was ever computed does it read them, under the guard and the deadline.
  const rfmBoundaries = async (call: CallContext): Promise<RfmBoundaries> => commerce.rfm.current() ?? guards.commerce.run(() => commerce.rfm.ensure(), call.deadline);
  // The CLV parameters likewise: fitted in the background, waited for only when none was ever fitted.
  const clvFit = async (call: CallContext): Promise<ClvFit> => commerce.clv.current() ?? guards.commerce.run(() => commerce.clv.ensure(), call.deadline);
  // The catalogue's price tiers likewise (read in the background; waited for only when never read).
  const priceTiers = async (call: CallContext): Promise<PriceTierBoundaries> =>
    commerce.priceTiers.current() ?? guards.commerce.run(() => commerce.priceTiers.ensure(), call.deadline);
  const activityReadsPerRequest = options.activityReadsPerRequest ?? ACTIVITY_READS_PER_REQUEST;
  return { sources, guards, families, emailActivity, activityServedFromCache, activityReadsPerRequest, rfmBoundaries, clvFit, priceTiers, store };
}

export type Upstreams = ReturnType<typeof createUpstreams>;

/** What a person is known by, in each family's key. */
export interface PersonKeys {
  /** Null when only the ids are known (a customer the shop no longer has): the by-email entries are left to age out. */
  readonly email: string | null;
  readonly customerId?: string | null;
  readonly contactId?: string | null;
}

/** Every cache key that can hold something about the person (whether or not it is cached now): an entry of every declared set. */
export function personCacheKeys({ email, customerId, contactId }: PersonKeys): string[] {
  const keys = { email: email === null ? null : normalizeEmail(email), customerId: customerId ?? null, contactId: contactId ?? null };
  return [
    ...Object.entries(PERSON_SETS).flatMap(([set, { by }]) => (keys[by] === null ? [] : [setKey(set as PersonSet, keys[by])])),
    ...(keys.contactId ? [contactEmailKey(keys.contactId)] : []),
    ...PERSON_SHAPED.flatMap(({ by, keysOf }) => (keys[by] === null ? [] : keysOf(keys[by]))),
  ];
}

/** A HubSpot contact's entries: by id (with its company and email index) and by email. */
export function crmContactKeys(contactId: string | null, email: string | null): string[] {
  return personCacheKeys({ email, contactId }).filter((key) => key.startsWith('crm:'));
}

/** A Mailchimp member's entry. */
export const emailMemberKey = (email: string): string => setKey('emailMember', normalizeEmail(email));

/** Everything cached from Mailchimp about an email: the member and its feeds (activity.ts). */
export const emailKeys = (email: string): string[] => personCacheKeys({ email }).filter((key) => key.startsWith('email:'));

/** Where a contact's email is kept by contact id, so a webhook naming only the id can evict by email. */
export const contactEmailKey = (contactId: string): string => cacheKey('crm', 'email-of-contact', contactId);

function contactEmailIndex(_key: string, contact: CrmContact) {
  return contact.email ? [{ key: contactEmailKey(contact.id), value: contact.email }] : [];
}

/**
 * One request's loaders: each dedupes its keys and batches every load of one tick into one call
 * of its family, which applies the request's deadline and reports into its provenance.
 */
export function createLoaders(upstreams: Upstreams, request: CallContext) {
  const { families } = upstreams;
  const startedAt = Date.now();
  // When each answer of this request was read from its source, by the answer's object (a cached
  // value shared with other requests is still one answer per request: the map is this request's).
  const readTimes = new WeakMap<object, number>();
  const call: CallContext = {
    // Read at each call: an analyst's question extends its request's budget (audiences/service.ts).
    get deadline() {
      return request.deadline;
    },
    ...(request.report && { report: request.report }),
    readAt: (value, epochMs) => {
      if (typeof value === 'object' && value !== null) readTimes.set(value, epochMs);
      request.readAt?.(value, epochMs);
    },
  };
  const loader = <K, R, C = K>(batch: Family<K, R>, options: DataLoader.Options<K, R, C> = {}) => new DataLoader<K, R, C>((keys) => batch(keys, call), options);

  const customerById = loader(families.customerById, { maxBatchSize: COMMERCE_BATCH });
  const customerByEmail = loader(families.customerByEmail, { maxBatchSize: COMMERCE_BATCH });
  const primeEach = (values: ReadonlyArray<CommerceCustomer | null | Error>) => {
    for (const customer of values) {
      if (customer && !(customer instanceof Error)) {
        customerById.prime(customer.id, customer);
        customerByEmail.prime(customer.email, customer);
      }
    }
  };
  const purchaseStats = loader(families.purchaseStats, { maxBatchSize: COMMERCE_BATCH });
  const crmContactByEmail = loader(families.crmContactByEmail, { maxBatchSize: CRM_BATCH });
  const activity = new Map<string, DataLoader<string, EmailActivity[] | null>>();
  const activityAllowance: ActivityAllowance = { limit: upstreams.activityReadsPerRequest, used: 0 };
  let clvFit: Promise<ClvFit> | undefined;
  let priceTiers: Promise<PriceTierBoundaries> | undefined;

  return {
    /**
     * When a value this request's loaders answered was read from its source: now for a live read,
     * when it was stored for a cached one. For a value that is not an object (null: nothing found,
     * cached only briefly) or was not read through a family, the request's start.
     */
    readAt: (value: unknown): Date => new Date((typeof value === 'object' && value !== null && readTimes.get(value)) || startedAt),
    customerById: {
      load: async (id: string) => primed(await customerById.load(id), primeEach),
      loadMany: async (ids: readonly string[]) => primedMany(await customerById.loadMany(ids), primeEach),
    },
    /** Keys are normalized here (trimmed, lower-cased), so `A@x.com ` and `a@x.com` are one key. */
    customerByEmail: {
      load: async (email: string) => primed(await customerByEmail.load(normalizeEmail(email)), primeEach),
      loadMany: async (emails: readonly string[]) => primedMany(await customerByEmail.loadMany(emails.map(normalizeEmail)), primeEach),
    },
    purchaseStats,
    /** Keys: customer ids. A customer's purchase history as the CLV models read it. */
    clvSummary: loader(families.clvSummary, { maxBatchSize: COMMERCE_BATCH }),
    /** Keys: customer ids. Completed orders with their discounts (traits.discountSensitivity). */
    discountHistory: loader(families.discountHistory, { maxBatchSize: COMMERCE_BATCH }),
    /** The CLV parameters in force (fitted in the background), read once per request. */
    clvFit: () => (clvFit ??= upstreams.clvFit(call)),
    /** Keys: customer ids. Units bought per category, price and age (the affinity trait's purchases). */
    purchaseEvidence: loader(families.purchaseEvidence, { maxBatchSize: COMMERCE_BATCH }),
    /** The catalogue's price tiers in force (kept in the background), read once per request. */
    priceTiers: () => (priceTiers ??= upstreams.priceTiers(call)),
    // RFM reuses the request's purchase stats (selecting both runs the aggregate statement once) and
    // scores them in process: stats served from the cache score even while the shop database's
    // breaker is open.
    rfm: new DataLoader<string, RfmScore | null>(
      async (ids) => {
        const stats = await purchaseStats.loadMany(ids);
        const buyers = stats.some((s) => !(s instanceof Error) && s.orderCount > 0);
        const boundaries = buyers ? await upstreams.rfmBoundaries(call).catch((error: Error) => error) : null;
        return stats.map((s) => {
          if (s instanceof Error) return s;
          if (s.orderCount === 0 || boundaries === null) return null;
          return boundaries instanceof Error ? boundaries : upstreams.sources.commerce.rfm.score(s, boundaries);
        });
      },
      { maxBatchSize: COMMERCE_BATCH },
    ),
    orderPages: loader(families.orderPages, {
      maxBatchSize: COMMERCE_BATCH,
      cacheKeyFn: (key) => JSON.stringify([key.customerId, key.first, key.after?.placedAt.toISOString(), key.after?.id]),
    }),
    lineItems: loader(families.lineItems, { maxBatchSize: COMMERCE_BATCH * 10 }),
    carts: loader(families.carts, { maxBatchSize: COMMERCE_BATCH }),
    // Segment pages are scans of their own: never batched together, only deduplicated.
    segmentPages: loader(families.segmentPage, { cacheKeyFn: (key) => JSON.stringify(key) }),
    crmContactByEmail: normalized(crmContactByEmail, normalizeEmail),
    crmContactById: new DataLoader<string, CrmContact | null>(
      async (ids) => {
        const contacts = await families.crmContactById(ids, call);
        for (const contact of contacts) if (contact && !(contact instanceof Error) && contact.email) crmContactByEmail.prime(contact.email, contact);
        return contacts;
      },
      { maxBatchSize: CRM_BATCH },
    ),
    /** Keys: contact ids. */
    crmCompany: loader(families.crmCompany, { maxBatchSize: CRM_BATCH }),
    crmOwner: loader(families.crmOwner, { maxBatchSize: CRM_BATCH }),
    // Mailchimp reads one member per call: the source's in-flight limit, not the batch size, bounds
    // the load on Mailchimp.
    emailMember: normalized(loader(families.emailMember), normalizeEmail),
    emailTags: normalized(loader(families.emailTags), normalizeEmail),
    webIdentity: loader(families.webIdentity),
    webVisitor: loader(families.webVisitor),
    webConsent: loader(families.webConsent, { cacheKeyFn: webKey }),
    webLocation: loader(families.webLocation, { cacheKeyFn: webKey }),
    webLoadStatus: loader(families.webLoadStatus),
    webSummary: loader(families.webSummary, { cacheKeyFn: webKey }),
    webViewedProducts: loader(families.webViewedProducts, { cacheKeyFn: webKey }),
    webTopCategories: loader(families.webTopCategories, { cacheKeyFn: webKey }),
    webCartActivity: loader(families.webCartActivity, { cacheKeyFn: webKey }),
    webDevices: loader(families.webDevices, { cacheKeyFn: webKey }),
    webTouches: loader(families.webTouches, { cacheKeyFn: webKey }),
    webSearches: loader(families.webSearches, { cacheKeyFn: webKey }),
    webSessionSources: loader(families.webSessionSources, { cacheKeyFn: webKey }),
    webEngagementPeriods: loader(families.webEngagementPeriods, { cacheKeyFn: webKey }),
    /** Keys: a customer and the length of the two periods compared. */
    orderPeriods: loader(families.orderPeriods, { maxBatchSize: COMMERCE_BATCH, cacheKeyFn: (key) => `${key.days}:${key.customerId}` }),
    webAffinityEvidence: loader(families.webAffinityEvidence, { cacheKeyFn: webKey }),
    /**
     * One loader per (count, types) of the activity feed. Feeds the cache can serve are free; the
     * request reads at most `activityReadsPerRequest` others across all its activity loaders, and the
     * members beyond get a RequestLimitError (activity.ts).
     */
    emailActivity(options: ActivityOptions) {
      const shape = activityShape(options);
      let found = activity.get(shape);
      if (!found) {
        const servedFromCache = (emails: readonly string[]) => upstreams.activityServedFromCache(options, emails);
        found = new DataLoader(boundedActivityBatch(upstreams.emailActivity(options), servedFromCache, activityAllowance, call));
        activity.set(shape, found);
      }
      return normalized(found, normalizeEmail);
    },
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

/** A web key (whose events, window and page size) as one string, for DataLoader's deduplication. */
const webKey = (key: { userId: string | null; anonymousId: string | null; days?: number; first?: number }): string =>
  JSON.stringify([key.userId, key.anonymousId, key.days ?? null, key.first ?? null]);

/** Email keys as every source compares them. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function primed<V>(value: V, prime: (values: readonly V[]) => void): V {
  prime([value]);
  return value;
}

function primedMany<V>(values: Array<V | Error>, prime: (values: ReadonlyArray<V | Error>) => void): Array<V | Error> {
  prime(values);
  return values;
}

function normalized<K, V, C>(loader: DataLoader<K, V, C>, normalize: (key: K) => K) {
  return {
    load: (key: K) => loader.load(normalize(key)),
    loadMany: (keys: readonly K[]) => loader.loadMany(keys.map(normalize)),
  };
}
